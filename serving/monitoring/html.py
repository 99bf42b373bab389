"""Render a monitoring report as one self-contained HTML page: inline CSS and inline SVG charts, nothing fetched."""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape
from typing import TYPE_CHECKING

from serving.monitoring.expectation import SeriesJudgement

if TYPE_CHECKING:
    from serving.monitoring.report import MonitorReport

__all__ = ["render_html", "volume_chart", "bar_chart", "line_chart"]

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Arial,sans-serif;margin:24px;color:#1d2731;max-width:1200px}
h1{font-size:22px}h2{font-size:18px;margin-top:28px;border-bottom:1px solid #ccd;padding-bottom:4px}
table{border-collapse:collapse;margin:8px 0;font-size:13px}td,th{border:1px solid #ccd;padding:3px 8px;text-align:left}
th{background:#eef1f5}.critical{color:#fff;background:#b3261e;padding:1px 6px;border-radius:3px}
.warning{background:#f6c343;padding:1px 6px;border-radius:3px}.ok{color:#1b6e3a}
.grid{display:flex;flex-wrap:wrap;gap:12px}.note{color:#556;font-size:13px}svg{background:#fafbfc;border:1px solid #e3e6ea}
"""
_W, _H, _PAD = 360, 150, 34


def _fmt(value: float | None, spec: str = ".3f") -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)


def _scale(lo: float, hi: float, a: float, b: float):  # noqa: ANN202 - small local mapping
    span = hi - lo or 1.0
    return lambda v: a + (v - lo) / span * (b - a)


def volume_chart(series: SeriesJudgement) -> str:
    """Monthly rows (dots and line), the expected volume (dashed) and its band (shaded); flagged months in red."""
    n = len(series.months)
    if n == 0:
        return ""
    finite = [v for v in (*series.observed, *series.upper, *series.expected) if v is not None and not math.isnan(v)]
    top = max(finite) * 1.05 if finite else 1.0
    x = _scale(0, max(n - 1, 1), _PAD, _W - 8)
    y = _scale(0, top, _H - 20, 10)
    parts = [f'<svg width="{_W}" height="{_H}" role="img" aria-label="monthly volume of {escape(series.subject)}">']
    have = [i for i in range(n) if not math.isnan(series.expected[i])]
    if have:
        upper = " ".join(f"{x(i):.1f},{y(series.upper[i]):.1f}" for i in have)
        lower = " ".join(f"{x(i):.1f},{y(series.lower[i]):.1f}" for i in reversed(have))
        parts.append(f'<polygon points="{upper} {lower}" fill="#9cc3e6" opacity="0.45"/>')
        exp = " ".join(f"{x(i):.1f},{y(series.expected[i]):.1f}" for i in have)
        parts.append(f'<polyline points="{exp}" fill="none" stroke="#1f5f9e" stroke-dasharray="4 3"/>')
    obs = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(series.observed))
    parts.append(f'<polyline points="{obs}" fill="none" stroke="#333" stroke-width="1.2"/>')
    flagged = {j.month for j in series.flagged}
    for i, (m, v) in enumerate(zip(series.months, series.observed)):
        colour = "#b3261e" if m in flagged else "#333"
        parts.append(f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="{3.5 if m in flagged else 1.6}" fill="{colour}"><title>{m:%Y-%m}: {v:,.0f}</title></circle>')
    parts.append(f'<text x="{_PAD}" y="{_H - 5}" font-size="10">{series.months[0]:%Y-%m}</text>')
    parts.append(f'<text x="{_W - 60}" y="{_H - 5}" font-size="10">{series.months[-1]:%Y-%m}</text>')
    parts.append(f'<text x="2" y="14" font-size="10">{top:,.0f}</text>')
    parts.append(f'<text x="{_PAD + 4}" y="22" font-size="12" font-weight="bold">{escape(series.subject)}</text></svg>')
    return "".join(parts)


def bar_chart(labels: Sequence[str], values: Sequence[float], threshold: float | None, *, title: str) -> str:
    """Horizontal bars (e.g. PSI per feature) with an optional threshold line."""
    if not labels:
        return ""
    row, left, width = 18, 220, 560
    height = row * len(labels) + 30
    top = max([*values, threshold or 0.0]) * 1.1 or 1.0
    x = _scale(0, top, left, width - 10)
    parts = [f'<svg width="{width}" height="{height}" role="img" aria-label="{escape(title)}">']
    for i, (label, value) in enumerate(zip(labels, values)):
        colour = "#b3261e" if threshold is not None and value >= threshold else "#1f5f9e"
        parts.append(f'<text x="4" y="{20 + i * row + 12}" font-size="11">{escape(label[:34])}</text>')
        parts.append(f'<rect x="{left}" y="{20 + i * row + 2}" width="{max(x(value) - left, 1):.1f}" height="{row - 5}" fill="{colour}"><title>{value:.3f}</title></rect>')
    if threshold is not None:
        parts.append(f'<line x1="{x(threshold):.1f}" x2="{x(threshold):.1f}" y1="14" y2="{height}" stroke="#b3261e" stroke-dasharray="3 3"/>')
    parts.append(f'<text x="4" y="12" font-size="12" font-weight="bold">{escape(title)}</text></svg>')
    return "".join(parts)


def line_chart(lines: dict[str, list[tuple[float, float]]], *, title: str, x_label: str, y_label: str) -> str:
    """One polyline per named series of (x, y) points, e.g. AUROC by score age per publication."""
    points = [p for pts in lines.values() for p in pts if not math.isnan(p[1])]
    if not points:
        return ""
    width, height, legend = 760, 240, 280
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x = _scale(min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1, 50, width - legend - 20)
    lo, hi = min(ys), max(ys)
    y = _scale(lo - 0.02, hi + 0.02, height - 30, 20)
    palette = ["#1f5f9e", "#b3261e", "#1b6e3a", "#7b3fa0", "#c46f00", "#333333"]
    parts = [f'<svg width="{width}" height="{height}" role="img" aria-label="{escape(title)}">']
    for k, (name, pts) in enumerate(lines.items()):
        colour = palette[k % len(palette)]
        good = [p for p in pts if not math.isnan(p[1])]
        parts.append(f'<polyline points="{" ".join(f"{x(a):.1f},{y(b):.1f}" for a, b in good)}" fill="none" stroke="{colour}" stroke-width="1.5"/>')
        for a, b in good:
            parts.append(f'<circle cx="{x(a):.1f}" cy="{y(b):.1f}" r="3" fill="{colour}"><title>{escape(name)}: {a:g}, {b:.3f}</title></circle>')
        parts.append(f'<text x="{width - legend}" y="{30 + 14 * k}" font-size="11" fill="{colour}">{escape(name)}</text>')
    for tick in sorted(set(xs)):
        parts.append(f'<text x="{x(tick) - 3:.1f}" y="{height - 18}" font-size="10">{tick:g}</text>')
    parts.append(f'<text x="50" y="{height - 4}" font-size="11">{escape(x_label)}</text>')
    parts.append(f'<text x="4" y="14" font-size="11">{escape(y_label)} ({lo:.3f}-{hi:.3f})</text>')
    parts.append(f'<text x="200" y="14" font-size="12" font-weight="bold">{escape(title)}</text></svg>')
    return "".join(parts)


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    head = "".join(f"<th>{escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def render_html(report: MonitorReport) -> str:
    """The whole report page: alerts, feed volume charts, codes, recording lag, drift, backtest, staleness."""
    out = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>risingrisk monitoring {report.as_of}</title>"
           f"<style>{_CSS}</style></head><body>"]
    out.append(f"<h1>Monitoring report: data as of {report.as_of}</h1>")
    out.append(f"<p class='note'>Extract {escape(report.data_dir)}; written {report.created_at:%Y-%m-%d %H:%M} UTC.</p>")
    out.append("<h2>Alerts</h2>")
    if report.alerts:
        out.append("<table><tr><th>severity</th><th>kind</th><th>subject</th><th>message</th></tr>" + "".join(
            f"<tr><td><span class='{a.severity}'>{a.severity}</span></td><td>{a.kind}</td><td>{escape(a.subject)}</td>"
            f"<td>{escape(a.message)}</td></tr>" for a in report.alerts) + "</table>")
    else:
        out.append("<p class='ok'>No alerts.</p>")
    out.append("<h2>Feeds: monthly rows per setting</h2><p class='note'>Line and dots: rows recorded so far; dashed: expected "
               f"(trend, season, recording lag); shaded: {report.config.band_probability:.0%} band; red: judged month well below expectation.</p>")
    series = [*report.feeds.settings, *([report.feeds.codes] if report.feeds.codes else [])]
    out.append("<div class='grid'>" + "".join(volume_chart(s) for s in series) + "</div>")
    not_judged = [(s.subject, s.reason_not_judged) for s in series if s.reason_not_judged]
    if not_judged:
        out.append(_table(["series", "not judged because"], not_judged))
    out.append("<h2>Codes</h2>")
    out.append(_table(["new code in no list", "system", "first recorded", "rows"],
                      [(c.code, c.code_system, c.first_recorded, f"{c.rows:,}") for c in report.new_codes]) if report.new_codes
               else "<p class='ok'>No new codes outside the code lists.</p>")
    cats = [s for s in report.feeds.categories if s.judged]
    if cats:
        out.append(_table(["category", "last month rows", "expected", "ratio", "collapsed"],
                          [(s.subject, f"{s.judged[-1].observed:,.0f}", f"{s.judged[-1].expected:,.1f}",
                            _fmt(s.judged[-1].ratio, ".2f"), "yes" if s.flagged else "no") for s in cats]))
    out.append("<h2>Recording lag (days)</h2>")
    out.append(_table(["table", "subject", "rows recorded lately", *(f"{q} now / before / alert" for q in (report.lags[0].recent if report.lags else {})), "flagged"],
                      [(c.table, c.subject, f"{c.rows_recent:,}", *(f"{c.recent[q]:.1f} / {c.baseline[q]:.1f} / {c.threshold[q]:.1f}" for q in c.recent),
                        "yes" if c.flagged else "no") for c in report.lags]))
    out.append("<h2>Drift against the champion's training data</h2>")
    if report.drift is None:
        out.append("".join(f"<p class='note'>{escape(note)}.</p>" for note in report.notes if note.startswith("drift"))
                   or "<p class='note'>Not measured.</p>")
    else:
        d = report.drift
        top = d.top(report.config.top_features)
        extra = ([d.score] if d.score else []) + ([d.mix] if d.mix else [])
        shown = [*extra, *top]
        out.append(bar_chart([s.name for s in shown], [s.psi for s in shown], report.config.psi_threshold, title="PSI (score, neighbourhood mix, top features)"))
        out.append(_table(["neighbourhood", "people", "share", "training share"],
                          [(n.neighbourhood, f"{n.people:,}", f"{n.share:.1%}", f"{n.reference_share:.1%}") for n in d.neighbourhoods]))
    out.append("<h2>Backtest of past publications</h2>")
    if report.backtest:
        lines: dict[str, list[tuple[float, float]]] = {}
        for r in report.backtest:
            lines.setdefault(f"{r.publication_id} ({r.as_of})", []).append((r.age_months, r.auroc if r.auroc is not None else math.nan))
        out.append(line_chart(lines, title="Realised AUROC by score age", x_label="score age (months after as_of)", y_label="AUROC"))
        out.append(_table(
            ["publication", "as of", "age (months)", "people", "left out (seen by the model)", "AUROC", "predicted", "observed", "listed",
             "predicted listed", "PPV at capacity", "note"],
            [(r.publication_id, r.as_of, r.age_months, f"{r.people:,}", f"{r.excluded:,}", _fmt(r.auroc), _fmt(r.predicted_overall, ".2%"),
              _fmt(r.observed_overall, ".2%"), r.listed, _fmt(r.predicted_listed, ".2%"), _fmt(r.ppv_at_capacity, ".2%"), r.note)
             for r in report.backtest],
        ))
    else:
        out.append("<p class='note'>No publication's outcome window has passed yet.</p>")
    out.append("<h2>Staleness</h2>")
    s = report.staleness
    out.append(f"<p>Current publication {escape(s.publication_id)}: data as of {s.as_of}, {s.age_days} days old "
               f"(refresh every {s.refresh_days} days){' - stale' if s.stale else ''}.</p>" if s else "<p class='note'>No current publication.</p>")
    out.append("</body></html>\n")
    return "".join(out)
