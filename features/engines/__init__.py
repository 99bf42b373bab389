"""Feature engines other than the default embedded DuckDB: the same declared SQL run elsewhere (Apache Spark)."""

__all__: list[str] = []
