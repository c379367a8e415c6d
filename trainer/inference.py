"""Generation back ends: the base model in this process with cached LoRA adapters, or an
OpenAI-compatible multi-LoRA server (vLLM ``--enable-lora``, LoRAX).

Both take full chat-template prompts (``prompt.chat_prompt``), append ``ACTION:`` and continue
greedily; ``Generation.text`` starts with ``ACTION:`` so ``prompt.parse_target`` reads it. The
decision's probability is read at the first token after ``ACTION:``: p(" reply") and
p(" escalate") renormalised over the two. Locally that token is chosen between the two actions
(``action_mass`` says how much probability they held); a server picks it freely.

LocalBackend choices, measured with benchmarks/suggest_latency.py (2 shared CPU cores):
- Adapters: an LRU of ``max_adapters`` on one PeftModel. While merged copies fit
  ``merge_budget_mb``, each adapter is merged once on load (~0.5 s for r=16 on all seven
  projections) and a swap repoints the targeted ``Linear`` weights (<1 ms; decode at base
  speed); otherwise it runs unmerged and a swap is peft's ``set_adapter`` (20-30 ms; decode
  25-50% slower). Base weights never change in place: A→B→A and "no adapter" are bit-exact.
- Batch invariance: attention runs on each row's unpadded keys (plain matmuls for one-token
  decode steps, where the CPU flash kernel costs ~1 ms a call) and no matmul runs on a single
  row, so batched output equals one-by-one output bit for bit in bf16 on a CPU with native
  bf16 (same tokens, logprobs equal to float noise in fp32).
- dtype: ``trainer.device.pick_dtype`` — bf16 where native (there fp32 decodes 30-50%
  slower), fp32 on CPUs that would only emulate bf16.
- KV cache: ``trainer.kv_cache`` — transformers' DynamicCache with layers that write in place
  into buffers sized for the prompt and the whole budget (its ``torch.cat`` per step copied
  the whole cache: 32 Bitext prompts × 160 tokens at batch 16 took 41.0 s, now 33.4 s);
  transformers' StaticCache lacks what this loop needs: dropping finished rows and cropping
  rejected speculative tokens.
- Speculative decoding by prompt lookup (``lookahead``, one live row only): the next tokens
  are guessed by finding the text's latest 2..4-token suffix earlier in the prompt or reply
  (a retrieved reply being adapted, the customer's words, an order number) and copying what
  followed; one forward pass scores the guesses and keeps those the model would have chosen
  itself, so the output is the greedy output token for token (tested). A batch keeps plain
  steps: there each step may keep only what every row verified.
- ``num_threads=1`` where other processes share 2 cores: two threads stall each other's
  barriers there (up to 10x slower).
"""

from __future__ import annotations

import inspect
import json
import logging
import math
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from trainer.prompt import ACTIONS, TARGET_PREFIX

log = logging.getLogger(__name__)

STOP_TEXT = "<|im_end|>"
FORCED_FIELD = {"reply": "REPLY:", "escalate": "GROUP:"}
ROWWISE_ATTENTION = "clonedesk_rowwise_sdpa"


class InferenceError(RuntimeError):
    """A back end failed (HTTP error, timeout, malformed answer); the message holds no secret."""

    def __init__(self, message: str, status_code: int | None = None, retryable: bool = False):
        super().__init__(message)
        self.status_code = status_code
        self.retryable = retryable


@dataclass(frozen=True)
class AdapterRef:
    """A tenant's adapter: its served name (e.g. "acme-v0003") and its local PEFT folder."""

    name: str
    path: Path | None = None


@dataclass(frozen=True)
class Generation:
    """One completion: text from "ACTION:" on, the decision's probabilities and token stats."""

    text: str
    action_probs: dict[str, float]
    mean_token_logprob: float
    tokens: int
    action_mass: float | None = None  # p(" reply") + p(" escalate") before renormalising


class Backend(Protocol):
    """Anything that turns chat prompts into Generations with an optional adapter."""

    def generate(self, prompts: Sequence[str], adapter: AdapterRef | None,
                 max_new_tokens: int = 160, forced_action: str | None = None
                 ) -> list[Generation]:
        """Greedy completions for ``prompts``, in order."""
        ...


