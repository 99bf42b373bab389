"""Collect ``benchmarks/results/*.json`` into one table of figure, target and measured value: ``benchmarks/RESULTS.md``."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

__all__ = ["rows", "markdown_table", "render", "update_readme", "main"]

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
OUT = HERE / "RESULTS.md"
README = HERE.parent / "README.md"
START, END = "<!-- benchmarks:start -->", "<!-- benchmarks:end -->"

Row = tuple[str, str, str, str]  # figure, target, measured, run (date, machine)


def _get(data: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def _run(data: dict[str, Any]) -> str:
    machine = data.get("machine") or {}
    cores = machine.get("cores") or machine.get("cores_available") or machine.get("cores_visible") or machine.get("cpus")
    ram = machine.get("ram_gib") or machine.get("memory_gib")
    return f"{str(data.get('date', '?'))[:10]}, {machine.get('cpu', '?')}, {cores} cores, {ram} GiB"


def _fmt(value: Any, unit: str) -> str:
    if value is None:
        return "not measured"
    if isinstance(value, float):
        return f"{value:,.3g} {unit}".strip() if abs(value) < 100 else f"{value:,.0f} {unit}".strip()
    return f"{value} {unit}".strip()


def _simulate(d: dict[str, Any]) -> Iterator[Row]:
    who = f"{d.get('people', 0):,} people × 4 years"
    yield f"simulate {who}: wall time (median of {d.get('repeats')})", "< 180 s", _fmt(d.get("wall_seconds_median"), "s"), _run(d)
    yield f"simulate {who}: peak memory", "< 8 GiB", _fmt(d.get("peak_rss_gib"), "GiB"), _run(d)


def _validate(d: dict[str, Any]) -> Iterator[Row]:
    events = _get(d, "rows_read", "events") or 0
    yield f"validate 1 extract ({events:,} events): wall time (median)", "—", _fmt(d.get("seconds_median"), "s"), _run(d)
    yield "validate: peak memory", "—", _fmt(d.get("peak_rss_gib_max"), "GiB"), _run(d)


def _features(d: dict[str, Any]) -> Iterator[Row]:
    people = _get(d, "dataset", "people") or 0
    yield f"features, one as_of, {people:,} people (median)", "< 20 s", _fmt(_get(d, "one_as_of", "median_s"), "s"), _run(d)
    yield "features, one as_of: peak memory", "< 6 GiB", _fmt(_get(d, "one_as_of", "peak_gib"), "GiB"), _run(d)
    yield "features, eight as_of dates (median)", "< 120 s", _fmt(_get(d, "eight_as_of", "median_s"), "s"), _run(d)
    ratio = _get(d, "reference", "pandas_over_duckdb")
    yield f"pandas reference / DuckDB on {_get(d, 'reference', 'people') or 0:,} people", "reported", _fmt(ratio, "×"), _run(d)


def _train(d: dict[str, Any]) -> Iterator[Row]:
    for section, body in d.items():
        if not isinstance(body, dict):
            continue
        yield f"train ({section}): full pipeline incl. features", "< 15 min at 1M", _fmt(body.get("seconds_median"), "s"), _run(body)
        metrics = _get(body, "acceptance", "metrics") or {}
        for model, values in metrics.items():
            auroc = values.get("auroc") or {}
            if auroc:
                yield (
                    f"train ({section}): AUROC, {model}",
                    "LightGBM beats all baselines",
                    f"{auroc['value']:.3f} ({auroc['low']:.3f}–{auroc['high']:.3f})",
                    _run(body),
                )
        passed = _get(body, "acceptance", "passed")
        if passed is not None:
            acceptance = body["acceptance"]
            failed = [k for k, v in (acceptance.get("checks") or {}).items() if v is False]
            failed += [f"equity: {f}" for f in acceptance.get("equity_failures") or []]
            yield f"train ({section}): every acceptance check", "pass", "pass" if passed else "FAIL: " + "; ".join(failed), _run(body)


def _score(d: dict[str, Any]) -> Iterator[Row]:
    d = {**d, "date": d.get("date_utc", d.get("date"))}
    who = f"{d.get('rows_scored', 0):,} scored of {d.get('people', 0):,} registered"
    yield f"score the population end to end, features included ({who})", "< 60 s", _fmt(_get(d, "end_to_end_seconds", "median"), "s"), _run(d)
    listed = _get(d, "explain_listed_seconds", "rows") or 0
    yield f"explanations for all {listed:,} listed people", "< 30 s", _fmt(_get(d, "explain_listed_seconds", "median"), "s"), _run(d)
    yield "one person's full explanation (median)", "< 50 ms", _fmt(_get(d, "explain_one_person_ms", "median"), "ms"), _run(d)
    yield "TreeSHAP (pred_contrib) per row", "reported", _fmt(_get(d, "treeshap_vs_shap", "pred_contrib_us_per_row"), "µs"), _run(d)
    yield "shap.TreeExplainer / pred_contrib time on the same rows", "reported", _fmt(_get(d, "treeshap_vs_shap", "ratio_shap_over_pred_contrib"), "×"), _run(d)
    verdict = _get(d, "size_vs_accuracy", "verdict")
    if verdict:
        yield "model size vs accuracy (trees × leaves × depth²)", "say if larger than needed", verdict, _run(d)


def _service(d: dict[str, Any]) -> Iterator[Row]:
    people = _get(d, "publication", "people") or 0
    for run in d.get("runs") or []:
        yield (
            f"service {run['endpoint']} at {run['clients']} clients ({people:,} published)",
            "p99 < 100 ms at 8 clients" if run["clients"] == 8 and "explanation" in run["endpoint"] else "reported",
            f"p50 {run['p50_ms']:.0f} ms, p99 {run['p99_ms']:.0f} ms, {run['throughput_rps']:.0f} req/s, 5xx {run.get('status_5xx', 0)}",
            _run(d),
        )
    soak = d.get("soak_32_clients")
    if soak:
        yield (
            f"service soak, {soak['clients']} clients for {soak['seconds']} s",
            "zero 5xx",
            f"{soak['requests']:,} requests, 5xx {soak['status_5xx']}, p99 {soak['p99_ms']:.0f} ms",
            _run(d),
        )


def _import(d: dict[str, Any]) -> Iterator[Row]:
    size = f"{(d.get('input_bytes') or 0) / 1e9:.1f} GB FHIR NDJSON, {d.get('resources_read') or 0:,} resources"
    yield f"import fhir {size}: throughput", "reported", _fmt(float(d.get("resources_per_second") or 0) or None, "resources/s"), _run(d)
    yield f"import fhir {size}: peak memory", "< 2 GiB at 4 GB", _fmt(d.get("peak_rss_gib"), "GiB"), _run(d)


def _impact(d: dict[str, Any]) -> Iterator[Row]:
    """The newest labelled entry of ``impact_bias.json``: bias factor, coverage and balance per mechanism."""
    entries = d.get("entries") or {}
    if not entries:
        return
    label, entry = max(entries.items(), key=lambda item: str(item[1].get("date", "")))
    for mechanism, body in (entry.get("summary") or {}).items():
        ed, admissions = body.get("ed") or {}, body.get("emergency_admission") or {}
        if ed:
            runs = sum(v["runs"] for v in ed["by_true_ratio"].values())
            low, high = ed["bias_factor_95ci"]
            yield (
                f"impact bias factor exp(mean log(estimate/truth)), A&E, {mechanism}, {runs} runs (entry '{label}')",
                "1 inside the 95% CI",
                f"{ed['bias_factor']:.3f} ({low:.3f}–{high:.3f})",
                _run(entry),
            )
            yield f"impact 95% CI covers the planted ratio, A&E / emergency admissions, {mechanism}", "about 95% of runs", (
                f"{ed['coverage']} / {admissions.get('coverage', '?')}"), _run(entry)
        balance = body.get("balance")
        if balance:
            methods = ", ".join(f"{name} {count}" for name, count in balance["runs_by_weighting"].items())
            low, high = balance["max_abs_smd_after_range"]
            yield f"impact balance, {mechanism}: runs by weighting; largest SMD after", "every SMD < 0.1", (
                f"{methods}; {low:.3f}–{high:.3f}"), _run(entry)


EXTRACTORS: dict[str, Callable[[dict[str, Any]], Iterator[Row]]] = {
    "simulate": _simulate,
    "import": _import,
    "validate": _validate,
    "features": _features,
    "train": _train,
    "score": _score,
    "service": _service,
    "impact_bias": _impact,
}


def rows(results: Path = RESULTS) -> list[Row]:
    """Every headline figure found in the results folder, in pipeline order."""
    found: list[Row] = []
    for name, extract in EXTRACTORS.items():
        path = results / f"{name}.json"
        if path.exists():
            found.extend(extract(json.loads(path.read_text())))
        else:
            found.append((f"{name}", "", "not run yet", ""))
    return found


def markdown_table(table: list[Row]) -> str:
    """The figures as a Markdown table."""
    lines = ["| figure | target | measured | run (date, machine) |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in table]
    return "\n".join(lines) + "\n"


def render(table: list[Row]) -> str:
    """The Markdown page."""
    header = (
        "# Benchmark results\n\n"
        "Written by `python benchmarks/summary.py` from `benchmarks/results/*.json` (run everything with\n"
        "`python benchmarks/run_all.py`). Each JSON holds every run, the machine and the load average.\n\n"
    )
    return header + markdown_table(table)


def update_readme(table: list[Row], readme: Path = README) -> None:
    """Replace the README's benchmark table (between its start and end markers) with ``table``."""
    text = readme.read_text()
    if START not in text or END not in text:
        raise ValueError(f"{readme} must hold the markers {START} and {END} around the benchmark table; add them.")
    head, rest = text.split(START, 1)
    tail = rest.split(END, 1)[1]
    readme.write_text(f"{head}{START}\n{markdown_table(table)}{END}{tail}")


def main(argv: list[str] | None = None) -> None:
    """Write ``RESULTS.md`` beside the results folder and, for the recorded results, the README's table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--results", type=Path, default=RESULTS, help="folder of benchmark JSON files")
    parser.add_argument("--no-readme", action="store_true", help="leave README.md as it is (smoke runs)")
    args = parser.parse_args(argv)
    table = rows(args.results)
    out = OUT if args.results == RESULTS else args.results / "RESULTS.md"
    out.write_text(render(table))
    if not args.no_readme:
        update_readme(table)
    print(f"wrote {out}" + ("" if args.no_readme else f" and the table in {README}"))


if __name__ == "__main__":
    main()
