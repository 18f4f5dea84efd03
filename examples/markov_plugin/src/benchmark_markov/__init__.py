"""Example plugin: a first-order Markov chain over item transitions, with popularity back-off.

Everything a method needs is here: a card (what the leaderboard shows and what may be switched
off), ``fit`` on the ``TrainView`` (no test data exists in it) under the run's budget, ``score``
for full ranking and for candidate boards, and the cost hooks. ``python -m benchmark validate
markov`` checks it.
"""

from __future__ import annotations

import torch
from torch import Tensor

from llmrec_benchmark.method import FitReport, Method, MethodCard, RunContext, ScoreBatch, TrainView


class FirstOrderMarkov(Method):
    card = MethodCard(
        name="markov",
        title="First-order Markov chain (example plugin)",
        fidelity="baseline",
        paper="",
        components=("popularity_backoff",),
        full_ranking=True,
        defaults={"backoff_weight": 0.1},
        description="P(next | last item) from training transition counts; items never seen after the last "
                    "item fall back to global popularity (switch: popularity_backoff).",
    )

    def fit(self, data: TrainView, ctx: RunContext) -> FitReport:
        items, offsets = data.train.items, data.train.offsets
        same_row = torch.ones(items.numel(), dtype=torch.bool)
        same_row[offsets[1:-1] - 1] = False  # the last item of a row has no successor in that row
        same_row[-1] = False
        sources, targets = items[same_row.nonzero().squeeze(1)], items[same_row.nonzero().squeeze(1) + 1]
        n = data.n_items
        counts = torch.bincount(sources * n + targets, minlength=n * n).view(n, n).float()
        self.transitions = counts / counts.sum(1, keepdim=True).clamp(min=1.0)
        popularity = torch.bincount(items, minlength=n).float()
        popularity[0] = 0.0
        self.popularity = popularity / popularity.sum()
        valid = ctx.validate(self.score)  # valid NDCG@10, reported like any trained model's
        return FitReport(epochs=1, best_epoch=0, best_valid=valid, valid_curve=[valid], stopped_by="completed")

    def score(self, batch: ScoreBatch) -> Tensor:
        last = batch.history[torch.arange(batch.history.size(0)), batch.lengths - 1]
        scores = self.transitions[last]
        if self.enabled("popularity_backoff"):
            scores = scores + self.config["backoff_weight"] * self.popularity
        scores[:, 0] = -1.0  # padding is never an item (scores stay finite, as validate requires)
        if batch.candidates is not None:
            return torch.gather(scores, 1, batch.candidates)
        return scores

    def parameter_counts(self) -> tuple[int, int]:
        return 0, int(self.transitions.numel() + self.popularity.numel())
