"""Canvas Kit builders: plain dicts for Intercom's inbox app, no Flask.

Intercom's limits: a response (canvas content + stored data) of at most 64 KB, and a first
canvas (the answer to ``initialize``) at most 400 px tall. Canvas Kit does not report
heights, so we estimate them — conservatively, for the ~300 px wide conversation-details
sidebar — and keep the first canvas within budget by design: the draft goes in a fixed-height
textarea (it scrolls) instead of long text, side texts are capped at two lines, and there are
at most four buttons. The per-component estimates (:data:`HEIGHTS`, :func:`estimate_height`):

* text: 20 px per line (header: 24 px), ~45 characters a line (header: ~35), each ``\\n`` a
  new line;
* textarea: 120 px (label + ~4 rows);
* button: 40 px (full width, one per row, with its margin);
* divider: 16 px; spacer: xs 4, s 8, m 16, l 24, xl 32 px.

The largest first canvas (header, draft, one-line "draft cut" note, confidence, two-line
escalation advice, four buttons) is 24 + 120 + 20 + 20 + 40 + 4 × 40 = 384 px. An error
notice on top (two lines) appears only after a failed action, never on the first canvas.

Sizes are measured on the exact bytes the views send (:func:`to_json_bytes`); a draft that
would push a response over 64 KB is cut on a character boundary (never inside a UTF-8
sequence), preferably at a space, and the canvas says so.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

MAX_RESPONSE_BYTES = 64 * 1024
FIRST_CANVAS_MAX_PX = 400
CHARS_PER_LINE = 45
HEADER_CHARS_PER_LINE = 35
HEIGHTS = {"text": 20, "header": 24, "textarea": 120, "button": 40, "divider": 16}
SPACER_HEIGHTS = {"xs": 4, "s": 8, "m": 16, "l": 24, "xl": 32}
TEXT_STYLES = ("header", "paragraph", "muted", "error")
BUTTON_STYLES = ("primary", "secondary", "link")
SIDE_TEXT_CHARS = 2 * CHARS_PER_LINE  # escalation advice, notices: two lines at most
REPLY_TEXT_ID = "reply_text"
NO_SUGGESTION = "No confident suggestion for this conversation"
TRUNCATED_NOTICE = "Draft cut to fit 64 KB: check its end."


def text(value: str, style: str = "paragraph") -> dict[str, Any]:
    """A text component (style header, paragraph, muted or error)."""
    if style not in TEXT_STYLES:
        raise ValueError(f"text style must be one of {', '.join(TEXT_STYLES)}")
    return {"type": "text", "text": value, "style": style}


def textarea(component_id: str, label: str, value: str = "", placeholder: str | None = None,
             error: bool = False, disabled: bool = False) -> dict[str, Any]:
    """A multi-line input; its value comes back in ``input_values[component_id]``."""
    component: dict[str, Any] = {"type": "textarea", "id": component_id, "label": label,
                                 "value": value}
    if placeholder:
        component["placeholder"] = placeholder
    if error:
        component["error"] = True
    if disabled:
        component["disabled"] = True
    return component


def button(component_id: str, label: str, style: str = "primary",
           disabled: bool = False) -> dict[str, Any]:
    """A button with a submit action (Intercom posts to the submit URL with its id)."""
    if style not in BUTTON_STYLES:
        raise ValueError(f"button style must be one of {', '.join(BUTTON_STYLES)}")
    component: dict[str, Any] = {"type": "button", "id": component_id, "label": label,
                                 "style": style, "action": {"type": "submit"}}
    if disabled:
        component["disabled"] = True
    return component


def spacer(size: str = "s") -> dict[str, Any]:
    """Empty space (xs, s, m, l, xl)."""
    if size not in SPACER_HEIGHTS:
        raise ValueError(f"spacer size must be one of {', '.join(SPACER_HEIGHTS)}")
    return {"type": "spacer", "size": size}


def divider() -> dict[str, Any]:
    """A horizontal rule."""
    return {"type": "divider"}


def canvas(components: list[dict[str, Any]],
           stored_data: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The response Intercom expects: ``{"canvas": {"content": ..., "stored_data": ...}}``."""
    return {"canvas": {"content": {"components": components},
                       "stored_data": {k: v for k, v in (stored_data or {}).items()
                                       if v is not None}}}


