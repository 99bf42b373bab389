"""Write the impact evaluation: ``impact.json``, a self-contained ``impact.html`` for commissioners, and an MLflow run."""

from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass
from pathlib import Path

import mlflow

from features.home import Home
from training.impact.config import MEASURES
from training.impact.run import NAIVE_EXPLANATION, ImpactResult
from training.tracking import configure_tracking

__all__ = ["ImpactFiles", "write_impact", "log_impact_run", "MEASURE_NAMES", "weighting_sentence"]

#: Plain names of the measures, as a commissioner reads them.
MEASURE_NAMES: dict[str, str] = {
    "ed": "A&E attendances",
    "emergency_admission": "Emergency admissions",
    "ambulance": "Ambulance call-outs",
    "nhs111": "NHS 111 contacts",
    "cost_gbp": "Urgent care cost (£)",
}
_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Arial,sans-serif;margin:2rem auto;max-width:60rem;color:#212b32;
line-height:1.5;padding:0 1rem}h1{color:#005eb8}h2{border-bottom:2px solid #005eb8;padding-bottom:.2rem}
table{border-collapse:collapse;margin:1rem 0;width:100%}th,td{border:1px solid #d8dde0;padding:.35rem .5rem;
text-align:right}th:first-child,td:first-child{text-align:left}th{background:#f0f4f5}.note{background:#fff9c4;
padding:.75rem 1rem;border-left:4px solid #ffeb3b}.figs{display:flex;flex-wrap:wrap;gap:1rem}.bad{color:#d5281b}
figure{margin:0}figcaption{font-size:.9rem}
"""


@dataclass(frozen=True)
class ImpactFiles:
    """Paths of the written files."""

    json: Path
    html: Path


def _fmt(value: float, digits: int = 2) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:,.{digits}f}"


def _svg_event_study(result: ImpactResult, measure: str) -> str:
    points = [p for p in result.event_study if p.measure == measure]
    months = [p.month for p in points]
    values = [v for p in points for v in (p.rate_enrolled, p.rate_controls) if not math.isnan(v)]
    top = max(values, default=1.0) * 1.1 or 1.0
    width, height, pad = 420, 220, 40

    def xy(month: int, value: float) -> str:
        x = pad + (month - months[0]) / (months[-1] - months[0]) * (width - 2 * pad)
        y = height - pad - value / top * (height - 2 * pad)
        return f"{x:.1f},{y:.1f}"

    lines = []
    for attr, colour, label in (("rate_enrolled", "#d5281b", "Enrolled"), ("rate_controls", "#005eb8", "Matched controls")):
        path = " ".join(xy(p.month, getattr(p, attr)) for p in points if not math.isnan(getattr(p, attr)))
        lines.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{path}"/>')
        y = 14 if attr == "rate_enrolled" else 28
        lines.append(f'<rect x="{width - 150}" y="{y - 8}" width="10" height="10" fill="{colour}"/>'
                     f'<text x="{width - 135}" y="{y + 1}" font-size="11">{label}</text>')
    zero = xy(0, 0).split(",")[0]
    axes = (
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" stroke="#425563"/>'
        f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{height - pad}" stroke="#425563"/>'
        f'<line x1="{zero}" y1="{pad}" x2="{zero}" y2="{height - pad}" stroke="#768692" stroke-dasharray="4 3"/>'
        f'<text x="{zero}" y="{pad - 6}" font-size="11" text-anchor="middle">enrolment</text>'
        f'<text x="{width / 2}" y="{height - 8}" font-size="11" text-anchor="middle">months from enrolment</text>'
        f'<text x="{pad - 4}" y="{pad}" font-size="10" text-anchor="end">{_fmt(top, 1)}</text>'
        f'<text x="{pad - 4}" y="{height - pad}" font-size="10" text-anchor="end">0</text>'
    )
    ticks = "".join(
        f'<text x="{xy(m, 0).split(",")[0]}" y="{height - pad + 14}" font-size="10" text-anchor="middle">{m:+d}</text>'
        for m in months if m % 6 == 0
    )
    title = f"{MEASURE_NAMES[measure]} per person-year, by month from enrolment"
    return (
        f'<figure><svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
        f'aria-label="{html.escape(title)}">{axes}{ticks}{"".join(lines)}</svg>'
        f"<figcaption>{html.escape(title)}</figcaption></figure>"
    )


def _html(result: ImpactResult, doc: dict) -> str:
    rows = []
    for name in MEASURES:
        m = doc["measures"][name]
        unit = "£ per 100 person-years" if name == "cost_gbp" else "per 100 person-years"
        rows.append(
            f"<tr><td>{MEASURE_NAMES[name]}</td><td>{_fmt(m['rate_ratio'])}</td>"
            f"<td>{_fmt(m['ci_low'])} to {_fmt(m['ci_high'])}</td>"
            f"<td>{_fmt(m['difference_per_100_person_years'], 1)} {unit}</td>"
            f"<td>{_fmt(m['naive_pre_post_ratio'])}</td></tr>"
        )
    balance = "".join(
        f"<tr><td>{html.escape(b.covariate)}</td><td>{_fmt(b.mean_enrolled)}</td><td>{_fmt(b.mean_controls_before)}</td>"
        f"<td>{_fmt(b.mean_controls_after)}</td><td>{_fmt(b.smd_before)}</td>"
        f"<td{' class=bad' if abs(b.smd_after) >= result.config.smd_limit else ''}>{_fmt(b.smd_after)}</td></tr>"
        for b in sorted(result.balance, key=lambda b: -abs(b.smd_before))
    )
    enrol = doc["enrolment"]
    extra = ""
    if result.randomised is not None:
        extra += "<h2>Randomised comparison (holdout)</h2><table><tr><th>Measure</th><th>Rate ratio listed vs held out</th><th>95% CI</th></tr>"
        extra += "".join(
            f"<tr><td>{MEASURE_NAMES[n]}</td><td>{_fmt(e.rate_ratio)}</td><td>{_fmt(e.ci_low)} to {_fmt(e.ci_high)}</td></tr>"
            for n, e in result.randomised.items()
        ) + f"</table><p>{result.randomised_n.get('n_listed', 0)} listed, {result.randomised_n.get('n_holdout', 0)} held out at random.</p>"
    if result.discontinuity is not None:
        extra += "<h2>At the capacity cut (regression discontinuity)</h2><table><tr><th>Measure</th><th>Rate ratio just listed vs just not</th><th>95% CI</th></tr>"
        extra += "".join(
            f"<tr><td>{MEASURE_NAMES[n]}</td><td>{_fmt(e['rate_ratio'])}</td><td>{_fmt(e['ci_low'])} to {_fmt(e['ci_high'])}</td></tr>"
            for n, e in result.discontinuity.items()
        ) + "</table>"
    figures = "".join(_svg_event_study(result, name) for name in MEASURES)
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Did it work? Caseload impact</title>
<style>{_CSS}</style></head><body>
<h1>Did it work? Impact of the caseload on urgent care use</h1>
<p>{result.n_enrolled} people enrolled between {result.enrol_from:%B %Y} and {result.enrol_to:%B %Y} were compared with
{result.n_controls} similar people not enrolled at the time, over {result.follow_up_months} months of follow-up.</p>
<h2>Results</h2>
<table><tr><th>Measure</th><th>Rate ratio (enrolled vs matched controls)</th><th>95% CI</th>
<th>Difference</th><th>Naive before/after ratio</th></tr>{''.join(rows)}</table>
<p>A rate ratio below 1 means fewer events among enrolled people than among comparable people; if the 95% interval
includes 1, the data are consistent with no effect.</p>
<p class="note"><strong>Why the naive figure is wrong.</strong> {html.escape(NAIVE_EXPLANATION)}</p>
<h2>Before and after, enrolled and matched controls</h2><div class="figs">{figures}</div>
{extra}
<h2>Method</h2><p>{html.escape(doc['method'])}</p>
<p>Enrolment records: {enrol['code_rows']} from the codes table, {enrol['action_rows']} caseload actions,
{enrol['duplicates_merged']} duplicates merged, {enrol['unknown_people']} for unknown people;
{enrol['in_window']} people enrolled in the window, {enrol['before_window']} before it (never used as controls),
{enrol['not_registered_at_month_start']} not registered at the month start, {enrol['no_control_within_caliper']} without a
comparable control (left out).</p>
<h2>Balance</h2><p>Standardised mean differences (SMD) of every matching feature; below {result.config.smd_limit} after
matching is good balance. Largest after: {_fmt(result.max_smd_after, 3)}. {html.escape(weighting_sentence(result))}</p>
<table><tr><th>Feature</th><th>Enrolled mean</th><th>Not enrolled mean</th><th>Matched controls mean</th>
<th>SMD before</th><th>SMD after</th></tr>{balance}</table>
</body></html>
"""


def weighting_sentence(result: ImpactResult) -> str:
    """How the controls were weighted, the balance that reached and what it cost in effective sample size."""
    b = result.balancing
    how = {
        "entropy": "Weights: exact entropy balancing (every feature mean equal to the enrolled people's).",
        "approximate_entropy": f"Weights: approximate entropy balancing within {b.tolerance:g} SD, the tightest tolerance on a "
        f"ladder of {b.step:g} steps that these controls reach (exact balance is impossible: no weighting of them gets every "
        f"feature closer than {b.least_achievable_smd:.3f}).",
        "matching": f"Weights: the matching weights (no weighting of these controls gets every feature closer than "
        f"{b.least_achievable_smd:.3f}).",
    }[b.method]
    return (
        f"{how} Largest SMD with the matching weights alone: {b.max_smd_matching:.3f}. Effective sample size of the "
        f"controls: {b.ess:.0f} of {result.n_controls} people (matching weights alone: {b.ess_matching:.0f})."
    )


def write_impact(result: ImpactResult, out_dir: Path | str) -> ImpactFiles:
    """Write ``impact.json`` and ``impact.html`` into ``out_dir`` (created if needed)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    doc = result.to_json()
    files = ImpactFiles(json=out / "impact.json", html=out / "impact.html")
    files.json.write_text(json.dumps(doc, indent=2, default=str, allow_nan=True) + "\n", encoding="utf-8")
    files.html.write_text(_html(result, doc), encoding="utf-8")
    return files


def log_impact_run(result: ImpactResult, files: ImpactFiles, home: Home) -> str:
    """Record the evaluation as an MLflow run (params, metrics, the two files); return the run id."""
    configure_tracking(home)
    with mlflow.start_run(run_name="impact") as run:
        mlflow.set_tag("risingrisk.stage", "impact")
        params = {f"impact.{k}": v for k, v in result.config.to_dict().items()}
        params |= {"impact.enrol_from": result.enrol_from.isoformat(), "impact.enrol_to": result.enrol_to.isoformat()}
        mlflow.log_params({k: str(v)[:500] for k, v in params.items()})
        metrics = {"n_enrolled": result.n_enrolled, "n_controls": result.n_controls, "max_abs_smd_after": result.max_smd_after,
                   "effective_sample_size_controls": result.balancing.ess}
        if result.balancing.tolerance is not None:
            metrics["balance_tolerance"] = result.balancing.tolerance
        mlflow.set_tag("risingrisk.impact.weighting", result.balancing.method)
        for name, est in result.measures.items():
            metrics |= {f"{name}_rate_ratio": est.rate_ratio, f"{name}_ci_low": est.ci_low, f"{name}_ci_high": est.ci_high,
                        f"{name}_naive_pre_post_ratio": result.naive[name]}
        mlflow.log_metrics({k: float(v) for k, v in metrics.items() if not math.isnan(float(v))})
        mlflow.log_artifact(str(files.json))
        mlflow.log_artifact(str(files.html))
        return run.info.run_id
