"""Random baseline: the chance level every method is compared against on every board.

Scores are drawn from a generator seeded by (run seed, user id), so a user's scores do not depend
on which other users share a scoring batch, and a fixed seed gives the same numbers. On a 1 + N
candidate board its expected HR@k is k / (N + 1); a method that does not beat this row has learnt
nothing a reader can use.
"""

from __future__ import annotations

import torch
from torch import Tensor

from llmrec_benchmark.method import FitReport, Method, MethodCard, RunContext, ScoreBatch, TrainView

_USER_STRIDE = 1_000_003


class RandomScores(Method):
    card = MethodCard(
        name="random",
        title="Uniformly random ranking",
        fidelity="baseline",
        description="Scores every item with a seeded uniform random number per (seed, user, item): the chance "
        "level of each board, measured on the same users and candidate files as every method.",
    )

    def fit(self, data: TrainView, ctx: RunContext) -> FitReport:
        self.n_items, self.seed = data.n_items, ctx.seed
        return FitReport(epochs=0, stopped_by="completed")

    def score(self, batch: ScoreBatch) -> Tensor:
        rows = []
        for user in batch.users.tolist():
            generator = torch.Generator().manual_seed(self.seed * _USER_STRIDE + int(user))
            rows.append(torch.rand(self.n_items, generator=generator))
        scores = torch.stack(rows)
        return scores if batch.candidates is None else torch.gather(scores, 1, batch.candidates)
