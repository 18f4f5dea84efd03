"""Greedy batched text generation with a persistent memo, for LLM stages that only infer (e.g.
LLM-TRSR's summariser).

Every generated text is stored in an append-only JSONL memo under the artifact cache, keyed by the
sha256 of the exact prompt text; the memo's directory is keyed by the model identity and every
decoding setting. So a prompt is generated once per machine: later runs, seeds and variants (and
a run that was interrupted half-way) read it back, and two summary orders that issue the same
prompt share it. Each batch is appended and flushed as soon as it is generated, so an interrupted
run loses at most the batch in flight; a torn last line is ignored on load.

Prompts are sorted by token length before batching (less padding). Batched greedy text is only
*almost* a function of the prompt: a prompt's left padding and batch neighbours change the float
rounding of its forward, which can flip a near-tied argmax (the tiny random test model does so
often). Which prompts share a batch depends on what the memo already holds, so batched replies can
depend on the memo's history. ``batch_size: 1`` (solo) makes every reply a pure function of the
prompt, model and decoding settings, which is what exact regression checks need (the ci profile
uses it); solo replies live in a memo of their own, so they never mix with batched ones. Batched
generation stays the default where it pays (quick, full): its replies are cached artifacts, and a
record's summary statistics say how many were generated in that run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from llmrec_methods.llm.backbone import Backbone
from llmrec_methods.llm.cache import content_key

log = logging.getLogger(__name__)

PROMPT_FORMAT_VERSION = 1
LOG_EVERY_S = 10.0  # progress lines at most this often (solo generation makes one batch per prompt)
FALLBACK_TEMPLATE = "### User:\n{prompt}\n### Assistant:\n"  # for tokenizers without a chat template


@dataclass(frozen=True)
class Decoding:
    """Everything about decoding that changes the generated text (part of the memo key)."""

    max_new_tokens: int
    repetition_penalty: float = 1.0
    strategy: str = "greedy"


@dataclass
class GenerationStats:
    """What one ``generate`` call cost; a run's record keeps these."""

    prompts: int = 0
    memo_hits: int = 0
    generated: int = 0
    prompt_tokens: int = 0
    new_tokens: int = 0
    seconds: float = 0.0
    # what generating every reply of this call originally cost, memo hits included (replies from
    # before the memo recorded timings count 0)
    build_seconds: float = 0.0

    def add(self, other: "GenerationStats") -> None:
        for name in ("prompts", "memo_hits", "generated", "prompt_tokens", "new_tokens", "seconds", "build_seconds"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def as_dict(self) -> dict:
        total = self.prompt_tokens + self.new_tokens
        return {
            "prompts": self.prompts, "memo_hits": self.memo_hits, "generated": self.generated,
            "prompt_tokens": self.prompt_tokens, "new_tokens": self.new_tokens, "seconds": round(self.seconds, 3),
            "build_seconds": round(self.build_seconds, 3),
            "new_tokens_per_s": round(self.new_tokens / self.seconds, 1) if self.seconds else None,
            "tokens_per_s": round(total / self.seconds, 1) if self.seconds else None,
        }


def prompt_sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class GenerationMemo:
    """Append-only prompt -> text store (one JSONL file)."""

    def __init__(self, directory: Path, inputs: dict):
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        identity = directory / "inputs.json"
        if not identity.exists():
            identity.write_text(json.dumps(inputs, indent=1, sort_keys=True))
        self.path = directory / "memo.jsonl"
        self.entries: dict[str, str] = {}
        self.costs: dict[str, float] = {}  # sha -> seconds its generation took (its share of a batch)
        if self.path.exists():
            for number, line in enumerate(self.path.read_text().splitlines(), start=1):
                try:
                    entry = json.loads(line)
                    self.entries[entry["sha"]] = entry["text"]
                    self.costs[entry["sha"]] = float(entry.get("s", 0.0))
                except (json.JSONDecodeError, KeyError):
                    log.warning("%s line %d is torn or malformed; that prompt will be generated again", self.path, number)

    def get(self, prompt: str) -> str | None:
        return self.entries.get(prompt_sha(prompt))

    def seconds(self, prompt: str) -> float:
        return self.costs.get(prompt_sha(prompt), 0.0)

    def add(self, pairs: list[tuple[str, str]], seconds_each: float = 0.0) -> None:
        lines = "".join(json.dumps({"sha": prompt_sha(p), "text": t, "s": round(seconds_each, 4)}) + "\n"
                        for p, t in pairs)
        with self.path.open("a") as handle:
            handle.write(lines)
            handle.flush()
            os.fsync(handle.fileno())
        self.entries.update((prompt_sha(p), t) for p, t in pairs)
        self.costs.update((prompt_sha(p), seconds_each) for p, _ in pairs)


class TextGenerator:
    """Generate replies of an instruct model to user prompts, memoised."""

    def __init__(self, backbone: Backbone, decoding: Decoding, cache_root: Path, device: torch.device, batch_size: int):
        self.decoding, self.device, self.batch_size = decoding, device, batch_size
        inputs = {"model": backbone.identity, "decoding": vars(decoding), "format": PROMPT_FORMAT_VERSION}
        weights = backbone.model.get_input_embeddings().weight.dtype
        if device.type == "cpu" and weights != torch.float32:  # fp32 and CUDA keep their historical keys
            inputs["dtype"] = str(weights).removeprefix("torch.")
        if batch_size == 1:  # solo replies are prompt-pure; batched ones keep their historical key
            inputs["layout"] = "solo"
        self.memo = GenerationMemo(cache_root / "generations" / content_key(inputs), inputs)
        self.tokenizer = backbone.tokenizer
        self.model = backbone.model.to(device)
        self.model.eval()

    def format(self, prompt: str) -> str:
        """The prompt in the model's own chat format (its chat template when it has one)."""
        if getattr(self.tokenizer, "chat_template", None):
            return self.tokenizer.apply_chat_template(
                [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
            )
        return FALLBACK_TEMPLATE.format(prompt=prompt)

    def generate(self, prompts: list[str], progress: str = "") -> tuple[list[str], GenerationStats]:
        stats = GenerationStats(prompts=len(prompts))
        formatted = {p: self.format(p) for p in dict.fromkeys(prompts)}
        missing = [p for p in formatted if self.memo.get(formatted[p]) is None]
        pending = set(missing)
        stats.memo_hits = sum(p not in pending for p in prompts)
        if missing:
            started = time.monotonic()
            self._generate_missing([formatted[p] for p in missing], stats, progress)
            stats.seconds = time.monotonic() - started
        stats.build_seconds = sum(self.memo.seconds(text) for text in formatted.values())
        return [self.memo.get(formatted[p]) for p in prompts], stats

    @torch.no_grad()
    def _generate_missing(self, texts: list[str], stats: GenerationStats, progress: str) -> None:
        tokenizer = self.tokenizer
        encoded = tokenizer(texts, add_special_tokens=False).input_ids
        order = sorted(range(len(texts)), key=lambda i: (len(encoded[i]), texts[i]))
        pad = tokenizer.pad_token_id
        # a reply is text: special tokens other than end-of-sequence are never generated (a random
        # test model would otherwise emit only pad/bos ids, which decode to an empty string)
        suppressed = sorted(set(tokenizer.all_special_ids) - {tokenizer.eos_token_id})
        self.model.config.use_cache = True
        logged = time.monotonic()
        try:
            for start in range(0, len(order), self.batch_size):
                began = time.monotonic()
                chunk = order[start : start + self.batch_size]
                width = max(len(encoded[i]) for i in chunk)
                ids = torch.full((len(chunk), width), pad, dtype=torch.long)
                mask = torch.zeros((len(chunk), width), dtype=torch.long)
                for row, i in enumerate(chunk):  # left padding, so every reply starts at column ``width``
                    ids[row, width - len(encoded[i]) :] = torch.tensor(encoded[i])
                    mask[row, width - len(encoded[i]) :] = 1
                out = self.model.generate(
                    input_ids=ids.to(self.device), attention_mask=mask.to(self.device), do_sample=False,
                    max_new_tokens=self.decoding.max_new_tokens, repetition_penalty=self.decoding.repetition_penalty,
                    pad_token_id=pad, eos_token_id=tokenizer.eos_token_id,
                    suppress_tokens=suppressed or None,
                )[:, width:].cpu()
                replies = []
                for row in out:
                    kept = row[row != pad] if pad != tokenizer.eos_token_id else row
                    ends = torch.nonzero(kept == tokenizer.eos_token_id)
                    kept = kept[: int(ends[0])] if ends.numel() else kept
                    stats.new_tokens += int(kept.numel())
                    replies.append(tokenizer.decode(kept, skip_special_tokens=True))  # verbatim, unstripped
                stats.prompt_tokens += int(mask.sum())
                stats.generated += len(chunk)
                self.memo.add([(texts[i], reply) for i, reply in zip(chunk, replies)],
                              (time.monotonic() - began) / len(chunk))
                done = start + len(chunk)
                if time.monotonic() - logged >= LOG_EVERY_S or done == len(order):
                    log.info("%s generated %d/%d prompts (%.1fs for the last batch)", progress, done, len(order),
                             time.monotonic() - began)
                    logged = time.monotonic()
        finally:
            self.model.config.use_cache = False
