"""Histories rendered as token sequences with explicit item spans, built by tensor ops.

Layout of one row: ``[instruction tokens] [item 1 tokens] SEP [item 2 tokens] SEP ...`` where SEP
(the tokenizer's newline token) closes each item span; the hidden state at an item's SEP is that
item's boundary state. Every token carries a span id (0 = instruction, h = the h-th item), which
the block-causal attention mask uses. Rows are right-padded; padding has span id -1.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from transformers import PreTrainedTokenizerBase

INSTRUCTION = "Items a user interacted with, oldest first, one per line:\n"
PROMPT_VERSION = 1


@dataclass(frozen=True)
class TokenBatch:
    input_ids: Tensor  # [B, T]
    spans: Tensor  # [B, T]; -1 on padding
    boundaries: Tensor  # [B, H] position of each item's SEP; -1 where the history slot is empty

    @property
    def valid(self) -> Tensor:
        return self.spans >= 0

    def to(self, device: torch.device) -> "TokenBatch":
        return TokenBatch(self.input_ids.to(device), self.spans.to(device), self.boundaries.to(device))


def token_ids(tokenizer: PreTrainedTokenizerBase, text: str) -> Tensor:
    return torch.tensor(tokenizer(text, add_special_tokens=False).input_ids, dtype=torch.long)


def padded_texts(tokenizer: PreTrainedTokenizerBase, texts: list[str], max_tokens: int,
                 closing: list[int]) -> tuple[Tensor, Tensor]:
    """Texts tokenised, each truncated to ``max_tokens`` and closed by the ``closing`` ids, left-aligned
    and zero-padded: ``(ids [N, W], lengths [N])`` with ``W`` the longest row."""
    encoded = [ids[:max_tokens] + closing for ids in tokenizer(texts, add_special_tokens=False).input_ids]
    width = max([len(ids) for ids in encoded] + [1])
    out = torch.zeros(len(encoded), width, dtype=torch.long)
    lengths = torch.tensor([len(ids) for ids in encoded], dtype=torch.long)
    for row, ids in enumerate(encoded):
        out[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
    return out, lengths


class ItemTokenTable:
    """Each item's text tokenised once, truncated to ``max_tokens`` and closed by SEP."""

    def __init__(self, item_text: tuple[str, ...], tokenizer: PreTrainedTokenizerBase, max_tokens: int):
        self.sep = int(token_ids(tokenizer, "\n")[-1])
        tokens, lengths = padded_texts(tokenizer, list(item_text[1:]), max_tokens, [self.sep])
        self.tokens = torch.cat([torch.zeros(1, tokens.size(1), dtype=torch.long), tokens])  # row 0: padding item
        self.lengths = torch.cat([torch.zeros(1, dtype=torch.long), lengths])
        self.instruction = token_ids(tokenizer, INSTRUCTION)

    @property
    def width(self) -> int:
        return self.tokens.size(1)

    def text_token_mask(self) -> Tensor:
        """[n_items, width] True on an item's own text tokens (not SEP, not padding)."""
        return torch.arange(self.width) < (self.lengths - 1).clamp(min=0).unsqueeze(1)

    def build(self, history: Tensor) -> TokenBatch:
        """Token rows for left-aligned, zero-padded item histories ``[B, H]``."""
        batch, slots = history.shape
        width = self.width
        item_tokens = self.tokens[history]  # [B, H, W]
        item_valid = torch.arange(width) < self.lengths[history].unsqueeze(-1)
        prefix = self.instruction.expand(batch, -1)
        tokens = torch.cat([prefix, item_tokens.reshape(batch, slots * width)], 1)
        valid = torch.cat([torch.ones_like(prefix, dtype=torch.bool), item_valid.reshape(batch, slots * width)], 1)
        span_of_slot = torch.arange(1, slots + 1).repeat_interleave(width)
        spans = torch.cat([torch.zeros(prefix.size(1), dtype=torch.long), span_of_slot]).expand(batch, -1)
        # Compact valid tokens to the left (stable, so order is kept), then cut to the longest row.
        order = torch.argsort((~valid).to(torch.int8), dim=1, stable=True)
        length = int(valid.sum(1).max())
        keep = order[:, :length]
        kept_valid = torch.gather(valid, 1, keep)
        input_ids = torch.where(kept_valid, torch.gather(tokens, 1, keep), 0)
        kept_spans = torch.where(kept_valid, torch.gather(spans, 1, keep), -1)
        counts = valid.cumsum(1)
        item_ends = prefix.size(1) + (torch.arange(slots) + 1) * width - 1
        boundaries = torch.where(history > 0, counts[:, item_ends] - 1, -1)
        return TokenBatch(input_ids, kept_spans, boundaries)


def attention_allowed(spans: Tensor, block_causal: bool) -> Tensor:
    """Boolean ``[B, T, T]``: may query i attend to key j?

    Causal everywhere; with ``block_causal`` also bidirectional inside an item span (the
    instruction span, and a collaborative token prepended at position 0, stay causal, so every
    query sees that token). Padding keys are hidden from real tokens; a padding query always sees
    itself, so no softmax row is empty (padding outputs are never read).
    """
    batch, length = spans.shape
    positions = torch.arange(length, device=spans.device)
    allowed = (positions.unsqueeze(1) >= positions.unsqueeze(0)).expand(batch, -1, -1)
    valid = spans >= 0
    if block_causal:
        same_item = (spans.unsqueeze(2) == spans.unsqueeze(1)) & (spans > 0).unsqueeze(2)
        allowed = allowed | same_item
    allowed = allowed & valid.unsqueeze(1)
    return allowed | torch.eye(length, dtype=torch.bool, device=spans.device)


def additive_mask(allowed: Tensor, dtype: torch.dtype) -> Tensor:
    """The ``[B, 1, T, T]`` float mask HF attention takes: 0 where allowed, the dtype's min elsewhere."""
    mask = torch.zeros(allowed.shape, dtype=dtype, device=allowed.device)
    return mask.masked_fill(~allowed, torch.finfo(dtype).min).unsqueeze(1)
