"""The model DARec and MixRec share: a causal LM reading the history as item spans, with an
item-level head at every item boundary (coarse-grained adaption), optional block-causal context
masking and an optional prepended collaborative token. The two methods differ only in how they
choose the adapter (``LLMItemRecMethod.choose_adapter``).

Training: each user's most recent window of ``llm_history + 1`` training items once per epoch;
the state at each item's boundary predicts the next item by full-softmax cross-entropy over all
items. Scoring: the state at the last boundary, dot product with the item table, so these methods
rank the whole catalogue and appear on every board.
"""

from __future__ import annotations

import abc
import copy
import logging
import math
import time
from typing import Any, Callable, Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from benchmark.errors import BenchmarkError
from benchmark.evaluation import EvalTask, evaluate
from benchmark.method import FitReport, Method, RunContext, ScoreBatch, module_parameter_counts
from benchmark.metrics import PRIMARY_METRIC, summarize
from benchmark.split import TrainView
from benchmark.training import train_with_early_stopping
from methods.llm.adapters import LoraArch, MoeArch, apply_lora, apply_moe_lora, load_balance_loss
from methods.llm.backbone import backbone_summary, bf16_autocast, load_backbone
from methods.llm.collab import CollabEncoder, split_history
from methods.llm.prompts import ItemTokenTable, additive_mask, attention_allowed
from methods.sequential_data import shuffled_batches

log = logging.getLogger(__name__)

LLM_DEFAULTS: dict[str, Any] = {
    "backbone": "tiny",  # see methods.llm.backbone
    "backbone_layers": None,  # keep only the first k layers (CPU budgets)
    "llm_history": 10,  # items the LLM reads as text
    "item_max_tokens": 24,  # tokens per item text before its boundary token
    "train_batch_size": 16,
    "score_batch_size": 64,
    "learning_rate": 1e-3,
    "cf_loss_weight": 1.0,  # lambda of the collaborative model's own CE loss
    "proxy_steps": 20,  # training steps of one search trial
    "proxy_users": 128,  # users whose valid NDCG@10 is a search trial's objective
    "search_time_fraction": 0.5,  # at most this share of the wall-clock budget goes to the search
}
Arch = LoraArch | MoeArch


class ItemLevelLM(nn.Module):
    """Backbone decoder + item table (+ collaborative encoder). Only adapters, the item table and
    the collaborative parts train; the backbone's own weights stay frozen."""

    def __init__(self, causal_lm: nn.Module, table: ItemTokenTable, n_items: int, block_causal: bool,
                 collab: CollabEncoder | None):
        super().__init__()
        self.decoder = causal_lm.model  # the decoder stack (embeddings, layers, final norm), no LM head
        self.table = table
        self.block_causal = block_causal
        self.collab = collab
        with torch.no_grad():
            embeddings = self.decoder.embed_tokens.weight.float()
            text = table.text_token_mask()
            summed = (embeddings[table.tokens] * text.unsqueeze(-1)).sum(1)
            mean = summed / text.sum(1, keepdim=True).clamp(min=1)
        self.item_embedding = nn.Parameter(mean[:n_items].clone())
        self.logit_scale = 1.0 / math.sqrt(self.item_embedding.size(1))
        self.tokens_seen = 0

    @property
    def device(self) -> torch.device:
        return self.item_embedding.device

    def boundary_states(self, recent: Tensor, long_items: Tensor, long_lengths: Tensor) -> tuple[Tensor, Tensor, Tensor | None]:
        """(states [B, H, D] at each item boundary, boundary positions [B, H], CF loss or None)."""
        tokens = self.table.build(recent).to(self.device)
        embeds = self.decoder.embed_tokens(tokens.input_ids)
        spans, boundaries, cf_loss = tokens.spans, tokens.boundaries, None
        if self.collab is not None:
            collab_token, cf_loss = self.collab(long_items.to(self.device), long_lengths.to(self.device))
            embeds = torch.cat([collab_token.unsqueeze(1).to(embeds.dtype), embeds], 1)
            spans = torch.cat([torch.zeros_like(spans[:, :1]), spans], 1)
            boundaries = torch.where(boundaries >= 0, boundaries + 1, -1)
        allowed = attention_allowed(spans, self.block_causal)
        mask = additive_mask(allowed, embeds.dtype)
        positions = torch.arange(spans.size(1), device=self.device).expand(spans.size(0), -1)
        with bf16_autocast(self.device):
            hidden = self.decoder(inputs_embeds=embeds, attention_mask=mask, position_ids=positions).last_hidden_state
        self.tokens_seen += int((spans >= 0).sum())
        index = boundaries.clamp(min=0).unsqueeze(-1).expand(-1, -1, hidden.size(-1))
        return torch.gather(hidden.float(), 1, index), boundaries, cf_loss

    def item_logits(self, states: Tensor) -> Tensor:
        """Scaled dot product with the item table. The 1/sqrt(d) factor matters: a pretrained LM's
        final-norm states are large (norm ~46 for SmolLM2), and unscaled logits blow up within an
        epoch (training loss rose above the uniform ln(n_items) in a probe)."""
        return (states @ self.item_embedding.T) * self.logit_scale