def to_json_bytes(response: Mapping[str, Any]) -> bytes:
    """The exact bytes sent to Intercom (compact UTF-8 JSON); sizes are measured on these."""
    return json.dumps(response, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def component_height(component: Mapping[str, Any]) -> int:
    """Estimated rendered height in px of one component (see the module docstring)."""
    kind = component.get("type")
    if kind == "text":
        header = component.get("style") == "header"
        per_line = HEADER_CHARS_PER_LINE if header else CHARS_PER_LINE
        lines = sum(max(1, math.ceil(len(line) / per_line))
                    for line in str(component.get("text", "")).split("\n"))
        return lines * HEIGHTS["header" if header else "text"]
    if kind == "spacer":
        return SPACER_HEIGHTS.get(str(component.get("size", "s")), SPACER_HEIGHTS["s"])
    return HEIGHTS.get(str(kind), HEIGHTS["button"])


def estimate_height(response: Mapping[str, Any]) -> int:
    """Estimated height in px of a canvas response (sum of its components)."""
    components = response["canvas"]["content"]["components"]
    return sum(component_height(c) for c in components)


def shorten(value: str, limit: int) -> str:
    """``value`` cut to ``limit`` characters with an ellipsis."""
    value = " ".join(value.split())
    return value if len(value) <= limit else value[:limit - 1].rstrip() + "…"


def confidence_text(suggestion: Mapping[str, Any]) -> str:
    """``High · 0.91``."""
    return f"{suggestion.get('confidence_label', '')} · {float(suggestion['confidence']):.2f}"


def escalation_text(suggestion: Mapping[str, Any], team_known: bool) -> str | None:
    """One short line of escalation advice (group and reason), or None when not advised."""
    escalation = suggestion.get("escalation") or {}
    if not escalation.get("advised"):
        return None
    group = escalation.get("group")
    head = f"Escalate to {group}" if group else "Escalation advised"
    if group and not team_known:
        head += " (no Intercom team mapped)"
    reason = escalation.get("reason")
    return shorten(f"{head}: {reason}" if reason else head, SIDE_TEXT_CHARS)


def suggestion_canvas(suggestion: Mapping[str, Any], stored_data: Mapping[str, Any],
                      teams: Mapping[str, Any] | None = None, draft: str | None = None,
                      notice: str | None = None) -> dict[str, Any]:
    """The suggestion: editable draft, confidence, escalation advice and the action buttons.

    ``teams`` maps escalation groups to Intercom team ids (Escalate shows only when the
    advised group has one); ``draft`` replaces the suggested text (the agent's edit, kept
    after a failed send); ``notice`` is an error line shown on top. Fits the first canvas's
    400 px and the 64 KB limit.
    """
    top = [text(shorten(notice, SIDE_TEXT_CHARS), "error")] if notice else []
    if not suggestion.get("show"):
        return canvas(top + [text("CloneDesk", "header"), text(NO_SUGGESTION, "muted"),
                             button("regenerate", "Regenerate", "secondary")], stored_data)
    group = (suggestion.get("escalation") or {}).get("group")
    team_known = bool(group and (teams or {}).get(group) not in (None, ""))
    advice = escalation_text(suggestion, team_known)
    reply = suggestion.get("reply") or ""
    value = reply if draft is None else draft
    components = top + [text("Suggested reply" if reply or draft else "Escalation advised",
                             "header")]
    if reply or draft:
        components.append(textarea(REPLY_TEXT_ID, "Draft (edit before sending)", value))
    components.append(text(f"Confidence: {confidence_text(suggestion)}", "muted"))
    if advice:
        components.append(text(advice, "paragraph"))
    if reply or draft:
        components += [button("send_reply", "Send reply", "primary"),
                       button("add_note", "Add as note", "secondary")]
    if advice and team_known:
        components.append(button("escalate", "Escalate", "secondary"))
    components.append(button("regenerate", "Regenerate", "link"))
    return fit_size(canvas(components, stored_data))


def pending_canvas(job_id: str, stored_data: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The suggestion is being computed: say so and offer Refresh (job id kept)."""
    return canvas([text("CloneDesk", "header"), text("Preparing a suggestion…", "muted"),
                   button("refresh", "Refresh", "secondary")],
                  {**(stored_data or {}), "job_id": job_id})


def result_canvas(message: str, stored_data: Mapping[str, Any] | None = None,
                  error: bool = False) -> dict[str, Any]:
    """After an action: "Reply sent", "Note added", "Assigned to Billing" or an error."""
    return canvas([text(shorten(message, 300), "error" if error else "paragraph"),
                   button("retry", "Suggest again", "link")], stored_data)


def error_canvas(message: str, stored_data: Mapping[str, Any] | None = None,
                 retry: bool = True) -> dict[str, Any]:
    """Something failed (Intercom unreachable, no trained model…): the reason, Try again."""
    components = [text("CloneDesk", "header"), text(shorten(message, 300), "error")]
    if retry:
        components.append(button("retry", "Try again", "secondary"))
    return canvas(components, stored_data)


def fit_size(response: dict[str, Any], limit: int = MAX_RESPONSE_BYTES) -> dict[str, Any]:
    """The response within ``limit`` bytes: the draft textarea's value cut when needed."""
    if len(to_json_bytes(response)) <= limit:
        return response
    components = response["canvas"]["content"]["components"]
    index = next((i for i, c in enumerate(components)
                  if c.get("type") == "textarea" and c.get("id") == REPLY_TEXT_ID), None)
    if index is None:
        raise ValueError("canvas over the size limit and has no draft to shorten")
    draft = components[index]["value"]
    notice = text(TRUNCATED_NOTICE, "muted")
    trial = [*components[:index], {**components[index], "value": ""}, notice,
             *components[index + 1:]]
    fixed = {"canvas": {**response["canvas"], "content": {"components": trial}}}

    def fits(n: int) -> bool:
        trial[index]["value"] = draft[:n]
        return len(to_json_bytes(fixed)) <= limit

    low, high = 0, len(draft)  # the longest prefix that fits: fits(low) holds
    if not fits(0):
        raise ValueError("canvas over the size limit even without its draft")
    while low < high:
        middle = (low + high + 1) // 2
        if fits(middle):
            low = middle
        else:
            high = middle - 1
    space = draft.rfind(" ", max(0, low - 200), low)
    trial[index]["value"] = draft[:space if space > 0 else low].rstrip()
    return fixed
