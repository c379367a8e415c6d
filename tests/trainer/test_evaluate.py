"""The preview's scoring: coverage–precision, the 90% threshold, acceptability, categories,
lift, and the baselines that need no model. A bag-of-words embedding stands in for MiniLM so
that the expected numbers can be worked out by hand."""

from __future__ import annotations

import re
from types import SimpleNamespace

import numpy as np
import pytest

from plugin_backend.preview_report import render_html
from trainer import baselines
from trainer.evaluate import (
    OTHER,
    Prediction,
    Truth,
    category_labels,
    coverage_precision,
    evaluate,
    threshold_for_precision,
)
from trainer.retrieval import ResolutionIndex, ResolutionRecord

VOCAB: dict[str, int] = {}


def bag_of_words(texts: list[str]) -> np.ndarray:
    """Unit bag-of-words vectors over a growing vocabulary (256 dims)."""
    out = np.zeros((len(texts), 256), dtype=np.float32)
    for i, text in enumerate(texts):
        for word in re.findall(r"\w+", text.lower()):
            out[i, VOCAB.setdefault(word, len(VOCAB) % 256)] += 1.0
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return out / np.maximum(norms, 1e-12)


class WordEmbedder:
    def encode(self, texts: list[str]) -> np.ndarray:
        return bag_of_words(list(texts))


REPLIES = [
    "your refund for the blue kettle is on its way",
    "the courier lost parcel seven and we resend it today",
    "reset the router by holding the red button ten seconds",
    "we moved your invoice address to the new office",
    "the premium plan renews on the first of each month",
    "apologies the coupon expired yesterday here is another",
]


def test_coverage_precision_and_the_90_percent_threshold() -> None:
    conf = np.array([0.95, 0.9, 0.9, 0.8, 0.5, 0.2])
    ok = np.array([True, True, True, False, True, False])
    curve = coverage_precision(conf, ok)
    assert [p["threshold"] for p in curve] == [0.95, 0.9, 0.8, 0.5, 0.2]
    assert curve[1] == {"threshold": 0.9, "coverage": 0.5, "precision": 1.0, "automated": 0.5}
    assert curve[3]["precision"] == pytest.approx(0.8)
    best = threshold_for_precision(curve)
    # 0.9 reaches 100% on half the tickets; 0.8 would drop to 75%: 0.9 is the lowest passing.
    assert best["threshold"] == 0.9
    assert best["projected_automated_resolution_rate"] == 0.5
    nothing = threshold_for_precision(coverage_precision(np.array([0.9, 0.1]),
                                                         np.array([False, True])))
    assert nothing["threshold"] is None and nothing["projected_automated_resolution_rate"] == 0


def test_category_labels_keep_the_eight_largest_and_group_the_rest() -> None:
    cats = [f"c{i}" for i in range(10) for _ in range(10 - i)] + [None]
    labels = category_labels(cats)
    assert set(labels) == {f"c{i}" for i in range(8)} | {OTHER}
    assert labels.count(OTHER) == 2 + 1 + 1  # c8 (2), c9 (1) and the uncategorised one


def truths() -> list[Truth]:
    rows = [Truth("reply", text, "billing" if i % 2 else "shipping")
            for i, text in enumerate(REPLIES)]
    rows.append(Truth("escalate", "passing this to our fraud team", "billing"))
    return rows


def test_exact_replies_are_acceptable_and_a_canned_answer_is_not() -> None:
    t = truths()
    perfect = [Prediction(x.action, x.text, 0.9) for x in t]
    canned = [Prediction("reply", REPLIES[0], 1.0) for _ in t]
    silent = [Prediction("reply", "thanks for reaching out", 0.99) for _ in t]
    report = evaluate({"clonedesk": perfect, "typical": canned, "silent": silent}, t,
                      bag_of_words)
    best = report["methods"]["clonedesk"]["overall"]
    assert best["acceptable_rate"] == 1.0 and best["decision_accuracy"] == 1.0
    assert best["escalation"]["f1"] == 1.0 and best["reply_quality"]["specific_rate"] == 1.0
    assert best["projected_automated_resolution_rate"] == 1.0 and best["threshold"] == 0.9
    typical = report["methods"]["typical"]["overall"]
    assert typical["acceptable"] == 1      # only the ticket whose answer it happens to be
    assert typical["escalation"]["recall"] == 0.0
    # "No escalation" is not "resolved": never escalating is not an automation rate.
    never = report["methods"]["silent"]["overall"]
    assert never["not_escalated_rate"] == 1.0
    assert never["acceptable_rate"] == 0.0 and never["projected_automated_resolution_rate"] == 0
    assert report["lift"]["typical"]["acceptable_rate"] == pytest.approx(1 - 1 / 7)
    assert report["categories"] == {"billing": 4, "shipping": 3}
    assert report["methods"]["clonedesk"]["by_category"]["billing"]["tickets"] == 4


