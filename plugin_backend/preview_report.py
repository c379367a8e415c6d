"""The accuracy preview as one self-contained HTML page (inline SVG plots, no CDN assets).

``render_html(report)`` takes the dict of ``trainer.preview.run_preview``; the admin pages
serve the same page. Text is escaped by Jinja2's autoescaping; plots are built here as SVG.
"""

from __future__ import annotations

from typing import Any

from jinja2 import Environment
from markupsafe import Markup

COLOURS = ("#1f6feb", "#d1242f", "#2da44e", "#bf8700", "#8250df", "#57606a", "#e16f24",
           "#0a7d8c")
LABELS = {
    "clonedesk": "CloneDesk (served mode)",
    "adapter_rag": "Adapter + retrieved replies",
    "rag_nearest": "RAG nearest resolution",
    "rag_base": "RAG + base model",
    "base_zero_shot": "Base model zero-shot",
    "typical_reply": "Typical reply (account)",
    "typical_reply_category": "Typical reply (per category)",
}
W, H, PAD = 520, 300, 44


def label(name: str) -> str:
    """Human name of a method."""
    return LABELS.get(name, name)


def _pct(value: Any) -> str:
    return "–" if value is None else f"{100 * float(value):.1f}%"


def _axes(x_label: str, y_label: str) -> list[str]:
    parts = [(f'<rect x="{PAD}" y="10" width="{W - PAD - 10}" height="{H - PAD - 10}" '
             'fill="none" stroke="#888"/>')]
    for i in range(6):
        v = i / 5
        x = PAD + v * (W - PAD - 10)
        y = H - PAD - v * (H - PAD - 10)
        parts.append(f'<text x="{x:.0f}" y="{H - PAD + 16}" font-size="11" '
                     f'text-anchor="middle">{v:.1f}</text>')
        parts.append(f'<text x="{PAD - 6}" y="{y + 4:.0f}" font-size="11" '
                     f'text-anchor="end">{v:.1f}</text>')
        parts.append(f'<line x1="{PAD}" x2="{W - 10}" y1="{y:.0f}" y2="{y:.0f}" '
                     'stroke="#eee"/>')
    parts.append(f'<text x="{(W + PAD) / 2:.0f}" y="{H - 8}" font-size="12" '
                 f'text-anchor="middle">{x_label}</text>')
    parts.append(f'<text x="12" y="{H / 2:.0f}" font-size="12" text-anchor="middle" '
                 f'transform="rotate(-90 12 {H / 2:.0f})">{y_label}</text>')
    return parts


def _xy(x: float, y: float) -> tuple[float, float]:
    return PAD + x * (W - PAD - 10), H - PAD - y * (H - PAD - 10)


def _legend(names: list[str], x0: float = PAD + 8, y0: float = 24) -> list[str]:
    parts = []
    for i, name in enumerate(names):
        y = y0 + 15 * i
        parts.append(f'<rect x="{x0}" y="{y - 9}" width="10" height="10" '
                     f'fill="{COLOURS[i % len(COLOURS)]}"/>')
        parts.append(f'<text x="{x0 + 14}" y="{y}" font-size="11">{label(name)}</text>')
    return parts


def coverage_svg(report: dict[str, Any]) -> Markup:
    """Precision of acceptable suggestions against coverage, one line per method."""
    parts = [(f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
             'role="img" aria-label="coverage-precision curve">')]
    parts += _axes("coverage (share of tickets at or above a confidence threshold)",
                   "precision (acceptable)")
    names = list(report["methods"])
    for i, name in enumerate(names):
        curve = report["methods"][name]["overall"].get("coverage_precision", [])
        points = " ".join(f"{x:.1f},{y:.1f}" for x, y in
                          (_xy(p["coverage"], p["precision"]) for p in curve))
        colour = COLOURS[i % len(COLOURS)]
        if len(curve) == 1:
            x, y = _xy(curve[0]["coverage"], curve[0]["precision"])
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{colour}"/>')
        elif curve:
            parts.append(f'<polyline points="{points}" fill="none" stroke="{colour}" '
                         'stroke-width="2"/>')
    x0, y = _xy(0, 0.9)
    parts.append(f'<line x1="{x0}" x2="{W - 10}" y1="{y:.0f}" y2="{y:.0f}" stroke="#999" '
                 'stroke-dasharray="4 3"/>')
    parts += _legend(names, x0=W - 210, y0=H - PAD - 15 * len(names))
    parts.append("</svg>")
    return Markup("".join(parts))


