"""Pointwise yes/no prompts with a shared prefix, packed so one forward scores many candidates.

One row = ``[prefix] [suffix 1] [suffix 2] ...``: the prefix (instruction, preference summary,
recent items) is shared by every candidate of the row, and suffix c is ``"\\n" + candidate text +
"\\nAnswer:"``. A 4D mask lets prefix tokens attend causally among themselves and each suffix
token attend to the whole prefix and causally inside its own suffix, never to another candidate;
suffix position ids continue from the prefix length. Every candidate therefore sees exactly the
text (and positions) it would see alone as ``prefix + suffix``, while the prefix is encoded once
per row instead of once per candidate. The hidden state at the suffix's last token predicts the
answer; the score is the logit of "yes" minus the logit of "no" (``log P(yes) - log P(no)`` under
the two-way softmax, so it orders candidates exactly like ``P(yes)`` without saturating to ties).

All layout work is tensor ops over the batch (segments concatenated, then valid tokens compacted
to the left), no per-user Python loop.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from transformers import PreTrainedTokenizerBase

from llmrec_methods.llm.backbone import autocast_like
from llmrec_methods.llm.prompts import additive_mask, token_ids

IGNORE = -100


def answer_token_ids(tokenizer: PreTrainedTokenizerBase) -> tuple[int, int]:
    """First token of "yes" and of "no"; they must differ or the scores would be meaningless."""
    yes, no = int(token_ids(tokenizer, "yes")[0]), int(token_ids(tokenizer, "no")[0])
    if yes == no:
        raise ValueError("the tokenizer gives 'yes' and 'no' the same first token")
    return yes, no


@dataclass(frozen=True)
class Segment:
    """A block of columns of the row layout: ids ``[B, W]``, which are real tokens, their span
    (0 = shared prefix, c = candidate c) and, for suffix segments, the offset inside the suffix."""

    ids: Tensor
    valid: Tensor
    span: Tensor
    offset: Tensor | None = None  # position inside the suffix; None for prefix segments


def constant(ids: Tensor, batch: int) -> Segment:
    ids = ids.expand(batch, -1)
    return Segment(ids, torch.ones_like(ids, dtype=torch.bool), torch.zeros_like(ids))


def ragged(ids: Tensor, lengths: Tensor) -> Segment:
    """Left-aligned ``[B, W]`` ids with per-row lengths, flattened from any leading shape."""
    batch = ids.size(0)
    ids = ids.reshape(batch, -1, ids.size(-1))
    valid = torch.arange(ids.size(-1)) < lengths.reshape(batch, -1, 1)
    return Segment(ids.reshape(batch, -1), valid.reshape(batch, -1), torch.zeros(batch, ids.size(1) * ids.size(2), dtype=torch.long))


def suffixes(ids: Tensor, lengths: Tensor) -> Segment:
    """Candidate suffixes ``[B, C, W]`` with lengths ``[B, C]``: span c + 1, offsets 0..W-1."""
    batch, count, width = ids.shape
    valid = torch.arange(width) < lengths.unsqueeze(-1)
    span = torch.arange(1, count + 1).repeat_interleave(width).expand(batch, -1)
    offset = torch.arange(width).repeat(count).expand(batch, -1)
    return Segment(ids.reshape(batch, -1), valid.reshape(batch, -1), span, offset)


@dataclass(frozen=True)
class PackedBatch:
    input_ids: Tensor  # [B, T]
    spans: Tensor  # [B, T]; -1 on padding
    positions: Tensor  # [B, T]
    answer_at: Tensor  # [B, C] index of each candidate's last token
    prefix_length: Tensor  # [B]

    def to(self, device: torch.device) -> "PackedBatch":
        return PackedBatch(*(t.to(device) for t in (self.input_ids, self.spans, self.positions, self.answer_at, self.prefix_length)))


def pack(segments: list[Segment]) -> PackedBatch:
    """Concatenate segments (prefix segments first, then one suffix segment) and compact."""
    ids = torch.cat([s.ids for s in segments], 1)
    valid = torch.cat([s.valid for s in segments], 1)
    spans = torch.cat([s.span for s in segments], 1)
    offsets = torch.cat([s.offset if s.offset is not None else torch.zeros_like(s.span) for s in segments], 1)
    in_prefix = valid & (spans == 0)
    prefix_length = in_prefix.sum(1)
    positions = torch.where(spans == 0, in_prefix.cumsum(1) - 1, prefix_length.unsqueeze(1) + offsets)
    order = torch.argsort((~valid).to(torch.int8), dim=1, stable=True)
    length = int(valid.sum(1).max())
    keep = order[:, :length]
    kept_valid = torch.gather(valid, 1, keep)
    compact_index = valid.cumsum(1) - 1  # where each original column lands
    suffix = segments[-1]
    count = int(suffix.span.max())
    width = suffix.ids.size(1) // count
    suffix_lengths = suffix.valid.reshape(suffix.valid.size(0), count, width).sum(-1)
    suffix_start = ids.size(1) - suffix.ids.size(1)
    last_column = suffix_start + torch.arange(count) * width + suffix_lengths - 1
    return PackedBatch(
        input_ids=torch.where(kept_valid, torch.gather(ids, 1, keep), 0),
        spans=torch.where(kept_valid, torch.gather(spans, 1, keep), -1),
        positions=torch.where(kept_valid, torch.gather(positions, 1, keep), 0),
        answer_at=torch.gather(compact_index, 1, last_column),
        prefix_length=prefix_length,
    )


def shared_prefix_allowed(spans: Tensor) -> Tensor:
    """Boolean ``[B, T, T]``: causal, and a key is visible if it is in the prefix or in the
    query's own suffix. Padding keys are hidden; a padding query sees itself only."""
    length = spans.size(1)
    index = torch.arange(length, device=spans.device)
    causal = index.unsqueeze(1) >= index.unsqueeze(0)
    visible = (spans.unsqueeze(1) == 0) | (spans.unsqueeze(1) == spans.unsqueeze(2))
    allowed = causal & visible & (spans >= 0).unsqueeze(1)
    return allowed | torch.eye(length, dtype=torch.bool, device=spans.device)


