"""Methods that must be rejected by ``validate``, each for one reason (tests/test_validate.py)."""

from __future__ import annotations

import gc
import os
from pathlib import Path

import torch
from torch import Tensor

from llmrec_benchmark.data.split import SplitData, TrainView
from llmrec_benchmark.errors import BenchmarkError
from llmrec_benchmark.method import FitReport, Method, MethodCard, RunContext, ScoreBatch


class _ItemBias(Method):
    """Candidate scorer ``-item_id / n`` plus whatever a subclass adds; deterministic and cheap."""

    def fit(self, data: TrainView, ctx: RunContext) -> FitReport:
        self.n_items = data.n_items
        return FitReport(epochs=1)

    def score(self, batch: ScoreBatch) -> Tensor:
        return -batch.candidates.float() / self.n_items


class LeakyOracle(_ItemBias):
    """Finds the harness's dataset among the interpreter's objects and scores the test target first."""

    card = MethodCard(name="leaky", title="Leaky oracle", fidelity="baseline", full_ranking=False,
                      description="reads test targets behind the harness's back")

    def fit(self, data: TrainView, ctx: RunContext) -> FitReport:
        report = super().fit(data, ctx)
        self.targets = {}
        for obj in gc.get_objects():
            if isinstance(obj, SplitData) and obj.dataset == data.dataset:
                self.targets = dict(zip(obj.users.tolist(), obj.test_targets.tolist()))
        return report

    def score(self, batch: ScoreBatch) -> Tensor:
        targets = torch.tensor([self.targets.get(u, 0) for u in batch.users.tolist()])
        return super().score(batch) + (batch.candidates == targets.unsqueeze(1)).float()


class DeafSwitch(_ItemBias):
    """Declares a component and never looks at it."""

    card = MethodCard(name="deaf", title="Deaf switch", fidelity="baseline", full_ranking=False,
                      components=("recency",), description="ignores its ablation switch")


class ColumnBiased(_ItemBias):
    """Prefers the first candidate columns, whatever items sit there."""

    card = MethodCard(name="column", title="Column biased", fidelity="baseline", full_ranking=False,
                      description="scores by candidate position")

    def score(self, batch: ScoreBatch) -> Tensor:
        return -torch.arange(batch.candidates.size(1), dtype=torch.float).expand(batch.candidates.shape).clone()


class IncompleteCard(_ItemBias):
    """Claims to follow a paper but names none, and has no description."""

    card = MethodCard(name="incomplete", title="Incomplete card", fidelity="paper-spec", full_ranking=False)


class Wandering(_ItemBias):
    """A different random item bias on every fit (unseeded randomness)."""

    card = MethodCard(name="wandering", title="Wandering", fidelity="baseline", full_ranking=False,
                      description="unseeded noise")

    def fit(self, data: TrainView, ctx: RunContext) -> FitReport:
        unseeded = torch.Generator().manual_seed(int.from_bytes(os.urandom(4), "little"))
        self.noise = torch.rand(data.n_items, generator=unseeded)
        return super().fit(data, ctx)

    def score(self, batch: ScoreBatch) -> Tensor:
        return super().score(batch) + self.noise[batch.candidates]


class Crashing(_ItemBias):
    """Its fit raises an arbitrary exception: validate must report it, not crash."""

    card = MethodCard(name="crashing", title="Crashing", fidelity="baseline", full_ranking=False,
                      description="raises inside fit")

    def fit(self, data: TrainView, ctx: RunContext) -> FitReport:
        raise RuntimeError("numerical trouble in layer 3")


BAD_METHODS = {"leaky": LeakyOracle, "deaf": DeafSwitch, "column": ColumnBiased,
               "incomplete": IncompleteCard, "wandering": Wandering, "crashing": Crashing}


class Flaky(_ItemBias):
    """Fails its first fit in a fresh folder (``FLAKY_MARKER``), then works: a transient failure."""

    card = MethodCard(name="flaky", title="Flaky", fidelity="baseline", full_ranking=False, description="fails once")

    def fit(self, data: TrainView, ctx: RunContext) -> FitReport:
        marker = Path(os.environ["FLAKY_MARKER"]) / f"seed-{ctx.seed}"
        if not marker.exists():
            marker.touch()
            raise RuntimeError("transient failure (first attempt)")
        return super().fit(data, ctx)


class Broken(_ItemBias):
    card = MethodCard(name="broken", title="Broken", fidelity="baseline", full_ranking=False, description="always fails")

    def fit(self, data: TrainView, ctx: RunContext) -> FitReport:
        raise RuntimeError("this method always fails")


class BadInput(_ItemBias):
    card = MethodCard(name="badinput", title="Bad input", fidelity="baseline", full_ranking=False, description="bad input")

    def fit(self, data: TrainView, ctx: RunContext) -> FitReport:
        raise BenchmarkError("this dataset cannot serve this method (a stand-in for bad input)")


FLAKY_METHODS = {"flaky": Flaky, "broken": Broken, "badinput": BadInput}
