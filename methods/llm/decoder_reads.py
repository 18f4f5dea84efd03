"""A decoder forward for any attention mask that computes the last layer only where it is read.

DARec and MixRec read the final hidden state at each item boundary only (``methods.llm.itemrec``),
about one column in thirteen. As in ``methods.llm.read_forward`` (DELRec's title scoring and
LLM-TRSR's answers), the last layer computes queries, attention output and MLP at the read columns
only (keys and values still come from every column), and the other layers take the fused causal
kernel for the leading columns whose mask is plainly causal (``causal_rows``).

Why a second module: ``read_forward.hidden_at`` is the same loop for the shared-prefix mask with
the split at the shortest prompt. It is left untouched here because every suite module a method
imports is part of its records' code hash, and folding it into this function would stale the
quick board's DELRec and LLM-TRSR rows (about 75 min of re-runs on 2 cores); the fold belongs with
their next re-run.

Measured on quick's DARec (SmolLM2 cut to 2 layers, bf16, 16 rows of ~135 tokens, 2 CPU cores,
torch.profiler over 8 steps): a training step went from 0.26 s to 0.16 s. Equality with HF's
forward, values and adapter gradients, is a test (``tests/test_read_forward.py``).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from llmrec_methods.llm.backbone import autocast_like
from llmrec_methods.llm.read_forward import _attention


def causal_rows(allowed: Tensor) -> int:
    """How many leading query columns see exactly the causal keys in every row of ``allowed``
    [B, T, T]: those take the fused causal kernel without a mask."""
    length = allowed.size(-1)
    causal = torch.ones(length, length, dtype=torch.bool, device=allowed.device).tril()
    differs = torch.nonzero((allowed != causal).any(-1).any(0))
    return int(differs[0]) if differs.numel() else length


def at_columns(t: Tensor, columns: Tensor) -> Tensor:
    """``t`` [B, T, ...] read at ``columns`` [B, Q]: [B, Q, ...]."""
    return torch.gather(t, 1, columns.unsqueeze(-1).expand(-1, -1, t.size(-1)))


def decoder_hidden_at(decoder: nn.Module, embeds: Tensor, positions: Tensor, allowed: Tensor, columns: Tensor) -> Tensor:
    """Final hidden states ``[B, Q, H]`` (fp32) of a Llama-family ``decoder`` (embeddings, layers,
    final norm) at ``columns`` [B, Q], over input embeddings ``embeds`` [B, T, H] with ``positions``
    [B, T] under the attention mask ``allowed`` [B, T, T]: equal to HF's forward read there."""
    causal_prefix = causal_rows(allowed)
    last = len(decoder.layers) - 1
    with autocast_like(decoder.embed_tokens.weight):
        cos, sin = decoder.rotary_emb(embeds, positions)
        hidden = embeds
        for index, layer in enumerate(decoder.layers):
            normed = layer.input_layernorm(hidden)
            if index < last:
                residual, queries, query_allowed, query_cos, query_sin, prefix = hidden, normed, allowed, cos, sin, causal_prefix
            else:
                residual, queries = at_columns(hidden, columns), at_columns(normed, columns)
                query_allowed, query_cos, query_sin = at_columns(allowed, columns), at_columns(cos, columns), at_columns(sin, columns)
                prefix = 0
            hidden = residual + _attention(layer.self_attn, queries, normed, query_allowed, cos, sin, query_cos, query_sin, prefix)
            hidden = hidden + layer.mlp(layer.post_attention_layernorm(hidden))
        hidden = decoder.norm(hidden)
    return hidden.float()