def trainable_parameters(module: nn.Module) -> list[nn.Parameter]:
    return [p for p in module.parameters() if p.requires_grad]


class LLMItemRecMethod(Method):
    """Shared fit/score of DARec and MixRec; subclasses choose the adapter architecture."""

    @abc.abstractmethod
    def choose_adapter(self, fit: "FitSession") -> tuple[Arch, dict[str, Any]]:
        """The adapter architecture for the final model and a report of how it was chosen."""

    def fit(self, data: TrainView, ctx: RunContext) -> FitReport:
        if self.config["llm_history"] >= ctx.max_history:
            raise BenchmarkError(
                f"{self.card.name}: llm_history ({self.config['llm_history']}) must be below the profile's "
                f"max_history ({ctx.max_history})"
            )
        session = FitSession(self, data, ctx)
        self.long_width = session.long_width
        started = time.monotonic()
        arch, search = self.choose_adapter(session)
        search["seconds"] = round(time.monotonic() - started, 3)
        self.arch = arch
        self.model = session.build(arch)
        optimizer = torch.optim.AdamW(trainable_parameters(self.model), lr=self.config["learning_rate"], weight_decay=0.0)
        estimate = session.validation_estimate(self.model)
        report = train_with_early_stopping(
            self.model, optimizer, session.epoch_batches, session.loss_fn(self.model), self.score, ctx, estimate
        )
        report.notes.update({
            "adapter": arch.as_dict(), "search": search, "backbone": backbone_summary(session.backbone),
            "components": {c: self.enabled(c) for c in self.card.components},
            "training_users": int(session.rows.numel()),
        })
        self._tokens = session.tokens_in_search
        return report

    @torch.no_grad()
    def score(self, batch: ScoreBatch) -> Tensor:
        return score_with(self.model, batch, self.config, self.long_width)

    def parameter_counts(self) -> tuple[int, int]:
        return module_parameter_counts(self.model)

    def tokens_processed(self) -> int | None:
        return self._tokens + self.model.tokens_seen if hasattr(self, "model") else None


@torch.no_grad()
def score_with(model: ItemLevelLM, batch: ScoreBatch, config: dict, long_width: int) -> Tensor:
    model.eval()
    out = []
    step = config["score_batch_size"]
    for start in range(0, batch.history.size(0), step):
        history, lengths = batch.history[start : start + step], batch.lengths[start : start + step]
        recent, recent_lengths, long_items, long_lengths = split_history(history, lengths, config["llm_history"], long_width)
        states, _, _ = model.boundary_states(recent, long_items, long_lengths)
        last = states[torch.arange(states.size(0)), (recent_lengths - 1).clamp(min=0).to(states.device)]
        out.append(model.item_logits(last).float().cpu())
    scores = torch.cat(out)
    return scores if batch.candidates is None else torch.gather(scores, 1, batch.candidates)


