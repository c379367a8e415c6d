"""trainer.pipeline.choose_mode: the adapter earns its place on answered tickets."""

from __future__ import annotations

from trainer.pipeline import MIN_MODE_REPLY_TICKETS, choose_mode


def summaries(rates: dict[str, float], replies: int) -> dict[str, dict[str, float | int]]:
    return {mode: {"tickets": 100, "reply_tickets": replies, "acceptable_rate": rate}
            for mode, rate in rates.items()}


def test_the_most_acceptable_mode_wins_and_ties_go_to_retrieval() -> None:
    mode, reason = choose_mode(summaries(
        {"adapter_rag": 0.40, "adapter": 0.35, "retrieval": 0.30}, 60))
    assert mode == "adapter_rag" and "adapter_rag 40.0%" in reason and "60 answered" in reason
    assert choose_mode(summaries({"adapter_rag": 0.3, "adapter": 0.3, "retrieval": 0.3},
                                 60))[0] == "retrieval"
    assert choose_mode(summaries({"adapter_rag": 0.3, "adapter": 0.5, "retrieval": 0.4},
                                 60))[0] == "adapter"


def test_too_few_answered_tickets_keep_retrieval() -> None:
    # Bitext's first 2,000 lines: 96 of 100 validation tickets escalated, the adapter "won"
    # 100% against 96% on the other 4.
    few = summaries({"adapter_rag": 0.99, "adapter": 1.0, "retrieval": 0.96}, 4)
    mode, reason = choose_mode(few)
    assert mode == "retrieval" and "only 4 validation tickets were answered" in reason
    enough = summaries({"adapter_rag": 0.99, "adapter": 1.0, "retrieval": 0.96},
                       MIN_MODE_REPLY_TICKETS)
    assert choose_mode(enough)[0] == "adapter"
