"""The SASRec authors' transformer block (Kang & McAuley's TensorFlow code, as RecTools and
transformer_benchmark port it), beside the RecBole-style network of ``llmrec_methods.sasrec_net``.

The two differ in ways a reproduction can feel (issue 18: our SASRec+SS on the S3-Rec datasets
fell 6-18% below transformer_benchmark's numbers on the RecBole-style network):

| | ``sasrec_net`` (RecBole) | this module (SASRec authors) |
|---|---|---|
| normalisation | post-LN after each residual, LN on the embeddings | LN on the attention's queries and the FFN input, one LN after the last block |
| feed-forward | GELU, inner width ``inner_size`` (4x) | ReLU, inner width = hidden size |
| positions | counted from the first item | counted back from the last item (RecTools' "inverse" positions) |
| padding | attention masks padded keys | padded positions are zeroed before every block |
| initialisation | normal(0, 0.02) | Xavier normal for every matrix, the item table included (RecTools) |
| item embeddings in | as they are, then LN | times sqrt(hidden size), as the authors' code (``seq *= sqrt(d)``) |

The sqrt(d) scale: RecTools makes it optional (``use_scale_factor``, off by default) and the
transformer_benchmark configurations do not set it. Without it, Xavier-initialised item embeddings
(std ~0.01 for 12k items) are ~13x smaller than the position embeddings (std ~0.13 for 50
positions), and on ml-100k (1 block, 64-d, 256 sampled negatives, 2026-12-01) valid NDCG@10 rose
far more slowly (0.011, 0.027, 0.032 over the first epochs, ~0.087 at epoch 11) than with it
(0.018, 0.032, 0.050, 0.073, 0.083, 0.091). On sports, without it, seed 0 reached only 0.0124
test NDCG@10 (best valid 0.0146 at epoch 6).

Sequences are left-aligned and zero-padded, as everywhere in the suite, so an item's inverse
position is ``length - 1 - t``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class AuthorsBlock(nn.Module):
    """Queries normed, keys and values not; the residual adds to the normed queries; the FFN's
    residual adds to its normed input (the authors' ``feedforward`` on ``normalize(seq)``)."""

    def __init__(self, hidden: int, heads: int, dropout: float):
        super().__init__()
        self.heads = heads
        self.query_norm = nn.LayerNorm(hidden)
        self.query = nn.Linear(hidden, hidden)
        self.key_value = nn.Linear(hidden, 2 * hidden)
        self.attn_out = nn.Linear(hidden, hidden)
        self.ffn_norm = nn.LayerNorm(hidden)
        self.ffn_in = nn.Linear(hidden, hidden)
        self.ffn_out = nn.Linear(hidden, hidden)
        self.dropout = nn.Dropout(dropout)
        self.attn_dropout = dropout

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        batch, length, hidden = x.shape
        split = (batch, length, self.heads, hidden // self.heads)
        queries = self.query_norm(x)
        q = self.query(queries).view(split).transpose(1, 2)
        k, v = (t.reshape(split).transpose(1, 2) for t in self.key_value(x).chunk(2, -1))
        attended = F.scaled_dot_product_attention(q, k, v, attn_mask=mask,
                                                  dropout_p=self.attn_dropout if self.training else 0.0)
        x = queries + self.attn_out(attended.transpose(1, 2).reshape(batch, length, hidden))
        ffn_input = self.ffn_norm(x)
        return ffn_input + self.dropout(self.ffn_out(self.dropout(F.relu(self.ffn_in(ffn_input)))))


class AuthorsSASRecNet(nn.Module):
    """Same interface as ``sasrec_net.SASRecNet``: ``forward`` gives hidden states [B, L, H] of
    left-aligned sequences, ``logits`` scores them against the shared item table."""

    def __init__(self, n_items: int, max_len: int, hidden_size: int, n_layers: int, n_heads: int, dropout: float):
        super().__init__()
        self.item_embedding = nn.Embedding(n_items, hidden_size, padding_idx=0)
        self.position_embedding = nn.Embedding(max_len, hidden_size)
        self.dropout = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(AuthorsBlock(hidden_size, n_heads, dropout) for _ in range(n_layers))
        self.last_norm = nn.LayerNorm(hidden_size, eps=1e-8)
        for parameter in self.parameters():
            if parameter.dim() > 1:
                nn.init.xavier_normal_(parameter)
        with torch.no_grad():
            self.item_embedding.weight[0].zero_()  # the padding id stays a zero vector

    def forward(self, items: Tensor) -> Tensor:
        length = items.size(1)
        real = items != 0
        lengths = real.sum(1, keepdim=True)
        inverse = (lengths - 1 - torch.arange(length, device=items.device)).clamp(min=0)
        x = self.dropout(self.item_embedding(items) * self.item_embedding.embedding_dim ** 0.5 + self.position_embedding(inverse))
        keep = real.unsqueeze(-1).to(x.dtype)
        causal = torch.ones(length, length, dtype=torch.bool, device=items.device).tril()
        mask = causal & real[:, None, None, :]
        for block in self.blocks:
            x = block(x * keep, mask)
        return self.last_norm(x * keep)

    def logits(self, hidden: Tensor) -> Tensor:
        return hidden @ self.item_embedding.weight.T