def _check_args(max_new_tokens: int, forced_action: str | None) -> str:
    """Validate the arguments; return the text the completion continues from."""
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
    if forced_action is None:
        return TARGET_PREFIX
    if forced_action not in ACTIONS:
        raise ValueError(f"forced_action must be one of {ACTIONS} or None, got {forced_action!r}")
    # The decision line and the next field's label are fixed by the format (trainer.prompt):
    # forcing them keeps an under-trained adapter on the format the parser expects.
    return f"{TARGET_PREFIX} {forced_action}\n{FORCED_FIELD[forced_action]}"


def _renormalise(p_reply: float, p_escalate: float) -> dict[str, float]:
    total = p_reply + p_escalate
    if total <= 0.0:
        return {"reply": 0.5, "escalate": 0.5}
    return {"reply": p_reply / total, "escalate": p_escalate / total}


@dataclass
class _Cached:
    internal: str                    # the peft adapter name (tenant names may hold dots)
    path: Path
    merged: dict[Any, Any] | None    # base Linear -> merged weight, or None: run unmerged


class LocalBackend:
    """The base model in this process, with an LRU of hot-swappable LoRA adapters."""

    def __init__(self, base_model_spec: str, cache_dir: Path, device: str | None = None,
                 max_adapters: int = 4, batch_size: int = 16, dtype: Any = None,
                 merge_budget_mb: int = 2048, num_threads: int | None = None,
                 lookahead: int = 8, lookup_ngram: int = 4):
        """``lookahead``: draft tokens per speculative step (0: plain decoding), looked up in
        the prompt and the text so far by suffixes of 2..``lookup_ngram`` tokens."""
        if max_adapters < 1 or batch_size < 1:
            raise ValueError("max_adapters and batch_size must be >= 1")
        if lookahead < 0 or lookup_ngram < 2:
            raise ValueError("lookahead must be >= 0 and lookup_ngram >= 2")
        self.base_model_spec = base_model_spec
        self.cache_dir = Path(cache_dir)
        self.device = device
        self.max_adapters = max_adapters
        self.batch_size = batch_size
        self.dtype = dtype
        self.merge_budget_mb = merge_budget_mb
        self.num_threads = num_threads      # torch threads for this process (None: unchanged)
        self.lookahead = lookahead
        self.lookup_ngram = lookup_ngram
        self.draft_stats = [0, 0]           # draft tokens proposed, accepted (since start)
        self._lock = threading.RLock()
        self._model: Any = None          # the causal LM (LoRA layers injected once adapters load)
        self._peft: Any = None           # the PeftModel wrapping it, after the first adapter
        self._tokenizer: Any = None
        self._pristine: dict[Any, Any] = {}   # base Linear -> its original weight tensor
        self._adapters: OrderedDict[tuple[str, str], _Cached] = OrderedDict()
        self._active: _Cached | None = None
        self._lora_bases: list[Any] = []      # the Linear modules wrapped by LoRA layers
        self._layers_enabled: bool | None = None
        self._serial = 0

    def load(self) -> None:
        """Load the base model now (otherwise the first generate does)."""
        with self._lock:
            if self._model is not None:
                return
            import torch

            from trainer import base_model

            if self.num_threads:
                torch.set_num_threads(self.num_threads)
            model, tok = base_model.load(self.base_model_spec, self.cache_dir,
                                         device=self.device, dtype=self.dtype)
            from transformers import AttentionInterface

            AttentionInterface.register(ROWWISE_ATTENTION, _rowwise_attention)
            model.set_attn_implementation(ROWWISE_ATTENTION)
            ids = [tok(" " + a, add_special_tokens=False)["input_ids"][0] for a in ACTIONS]
            if ids[0] == ids[1]:
                raise InferenceError("the tokenizer does not tell ' reply' from ' escalate'")
            stops = {tok.eos_token_id, tok.convert_tokens_to_ids(STOP_TEXT)}
            eos = getattr(model.generation_config, "eos_token_id", None)
            stops.update(eos if isinstance(eos, list) else [eos])
            self._action_ids = ids
            self._stop_ids = sorted(s for s in stops
                                    if isinstance(s, int) and s != tok.unk_token_id)
            self._pristine = {m: m.weight.data for m in model.modules()
                              if isinstance(m, torch.nn.Linear)}
            # transformers 5.24 names the KV-cache argument and output ``cache``; 5.17, the
            # oldest supported (GPU images ship it; `make test-oldest`), ``past_key_values``
            self._cache_arg = ("cache" if "cache" in inspect.signature(model.forward).parameters
                               else "past_key_values")
            self._model, self._tokenizer = model, tok      # last: a failed load leaves none

    @property
    def tokenizer(self) -> Any:
        """The base model's tokenizer (for ``prompt.chat_prompt`` and token budgets)."""
        self.load()
        return self._tokenizer

    @property
    def cached_adapters(self) -> list[str]:
        """Names of the adapters held in memory, least recently used first."""
        with self._lock:
            return [name for name, _ in self._adapters]

    def generate(self, prompts: Sequence[str], adapter: AdapterRef | None,
                 max_new_tokens: int = 160, forced_action: str | None = None
                 ) -> list[Generation]:
        """Greedy completions, batched by length; the lock makes concurrent calls queue."""
        prefix = _check_args(max_new_tokens, forced_action)
        if not prompts:
            return []
        with self._lock:
            self.load()
            self.activate(adapter)
            tok = self._tokenizer
            heads = tok([p + TARGET_PREFIX for p in prompts], add_special_tokens=False)["input_ids"]
            tail = tok(prefix[len(TARGET_PREFIX):], add_special_tokens=False)["input_ids"]
            order = sorted(range(len(prompts)), key=lambda i: -len(heads[i]))
            longest = len(heads[order[0]]) + len(tail) + max_new_tokens
            limit = getattr(self._model.config, "max_position_embeddings", None) or longest
            if longest > limit:
                raise InferenceError(f"a prompt of {longest - max_new_tokens} tokens plus "
                                     f"{max_new_tokens} new ones exceeds the {limit}-token context")
            results: list[Generation | None] = [None] * len(prompts)
            for start in range(0, len(order), self.batch_size):
                chunk = order[start:start + self.batch_size]
                outs = self._generate_batch([heads[i] + tail for i in chunk], len(tail),
                                            max_new_tokens, forced_action is None)
                for i, (ids, logprobs, probs, mass) in zip(chunk, outs):
                    text = prefix + tok.decode(ids, skip_special_tokens=False)
                    mean = sum(logprobs) / len(logprobs) if logprobs else 0.0
                    results[i] = Generation(text, probs, mean, len(ids), mass)
            return [r for r in results if r is not None]

    def activate(self, adapter: AdapterRef | None) -> None:
        """Make ``adapter`` (None: the bare base model) the active one, loading it if needed."""
        with self._lock:
            self.load()
            entry = None if adapter is None else self._get(adapter)
            if entry is self._active and self._peft is not None:
                return
            self._set_weights(entry)
            self._active = entry

    def _set_weights(self, entry: _Cached | None) -> None:
        if self._peft is None:
            return
        merged = entry.merged if entry is not None and entry.merged is not None else {}
        for base in self._lora_bases:
            base.weight.data = merged.get(base, self._pristine[base])
        unmerged = entry is not None and entry.merged is None
        if entry is not None and entry.merged is None:
            self._peft.set_adapter(entry.internal, inference_mode=True)
        if self._layers_enabled is not unmerged:
            if unmerged:
                self._peft.base_model.enable_adapter_layers()
            else:
                self._peft.base_model.disable_adapter_layers()
            self._layers_enabled = unmerged

    def _get(self, adapter: AdapterRef) -> _Cached:
        if adapter.path is None:
            raise InferenceError(f"adapter {adapter.name!r} has no local path")
        path = Path(adapter.path)
        key = (adapter.name, str(path.resolve()))
        if key in self._adapters:
            self._adapters.move_to_end(key)
            return self._adapters[key]
        if not (path / "adapter_config.json").is_file():
            raise InferenceError(f"adapter {adapter.name!r}: no adapter_config.json in {path}")
        started = time.perf_counter()
        entry = self._load_adapter(adapter.name, path)
        log.info("loaded adapter %s as %s (%s) in %.2f s", adapter.name, entry.internal,
                 "merged" if entry.merged is not None else "unmerged",
                 time.perf_counter() - started)
        self._adapters[key] = entry
        while len(self._adapters) > self.max_adapters:
            _, old = self._adapters.popitem(last=False)
            if old.internal in self._peft.active_adapters:     # peft warns when deleting it
                self._peft.set_adapter(entry.internal, inference_mode=True)
            self._peft.delete_adapter(old.internal)
            log.info("evicted adapter %s (%s)", old.internal, old.path.name)
        return entry

    def _load_adapter(self, name: str, path: Path) -> _Cached:
        import torch
        from peft import PeftModel
        from peft.tuners.lora import LoraLayer

        self._set_weights(None)
        self._active = None
        self._serial += 1
        internal = f"adapter{self._serial}"
        try:
            if self._peft is None:
                self._peft = PeftModel.from_pretrained(self._model, str(path),
                                                       adapter_name=internal)
            else:
                self._peft.load_adapter(str(path), adapter_name=internal)
        except Exception as exc:  # peft raises many kinds; the caller gets one
            if self._peft is not None and internal in self._peft.peft_config:
                self._peft.delete_adapter(internal)
            raise InferenceError(f"cannot load adapter {name!r} from {path}: "
                                 f"{type(exc).__name__}: {exc}") from exc
        self._peft.eval()
        lora_layers: list[Any] = [m for m in self._model.modules() if isinstance(m, LoraLayer)]
        self._lora_bases = [m.get_base_layer() for m in lora_layers]
        self._layers_enabled = None
        config = self._peft.peft_config[internal]
        layers = [m for m in lora_layers if internal in m.lora_A]
        mergeable = (not getattr(config, "use_dora", False) and not config.modules_to_save
                     and getattr(config, "bias", "none") == "none"
                     and not getattr(config, "lora_bias", False)
                     and all(type(m.get_base_layer()) is torch.nn.Linear for m in layers))
        size = sum(m.get_base_layer().weight.nbytes for m in layers)
        merged = None
        if mergeable and size * self.max_adapters <= self.merge_budget_mb * 2**20:
            merged = {}
            with torch.no_grad():
                for m in layers:
                    base = m.get_base_layer()
                    original = self._pristine[base]
                    delta = m.get_delta_weight(internal).to(original.device, torch.float32)
                    merged[base] = (original.float() + delta).to(original.dtype)
        return _Cached(internal, path, merged)

    def _generate_batch(self, rows: list[list[int]], tail: int, max_new_tokens: int,
                        choose_action: bool) -> list[tuple[list[int], list[float],
                                                           dict[str, float], float]]:
        import torch

        from trainer.kv_cache import preallocated_cache

        device = next(self._model.parameters()).device
        width = max(len(r) for r in rows)
        pads = [width - len(r) for r in rows]
        ids = torch.tensor([[self._tokenizer.pad_token_id] * p + r for p, r in zip(pads, rows)],
                           device=device)
        positions = torch.tensor([[0] * p + list(range(len(r))) for p, r in zip(pads, rows)],
                                 device=device)
        stops = torch.tensor(self._stop_ids, device=device)
        action_ids = torch.tensor(self._action_ids, device=device)
        n = len(rows)
        generated: list[list[int]] = [[] for _ in range(n)]
        logprobs: list[list[float]] = [[] for _ in range(n)]
        live = list(range(n))                 # the original row at each batch position
        # Room for the prompt, the whole budget and one speculative step's overshoot.
        cache = preallocated_cache(self._model.config, width + max_new_tokens + self.lookahead + 1)
        with torch.inference_mode():
            # Two kept positions at least: a one-row matmul takes another CPU kernel path.
            out, cache = self._forward(cache, input_ids=ids, position_ids=positions,
                                       logits_to_keep=tail + 2, row_pads=pads)
            first = torch.log_softmax(out.logits[:, -(tail + 1)].float(), dim=-1)
            action = first[:, action_ids].exp()
            masses = action.sum(-1).tolist()
            probs = [_renormalise(*row) for row in action.tolist()]
            # The next tokens' distributions, one (live, vocab) tensor each. After a
            # speculative step it holds one per verified draft token plus one: the tokens
            # those pick are already in the cache, except the last one's.
            pending = [torch.log_softmax(out.logits[:, -1].float(), dim=-1)]
            for step in range(max_new_tokens):
                logits = pending.pop(0)
                if step == 0 and choose_action:
                    pick = action_ids[action.argmax(-1)]
                else:
                    pick = logits.argmax(-1)
                chosen = logits.gather(-1, pick[:, None])[:, 0].tolist()
                done = torch.isin(pick, stops)
                for slot, (row, token, lp, stop) in enumerate(
                        zip(live, pick.tolist(), chosen, done.tolist())):
                    if not stop and (slot == 0 or live[slot - 1] != row):
                        generated[row].append(token)
                        logprobs[row].append(lp)
                keep = (~done).nonzero()[:, 0]
                if step == max_new_tokens - 1 or keep.numel() == 0:
                    break
                if keep.numel() == 1:
                    keep = keep.repeat(2)     # a single row would also switch kernels
                if keep.numel() != len(live) or len(live) == 1:
                    cache.batch_select_indices(keep)
                    kept = keep.tolist()
                    live, pads = [live[i] for i in kept], [pads[i] for i in kept]
                    pick, positions = pick[keep], positions[keep]
                    pending = [p[keep] for p in pending]
                positions = positions[:, -1:] + 1
                if pending:
                    continue                  # pick was a verified draft token: cached
                drafts = self._drafts(rows, generated, live, max_new_tokens - step - 2)
                if not drafts:
                    out, cache = self._forward(cache, input_ids=pick[:, None],
                                               position_ids=positions, row_pads=pads)
                    pending = [torch.log_softmax(out.logits[:, -1].float(), dim=-1)]
                    continue
                k = len(drafts)
                draft = torch.tensor([drafts] * len(live), device=device)  # the row's copies
                steps = positions + torch.arange(k + 1, device=device)
                out, cache = self._forward(cache, position_ids=steps, row_pads=pads,
                                           input_ids=torch.cat([pick[:, None], draft], dim=1))
                scored = torch.log_softmax(out.logits.float(), dim=-1)
                agree = (scored[:, :k].argmax(-1) == draft).int().cumprod(dim=1)
                accepted = int(agree.sum(dim=1).min())   # the drafts verified in step
                if accepted < k:
                    cache.crop(accepted - k)
                self.draft_stats[0] += k
                self.draft_stats[1] += accepted
                pending = [scored[:, j] for j in range(accepted + 1)]
        return [(generated[i], logprobs[i], probs[i], masses[i]) for i in range(n)]

    def _forward(self, cache: Any, **inputs: Any) -> tuple[Any, Any]:
        """One forward pass that reads and extends ``cache``: (output, the cache after it)."""
        out = self._model(**inputs, use_cache=True, **{self._cache_arg: cache})
        return out, getattr(out, self._cache_arg)

    def _drafts(self, rows: list[list[int]], generated: list[list[int]], live: list[int],
                room: int) -> list[int]:
        """Prompt-lookup drafts when one row is left (its two copies: see ``keep.repeat``);
        none for a batch, where a step could keep only what every row verified (with 4 rows it
        lost more than it gained)."""
        size = min(self.lookahead, room)
        if size < 1 or len(set(live)) > 1:
            return []
        row = live[0]
        return _lookup(rows[row] + generated[row], self.lookup_ngram, size)


