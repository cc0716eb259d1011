"""``kobe reflect --report``: the reflection as one HTML file that opens offline.

One forest plot per section (each comparison's difference of mean trade returns, its
95% interval as a thick bar and its Bonferroni interval as a thin one), then the groups'
tables and the findings. plotly.js is inlined, as in :mod:`kobe.backtest.report`.
"""

from __future__ import annotations

import html
from pathlib import Path

import plotly.graph_objects as go

from kobe.charts import chart_div, plotly_script
from kobe.files import write_atomic
from kobe.journal.reflect import Comparison, Reflection

SECTIONS = {"regime": "By regime", "feature": "By feature quintile (Q5 vs Q1)", "exit_reason": "By exit reason",
            "weekday": "By weekday of the entry", "live_vs_backtest": "Live against backtest, same trades"}

_STYLE = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:.5em 0}td,th{padding:.2em .6em;border-bottom:1px solid #ddd;text-align:right}
td:first-child,th:first-child{text-align:left}.meta{color:#666}.yes{font-weight:bold;color:#1a7f37}"""


def forest_figure(comparisons: list[Comparison], level: float) -> go.Figure:
    """Each tested comparison: its difference (percent) with both intervals."""
    tested = [c for c in comparisons if c.tested]
    names = [f"{c.factor} {c.group} vs {c.other}" for c in tested]
    diff = [100 * c.difference for c in tested]
    fig = go.Figure()
    fig.add_trace(go.Scatter(
        x=diff, y=names, mode="markers", name=f"Bonferroni {100 * level:.2f}% interval",
        marker={"color": ["#1a7f37" if c.supported else "#555" for c in tested], "size": 8},
        error_x={"type": "data", "symmetric": False, "thickness": 1, "width": 0,
                 "array": [100 * (c.family_high or 0) - d for c, d in zip(tested, diff)],
                 "arrayminus": [d - 100 * (c.family_low or 0) for c, d in zip(tested, diff)]}))
    fig.add_trace(go.Scatter(
        x=diff, y=names, mode="markers", name="95% interval", marker={"color": "rgba(0,0,0,0)"},
        error_x={"type": "data", "symmetric": False, "thickness": 5, "width": 0, "color": "#4c78a8",
                 "array": [100 * (c.high or 0) - d for c, d in zip(tested, diff)],
                 "arrayminus": [d - 100 * (c.low or 0) for c, d in zip(tested, diff)]}))
    fig.add_vline(x=0, line_dash="dot")
    fig.update_layout(xaxis_title="difference of mean trade return, %", margin={"l": 10, "r": 10, "t": 10, "b": 40},
                      height=max(220, 28 * len(tested) + 100), legend={"orientation": "h", "y": -0.2})
    fig.update_yaxes(autorange="reversed")
    return fig


def _table(reflection: Reflection, section: str) -> str:
    esc = html.escape
    rows = "".join(
        f"<tr><td>{esc(g.factor)}</td><td>{esc(g.level)}</td><td>{g.trades:,}</td>"
        f"<td>{100 * g.mean_return:+.2f}%</td><td>{100 * g.win_rate:.0f}%</td><td>{g.pnl:,.2f}</td></tr>"
        for g in reflection.groups if g.section == section)
    if not rows:
        return ""
    return ("<table><tr><th>factor</th><th>group</th><th>trades</th><th>mean return</th><th>win rate</th>"
            f"<th>P&amp;L</th></tr>{rows}</table>")


def render_report(reflection: Reflection) -> str:
    esc = html.escape
    parts = []
    for index, (section, title) in enumerate(SECTIONS.items()):
        chosen = [c for c in reflection.comparisons if c.section == section]
        if not chosen:
            continue
        chart = ""
        if any(c.tested for c in chosen):
            chart = chart_div(forest_figure(chosen, reflection.family_level), f"forest-{index}")
        untested = sum(not c.tested for c in chosen)
        note = f'<p class="meta">{untested} not tested: fewer than 10 trades in a group.</p>' if untested else ""
        parts.append(f"<h2>{esc(title)}</h2>{chart}{note}{_table(reflection, section)}")
    findings = "".join(f"<li>{esc(c.sentence())}</li>" for c in reflection.findings()) or \
        "<li>none: no Bonferroni-corrected interval excludes 0</li>"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Kobe reflect: {esc(reflection.strategy)}</title>
<style>{_STYLE}</style>
{plotly_script()}
</head>
<body>
<h1>Reflect: {esc(reflection.strategy)}</h1>
<p class="meta">{reflection.trades:,} {esc(reflection.source)} trades, {reflection.first} .. {reflection.last};
{reflection.tested} comparisons tested; bootstrap (BCa) seed {reflection.seed}; a finding's Bonferroni
interval, at {100 * reflection.family_level:.3f}%, excludes 0.</p>
<h2>Findings</h2>
<ul id="findings">{findings}</ul>
{"".join(parts)}
</body>
</html>
"""


def write_report(path: Path, reflection: Reflection) -> None:
    """Write :func:`render_report` to ``path`` atomically."""
    write_atomic(path, render_report(reflection))
