"""Candidate items scored by the length-normalised log-likelihood of their full title.

The prompt is shared by every candidate of a user, so it is packed once per row with one suffix
per candidate (``methods.llm.yesno.pack``: a 4D mask lets each suffix see the prompt and itself,
never another candidate, with position ids continuing from the prompt). That is the prompt's
key/value computation reused across all candidates in a single forward. A candidate's score is
the mean over its title tokens (closing newline included, so a title that is a prefix of a longer
one does not win by stopping early) of ``log p(token | prompt, earlier title tokens)`` under the
full vocabulary. Two titles that share their first token therefore no longer tie, as they do in
DELRec's official first-sub-token verbalizer.

An optional soft prompt (trainable virtual-token embeddings) replaces the placeholder tokens at a
fixed column range of every row; prompts put it right after a constant-length instruction, so
the range is the same in every row of the packed batch.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from llmrec_methods.llm.read_forward import hidden_at, read_columns
from llmrec_methods.llm.yesno import PackedBatch

LOGIT_CHUNK_TOKENS = 1024  # title tokens per vocabulary-logit block (bounds the [N, V] matrix)


class SoftPrompt(nn.Module):
    """``length`` trainable embeddings, initialised from the embeddings of randomly drawn vocabulary
    tokens (the prompt-tuning convention: the prompt starts inside the model's input space)."""

    def __init__(self, embedding: nn.Embedding, length: int, seed: int):
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        rows = torch.randint(0, embedding.num_embeddings, (length,), generator=generator)
        self.vectors = nn.Parameter(embedding.weight.detach()[rows].clone().float())

    def __len__(self) -> int:
        return self.vectors.size(0)


def suffix_predictors(packed: PackedBatch) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """For every candidate-title token: (row, column that predicts it, token id, candidate index).

    The first title token is predicted by the prompt's last token (shared by all candidates);
    every later one by the token before it in the same suffix.
    """
    spans, ids = packed.spans, packed.input_ids
    columns = torch.arange(spans.size(1), device=spans.device)
    continues = torch.zeros_like(spans, dtype=torch.bool)
    continues[:, 1:] = spans[:, 1:] == spans[:, :-1]
    predictor = torch.where(continues, columns - 1, packed.prefix_length.to(spans.device).unsqueeze(1) - 1)
    rows, cols = torch.nonzero(spans > 0, as_tuple=True)
    return rows, predictor[rows, cols], ids[rows, cols], spans[rows, cols] - 1


def title_log_likelihoods(hidden: Tensor, packed: PackedBatch, head: Tensor, vocabulary: Tensor | None = None) -> Tensor:
    """``[B, C]`` mean log-probability of each candidate's title tokens, from ``hidden`` [B, Q, H]:
    the final hidden states at ``read_columns(packed)`` (each row's last prompt column onwards).

    The softmax runs over the full vocabulary, or with ``vocabulary`` (sorted token ids that
    include every title token) over those tokens only: the distribution renormalised to the
    catalogue's title tokens, as constrained decoding over the catalogue would, at a fraction of
    the output-layer cost.
    """
    packed = packed.to(hidden.device)
    batch, count = packed.answer_at.shape
    rows, predictors, tokens, candidate = suffix_predictors(packed)
    if vocabulary is not None:
        vocabulary = vocabulary.to(hidden.device)
        head = head[vocabulary]
        tokens = torch.searchsorted(vocabulary, tokens)
    states = hidden[rows, predictors - (packed.prefix_length[rows] - 1)]
    pieces = []
    for start in range(0, tokens.numel(), LOGIT_CHUNK_TOKENS):
        part = slice(start, start + LOGIT_CHUNK_TOKENS)
        logits = states[part] @ head.T
        pieces.append(logits.gather(1, tokens[part].unsqueeze(1)).squeeze(1) - torch.logsumexp(logits, 1))
    log_probs = torch.cat(pieces) if pieces else hidden.new_zeros(0)
    slot = rows * count + candidate
    sums = hidden.new_zeros(batch * count).index_add(0, slot, log_probs)
    counts = hidden.new_zeros(batch * count).index_add(0, slot, torch.ones_like(log_probs))
    mean = sums / counts.clamp(min=1)
    return torch.where(counts > 0, mean, -torch.inf).view(batch, count)


class TitleScorer(nn.Module):
    """A causal LM (with adapters, optionally a soft prompt) that scores packed candidate titles."""

    def __init__(self, causal_lm: nn.Module, soft_prompt: SoftPrompt | None, vocabulary: Tensor | None = None):
        super().__init__()
        self.lm = causal_lm
        self.soft_prompt = soft_prompt
        self.vocabulary = vocabulary  # restrict the title softmax to these token ids (None = all)
        self.tokens_seen = 0

    @property
    def device(self) -> torch.device:
        return self.lm.get_input_embeddings().weight.device

    def hidden(self, packed: PackedBatch, soft_at: int | None) -> Tensor:
        """Final hidden states at ``read_columns(packed)``, ``[B, Q, H]``."""
        packed = packed.to(self.device)
        embeds = self.lm.get_input_embeddings()(packed.input_ids)
        if self.soft_prompt is not None:
            if soft_at is None:
                raise ValueError("a soft prompt needs the column where its placeholder starts")
            vectors = self.soft_prompt.vectors.to(embeds.dtype).unsqueeze(0).expand(embeds.size(0), -1, -1)
            embeds = torch.cat([embeds[:, :soft_at], vectors, embeds[:, soft_at + len(self.soft_prompt):]], 1)
        self.tokens_seen += int((packed.spans >= 0).sum())
        return hidden_at(self.lm, packed, embeds, read_columns(packed))

    def scores(self, packed: PackedBatch, soft_at: int | None) -> Tensor:
        """``[B, C]`` length-normalised title log-likelihoods."""
        hidden = self.hidden(packed, soft_at)
        return title_log_likelihoods(hidden, packed, self.lm.get_output_embeddings().weight.float(), self.vocabulary)