def reliability_svg(overall: dict[str, Any]) -> Markup:
    """Reliability diagram: accuracy (acceptable) per confidence bin against the diagonal."""
    parts = [(f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
             'role="img" aria-label="reliability diagram">')]
    parts += _axes("confidence", "share acceptable")
    x1, y1 = _xy(0, 0)
    x2, y2 = _xy(1, 1)
    parts.append(f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="#999" '
                 'stroke-dasharray="4 3"/>')
    for b in overall.get("reliability", []):
        if not b["count"]:
            continue
        left, top = _xy(b["lower"], b["accuracy"])
        right, bottom = _xy(b["upper"], 0)
        parts.append(f'<rect x="{left + 1:.1f}" y="{top:.1f}" width="{right - left - 2:.1f}" '
                     f'height="{bottom - top:.1f}" fill="{COLOURS[0]}" opacity="0.75">'
                     f'<title>{b["count"]} tickets, mean confidence {b["mean_conf"]:.2f}, '
                     f'{100 * b["accuracy"]:.0f}% acceptable</title></rect>')
    parts.append("</svg>")
    return Markup("".join(parts))


def category_svg(report: dict[str, Any], names: list[str]) -> Markup:
    """Acceptable rate per category, grouped bars per method."""
    categories = list(report["categories"])
    width = max(W, 110 * len(categories) + PAD)
    plot_w = width - PAD - 10
    parts = [(f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{H}" '
             'role="img" aria-label="acceptable rate per category">'),
             (f'<rect x="{PAD}" y="10" width="{plot_w}" height="{H - PAD - 10}" fill="none" '
             'stroke="#888"/>')]
    for i in range(6):
        v = i / 5
        y = H - PAD - v * (H - PAD - 10)
        parts.append(f'<text x="{PAD - 6}" y="{y + 4:.0f}" font-size="11" '
                     f'text-anchor="end">{v:.1f}</text>')
    group = plot_w / max(len(categories), 1)
    bar = group * 0.8 / max(len(names), 1)
    for c, category in enumerate(categories):
        x0 = PAD + c * group + group * 0.1
        for m, name in enumerate(names):
            stats = report["methods"][name]["by_category"].get(category, {})
            rate = stats.get("acceptable_rate", 0.0) or 0.0
            top = H - PAD - rate * (H - PAD - 10)
            parts.append(f'<rect x="{x0 + m * bar:.1f}" y="{top:.1f}" width="{bar - 1:.1f}" '
                         f'height="{H - PAD - top:.1f}" fill="{COLOURS[m % len(COLOURS)]}">'
                         f'<title>{label(name)} · {Markup.escape(category)}: '
                         f'{100 * rate:.0f}% of '
                         f'{stats.get("tickets", 0)}</title></rect>')
        short = category if len(category) <= 16 else category[:15] + "…"
        parts.append(f'<text x="{x0 + group * 0.4:.0f}" y="{H - PAD + 16}" font-size="11" '
                     f'text-anchor="middle">{Markup.escape(short)}</text>')
    parts += _legend(names)
    parts.append("</svg>")
    return Markup("".join(parts))


TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>CloneDesk accuracy preview — {{ r.tenant }} {{ r.adapter_version }}</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:24px auto;max-width:1100px;
color:#1f2328;padding:0 16px}
h1{font-size:22px} h2{font-size:17px;margin-top:28px;border-bottom:1px solid #d0d7de}
table{border-collapse:collapse;margin:8px 0} td,th{border:1px solid #d0d7de;padding:4px 8px;
text-align:right;vertical-align:top} th{background:#f6f8fa} td.l,th.l{text-align:left}
.big{font-size:30px;font-weight:600} .muted{color:#57606a} .ok{color:#1a7f37} .bad{color:#cf222e}
.card{display:inline-block;border:1px solid #d0d7de;border-radius:6px;padding:10px 16px;
margin:0 12px 12px 0;vertical-align:top;min-width:180px}
td.text{max-width:330px;text-align:left;white-space:pre-wrap;font-size:12px}
</style></head><body>
<h1>Accuracy preview — {{ r.tenant }} · adapter {{ r.adapter_version }}</h1>
<p class="muted">Scored on {{ r.counts.scored }} {{ r.source }} tickets
({{ r.evaluated_window.first_created_at or "no dates" }} → {{ r.evaluated_window.last_created_at
or "" }}); trained on {{ r.training_window.tickets }} older tickets
({{ r.training_window.first_created_at or "no dates" }} → {{ r.training_window.last_created_at
or "" }}). Generated {{ r.generated_at }}. Base model {{ r.base_model.spec if r.base_model
else "" }}.{% if r.counts.thinned_from %} Evenly thinned from {{ r.counts.thinned_from }}
tickets.{% endif %}{% if r.counts.without_agent_message %} {{ r.counts.without_agent_message }}
tickets had no agent message and were not scored.{% endif %}</p>
{% set o = r.methods.clonedesk.overall %}
<div class="card"><div class="muted">Projected automated-resolution rate</div>
<div class="big">{{ pct(o.projected_automated_resolution_rate) }}</div>
<div class="muted">of tickets, at confidence ≥ {{ "%.3f"|format(o.threshold) if o.threshold
is not none else "–" }} where {{ pct(o.precision) }} were acceptable</div></div>
<div class="card"><div class="muted">Acceptable suggestions</div>
<div class="big">{{ pct(o.acceptable_rate) }}</div>
<div class="muted">{{ o.acceptable }} of {{ o.tickets }}</div></div>
<div class="card"><div class="muted">Decision accuracy</div>
<div class="big">{{ pct(o.decision_accuracy) }}</div><div class="muted">escalation F1
{{ "%.2f"|format(o.escalation.f1) }} ({{ o.actual_escalations }} actual)</div></div>
<div class="card"><div class="muted">Calibrated confidence ≥ 0.9</div>
<div class="big">{{ pct(o["calibrated_at_0.9"].share) }}</div><div class="muted">of tickets;
{{ pct(o["calibrated_at_0.9"].precision) }} of them acceptable (out of sample)</div></div>
<p>Served mode: <b>{{ r.mode }}</b> — {{ r.mode_reason }}.<br>
Escalation signal: <b>{{ r.escalation_signal.signal }}</b> at
{{ "%.3f"|format(r.escalation_signal.threshold) if r.escalation_signal.threshold is not none
else "–" }} — {{ r.escalation_signal.reason }}.</p>
<p class="muted">Acceptable = {{ r.definitions.acceptable }}. Projected automated-resolution
rate = {{ r.definitions.projected_automated_resolution_rate }}. A suggestion that does not
escalate is not counted as resolved unless it is acceptable.</p>

<h2>CloneDesk beside the baselines (same tickets)</h2>
<table><tr><th class="l">method</th><th>acceptable</th><th>projected automated</th>
<th>decision accuracy</th><th>escalation P / R / F1</th><th>mean cosine</th><th>ROUGE-L</th>
<th>specific@20</th><th>ECE</th><th>CloneDesk lift (acceptable)</th></tr>
{% for name, m in r.methods.items() %}{% set x = m.overall %}
<tr><td class="l">{{ label(name) }}</td><td>{{ pct(x.acceptable_rate) }}</td>
<td>{{ pct(x.projected_automated_resolution_rate) }}</td><td>{{ pct(x.decision_accuracy) }}</td>
<td>{{ "%.2f / %.2f / %.2f"|format(x.escalation.precision, x.escalation.recall,
x.escalation.f1) }}</td><td>{{ "%.3f"|format(x.reply_quality.mean_cosine) }}</td>
<td>{{ "%.3f"|format(x.reply_quality.mean_rouge_l) }}</td>
<td>{{ pct(x.reply_quality.specific_rate) }}</td><td>{{ "%.3f"|format(x.confidence.ece) }}</td>
<td>{% if name in r.lift %}{{ "%+.1f"|format(100 * r.lift[name].acceptable_rate) }} pts
{% else %}–{% endif %}</td></tr>{% endfor %}</table>

<h2>Coverage and precision</h2>
<p class="muted">Each point: send automatically every suggestion at or above a confidence
threshold. Dashed line: 90% precision.</p>{{ coverage_svg }}

<h2>Per category (acceptable rate)</h2>{{ category_svg }}
<table><tr><th class="l">category</th><th>tickets</th>{% for name in r.methods %}
<th>{{ label(name) }}</th>{% endfor %}</tr>
{% for c, n in r.categories.items() %}<tr><td class="l">{{ c }}</td><td>{{ n }}</td>
{% for name, m in r.methods.items() %}<td>{{ pct(m.by_category[c].acceptable_rate) }}</td>
{% endfor %}</tr>{% endfor %}</table>
<table><tr><th class="l">category</th><th>CloneDesk projected automated</th><th>decision
accuracy</th><th>escalations (actual / suggested)</th><th>mean cosine</th></tr>
{% for c, n in r.categories.items() %}{% set x = r.methods.clonedesk.by_category[c] %}
<tr><td class="l">{{ c }}</td><td>{{ pct(x.projected_automated_resolution_rate) }}</td>
<td>{{ pct(x.decision_accuracy) }}</td><td>{{ x.actual_escalations }} /
{{ x.suggested_escalations }}</td><td>{{ "%.3f"|format(x.reply_quality.mean_cosine) }}</td>
</tr>{% endfor %}</table>

<h2>Calibration (CloneDesk)</h2>
<p class="muted">Expected calibration error {{ "%.3f"|format(o.confidence.ece) }}; AUC of
confidence for acceptable {{ "%.3f"|format(o.confidence.auc_acceptable) if
o.confidence.auc_acceptable is not none else "–" }}.</p>{{ reliability_svg }}

<h2>Acceptable rate by cosine threshold</h2>
<table><tr><th class="l">method</th>{% for t in o.acceptable_curve %}<th>≥ {{ t }}</th>
{% endfor %}</tr>{% for name, m in r.methods.items() %}<tr><td class="l">{{ label(name) }}</td>
{% for t, v in m.overall.acceptable_curve.items() %}<td>{{ pct(v) }}</td>{% endfor %}</tr>
{% endfor %}</table>

<h2>Sample tickets (PII redacted)</h2>
<table><tr><th class="l">ticket</th><th class="l">customer</th><th class="l">agent did</th>
<th class="l">CloneDesk suggested</th><th>confidence</th><th>acceptable</th></tr>
{% for s in r.samples %}<tr><td class="l">{{ s.ticket_id }}<br><span class="muted">
{{ s.category or "" }}</span></td><td class="text">{{ s.customer }}</td>
<td class="text">[{{ s.actual_action }}] {{ s.actual }}</td>
<td class="text">[{{ s.suggested_action }}] {{ s.suggested }}</td>
<td>{{ "%.2f"|format(s.confidence) }}</td>
<td class="{{ 'ok' if s.acceptable else 'bad' }}">{{ "yes" if s.acceptable else "no" }}
(cos {{ "%.2f"|format(s.cosine) }})</td></tr>{% endfor %}</table>
</body></html>
"""


def render_html(report: dict[str, Any]) -> str:
    """The report as one self-contained HTML page."""
    env = Environment(autoescape=True)
    names = list(report["methods"])
    return env.from_string(TEMPLATE).render(
        r=report, pct=_pct, label=label,
        coverage_svg=coverage_svg(report),
        category_svg=category_svg(report, names),
        reliability_svg=reliability_svg(report["methods"]["clonedesk"]["overall"]),
    )