def test_a_right_escalation_counts_whatever_the_hand_off_text() -> None:
    t = [Truth("escalate", "over to billing", "a"), Truth("reply", REPLIES[1], "a")]
    report = evaluate({"m": [Prediction("escalate", "something else entirely", 0.5),
                             Prediction("escalate", "", 0.5)]}, t, bag_of_words)
    overall = report["methods"]["m"]["overall"]
    assert report["methods"]["m"]["per_ticket"]["acceptable"] == [True, False]
    assert overall["escalation"]["precision"] == 0.5 and overall["escalation"]["recall"] == 1.0


def test_mismatched_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match="predictions"):
        evaluate({"m": [Prediction("reply", "x", 0.5)]}, truths(), bag_of_words)


def example(ticket_id: str, customer: str, category: str | None = None) -> SimpleNamespace:
    message = SimpleNamespace(role="customer", text=customer)
    return SimpleNamespace(ticket_id=ticket_id, context=SimpleNamespace(
        messages=[message], category=category))


def index_of(rows: list[tuple[str, str, str, bool, str | None]]) -> ResolutionIndex:
    records = [ResolutionRecord(ticket_id=i, category=c, query_text=q, reply_text=r,
                                escalated=e) for i, q, r, e, c in rows]
    return ResolutionIndex.build(records, WordEmbedder())


def test_rag_nearest_suggests_the_most_similar_tickets_reply_and_decision() -> None:
    index = index_of([
        ("t1", "my kettle arrived broken", "refund sent for the kettle", False, "s"),
        ("t2", "someone used my card without asking", "handing to fraud", True, "b"),
    ])
    preds = baselines.rag_nearest([example("n1", "a stranger used my card"),
                                   example("t1", "my kettle arrived broken")], index)
    assert (preds[0].action, preds[0].text) == ("escalate", "handing to fraud")
    assert 0 < preds[0].confidence <= 1
    # Never the ticket itself: t1's own record is excluded, so t2 is all that is left.
    assert preds[1].text == "handing to fraud"


def test_typical_reply_is_the_medoid_overall_and_per_category() -> None:
    index = index_of([
        ("a", "q", "your parcel ships today", False, "s"),
        ("b", "q", "your parcel ships tomorrow", False, "s"),
        ("c", "q", "your parcel ships today by courier", False, "s"),
        ("d", "q", "invoice corrected", False, "b"),
    ])
    overall = baselines.typical_reply([example("x", "?", "b")], index)
    per_cat = baselines.typical_reply([example("x", "?", "b")], index, per_category=True)
    assert overall[0].text.startswith("your parcel ships today")
    assert per_cat[0].text == "invoice corrected" and per_cat[0].action == "reply"


@pytest.mark.parametrize(("generated", "action", "reply"), [
    ("ACTION: reply\nREPLY: Sure, done.", "reply", "Sure, done."),
    ("ACTION: reply\nREPLY: Happy to help!\nCustomer: thanks\nAgent: bye", "reply",
     "Happy to help!"),
    ("ACTION: escalate\nGROUP: - \nREASON: fraud\nREPLY: Passing you on.", "escalate",
     "Passing you on."),
    ("ACTION: escalate\nGROUP: I will look into it", "escalate", "I will look into it"),
    ("ACTION: reply\nREPLY:", "reply", ""),
])
def test_lenient_reply_reads_base_model_output(generated: str, action: str, reply: str) -> None:
    assert baselines.lenient_reply(generated, action)[0] == reply


def test_the_html_report_is_self_contained_and_escapes_text() -> None:
    t = truths()
    t[0] = Truth("reply", t[0].text, "<script>alert(1)</script>")
    report = evaluate({"clonedesk": [Prediction(x.action, x.text, 0.8) for x in t],
                       "rag_nearest": [Prediction("reply", REPLIES[2], 0.4) for _ in t]},
                      t, bag_of_words)
    report.update(tenant="acme", adapter_version="v0001", mode="adapter_rag",
                  mode_reason="best", source="holdout", generated_at="now",
                  escalation_signal={"signal": "neighbours", "threshold": 0.5, "reason": "r"},
                  training_window={"tickets": 9, "first_created_at": None,
                                   "last_created_at": None},
                  evaluated_window={"tickets": 7, "first_created_at": None,
                                    "last_created_at": None},
                  counts={"scored": 7, "thinned_from": None, "without_agent_message": 0},
                  base_model={"spec": "smollm2"},
                  samples=[{"ticket_id": "1", "category": "<b>", "customer": "<img src=x>",
                            "actual_action": "reply", "actual": "a",
                            "suggested_action": "reply", "suggested": "a", "confidence": 0.8,
                            "cosine": 1.0, "acceptable": True}])
    html = render_html(report)
    assert "<script>alert" not in html and "&lt;script&gt;" in html
    assert "<img src=x>" not in html
    assert html.count("<svg") == 3 and "http://www.w3.org/2000/svg" in html
    assert "RAG nearest resolution" in html and "100.0%" in html
