"""GRU4Rec: RecBole's model class, trained on whole sequence windows with a loss at every step.

RecBole trains GRU4Rec on prefix-augmented samples: one sample per training target, each
re-running the GRU over up to ``max_history`` preceding items (about 96k samples and ~60 s per
epoch on ml-100k on 2 CPU cores). A GRU is causal, so one pass over a window of ``max_history +
1`` items yields the state after every prefix of it; a cross-entropy at every step then trains on
every target of the window at once, the way the paper's session-parallel mini-batches predict
each next item. Same model, same targets per epoch, about 1/40 of the compute. Targets early in a
window that continues an earlier one see fewer than ``max_history`` preceding items (the windows
overlap by one item), as in ``sasrec-ce``. ``samples: prefix`` restores RecBole's regime.
"""

from __future__ import annotations

from typing import Any, Iterator

import torch.nn.functional as F
from torch import Tensor

from llmrec_benchmark.engine.tuning import DROPOUT, LEARNING_RATE, WEIGHT_DECAY
from llmrec_benchmark.errors import BenchmarkError
from llmrec_benchmark.method import MethodCard, TrainView
from llmrec_methods.recbole_zoo import RecBoleSequential, recbole_defaults
from llmrec_methods.sequential_data import shuffled_batches, window_batch, window_bounds

SAMPLES = ("windows", "prefix")


class GRU4Rec(RecBoleSequential):
    recbole_model = "GRU4Rec"
    harness_keys = RecBoleSequential.harness_keys + ("samples",)
    card = MethodCard(
        name="gru4rec",
        title="Session-based recommendations with recurrent neural networks (RecBole model class)",
        fidelity="library-model",
        paper="Hidasi et al., ICLR 2016",
        arxiv="1511.06939",
        authors="Balázs Hidasi, Alexandros Karatzoglou, Linas Baltrunas, Domonkos Tikk",
        year=2016,
        defaults=recbole_defaults(embedding_size=64, hidden_size=128, num_layers=1, dropout_prob=0.3, loss_type="CE",
                                  samples="windows", train_batch_size=128),
        deviations=(
            "Full-softmax cross-entropy at every step of each training window (RecBole's model class, "
            "trained like `sasrec-ce`) instead of the paper's session-parallel mini-batches with sampled "
            "ranking losses; `samples: prefix` gives RecBole's prefix-augmented regime instead.",
        ),
        search_space={"learning_rate": LEARNING_RATE, "weight_decay": WEIGHT_DECAY, "dropout_prob": DROPOUT},
        description=(
            "RecBole 1.2.1's GRU4Rec trained by this suite's loop: a GRU over the item sequence whose last state scores every item."
        ),
    )

    def epoch_batches(self, data: TrainView, seed: int) -> Iterator[Any]:
        if self.config["samples"] not in SAMPLES:
            raise BenchmarkError(f"gru4rec: config 'samples' must be one of {list(SAMPLES)}, found {self.config['samples']!r}")
        if self.config["samples"] == "prefix":
            yield from super().epoch_batches(data, seed)
            return
        starts, ends = window_bounds(data.train, self.width)
        self.samples_per_epoch = int(starts.numel())
        for chunk in shuffled_batches(starts.numel(), self.config["train_batch_size"], seed):
            items, _ = window_batch(data.train, starts[chunk], ends[chunk], self.width + 1)
            yield items.to(self.device)

    def training_loss(self, batch: Any) -> Tensor:
        if self.config["samples"] == "prefix":
            return super().training_loss(batch)
        inputs, targets = batch[:, :-1], batch[:, 1:]
        model = self.model
        states, _ = model.gru_layers(model.emb_dropout(model.item_embedding(inputs)))
        real = targets != 0
        logits = model.dense(states[real]) @ model.item_embedding.weight.T
        return F.cross_entropy(logits, targets[real])
