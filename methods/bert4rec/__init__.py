"""BERT4Rec: RecBole's model class, trained with the cloze task on windows of each user's sequence."""

from __future__ import annotations

from typing import Any, Iterator

import torch

from llmrec_benchmark.engine.tuning import DROPOUT, LEARNING_RATE, WEIGHT_DECAY
from llmrec_benchmark.method import MethodCard, TrainView
from llmrec_methods.recbole_zoo import RecBoleSequential, recbole_defaults
from llmrec_methods.sequential_data import shuffled_batches, window_batch, window_bounds


def cloze_mask(items: torch.Tensor, mask_ratio: float, mask_len: int, mask_token: int, generator: torch.Generator):
    """Mask each real item with probability ``mask_ratio`` (at least one per row), keep at most
    ``mask_len`` masked positions per row, and return RecBole's four cloze fields."""
    real = items != 0
    draw = torch.rand(items.shape, generator=generator)
    masked = (draw < mask_ratio) & real
    lengths = real.sum(1)
    none = ~masked.any(1)
    masked[none, (lengths[none] - 1).clamp(min=0)] = True
    priority = masked.float() * 2 + torch.rand(items.shape, generator=generator)
    chosen = torch.topk(priority, mask_len, dim=1).indices
    chosen_valid = torch.gather(masked, 1, chosen)
    final = torch.zeros_like(masked).scatter_(1, chosen, chosen_valid)
    return {
        "Mask_item_id_list": torch.where(final, mask_token, items),
        "Pos_item_id": torch.where(chosen_valid, torch.gather(items, 1, chosen), 0),
        "Neg_item_id": torch.zeros_like(chosen),
        "MASK_INDEX": torch.where(chosen_valid, chosen, 0),
    }


class BERT4Rec(RecBoleSequential):
    recbole_model = "BERT4Rec"
    recbole_fields = {
        "MASK_ITEM_SEQ": "Mask_item_id_list",
        "POS_ITEMS": "Pos_item_id",
        "NEG_ITEMS": "Neg_item_id",
        "MASK_INDEX": "MASK_INDEX",
    }
    card = MethodCard(
        name="bert4rec",
        title="BERT4Rec: bidirectional encoder with a cloze objective (RecBole model class)",
        fidelity="library-model",
        paper="Sun et al., CIKM 2019",
        arxiv="1904.06690",
        authors="Fei Sun, Jun Liu, Jian Wu, Changhua Pei, Xiao Lin, Wenwu Ou, Peng Jiang",
        year=2019,
        defaults=recbole_defaults(
            n_layers=2, n_heads=2, hidden_size=64, inner_size=256, hidden_dropout_prob=0.2,
            attn_dropout_prob=0.2, hidden_act="gelu", layer_norm_eps=1e-12, initializer_range=0.02,
            mask_ratio=0.2, loss_type="CE", train_batch_size=256,
        ),
        deviations=(
            "Cloze samples are windows of each user's training sequence (as in the paper), not RecBole's "
            "prefix-augmented samples; masking follows RecBole's MaskItemSequence (at most "
            "int(mask_ratio * L) masked positions; a masked first position carries no loss, as in RecBole).",
            "RecBole 1.2.1 never applies its ft_ratio 'mask last item' samples (it tests hasattr on the "
            "Config object); neither do we.",
        ),
        search_space={"learning_rate": LEARNING_RATE, "weight_decay": WEIGHT_DECAY, "hidden_dropout_prob": DROPOUT, "attn_dropout_prob": DROPOUT, "mask_ratio": ("float", 0.1, 0.5)},
        description=(
            "RecBole 1.2.1's BERT4Rec trained by this suite's loop: a bidirectional Transformer over the history, trained to recover masked items (cloze); scores the next item from a mask appended to the history."
        ),
    )

    def epoch_batches(self, data: TrainView, seed: int) -> Iterator[Any]:
        from recbole.data.interaction import Interaction

        starts, ends = window_bounds(data.train, self.width - 1)
        self.samples_per_epoch = int(starts.numel())
        mask_len = max(1, int(self.config["mask_ratio"] * self.width))
        generator = torch.Generator().manual_seed(seed)
        for chunk in shuffled_batches(starts.numel(), self.config["train_batch_size"], seed):
            items, lengths = window_batch(data.train, starts[chunk], ends[chunk], self.width)
            fields = cloze_mask(items, self.config["mask_ratio"], mask_len, data.n_items, generator)
            yield Interaction({"item_id_list": items, "item_length": lengths, **fields}).to(self.device)
