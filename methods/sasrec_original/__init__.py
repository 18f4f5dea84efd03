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
"""

from __future__ import annotations

from typing import Iterator

import torch
from torch import Tensor

from llmrec_benchmark.engine.training import train_with_early_stopping
from llmrec_benchmark.engine.tuning import DROPOUT, LEARNING_RATE, WEIGHT_DECAY
from llmrec_benchmark.errors import BenchmarkError
from llmrec_benchmark.method import FitReport, MethodCard, RunContext, TrainView
from llmrec_methods.sasrec_original.net import AuthorsSASRecNet
from llmrec_methods.sasrec_sampled import LOSSES, NEGATIVES_PER, SASRecSampled
from llmrec_methods.sequential_data import shuffled_batches, window_batch, window_bounds


class SASRecOriginal(SASRecSampled):
    card = MethodCard(
        name="sasrec-original",
        title="SASRec on the authors' transformer block, with sampled softmax or 1-negative BCE",
        fidelity="paper-spec",
        paper="Kang & McAuley, Self-Attentive Sequential Recommendation, ICDM 2018 (block); eSASRec, RecSys 2025 (SASRec+SS)",
        arxiv="1808.09781",
        authors="Wang-Cheng Kang, Julian McAuley",
        year=2018,
        defaults={"hidden_size": 64, "n_layers": 1, "n_heads": 1, "dropout": 0.2,
                  "learning_rate": 0.001, "adam_betas": [0.9, 0.98], "weight_decay": 0.0, "train_batch_size": 128,
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
            "transformer_benchmark implement it."
        ),
    )

    def _check_sampling(self) -> None:
        """The sampling keys ``SASRecSampled.fit`` checks inline, named the same way."""
        loss, negatives, per = self.config["loss"], self.config["negatives"], self.config["negatives_per"]
        if loss not in LOSSES:
            raise BenchmarkError(f"sasrec-original: loss must be one of {list(LOSSES)}, found {loss!r}")
        if isinstance(negatives, bool) or not isinstance(negatives, int) or negatives < 1:
            raise BenchmarkError(f"sasrec-original: negatives must be a positive integer, found {negatives!r}")
        if per not in NEGATIVES_PER:
            raise BenchmarkError(f"sasrec-original: negatives_per must be one of {list(NEGATIVES_PER)}, found {per!r}")
        if loss == "bce" and negatives != 1:
            raise BenchmarkError(f"sasrec-original: loss 'bce' takes exactly 1 negative, found {negatives}")

    def fit(self, data: TrainView, ctx: RunContext) -> FitReport:
        self._check_sampling()
        torch.manual_seed(ctx.seed)
        self.width, self.device, self.n_items = ctx.max_history, ctx.device, data.n_items
        self.model = AuthorsSASRecNet(n_items=data.n_items, max_len=self.width, hidden_size=self.config["hidden_size"],
                                      n_layers=self.config["n_layers"], n_heads=self.config["n_heads"],
                                      dropout=self.config["dropout"]).to(ctx.device)
        starts, ends = window_bounds(data.train, self.width)
        optimizer = torch.optim.Adam(self.model.parameters(), lr=self.config["learning_rate"],
                                     betas=tuple(self.config["adam_betas"]), weight_decay=self.config["weight_decay"])

        def batches(epoch: int) -> Iterator[tuple[Tensor, Tensor]]:
            generator = torch.Generator().manual_seed(ctx.seed * 1_000_003 + epoch)
            for chunk in shuffled_batches(starts.numel(), self.config["train_batch_size"], ctx.seed * 1_000_003 + epoch):
                items, _ = window_batch(data.train, starts[chunk], ends[chunk], self.width + 1)
                yield items.to(self.device), self._draw(items, generator).to(self.device)

        report = train_with_early_stopping(self.model, optimizer, batches, self._sampled_loss, self.score, ctx)
        report.notes["training_samples"] = int(starts.numel())
        return report