def packed_hidden(lm: nn.Module, batch: PackedBatch, embeds: Tensor) -> Tensor:
    """Last hidden states ``[B, T, H]`` (fp32) of a causal LM over a packed batch whose input
    embeddings are ``embeds``, under the shared-prefix mask and the batch's position ids."""
    mask = additive_mask(shared_prefix_allowed(batch.spans), embeds.dtype)
    with autocast_like(lm.get_input_embeddings().weight):
        out = lm.model(inputs_embeds=embeds, attention_mask=mask, position_ids=batch.positions)
    return out.last_hidden_state.float()


class YesNoLM(nn.Module):
    """A causal LM (with adapters) read at each candidate's answer position."""

    def __init__(self, causal_lm: nn.Module, yes_id: int, no_id: int):
        super().__init__()
        self.lm = causal_lm
        self.yes_id, self.no_id = yes_id, no_id
        self.tokens_seen = 0

    @property
    def device(self) -> torch.device:
        return self.lm.get_input_embeddings().weight.device

    def hidden(self, batch: PackedBatch) -> Tensor:
        batch = batch.to(self.device)
        self.tokens_seen += int((batch.spans >= 0).sum())
        return packed_hidden(self.lm, batch, self.lm.get_input_embeddings()(batch.input_ids))

    def head(self) -> Tensor:
        return self.lm.get_output_embeddings().weight

    def answer_scores(self, batch: PackedBatch) -> Tensor:
        """``[B, C]`` logit(yes) - logit(no) at every candidate's answer position."""
        hidden = self.hidden(batch)
        at = batch.answer_at.to(self.device)
        states = torch.gather(hidden, 1, at.unsqueeze(-1).expand(-1, -1, hidden.size(-1)))
        pair = self.head()[[self.yes_id, self.no_id]].float()
        logits = states @ pair.T
        return logits[..., 0] - logits[..., 1]

    def loss(self, batch: PackedBatch, labels: Tensor, loss_on: str, separator: int) -> Tensor:
        """Cross-entropy over the vocabulary on the answer token ("yes" where ``labels`` is 1), or
        with ``loss_on='full'`` on every next token of the text as well (the paper's code). In the
        packed row the shared prefix stands for one copy per candidate, so its tokens are weighted
        by the number of candidates, as if each (prefix, candidate) text were a separate example."""
        hidden = self.hidden(batch)
        head = self.head().float()
        device = self.device
        answers = torch.where(labels.bool(), self.yes_id, self.no_id).to(device)
        at = batch.answer_at.to(device)
        if loss_on == "answer":
            states = torch.gather(hidden, 1, at.unsqueeze(-1).expand(-1, -1, hidden.size(-1)))
            return F.cross_entropy((states @ head.T).flatten(0, 1), answers.flatten())
        spans, ids = batch.spans.to(device), batch.input_ids.to(device)
        targets = torch.full_like(ids, IGNORE)
        same_next = (spans[:, 1:] == spans[:, :-1]) & (spans[:, :-1] >= 0)
        targets[:, :-1] = torch.where(same_next, ids[:, 1:], IGNORE)
        rows = torch.arange(ids.size(0), device=device)
        targets[rows, batch.prefix_length.to(device) - 1] = separator  # every suffix opens with it
        targets.scatter_(1, at, answers)
        weights = torch.where(spans == 0, float(at.size(1)), 1.0)
        chosen = targets != IGNORE
        losses = F.cross_entropy(hidden[chosen] @ head.T, targets[chosen], reduction="none")
        return (losses * weights[chosen]).sum() / weights[chosen].sum()
