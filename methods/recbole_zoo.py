"""Shared adapter for RecBole 1.2.1 sequential model classes trained by the suite's own loop.

The model class is RecBole's, unchanged (built from a RecBole ``Config`` holding our
hyper-parameters); data, batching, optimisation, early stopping and evaluation are the harness's.
Batches are RecBole ``Interaction`` objects with the fields the model reads (item sequence,
length, target, user), padded to ``MAX_ITEM_LIST_LENGTH`` exactly as RecBole pads them.
"""

from __future__ import annotations

from typing import Any, ClassVar, Iterator

import torch
from torch import Tensor

from llmrec_benchmark.data.recbole_compat import recbole_config
from llmrec_benchmark.engine.training import train_with_early_stopping
from llmrec_benchmark.method import FitReport, Method, RunContext, ScoreBatch, TrainView, module_parameter_counts
from llmrec_methods.sequential_data import most_recent, prefix_batch, prefix_targets, shuffled_batches



class _DatasetShape:
    """The only part of a RecBole Dataset that the model constructors read: field sizes."""

    def __init__(self, n_users: int, n_items: int):
        self.user_num, self.item_num = n_users, n_items

    def num(self, field: str) -> int:
        return {"user_id": self.user_num, "item_id": self.item_num}[field]


class RecBoleSequential(Method):
    """Base for methods that wrap a RecBole sequential model class; subclasses set the name."""

    recbole_model: ClassVar[str]
    harness_keys: ClassVar[tuple[str, ...]] = ("learning_rate", "weight_decay", "train_batch_size")
    recbole_fields: ClassVar[dict[str, str]] = {}  # extra field names a model reads from its Config

    def sequence_length(self, ctx: RunContext) -> int:
        return ctx.max_history

    def _build(self, data: TrainView, ctx: RunContext) -> torch.nn.Module:
        from recbole.utils import get_model

        model_config = {k: v for k, v in self.config.items() if k not in self.harness_keys}
        config_dict = {
            **model_config,
            **self.recbole_fields,
            "USER_ID_FIELD": "user_id",
            "ITEM_ID_FIELD": "item_id",
            "MAX_ITEM_LIST_LENGTH": self.sequence_length(ctx),
            "train_neg_sample_args": None,
            "device": str(ctx.device),
            "use_gpu": ctx.device.type == "cuda",
            "show_progress": False,
            "seed": ctx.seed,
        }
        config = recbole_config(self.recbole_model, "benchmark", config_dict)
        model_class = get_model(self.recbole_model)
        shape = _DatasetShape(data.n_users, data.n_items)
        torch.manual_seed(ctx.seed)
        return model_class(config, shape).to(ctx.device)

    def fit(self, data: TrainView, ctx: RunContext) -> FitReport:
        self.model = self._build(data, ctx)
        self.device = ctx.device
        self.width = self.sequence_length(ctx)
        optimizer = torch.optim.Adam(
            self.model.parameters(), lr=self.config["learning_rate"], weight_decay=self.config["weight_decay"]
        )
        report = train_with_early_stopping(
            self.model,
            optimizer,
            lambda epoch: self.epoch_batches(data, ctx.seed * 1_000_003 + epoch),
            self.training_loss,
            self.score,
            ctx,
        )
        report.notes["training_samples"] = self.samples_per_epoch
        return report

    def training_loss(self, batch: Any) -> Tensor:
        """RecBole's own loss for the model class (a subclass may train another regime)."""
        return self.model.calculate_loss(batch)

    def epoch_batches(self, data: TrainView, seed: int) -> Iterator[Any]:
        """RecBole-style prefix augmentation: one sample per training target."""
        from recbole.data.interaction import Interaction

        targets = prefix_targets(data.train)
        self.samples_per_epoch = int(targets.numel())
        rows_of = torch.searchsorted(data.train.offsets, targets, right=True) - 1
        for chunk in shuffled_batches(targets.numel(), self.config["train_batch_size"], seed):
            context, lengths, items = prefix_batch(data.train, targets[chunk], self.width, self.width)
            yield Interaction(
                {
                    "item_id_list": context,
                    "item_length": lengths,
                    "item_id": items,
                    "user_id": data.users[rows_of[chunk]],
                }
            ).to(self.device)

    def _interaction(self, batch: ScoreBatch):
        from recbole.data.interaction import Interaction

        history, lengths = most_recent(batch.history, batch.lengths, self.width)
        return Interaction({"item_id_list": history, "item_length": lengths, "user_id": batch.users}).to(self.device)

    @torch.no_grad()
    def score(self, batch: ScoreBatch) -> Tensor:
        scores = self.model.full_sort_predict(self._interaction(batch)).view(batch.users.numel(), -1)
        scores = scores.float().cpu()
        return scores if batch.candidates is None else torch.gather(scores, 1, batch.candidates)

    def parameter_counts(self) -> tuple[int, int]:
        return module_parameter_counts(self.model)


def recbole_defaults(**model_params: Any) -> dict[str, Any]:
    """RecBole's model defaults plus the training keys of its overall.yaml."""
    return {"learning_rate": 0.001, "weight_decay": 0.0, "train_batch_size": 2048, **model_params}
