"""Transpile the declared feature SQL (DuckDB dialect) to Spark SQL with SQLGlot, keeping DuckDB's arithmetic exactly."""

from __future__ import annotations

import sqlglot
from sqlglot import exp

__all__ = ["to_spark_sql"]


def _day_difference(node: exp.Expression) -> exp.Expression:
    """``DATE_DIFF('day', a, b)`` -> ``DATEDIFF(b, a)``: the two-argument form every Spark version has.

    SQLGlot writes ``DATEDIFF(DAY, a, b)``, an alias of ``TIMESTAMPDIFF`` that only Spark 3.3+ knows.
    """
    if isinstance(node, exp.DateDiff) and node.unit is not None and node.unit.name.upper() == "DAY":
        return exp.Anonymous(this="DATEDIFF", expressions=[node.this, node.expression])
    return node


def _double_division(node: exp.Expression) -> exp.Expression:
    """``a / b`` -> ``CAST(a AS DOUBLE) / CAST(b AS DOUBLE)``: DuckDB's ``/`` divides in floating point.

    Spark reads ``30.4375`` as a DECIMAL(6,4) and divides decimals with a fixed result scale, which
    would round the quotient differently from DuckDB.
    """
    if isinstance(node, exp.Div):
        return exp.Div(
            this=exp.cast(node.this.copy(), exp.DataType.build("DOUBLE")),
            expression=exp.cast(node.expression.copy(), exp.DataType.build("DOUBLE")),
        )
    return node


def to_spark_sql(select: str) -> str:
    """Return ``select`` (DuckDB dialect) as one Spark SQL statement.

    Raises
    ------
    sqlglot.errors.UnsupportedError
        If the statement uses something Spark cannot express (a change to ``features.sql`` broke
        portability; the parity tests catch it).
    """
    tree = sqlglot.parse_one(select, read="duckdb")
    tree = tree.transform(_day_difference).transform(_double_division)
    return tree.sql(dialect="spark", unsupported_level=sqlglot.ErrorLevel.RAISE)
