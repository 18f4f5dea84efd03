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
import hashlib
import json
import logging
import math
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from llmrec_benchmark.engine.training import train_with_early_stopping
from llmrec_benchmark.errors import BenchmarkError
from llmrec_benchmark.evaluation.metrics import PRIMARY_METRIC, summarize
from llmrec_benchmark.evaluation.protocols import EvalTask, evaluate
from llmrec_benchmark.method import FitReport, Method, RunContext, ScoreBatch, TrainView, module_parameter_counts
from llmrec_methods.llm.adapters import LoraArch, MoeArch, apply_lora, apply_moe_lora, arch_from_dict, load_balance_loss
from llmrec_methods.llm.backbone import backbone_summary, cast_frozen, frozen_dtype, load_backbone
from llmrec_methods.llm.cache import ArtifactCache, content_key
from llmrec_methods.llm.collab import CollabEncoder, split_history
from llmrec_methods.llm.prompts import ItemTokenTable, attention_allowed
from llmrec_methods.llm.decoder_reads import decoder_hidden_at
from llmrec_methods.llm.search import tpe_search
from llmrec_methods.sequential_data import sequences_digest, shuffled_batches

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
    "search_seed": 0,  # the search is one artifact per dataset, shared by every seed and variant
    "precision": "fp32",  # frozen backbone weights and activations on the CPU: fp32 or bf16 (CUDA: always bf16)
}
Arch = LoraArch | MoeArch
SEARCH_VERSION = 3  # 2-3: trials train and score through the read-only forward (bf16 rounding differs from HF's forward)


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

    def boundary_states(self, recent: Tensor, long_items: Tensor, long_lengths: Tensor,
                        slots: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor | None]:
        """(states [B, S, D] at the boundaries of history ``slots`` [B, S] (default: every slot),
        boundary positions [B, H], CF loss or None).

        Only those states are read, so the last layer runs at their columns only
        (``methods.llm.decoder_reads``; the same values and gradients as HF's forward): training
        reads every boundary, scoring only each row's last one."""
        tokens = self.table.build(recent).to(self.device)
        embeds = self.decoder.embed_tokens(tokens.input_ids)
        spans, boundaries, cf_loss = tokens.spans, tokens.boundaries, None
        if self.collab is not None:
            collab_token, cf_loss = self.collab(long_items.to(self.device), long_lengths.to(self.device))
            embeds = torch.cat([collab_token.unsqueeze(1).to(embeds.dtype), embeds], 1)
            spans = torch.cat([torch.zeros_like(spans[:, :1]), spans], 1)
            boundaries = torch.where(boundaries >= 0, boundaries + 1, -1)
        allowed = attention_allowed(spans, self.block_causal)
        positions = torch.arange(spans.size(1), device=self.device).expand(spans.size(0), -1)
        self.tokens_seen += int((spans >= 0).sum())
        columns = boundaries.clamp(min=0)
        if slots is not None:
            columns = torch.gather(columns, 1, slots.to(self.device))
        states = decoder_hidden_at(self.decoder, embeds, positions, allowed, columns)
        return states, boundaries, cf_loss

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
        arch, search = self.choose_adapter(session)
        ctx.deadline += session.artifact_seconds  # a one-off cached artifact: not part of the training budget
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
        report.artifact_seconds = session.artifact_seconds
        report.artifact_build_seconds = session.artifact_build_seconds
        return report

    @torch.no_grad()
    def score(self, batch: ScoreBatch) -> Tensor:
        return score_with(self.model, batch, self.config, self.long_width)

    def parameter_counts(self) -> tuple[int, int]:
        return module_parameter_counts(self.model)

    def tokens_processed(self) -> int | None:
        """Tokens of this run's training and scoring (a cached search's tokens are the artifact's)."""
        return self.model.tokens_seen if hasattr(self, "model") else None