def _lookup(tokens: list[int], ngram: int, size: int) -> list[int]:
    """The ``size`` tokens that followed the latest earlier occurrence of the longest
    (≤ ``ngram``, ≥ 2) suffix of ``tokens`` — copied text (a retrieved reply, the customer's
    words, the order number) continues as it did before. [] when no suffix recurs."""
    for length in range(min(ngram, len(tokens) - 1), 1, -1):
        suffix = tokens[-length:]
        first = suffix[0]
        for start in range(len(tokens) - length - 1, -1, -1):
            if tokens[start] == first and tokens[start:start + length] == suffix:
                return tokens[start + length:start + length + size]
    return []


def _rowwise_attention(module: Any, query: Any, key: Any, value: Any, attention_mask: Any,
                       dropout: float = 0.0, scaling: float | None = None, **kwargs: Any
                       ) -> tuple[Any, None]:
    """Attention on each row's unpadded keys only, so a row's numbers never depend on the
    batch: SDPA for the prefill, plain matmuls for decode steps — one token (the CPU flash
    kernel costs about 1 ms a call there) or a speculative step's few, causally masked."""
    import torch
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    pads = kwargs.get("row_pads") or [0] * query.shape[0]
    q_len, k_len = query.shape[2], key.shape[2]
    # Rows that share a padding run together (batch rows are computed independently).
    spans = [(0, len(pads))] if len(set(pads)) == 1 else [(r, r + 1) for r in range(len(pads))]
    outs = []
    for start, stop in spans:
        pad, rows = pads[start], stop - start
        k, v = key[start:stop, :, pad:], value[start:stop, :, pad:]
        heads, kv_heads, dim = query.shape[1], key.shape[1], query.shape[3]
        if q_len < k_len:       # decode after a cache: query i sees keys up to past + i
            groups = heads // kv_heads
            q = query[start:stop].reshape(rows, kv_heads, groups * q_len, dim)
            scores = torch.matmul(q, k.transpose(-1, -2)).float() * (scaling or dim ** -0.5)
            if q_len > 1:
                future = torch.ones(q_len, k.shape[2], dtype=torch.bool,
                                    device=query.device).triu(k.shape[2] - q_len + 1)
                scores = scores.view(rows, kv_heads, groups, q_len, -1).masked_fill(
                    future, float("-inf")).flatten(2, 3)
            probs = torch.softmax(scores, dim=-1).to(v.dtype)
            outs.append(torch.matmul(probs, v).view(rows, heads, q_len, dim).transpose(1, 2))
            continue
        out, _ = sdpa_attention_forward(module, query[start:stop, :, pad:], k, v, None,
                                        dropout=dropout, scaling=scaling, is_causal=True)
        if pad:
            out = torch.cat([out.new_zeros(rows, pad, *out.shape[2:]), out], dim=1)
        outs.append(out)
    return torch.cat(outs, dim=0) if len(outs) > 1 else outs[0], None


