"""trainer.inference: the real base model with real LoRA adapters, and an OpenAI-compatible
server on 127.0.0.1 speaking the completions wire format."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from trainer import prompt
from trainer.base_model import EMBEDDED_BASE_MODEL
from trainer.inference import (
    AdapterRef,
    Generation,
    InferenceError,
    LocalBackend,
    OpenAICompatibleBackend,
    make_backend,
)
from trainer.interaction import Message

REPO = Path(__file__).resolve().parents[2]
CONVERSATIONS = [
    [("customer", "My order #1234 never arrived and the tracking page says delivered.")],
    [("customer", "Hi, how do I change the email address on my account?"),
     ("agent", "Hi! You can change it under Settings > Profile. Anything else?"),
     ("customer", "It says the address is already in use.")],
    [("customer", ("I want a refund now. This is the third time the app charged me twice "
                   "for one subscription and nobody answers my emails."))],
]


def chat_prompts(tokenizer: Any) -> list[str]:
    """Real chat-template prompts of different lengths."""
    return [
        prompt.chat_prompt(tokenizer, prompt.render_context(prompt.Context(
            messages=[Message(role, text) for role, text in turns],
            channel="email", category="billing")))
        for turns in CONVERSATIONS
    ]


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """One torch thread: on a shared 2-core machine two threads stall each other's barriers
    (8x slower here while other test runs share the cores); restored after the module."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def backend(model_cache: Path) -> LocalBackend:
    """One base model for the module; max_adapters=1 so every adapter swap evicts."""
    local = LocalBackend(EMBEDDED_BASE_MODEL, model_cache, device="cpu", max_adapters=1)
    local.load()
    return local


@pytest.fixture(scope="module")
def prompts(backend: LocalBackend) -> list[str]:
    """The test prompts, rendered with the backend's tokenizer."""
    return chat_prompts(backend.tokenizer)


