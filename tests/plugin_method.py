"""A plugin-style method used by the tests: it records what the harness hands it."""

from __future__ import annotations

import hashlib

import torch

from llmrec_benchmark.method import FitReport, Method, MethodCard, RunContext, ScoreBatch, TrainView

SEEN: list[dict] = []


def digest(*tensors: torch.Tensor) -> str:
    h = hashlib.sha256()
    for t in tensors:
        h.update(t.numpy().tobytes())
    return h.hexdigest()


class Spy(Method):
    """Candidate-only, scores by item id (deterministic and a little better than constant)."""

    card = MethodCard(
        name="spy", title="Spy (test plugin)", fidelity="baseline", full_ranking=False,
        components=("item_bias",), defaults={"label": "a"},
    )

    def fit(self, data: TrainView, ctx: RunContext) -> FitReport:
        SEEN.append({
            "label": self.config["label"], "type": type(data).__name__,
            "view": digest(data.train.items, data.train.offsets, data.valid_targets),
            "attributes": sorted(vars(data)), "candidates": [],
        })
        return FitReport()

    def score(self, batch: ScoreBatch) -> torch.Tensor:
        SEEN[-1]["candidates"].append(digest(batch.candidates))
        base = batch.candidates.float()
        return -base if self.enabled("item_bias") else torch.zeros_like(base)
