"""A SASRec network (shared building block: `sasrec-ce` and the LLM methods' collaborative model use it)
with the same architecture as RecBole's (post-LN transformer blocks, learned
positions, shared input/output item embeddings), returning hidden states at every position so
the loss can be taken everywhere. Attention uses ``scaled_dot_product_attention``."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class Block(nn.Module):
    def __init__(self, hidden: int, heads: int, inner: int, hidden_dropout: float, attn_dropout: float, eps: float):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.attn_out = nn.Linear(hidden, hidden)
        self.attn_norm = nn.LayerNorm(hidden, eps=eps)
        self.ffn_in = nn.Linear(hidden, inner)
        self.ffn_out = nn.Linear(inner, hidden)
        self.ffn_norm = nn.LayerNorm(hidden, eps=eps)
        self.dropout = nn.Dropout(hidden_dropout)
        self.attn_dropout = attn_dropout

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        batch, length, hidden = x.shape
        q, k, v = self.qkv(x).view(batch, length, 3, self.heads, hidden // self.heads).permute(2, 0, 3, 1, 4)
        attended = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, dropout_p=self.attn_dropout if self.training else 0.0
        )
        attended = attended.transpose(1, 2).reshape(batch, length, hidden)
        x = self.attn_norm(x + self.dropout(self.attn_out(attended)))
        return self.ffn_norm(x + self.dropout(self.ffn_out(F.gelu(self.ffn_in(x)))))


class SASRecNet(nn.Module):
    def __init__(
        self, n_items: int, max_len: int, hidden_size: int, n_layers: int, n_heads: int, inner_size: int,
        hidden_dropout_prob: float, attn_dropout_prob: float, layer_norm_eps: float, initializer_range: float,
    ):
        super().__init__()
        self.item_embedding = nn.Embedding(n_items, hidden_size, padding_idx=0)
        self.position_embedding = nn.Embedding(max_len, hidden_size)
        self.norm = nn.LayerNorm(hidden_size, eps=layer_norm_eps)
        self.dropout = nn.Dropout(hidden_dropout_prob)
        self.blocks = nn.ModuleList(
            Block(hidden_size, n_heads, inner_size, hidden_dropout_prob, attn_dropout_prob, layer_norm_eps)
            for _ in range(n_layers)
        )
        self.initializer_range = initializer_range
        self.apply(self._init_weights)

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            module.weight.data.normal_(mean=0.0, std=self.initializer_range)
        if isinstance(module, nn.LayerNorm):
            module.bias.data.zero_()
            module.weight.data.fill_(1.0)
        if isinstance(module, nn.Linear) and module.bias is not None:
            module.bias.data.zero_()

    def forward(self, items: Tensor) -> Tensor:
        """Hidden states [B, L, H] for left-aligned, zero-padded item sequences [B, L]."""
        length = items.size(1)
        positions = torch.arange(length, device=items.device)
        x = self.dropout(self.norm(self.item_embedding(items) + self.position_embedding(positions)))
        causal = torch.ones(length, length, dtype=torch.bool, device=items.device).tril()
        mask = causal & (items != 0)[:, None, None, :]
        for block in self.blocks:
            x = block(x, mask)
        return x

    def logits(self, hidden: Tensor) -> Tensor:
        return hidden @ self.item_embedding.weight.T