@torch.no_grad()
def score_with(model: ItemLevelLM, batch: ScoreBatch, config: dict, long_width: int) -> Tensor:
    model.eval()
    out = []
    step = config["score_batch_size"]
    for start in range(0, batch.history.size(0), step):
        history, lengths = batch.history[start : start + step], batch.lengths[start : start + step]
        recent, recent_lengths, long_items, long_lengths = split_history(history, lengths, config["llm_history"], long_width)
        last_slot = (recent_lengths - 1).clamp(min=0).unsqueeze(1)
        states, _, _ = model.boundary_states(recent, long_items, long_lengths, slots=last_slot)
        out.append(model.item_logits(states[:, 0]).float().cpu())
    scores = torch.cat(out)
    return scores if batch.candidates is None else torch.gather(scores, 1, batch.candidates)


class FitSession:
    """One fit's shared state: the pristine backbone, token table, training rows and budgets."""

    def __init__(self, method: LLMItemRecMethod, data: TrainView, ctx: RunContext):
        self.method, self.data, self.ctx, self.config = method, data, ctx, method.config
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        self.backbone = load_backbone(self.config["backbone"], ctx.cache_dir / "models", self.config["backbone_layers"])
        self.dtype = frozen_dtype(ctx.device, self.config["precision"])
        self.table = ItemTokenTable(data.item_text, self.backbone.tokenizer, self.config["item_max_tokens"])
        self.window = self.config["llm_history"] + 1
        self.long_width = ctx.max_history - self.config["llm_history"]  # items the CF token summarises
        self.rows = torch.nonzero(data.train.lengths >= 2).flatten()
        if self.rows.numel() == 0:
            raise BenchmarkError(f"{method.card.name}: no user has two training items to learn from")
        self.artifact_seconds = 0.0  # building cached artifacts in this fit (outside its budget)
        self.artifact_build_seconds = 0.0  # the original build time of the artifacts it used

    @property
    def n_layers(self) -> int:
        return self.backbone.n_layers

    def build(self, arch: Arch, seed: int | None = None, full_model: bool = False) -> ItemLevelLM:
        """A fresh model with ``arch`` adapters, seeded (the run's seed unless ``seed``), so the same
        arch gives the same init. ``full_model``: every component on, whatever the variant (the
        architecture search is a per-dataset artifact built once for the full model)."""
        enabled = (lambda component: True) if full_model else self.method.enabled
        torch.manual_seed(self.ctx.seed if seed is None else seed)
        model = copy.deepcopy(self.backbone.model)
        moe_modules = apply_moe_lora(model, arch) if isinstance(arch, MoeArch) else []
        if isinstance(arch, LoraArch):
            apply_lora(model, arch)
        collab = None
        if enabled("collab_injection"):
            collab = CollabEncoder(self.data.n_items, self.long_width, self.backbone.hidden_size)
        lm = ItemLevelLM(model, self.table, self.data.n_items, enabled("context_masking"), collab)
        lm.moe_modules = moe_modules
        cast_frozen(lm, self.dtype)
        return lm.to(self.ctx.device)

    def epoch_batches(self, epoch: int, run_seed: int | None = None) -> Iterator[Tensor]:
        seed = (self.ctx.seed if run_seed is None else run_seed) * 1_000_003 + epoch
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

    def proxy_objective(self, arch: Arch, steps: int, users: Tensor, seed: int) -> float:
        """Valid NDCG@10 on ``users`` after ``steps`` training steps of a fresh full model with
        ``arch`` (seeded by ``seed``: init and batch order)."""
        model = self.build(arch, seed=seed, full_model=True)
        optimizer = torch.optim.AdamW(trainable_parameters(model), lr=self.config["learning_rate"], weight_decay=0.0)
        loss_fn = self.loss_fn(model)
        model.train()
        batches = self._cycle_batches(seed)
        for _ in range(steps):
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(next(batches))
            loss.backward()
            optimizer.step()
        task = EvalTask(users=self.data.users, history=self.data.train, targets=self.data.valid_targets, rows=users)
        ranks = evaluate(lambda b: score_with(model, b, self.config, self.long_width), task,
                         self.data.n_items, self.ctx.max_history)
        value = summarize(ranks)[PRIMARY_METRIC]
        return 0.0 if math.isnan(value) else value

    def searched_arch(self, method: str, propose: Callable[[Any], Arch]) -> tuple[Arch, dict[str, Any]]:
        """The architecture search as a per-dataset artifact: built once for the full model with the
        fixed ``search_seed`` and cached under a hash of everything that determines it, then reused by
        every seed and ablation variant, so no run spends (or saves) training time on it. The report
        holds each trial, the spread of the trial objectives and the objective's noise between two
        seeds of the chosen architecture (so a reader can tell whether the search separated anything)."""
        seed, trials, steps = self.config["search_seed"], self.ctx.budget.tuning_trials, self.config["proxy_steps"]
        inputs = {
            "version": SEARCH_VERSION, "method": method, "train_sha256": sequences_digest(self.data.train),
            "valid_sha256": hashlib.sha256(self.data.valid_targets.numpy().tobytes()).hexdigest(),
            "n_items": self.data.n_items, "backbone": self.backbone.identity, "config": self.config,
            "trials": trials, "max_history": self.ctx.max_history, "device": self.ctx.device.type,
        }
        built: dict[str, Any] = {}

        def build(out: Path) -> None:
            started = time.monotonic()
            users = self.proxy_users(seed)
            objective = lambda arch: self.proxy_objective(arch, steps, users, seed)  # noqa: E731
            arch, report = tpe_search(propose, objective, trials, seed, method)
            values = [t["valid_ndcg10"] for t in report["trials"]]
            repeat = self.proxy_objective(arch, steps, users, seed + 1)
            report.update({
                "objective_spread": round(max(values) - min(values), 6),
                "objective_std": round(float(torch.tensor(values).std()) if len(values) > 1 else 0.0, 6),
                "best_other_seed": round(repeat, 6),
                "seed_noise": round(abs(repeat - values[report["best_trial"]]), 6),
                "proxy_steps": steps, "proxy_users": int(users.numel()), "search_seed": seed,
            })
            built["seconds"] = time.monotonic() - started
            report["build_seconds"] = round(built["seconds"], 3)
            (out / "search.json").write_text(json.dumps({"arch": arch.as_dict(), "report": report}, indent=1))

        entry = ArtifactCache(self.ctx.cache_dir).get_or_build("adapter-search", inputs, build)
        stored = json.loads((entry / "search.json").read_text())
        report = {**stored["report"], "cache": "built" if built else "hit", "cache_key": content_key(inputs)}
        self.artifact_seconds += built.get("seconds", 0.0)
        self.artifact_build_seconds += report["build_seconds"]
        return arch_from_dict(stored["arch"]), report

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

    def _cycle_batches(self, seed: int) -> Iterator[Tensor]:
        epoch = 0
        while True:
            yield from self.epoch_batches(10_000 + epoch, seed)
            epoch += 1

    def proxy_users(self, seed: int) -> Tensor:
        count = min(self.config["proxy_users"], self.rows.numel())
        generator = torch.Generator().manual_seed(seed)
        return torch.sort(self.rows[torch.randperm(self.rows.numel(), generator=generator)[:count]]).values


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
    "Search budget: budget.tuning_trials TPE trials (half of them, at most 4, random start-up trials), "
    "proxy_steps steps each, objective valid NDCG@10 on proxy_users fixed users. The search is a cached "
    "per-dataset artifact built once for the full model with search_seed, shared by every seed and "
    "ablation variant, and outside the runs' training budget; its record reports the spread of the trial "
    "objectives and the chosen architecture's objective under a second seed (the noise level).",
    "CUDA: frozen backbone in bf16 with bf16 autocast; adapters, item table and CF model in fp32. CPU: fp32, "
    "or the same bf16 scheme when the profile sets precision: bf16.",
)