class FitSession:
    """One fit's shared state: the pristine backbone, token table, training rows and budgets."""

    def __init__(self, method: LLMItemRecMethod, data: TrainView, ctx: RunContext):
        self.method, self.data, self.ctx, self.config = method, data, ctx, method.config
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        self.backbone = load_backbone(self.config["backbone"], ctx.cache_dir / "models", self.config["backbone_layers"])
        if ctx.device.type == "cuda":
            self.backbone.model.to(torch.bfloat16)
        self.table = ItemTokenTable(data.item_text, self.backbone.tokenizer, self.config["item_max_tokens"])
        self.window = self.config["llm_history"] + 1
        self.long_width = ctx.max_history - self.config["llm_history"]  # items the CF token summarises
        self.rows = torch.nonzero(data.train.lengths >= 2).flatten()
        if self.rows.numel() == 0:
            raise BenchmarkError(f"{method.card.name}: no user has two training items to learn from")
        self.tokens_in_search = 0

    @property
    def n_layers(self) -> int:
        return self.backbone.n_layers

    def build(self, arch: Arch) -> ItemLevelLM:
        """A fresh model with ``arch`` adapters; seeded, so the same arch gives the same init."""
        torch.manual_seed(self.ctx.seed)
        model = copy.deepcopy(self.backbone.model)
        moe_modules = apply_moe_lora(model, arch) if isinstance(arch, MoeArch) else []
        if isinstance(arch, LoraArch):
            apply_lora(model, arch)
        collab = None
        if self.method.enabled("collab_injection"):
            collab = CollabEncoder(self.data.n_items, self.long_width, self.backbone.hidden_size)
        lm = ItemLevelLM(model, self.table, self.data.n_items, self.method.enabled("context_masking"), collab)
        lm.moe_modules = moe_modules
        return lm.to(self.ctx.device)

    def epoch_batches(self, epoch: int) -> Iterator[Tensor]:
        seed = self.ctx.seed * 1_000_003 + epoch
        for chunk in shuffled_batches(self.rows.numel(), self.config["train_batch_size"], seed):
            yield self.rows[chunk]

    def loss_fn(self, model: ItemLevelLM) -> Callable[[Tensor], Tensor]:
        weight = self.config["cf_loss_weight"]

        def loss(rows: Tensor) -> Tensor:
            history, lengths = self.data.train.last(rows, self.ctx.max_history + 1)
            window, window_lengths, long_items, long_lengths = split_history(history, lengths, self.window, self.long_width)
            inputs = torch.where(torch.arange(self.window - 1) < (window_lengths - 1).unsqueeze(1), window[:, :-1], 0)
            targets = window[:, 1:].to(model.device)
            states, _, cf_loss = model.boundary_states(inputs, long_items, long_lengths)
            logits = model.item_logits(states)
            total = F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1), ignore_index=0)
            if cf_loss is not None:
                total = total + weight * cf_loss
            balance = load_balance_loss(model.moe_modules)
            return total if balance is None else total + balance

        return loss

    def proxy_objective(self, arch: Arch, steps: int, users: Tensor) -> float:
        """Valid NDCG@10 on ``users`` after ``steps`` training steps of a fresh model with ``arch``."""
        model = self.build(arch)
        optimizer = torch.optim.AdamW(trainable_parameters(model), lr=self.config["learning_rate"], weight_decay=0.0)
        loss_fn = self.loss_fn(model)
        model.train()
        batches = self._cycle_batches()
        for _ in range(steps):
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(next(batches))
            loss.backward()
            optimizer.step()
        task = EvalTask(users=self.data.users, history=self.data.train, targets=self.data.valid_targets, rows=users)
        ranks = evaluate(lambda b: score_with(model, b, self.config, self.long_width), task,
                         self.data.n_items, self.ctx.max_history)
        self.tokens_in_search += model.tokens_seen
        value = summarize(ranks)[PRIMARY_METRIC]
        return 0.0 if math.isnan(value) else value

    def validation_estimate(self, model: ItemLevelLM, probe_users: int = 32) -> float:
        """Seconds one validation pass will take, from timing the scoring of a few users, so the
        training loop can stop in time for it (an LLM validation pass takes many seconds on CPU)."""
        rows = self.rows[:probe_users]
        history, lengths = self.data.train.last(rows, self.ctx.max_history)
        tokens_before = model.tokens_seen
        started = time.monotonic()
        score_with(model, ScoreBatch(users=self.data.users[rows], history=history, lengths=lengths),
                   self.config, self.long_width)
        model.tokens_seen = tokens_before  # a timing probe, not part of the run's work
        return (time.monotonic() - started) / rows.numel() * self.ctx.validation_users

    def _cycle_batches(self) -> Iterator[Tensor]:
        epoch = 0
        while True:
            yield from self.epoch_batches(10_000 + epoch)
            epoch += 1

    def proxy_users(self) -> Tensor:
        count = min(self.config["proxy_users"], self.rows.numel())
        generator = torch.Generator().manual_seed(self.ctx.seed)
        return torch.sort(self.rows[torch.randperm(self.rows.numel(), generator=generator)[:count]]).values

    def search_deadline(self) -> float:
        return time.monotonic() + self.config["search_time_fraction"] * self.ctx.time_left()


SHARED_DECISIONS = (
    "Reconstructed from the abstract (arXiv 2408.07427); no public code and no full text were available.",
    "Backbone: the profile's causal LM (SmolLM2-135M-Instruct in `quick`, optionally its first k layers), "
    "not the paper's LLM; its own weights stay frozen.",
    "Prompt: a fixed instruction, then the last `llm_history` items, one per line; each item's text is "
    "truncated to `item_max_tokens` tokens and closed by a newline token that marks the item boundary.",
    "Coarse-grained adaption (always on): the boundary state dot an item table initialised from the mean "
    "of each item's text-token embeddings; full-softmax CE of the next item at every boundary.",
    "Training: each user's most recent window of llm_history + 1 training items once per epoch "
    "(older items reach the model only through the collaborative token); AdamW, one learning rate.",
    "context_masking: block-causal 4D mask (bidirectional inside an item span, causal across spans and "
    "in the instruction). Off: plain causal mask.",
    "collab_injection: a 2-layer SASRec (hidden 64) over the items before the text window (at most "
    "max_history - llm_history of them), its last state through a 2-layer MLP, prepended as one token; "
    "its own CE loss is added with weight cf_loss_weight. Using only older items keeps the token free of "
    "the targets the text window is trained on. Off: no token, no CF model.",
    "Search budget: trials from budget.tuning_trials, proxy_steps steps each, objective valid NDCG@10 on "
    "proxy_users fixed users; at most search_time_fraction of the wall clock; the search counts against "
    "the run's wall-clock budget, and the final model trains in what is left.",
    "CUDA: frozen backbone in bf16 with bf16 autocast; adapters, item table and CF model in fp32. CPU: fp32.",
)
