"""The collaborative side of DARec/MixRec: a small SASRec trained jointly with the LLM whose
representation of the user's long-term history becomes one prepended "collaborative token".

To keep training free of leakage, the collaborative token summarises only the items *before* the
LLM's text window (the long-term part); the window's own items are what the LLM reads as text.
The same split is used at scoring time, so training and evaluation inputs have the same shape.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from llmrec_methods.sasrec_net import SASRecNet
from llmrec_methods.sequential_data import most_recent

CF_ARCHITECTURE = dict(
    hidden_size=64, n_layers=2, n_heads=2, inner_size=256, hidden_dropout_prob=0.2, attn_dropout_prob=0.2,
    layer_norm_eps=1e-12, initializer_range=0.02,
)


def split_history(history: Tensor, lengths: Tensor, recent: int, long_width: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Cut left-aligned histories into (recent items, their lengths, older items, their lengths):
    the last ``recent`` items, and up to ``long_width`` items before them."""
    recent_items, recent_lengths = most_recent(history, lengths, recent)
    long_lengths = (lengths - recent).clamp(min=0)
    older = torch.where(torch.arange(history.size(1)) < long_lengths.unsqueeze(1), history, 0)
    long_items, long_lengths = most_recent(older, long_lengths, long_width)
    return recent_items, recent_lengths, long_items, long_lengths


class CollabEncoder(nn.Module):
    """SASRec over the long-term items -> 2-layer MLP -> one vector of the LLM's hidden size."""

    def __init__(self, n_items: int, max_len: int, llm_hidden: int):
        super().__init__()
        self.net = SASRecNet(n_items=n_items, max_len=max_len, **CF_ARCHITECTURE)
        width = CF_ARCHITECTURE["hidden_size"]
        self.empty = nn.Parameter(torch.zeros(width))  # users with no items before the window
        self.project = nn.Sequential(nn.Linear(width, llm_hidden), nn.GELU(), nn.Linear(llm_hidden, llm_hidden))

    def forward(self, items: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor | None]:
        """(token [B, D], the CF model's own next-item CE over the long-term items, when training)."""
        has_items = lengths > 0
        # An all-padding row would give an all-masked attention row (NaN); feed a dummy item there
        # and replace its output by the learned "empty" vector.
        safe = items.clone()
        safe[~has_items, 0] = 1
        hidden = self.net(safe)
        last = hidden[torch.arange(items.size(0), device=items.device), (lengths.clamp(min=1) - 1)]
        representation = torch.where(has_items.unsqueeze(1), last, self.empty)
        loss = None
        if self.training and items.size(1) > 1:
            targets = items[:, 1:]
            if bool((targets > 0).any()):
                logits = self.net.logits(hidden[:, :-1])
                loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1), ignore_index=0)
        return self.project(representation), loss