@pytest.fixture(scope="module")
def adapters(model_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two PEFT LoRA folders (r=8 on q_proj, v_proj) with lora_B perturbed by fixed seeds."""
    import torch
    from peft import LoraConfig, get_peft_model

    from trainer import base_model

    model, _ = base_model.load(EMBEDDED_BASE_MODEL, model_cache, device="cpu")
    torch.manual_seed(0)                          # lora_A's initialisation
    peft_model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16,
                                                  target_modules=["q_proj", "v_proj"]))
    root = tmp_path_factory.mktemp("adapters")
    folders = {}
    for name, seed in (("A", 1), ("B", 2)):
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for param_name, param in peft_model.named_parameters():
                if "lora_B" in param_name:
                    param.copy_(torch.randn(param.shape, generator=generator) * 0.05)
        peft_model.save_pretrained(str(root / name))
        folders[name] = root / name
    return folders


def test_import_stays_cheap() -> None:
    code = "import sys, trainer.inference; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "False"


def test_base_model_generates_a_decision_and_a_few_tokens(backend: LocalBackend,
                                                          prompts: list[str]) -> None:
    (gen,) = backend.generate(prompts[:1], None, max_new_tokens=6)
    assert gen.text.startswith(("ACTION: reply", "ACTION: escalate"))
    assert 1 <= gen.tokens <= 6
    assert set(gen.action_probs) == {"reply", "escalate"}
    assert sum(gen.action_probs.values()) == pytest.approx(1.0)
    assert gen.mean_token_logprob <= 0.0
    assert gen.action_mass is not None and 0.0 < gen.action_mass <= 1.0
    chosen = "reply" if gen.text.startswith("ACTION: reply") else "escalate"
    assert gen.action_probs[chosen] >= 0.5    # the decision token is the likelier action


def test_batched_output_equals_one_by_one(backend: LocalBackend, prompts: list[str]) -> None:
    batched = backend.generate(prompts, None, max_new_tokens=10)
    one_by_one = [backend.generate([p], None, max_new_tokens=10)[0] for p in prompts]
    # Same tokens; the numbers agree to float noise (bit for bit only where the CPU runs bf16
    # natively: fp32 matmuls of different batch shapes round differently).
    assert [g.text for g in batched] == [g.text for g in one_by_one]
    for b, o in zip(batched, one_by_one):
        assert b.tokens == o.tokens
        assert b.mean_token_logprob == pytest.approx(o.mean_token_logprob, abs=1e-3)
        assert b.action_probs["reply"] == pytest.approx(o.action_probs["reply"], abs=1e-3)
    assert len({g.text for g in batched}) > 1     # the order really follows the prompts


def test_lookup_drafts_continue_the_latest_repeated_suffix() -> None:
    from trainer.inference import _lookup

    tokens = [5, 6, 7, 8, 9, 1, 6, 7, 3, 4, 2, 6, 7]
    assert _lookup(tokens, 4, 3) == [3, 4, 2]         # the latest earlier "6 7", not the first
    assert _lookup(tokens + [8], 4, 2) == [9, 1]      # the longest repeated suffix: "6 7 8"
    assert _lookup([1, 2, 3, 4], 4, 3) == []           # nothing repeats
    assert _lookup([1, 2, 9, 1, 2], 4, 5) == [9, 1, 2]  # capped by what follows
    assert _lookup([3, 1, 3], 4, 2) == []              # one repeated token is not enough


def test_speculative_steps_attend_like_a_full_causal_pass() -> None:
    import torch

    from trainer.inference import _rowwise_attention

    torch.manual_seed(0)
    rows, heads, kv_heads, length, new, dim = 2, 6, 2, 9, 4, 8
    query = torch.randn(rows, heads, length, dim)
    key, value = torch.randn(rows, kv_heads, length, dim), torch.randn(rows, kv_heads, length, dim)
    full = torch.nn.functional.scaled_dot_product_attention(
        query, key.repeat_interleave(heads // kv_heads, 1),
        value.repeat_interleave(heads // kv_heads, 1), is_causal=True).transpose(1, 2)
    step, _ = _rowwise_attention(None, query[:, :, -new:], key, value, None, scaling=dim ** -0.5)
    assert step.shape == (rows, new, heads, dim)
    torch.testing.assert_close(step, full[:, -new:], rtol=1e-5, atol=1e-5)
    # a padded row sees only its own keys
    step, _ = _rowwise_attention(None, query[:1, :, -new:], key[:1], value[:1], None,
                                 scaling=dim ** -0.5, row_pads=[3])
    alone = torch.nn.functional.scaled_dot_product_attention(
        query[:1, :, 3:], key[:1, :, 3:].repeat_interleave(3, 1),
        value[:1, :, 3:].repeat_interleave(3, 1), is_causal=True).transpose(1, 2)
    torch.testing.assert_close(step, alone[:, -new:], rtol=1e-5, atol=1e-5)


def test_speculative_decoding_writes_what_plain_decoding_writes(backend: LocalBackend,
                                                                prompts: list[str]) -> None:
    # A prompt whose answer copies from it, so drafts are proposed and accepted.
    quote = ("Your order #1234 was shipped on May 3 with UPS, tracking number "
             "1Z999AA10123456784, and should arrive by Friday.")
    copying = prompts[0].replace("My order #1234", f"Please repeat exactly: '{quote}' My order")
    cases = [[copying], prompts[1:2], [copying] + prompts[1:]]
    saved = backend.lookahead
    try:
        backend.lookahead = 0
        plain = [backend.generate(case, None, max_new_tokens=40) for case in cases]
        backend.lookahead = 8
        before = list(backend.draft_stats)
        fast = [backend.generate(case, None, max_new_tokens=40) for case in cases]
    finally:
        backend.lookahead = saved
    for got, expected in zip(fast, plain):
        assert [g.tokens for g in got] == [g.tokens for g in expected]
        assert_same(got, expected)
    proposed, accepted = (backend.draft_stats[i] - before[i] for i in (0, 1))
    assert 0 < accepted <= proposed


def assert_same(got: list[Generation], expected: list[Generation]) -> None:
    """Same tokens; probabilities equal up to fp32 kernel noise."""
    assert [g.text for g in got] == [g.text for g in expected]
    for g, e in zip(got, expected):
        assert g.mean_token_logprob == pytest.approx(e.mean_token_logprob, abs=1e-3)
        assert g.action_probs["reply"] == pytest.approx(e.action_probs["reply"], abs=1e-3)


def test_adapters_change_output_and_lru_swaps_back_exactly(
        backend: LocalBackend, prompts: list[str], adapters: dict[str, Path]) -> None:
    a, b = AdapterRef("acme-v0001", adapters["A"]), AdapterRef("globex-v0001", adapters["B"])
    base = backend.generate(prompts[:2], None, max_new_tokens=8)
    first_a = backend.generate(prompts[:2], a, max_new_tokens=8)
    assert backend.cached_adapters == ["acme-v0001"]
    first_b = backend.generate(prompts[:2], b, max_new_tokens=8)
    assert backend.cached_adapters == ["globex-v0001"]     # max_adapters=1 evicted A
    again_a = backend.generate(prompts[:2], a, max_new_tokens=8)
    assert first_a != base and first_b != first_a
    assert_same(again_a, first_a)
    assert_same(backend.generate(prompts[:2], None, max_new_tokens=8), base)


def test_concurrent_callers_with_different_adapters_get_their_own_output(
        backend: LocalBackend, prompts: list[str], adapters: dict[str, Path]) -> None:
    a = AdapterRef("acme-v0001", adapters["A"])
    expected = {"A": backend.generate(prompts[:1], a, max_new_tokens=4),
                "base": backend.generate(prompts[:1], None, max_new_tokens=4)}
    got: dict[str, list[Any]] = {"A": [], "base": []}

    def call(which: str) -> None:
        for _ in range(2):
            got[which].append(backend.generate(prompts[:1], a if which == "A" else None,
                                               max_new_tokens=4))

    threads = [threading.Thread(target=call, args=(w,)) for w in ("A", "base")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    for which in ("A", "base"):
        assert len(got[which]) == 2
        for generations in got[which]:
            assert_same(generations, expected[which])


def test_unmerged_adapters_when_merged_copies_do_not_fit(
        backend: LocalBackend, prompts: list[str], adapters: dict[str, Path]) -> None:
    merged = backend.generate(prompts[:1], AdapterRef("acme-v0001", adapters["A"]), 8)[0]
    backend.merge_budget_mb = 0
    try:
        ref = AdapterRef("acme-v0001-unmerged", adapters["A"])
        unmerged = backend.generate(prompts[:1], ref, max_new_tokens=8)[0]
        assert backend._adapters[next(iter(backend._adapters))].merged is None
        base = backend.generate(prompts[:1], None, max_new_tokens=8)[0]
        assert backend.generate(prompts[:1], ref, max_new_tokens=8)[0] == unmerged
    finally:
        backend.merge_budget_mb = 2048
    for action in ("reply", "escalate"):
        assert unmerged.action_probs[action] == pytest.approx(merged.action_probs[action],
                                                              abs=0.05)
        assert unmerged.action_probs[action] != base.action_probs[action]


def test_forced_action_continues_after_the_forced_line(backend: LocalBackend,
                                                       prompts: list[str]) -> None:
    free = backend.generate(prompts[:2], None, max_new_tokens=4)
    forced = backend.generate(prompts[:2], None, max_new_tokens=4, forced_action="escalate")
    for f, g in zip(free, forced):
        assert g.text.startswith("ACTION: escalate\nGROUP:")
        assert g.tokens <= 4
        assert g.action_probs["escalate"] == pytest.approx(f.action_probs["escalate"], abs=0.02)
    (reply,) = backend.generate(prompts[:1], None, max_new_tokens=2, forced_action="reply")
    assert reply.text.startswith("ACTION: reply\nREPLY:")
    with pytest.raises(ValueError, match="forced_action"):
        backend.generate(prompts[:1], None, forced_action="refund")


def test_an_adapter_without_a_folder_is_an_inference_error(backend: LocalBackend,
                                                           prompts: list[str],
                                                           tmp_path: Path) -> None:
    with pytest.raises(InferenceError, match="adapter_config.json"):
        backend.generate(prompts[:1], AdapterRef("acme-v0009", tmp_path), max_new_tokens=2)


# --- the OpenAI-compatible back end against a local completions server ---------------------

API_KEY = "sk-test-0123456789abcdef"
PROMPTS = ["<|im_start|>user\nfirst<|im_end|>\n<|im_start|>assistant\n",
           "<|im_start|>user\nsecond<|im_end|>\n<|im_start|>assistant\n"]


def completion_choice(index: int, tokens: list[str], logprobs: list[float],
                      top: list[dict[str, float]] | None, finish: str = "stop") -> dict[str, Any]:
    """One choice exactly as vLLM's /v1/completions returns it with logprobs=5."""
    offsets, at = [], 0
    for token in tokens:
        offsets.append(at)
        at += len(token)
    return {"index": index, "text": "".join(tokens).removesuffix("<|im_end|>"),
            "logprobs": {"tokens": tokens, "token_logprobs": logprobs,
                         "top_logprobs": top, "text_offset": offsets},
            "finish_reason": finish, "stop_reason": None}


def completion(choices: list[dict[str, Any]], model: str) -> dict[str, Any]:
    """A whole completions answer (choices may come in any order)."""
    return {"id": "cmpl-9f2c", "object": "text_completion", "created": 1733000000,
            "model": model, "choices": choices,
            "usage": {"prompt_tokens": 40, "completion_tokens": 9, "total_tokens": 49}}


class Server:
    """A completions endpoint on 127.0.0.1 that records requests and replays answers."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.answer: Callable[[dict[str, Any]], tuple[int, bytes]] = lambda body: (500, b"")
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                body = json.loads(raw)
                server.requests.append({"path": self.path, "headers": dict(self.headers),
                                        "body": body})
                status, payload = server.answer(body)
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture
def server() -> Iterator[Server]:
    """A fresh completions server for one test."""
    srv = Server()
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()


def two_answers(body: dict[str, Any]) -> tuple[int, bytes]:
    """Reply to the first prompt, escalate the second; choices returned in reverse order."""
    reply = completion_choice(
        0, [" reply", "\n", "RE", "PLY", ":", " Hi", "!", "<|im_end|>"],
        [-0.105, -0.01, -0.02, -0.001, -0.001, -0.7, -0.3, -0.05],
        [{" reply": -0.105, " escalate": -2.4, " Reply": -5.0, " re": -6.0, "\n": -7.0}]
        + [{"x": -1.0}] * 7)
    escalate = completion_choice(
        1, [" escalate", "\n", "GROUP", ":", " billing"], [-0.4, -0.1, -0.2, -0.1, -0.9],
        [{" escalate": -0.4, " reply": -1.2, " Esc": -4.0, "\n": -6.0, " re": -7.0}]
        + [{"x": -1.0}] * 4, finish="length")
    count = len(body["prompt"]) if isinstance(body["prompt"], list) else 1
    return 200, json.dumps(completion([escalate, reply][-count:], body["model"])).encode()


def test_remote_request_body_parsing_and_order(server: Server) -> None:
    server.answer = two_answers
    backend = make_backend("openai", base_url=server.url + "/v1/", api_key=API_KEY)
    out = backend.generate(PROMPTS, AdapterRef("acme-v0003", None), max_new_tokens=64)
    (request,) = server.requests
    assert request["path"] == "/v1/completions"
    assert request["headers"]["Authorization"] == f"Bearer {API_KEY}"
    assert request["body"] == {"model": "acme-v0003", "prompt": [p + "ACTION:" for p in PROMPTS],
                               "max_tokens": 64, "temperature": 0, "logprobs": 5,
                               "stop": ["<|im_end|>"]}
    first, second = out
    assert prompt.parse_target(first.text) == prompt.Decision("reply", "Hi!")
    assert first.tokens == 7                       # the stop token does not count
    assert first.mean_token_logprob == pytest.approx(sum(
        [-0.105, -0.01, -0.02, -0.001, -0.001, -0.7, -0.3]) / 7)
    reply, escalate = math.exp(-0.105), math.exp(-2.4)
    assert first.action_probs["reply"] == pytest.approx(reply / (reply + escalate))
    assert sum(first.action_probs.values()) == pytest.approx(1.0)
    assert second.text == "ACTION: escalate\nGROUP: billing"
    assert (second.tokens, second.action_probs["escalate"]) == (5, pytest.approx(0.6900, abs=1e-4))


def test_remote_missing_top_logprobs_derive_from_the_chosen_token(server: Server) -> None:
    server.answer = lambda body: (200, json.dumps(completion([completion_choice(
        0, [" escalate", "\n"], [-0.2231, -0.1], None)], body["model"])).encode())
    backend = OpenAICompatibleBackend(server.url, model_for_adapter=lambda r: f"lora/{r.name}")
    (gen,) = backend.generate(PROMPTS[:1], AdapterRef("acme-v0003", None), max_new_tokens=8)
    assert server.requests[0]["body"]["model"] == "lora/acme-v0003"
    assert "Authorization" not in server.requests[0]["headers"]
    assert gen.action_probs == pytest.approx({"escalate": 0.8, "reply": 0.2}, abs=1e-4)


def test_remote_forced_action_continues_after_the_forced_line(server: Server) -> None:
    def answer(body: dict[str, Any]) -> tuple[int, bytes]:
        if body["max_tokens"] == 1:                # the decision probe
            return two_answers({"prompt": [body["prompt"]], "model": body["model"]})
        return 200, json.dumps(completion([completion_choice(
            0, [" -", "\n", "REASON", ":"], [-0.1, -0.1, -0.5, -0.2], None, "length")],
            body["model"])).encode()

    server.answer = answer
    backend = OpenAICompatibleBackend(server.url, api_key=API_KEY)
    (gen,) = backend.generate(PROMPTS[:1], AdapterRef("acme-v0003", None), max_new_tokens=4,
                              forced_action="escalate")
    assert [r["body"]["prompt"] for r in server.requests] == [    # one prompt: a string
        PROMPTS[0] + "ACTION: escalate\nGROUP:", PROMPTS[0] + "ACTION:"]
    assert gen.text == "ACTION: escalate\nGROUP: -\nREASON:"
    reply, escalate = math.exp(-0.105), math.exp(-2.4)
    assert gen.action_probs["reply"] == pytest.approx(reply / (reply + escalate))


@pytest.mark.parametrize("failure", ["http-500", "timeout", "malformed-json", "missing-choice"])
def test_remote_failures_are_inference_errors_without_the_key(server: Server,
                                                              failure: str) -> None:
    def answer(body: dict[str, Any]) -> tuple[int, bytes]:
        if failure == "http-500":                  # a server that echoes the request headers
            return 500, json.dumps({"error": f"boom; Authorization: Bearer {API_KEY}"}).encode()
        if failure == "timeout":
            time.sleep(1.0)
        if failure == "missing-choice":
            return 200, json.dumps(completion([], body["model"])).encode()
        return 200, b'{"choices": [{"index": 0, "text": '

    server.answer = answer
    backend = OpenAICompatibleBackend(server.url, api_key=API_KEY, timeout=0.3)
    with pytest.raises(InferenceError) as caught:
        backend.generate(PROMPTS[:1], AdapterRef("acme-v0003", None), max_new_tokens=4)
    error = caught.value
    assert API_KEY not in str(error) and API_KEY not in repr(error) and API_KEY not in repr(backend)
    assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)
    if failure == "http-500":
        assert error.status_code == 500 and error.retryable
    if failure == "timeout":
        assert error.retryable


def test_remote_without_adapter_needs_a_base_model_name(server: Server) -> None:
    server.answer = two_answers
    with pytest.raises(InferenceError, match="base_model"):
        OpenAICompatibleBackend(server.url).generate(PROMPTS[:1], None)
    OpenAICompatibleBackend(server.url, base_model="smollm2").generate(PROMPTS[:1], None)
    assert server.requests[-1]["body"]["model"] == "smollm2"


def test_make_backend_kinds(model_cache: Path) -> None:
    assert isinstance(make_backend("local", base_model_spec=EMBEDDED_BASE_MODEL,
                                   cache_dir=model_cache), LocalBackend)
    assert isinstance(make_backend("openai", base_url="http://127.0.0.1:9"),
                      OpenAICompatibleBackend)
    with pytest.raises(ValueError, match="unknown inference backend"):
        make_backend("tgi")
    assert Generation("ACTION: reply\nREPLY: x", {"reply": 1.0, "escalate": 0.0}, 0.0, 1).tokens


def test_in_place_cache_generates_what_transformers_own_cache_does(
        backend: LocalBackend, prompts: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from transformers.cache_utils import DynamicCache

    ours = backend.generate(prompts, None, max_new_tokens=24)
    monkeypatch.setattr("trainer.kv_cache.preallocated_cache",
                        lambda config, capacity: DynamicCache(config=config))
    assert_same(ours, backend.generate(prompts, None, max_new_tokens=24))