class OpenAICompatibleBackend:
    """A vLLM (--enable-lora) or LoRAX server: the "model" field names the adapter.

    Up to ``batch_size`` prompts go in one request (a list; one prompt goes as a string, so
    ``batch_size=1`` suits servers that take one prompt per request).
    """

    def __init__(self, base_url: str, api_key: str | None = None, timeout: float = 30,
                 model_for_adapter: Callable[[AdapterRef], str] = lambda ref: ref.name,
                 base_model: str | None = None, batch_size: int = 32):
        base = base_url.rstrip("/")
        self.url = base.removesuffix("/v1") + "/v1/completions"
        parts = urllib.parse.urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("base_url must be an http(s) URL")
        self._shown_url = urllib.parse.urlunsplit(
            (parts.scheme, parts.hostname + (f":{parts.port}" if parts.port else ""),
             parts.path, "", ""))
        self._api_key = api_key
        self.timeout = timeout
        self.model_for_adapter = model_for_adapter
        self.base_model = base_model
        self.batch_size = batch_size

    def __repr__(self) -> str:
        return f"OpenAICompatibleBackend({self._shown_url!r})"

    def generate(self, prompts: Sequence[str], adapter: AdapterRef | None,
                 max_new_tokens: int = 160, forced_action: str | None = None
                 ) -> list[Generation]:
        """One completions request per batch; forcing an action adds a one-token probe."""
        prefix = _check_args(max_new_tokens, forced_action)
        if adapter is not None:
            model = self.model_for_adapter(adapter)
        elif self.base_model is not None:
            model = self.base_model
        else:
            raise InferenceError("no adapter given and no base_model configured")
        results: list[Generation] = []
        for start in range(0, len(prompts), self.batch_size):
            chunk = list(prompts[start:start + self.batch_size])
            choices = self._complete(model, [p + prefix for p in chunk], max_new_tokens)
            probe = (choices if forced_action is None else
                     self._complete(model, [p + TARGET_PREFIX for p in chunk], 1))
            for choice, first in zip(choices, probe):
                results.append(self._parse(choice, first, prefix))
        return results

    def _complete(self, model: str, prompts: list[str], max_tokens: int) -> list[dict[str, Any]]:
        body = {"model": model, "prompt": prompts if len(prompts) > 1 else prompts[0],
                "max_tokens": max_tokens, "temperature": 0, "logprobs": 5, "stop": [STOP_TEXT]}
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        request = urllib.request.Request(self.url, data=json.dumps(body).encode(),
                                         headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            try:
                detail = self._redact(exc.read(500).decode("utf-8", "replace"))
            except OSError:
                detail = ""
            raise InferenceError(f"HTTP {exc.code} from {self._shown_url}: {detail}",
                                 status_code=exc.code,
                                 retryable=exc.code in (408, 429) or exc.code >= 500) from None
        except TimeoutError:
            raise InferenceError(f"no answer from {self._shown_url} within {self.timeout} s",
                                 retryable=True) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            kind = "timed out" if isinstance(reason, TimeoutError) else (
                f"unreachable ({type(reason).__name__})")
            raise InferenceError(f"{self._shown_url} {kind}", retryable=True) from None
        try:
            choices = sorted(json.loads(raw)["choices"], key=lambda c: c["index"])
        except (ValueError, KeyError, TypeError):
            raise InferenceError(f"malformed completions answer from {self._shown_url}") from None
        if [c["index"] for c in choices] != list(range(len(prompts))):
            raise InferenceError(f"{self._shown_url} answered {len(choices)} choices "
                                 f"for {len(prompts)} prompts")
        return choices

    def _redact(self, text: str) -> str:
        return text.replace(self._api_key, "[redacted]") if self._api_key else text

    def _parse(self, choice: dict[str, Any], first: dict[str, Any], prefix: str) -> Generation:
        try:
            text = str(choice["text"])
            logprobs = choice.get("logprobs") or {}
            tokens = list(logprobs.get("tokens") or [])
            values = list(logprobs.get("token_logprobs") or [])
            probe = first.get("logprobs") or {}
            probs, mass = _action_probs((probe.get("top_logprobs") or [None])[0],
                                        (probe.get("tokens") or [None])[0],
                                        (probe.get("token_logprobs") or [None])[0])
        except (AttributeError, KeyError, TypeError, ValueError, IndexError):
            raise InferenceError(f"malformed choice in the answer from {self._shown_url}") from None
        if choice.get("finish_reason") == "stop" and tokens and tokens[-1] in (STOP_TEXT, ""):
            tokens, values = tokens[:-1], values[:-1]
        text = text.removesuffix(STOP_TEXT)
        scored = [float(v) for v in values[:len(tokens)] if v is not None]
        mean = sum(scored) / len(scored) if scored else 0.0
        return Generation(prefix + text, probs, mean, len(tokens), mass)


def _action_probs(top: dict[str, float] | None, token: str | None,
                  logprob: float | None) -> tuple[dict[str, float], float | None]:
    """Decision probabilities from the first position's top logprobs (or its chosen token)."""
    found = {a: 0.0 for a in ACTIONS}
    for text, value in (top or {}).items():
        if text.strip() in found and value is not None:
            found[text.strip()] += math.exp(float(value))
    mass = sum(found.values())
    if all(found.values()):
        return _renormalise(found["reply"], found["escalate"]), mass
    if mass > 0.0 and top:
        # The other action is not among the top entries: count it as the smallest listed one.
        floor = min(math.exp(float(v)) for v in top.values() if v is not None)
        missing = "escalate" if found["reply"] else "reply"
        found[missing] = min(floor, max(0.0, 1.0 - mass))
        return _renormalise(found["reply"], found["escalate"]), mass
    if token is not None and token.strip() in found and logprob is not None:
        found[token.strip()] = min(1.0, math.exp(float(logprob)))
        missing = "escalate" if token.strip() == "reply" else "reply"
        found[missing] = 1.0 - found[token.strip()]
        return found, None
    return {"reply": 0.5, "escalate": 0.5}, 0.0 if top else None


def make_backend(kind: str, **settings: Any) -> Backend:
    """Build a back end: "local" (LocalBackend) or "openai" (OpenAICompatibleBackend)."""
    if kind == "local":
        return LocalBackend(**settings)
    if kind == "openai":
        return OpenAICompatibleBackend(**settings)
    raise ValueError(f"unknown inference backend {kind!r}: use 'local' or 'openai'")
