"""``sasrec-original``: ``sasrec-sampled``'s losses (sampled softmax, or 1-negative BCE) on the SASRec
authors' transformer block (``net.AuthorsSASRecNet``) instead of RecBole's.

Why it exists: the reproduce board's SASRec+SS rows sat 6-18% below transformer_benchmark's
published numbers with every setting the anchors state matched (1 block, 64-d, 1 head, dropout
0.2, histories of 50, 256 negatives per target position, Adam 1e-3, batch 128). The remaining
named difference is the network: transformer_benchmark trains RecTools' SASRec, the authors'
block, while ``sasrec-ce`` and ``sasrec-sampled`` use RecBole's. RecTools also initialises every
matrix Xavier-normal and trains with Adam betas (0.9, 0.98); both are this method's defaults. This
method measures that difference on the same data, windows, negatives and stopping rule.

Why a method of its own: ``sasrec-sampled``'s module is part of its records' code hash, so adding
a network switch there would mark its committed reproduce rows stale. ``fit`` therefore repeats
``SASRecSampled.fit`` with the other network; training, sampling and scoring are inherited.

``loss: ce`` (added 2026-12-01) is full cross-entropy over the catalogue (padding id excluded) at
every target position, no negatives drawn: the SASRec (CE) of Xu et al. (arXiv 2408.14238), whose
released code (MTandHJ/CE-SCE-LLMRec, ``SASRec/main.py``) trains this same authors' block (Xavier
init, sqrt(d) scale, query-only LayerNorm, final LayerNorm). Their per-dataset settings (2 blocks,
dropout 0.6 on Beauty, Adam 5e-4 with beta2 0.999, batch 512) are config keys, so the reproduce
profile can run them as published (``adam_beta2`` is a scalar so a method spec can set it).
"""

from __future__ import annotations

from typing import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor

from llmrec_benchmark.engine.training import train_with_early_stopping
from llmrec_benchmark.engine.tuning import DROPOUT, LEARNING_RATE, WEIGHT_DECAY
from llmrec_benchmark.errors import BenchmarkError
from llmrec_benchmark.method import FitReport, MethodCard, RunContext, TrainView
from llmrec_methods.sasrec_original.net import AuthorsSASRecNet
from llmrec_methods.sasrec_sampled import LOSSES, NEGATIVES_PER, SASRecSampled
from llmrec_methods.sequential_data import shuffled_batches, window_batch, window_bounds

ORIGINAL_LOSSES = (*LOSSES, "ce")


class SASRecOriginal(SASRecSampled):
    card = MethodCard(
        name="sasrec-original",
        title="SASRec on the authors' transformer block, with sampled softmax, 1-negative BCE or full cross-entropy",
        fidelity="paper-spec",
        paper="Kang & McAuley, Self-Attentive Sequential Recommendation, ICDM 2018 (block); eSASRec, RecSys 2025 (SASRec+SS)",
        arxiv="1808.09781",
        authors="Wang-Cheng Kang, Julian McAuley",
        year=2018,
        defaults={"hidden_size": 64, "n_layers": 1, "n_heads": 1, "dropout": 0.2,
                  "learning_rate": 0.001, "adam_beta2": 0.98, "weight_decay": 0.0, "train_batch_size": 128,
                  "loss": "softmax", "negatives": 256, "negatives_per": "position"},
        deviations=(
            "Padded keys are masked in attention (RecTools leaves them unmasked but zeroes their inputs).",
            "Long sequences are cut into windows of max_history + 1 items, as in `sasrec-sampled`.",
        ),
        search_space={"learning_rate": LEARNING_RATE, "weight_decay": WEIGHT_DECAY, "dropout": DROPOUT},
        variants=("loss=bce,negatives=1",),
        description=(
            "`sasrec-sampled` on the SASRec authors' block (query-only LayerNorm, ReLU feed-forward of the hidden "
            "width, positions counted back from the last item, a final LayerNorm), as RecTools and "
            "transformer_benchmark implement it; `loss: ce` trains it with full cross-entropy instead, as Xu et al.'s "
            "SASRec (CE) does."
        ),
    )

    def _check_sampling(self) -> None:
        """The sampling keys ``SASRecSampled.fit`` checks inline, named the same way."""
        loss, negatives, per = self.config["loss"], self.config["negatives"], self.config["negatives_per"]
        if loss not in ORIGINAL_LOSSES:
            raise BenchmarkError(f"sasrec-original: loss must be one of {list(ORIGINAL_LOSSES)}, found {loss!r}")
        if isinstance(negatives, bool) or not isinstance(negatives, int) or negatives < 1:
            raise BenchmarkError(f"sasrec-original: negatives must be a positive integer, found {negatives!r}")
        if per not in NEGATIVES_PER:
            raise BenchmarkError(f"sasrec-original: negatives_per must be one of {list(NEGATIVES_PER)}, found {per!r}")
        if loss == "bce" and negatives != 1:
            raise BenchmarkError(f"sasrec-original: loss 'bce' takes exactly 1 negative, found {negatives}")
        beta2 = self.config["adam_beta2"]
        if not 0.0 <= beta2 < 1.0:
            raise BenchmarkError(f"sasrec-original: adam_beta2 must be in [0, 1), found {beta2!r}")

    def fit(self, data: TrainView, ctx: RunContext) -> FitReport:
        self._check_sampling()
        torch.manual_seed(ctx.seed)
        self.width, self.device, self.n_items = ctx.max_history, ctx.device, data.n_items
        self.model = AuthorsSASRecNet(n_items=data.n_items, max_len=self.width, hidden_size=self.config["hidden_size"],
                                      n_layers=self.config["n_layers"], n_heads=self.config["n_heads"],
                                      dropout=self.config["dropout"]).to(ctx.device)
        starts, ends = window_bounds(data.train, self.width)
        optimizer = torch.optim.Adam(self.model.parameters(), lr=self.config["learning_rate"],
                                     betas=(0.9, self.config["adam_beta2"]), weight_decay=self.config["weight_decay"])

        def batches(epoch: int) -> Iterator[tuple[Tensor, Tensor]]:
            generator = torch.Generator().manual_seed(ctx.seed * 1_000_003 + epoch)
            full = self.config["loss"] == "ce"
            for chunk in shuffled_batches(starts.numel(), self.config["train_batch_size"], ctx.seed * 1_000_003 + epoch):
                items, _ = window_batch(data.train, starts[chunk], ends[chunk], self.width + 1)
                drawn = items if full else self._draw(items, generator)  # ce draws nothing; the slot is unused
                yield items.to(self.device), drawn.to(self.device)

        loss = self._full_cross_entropy if self.config["loss"] == "ce" else self._sampled_loss
        report = train_with_early_stopping(self.model, optimizer, batches, loss, self.score, ctx)
        report.notes["training_samples"] = int(starts.numel())
        return report

    def _full_cross_entropy(self, batch: tuple[Tensor, Tensor]) -> Tensor:
        """Mean cross-entropy of each real target among every catalogue item; the padding id is not
        a class (Xu et al. score ``weight[1:]``)."""
        windows = batch[0]
        inputs, targets = windows[:, :-1], windows[:, 1:]
        real = targets != 0
        logits = self.model(inputs)[real] @ self.model.item_embedding.weight[1:].T
        return F.cross_entropy(logits, targets[real] - 1)
