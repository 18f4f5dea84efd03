"""DARec: the shared item-level LLM recommender with a per-layer adapter architecture chosen by
Bayesian optimisation (``dynamic_adaption``)."""

from __future__ import annotations

from typing import Any

from llmrec_benchmark.engine.tuning import LEARNING_RATE
from llmrec_benchmark.method import MethodCard
from llmrec_methods.llm.adapters import LoraArch
from llmrec_methods.llm.itemrec import LLM_DEFAULTS, SHARED_DECISIONS, Arch, FitSession, LLMItemRecMethod
from llmrec_methods.llm.search import propose_lora


class DARec(LLMItemRecMethod):
    card = MethodCard(
        name="darec",
        title="DARec: dynamic adaption of LLMs for sequential recommendation",
        fidelity="reconstructed-from-abstract",
        paper="Beyond Inter-Item Relations: Dynamic Adaption for Enhancing LLM-Based Sequential Recommendation "
              "(arXiv 2408.07427 v2)",
        arxiv="2408.07427",
        year=2024,
        components=("context_masking", "collab_injection", "dynamic_adaption"),
        defaults=dict(LLM_DEFAULTS),
        deviations=SHARED_DECISIONS + (
            "dynamic_adaption: optuna TPE over, per layer, LoRA rank in {0 (none), 4, 8, 16} and targets in "
            "{q/v, all attention + MLP projections}; alpha = 2 x rank. Off: LoRA r=8 on q/v in every layer.",
        ),
        search_space={"learning_rate": LEARNING_RATE, "cf_loss_weight": ("float", 0.1, 2.0)},
        description=(
            'A causal LM reads the history as item text; the state at each item boundary scores every item against an item table. Components: block-causal context masking, an injected collaborative (SASRec) token, and dynamic adaption (a searched per-layer adapter architecture).'
        ),
    )

    def choose_adapter(self, fit: FitSession) -> tuple[Arch, dict[str, Any]]:
        if not self.enabled("dynamic_adaption"):
            return LoraArch.uniform(fit.n_layers), {"kind": "none (uniform LoRA r=8 on q/v)"}
        return fit.searched_arch(self.card.name, lambda trial: propose_lora(trial, fit.n_layers))
