"""LLM-TRSR's yes/no model reading the LM only at the answer columns.

With the loss on the answer token (the default), LLM-TRSR reads one final hidden state per
candidate. ``methods.llm.read_forward`` computes the last layer only there (the shared prompt's
keys and values still come from every column), and splits the other layers' attention at the
shortest prompt, with the same values and gradients as HF's forward (``tests/test_read_forward.py``).
``loss_on: full`` reads every column, so it keeps the full forward.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from llmrec_methods.llm.read_forward import hidden_at
from llmrec_methods.llm.yesno import PackedBatch, YesNoLM


class AnswerReadYesNoLM(YesNoLM):
    def answer_states(self, batch: PackedBatch) -> Tensor:
        """``[B, C, H]`` final hidden states at each candidate's answer column."""
        batch = batch.to(self.device)
        self.tokens_seen += int((batch.spans >= 0).sum())
        return hidden_at(self.lm, batch, self.lm.get_input_embeddings()(batch.input_ids), batch.answer_at)

    def answer_scores(self, batch: PackedBatch) -> Tensor:
        logits = self.answer_states(batch) @ self.head()[[self.yes_id, self.no_id]].float().T
        return logits[..., 0] - logits[..., 1]

    def loss(self, batch: PackedBatch, labels: Tensor, loss_on: str, separator: int) -> Tensor:
        if loss_on != "answer":
            return super().loss(batch, labels, loss_on, separator)
        answers = torch.where(labels.bool(), self.yes_id, self.no_id).to(self.device)
        states = self.answer_states(batch)
        return F.cross_entropy((states @ self.head().float().T).flatten(0, 1), answers.flatten())
