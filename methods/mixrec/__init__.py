"""MixRec: the shared item-level LLM recommender with a mixture of LoRA experts (``dynamic_moe``)
whose expert count and ranks are chosen by Bayesian optimisation (``bo``)."""

from __future__ import annotations

from typing import Any

from llmrec_benchmark.engine.tuning import LEARNING_RATE
from llmrec_benchmark.method import MethodCard
from llmrec_methods.llm.adapters import LoraArch, MoeArch
from llmrec_methods.llm.itemrec import LLM_DEFAULTS, SHARED_DECISIONS, Arch, FitSession, LLMItemRecMethod
from llmrec_methods.llm.search import propose_moe

HOMOGENEOUS = MoeArch((8, 8, 8, 8))


class MixRec(LLMItemRecMethod):
    card = MethodCard(
        name="mixrec",
        title="MixRec: mixture of LoRA experts for LLM-based sequential recommendation",
        fidelity="reconstructed-from-abstract",
        paper="Beyond Inter-Item Relations: Dynamic Adaptive Mixture-of-Experts for LLM-Based Sequential "
              "Recommendation (arXiv 2408.07427 v1)",
        arxiv="2408.07427v1",
        year=2024,
        components=("context_masking", "collab_injection", "dynamic_moe", "bo"),
        defaults=dict(LLM_DEFAULTS),
        deviations=SHARED_DECISIONS + (
            "dynamic_moe (DAMoE): q and v projections of every layer become a mixture of LoRA experts with a "
            "softmax router on the token's input state (dense mixing) and a Switch-style load-balancing loss "
            "(weight 0.01). Off: a single LoRA r=8 on q/v. Only the item-boundary states are read, so the last "
            "layer computes queries at those columns only: its q-projection router, and its balancing term, see "
            "the boundary tokens (a query that is never read has nothing to balance).",
            "bo: optuna TPE over the expert count in {2, 3, 4} and each expert's rank in {4, 8, 16}. Off: "
            "homogeneous experts (4 x r=8) without search.",
        ),
        search_space={"learning_rate": LEARNING_RATE, "cf_loss_weight": ("float", 0.1, 2.0)},
        description=(
            "DARec's item-level LLM model with a mixture of LoRA experts on q/v (softmax router, load-balancing loss) whose expert count and ranks are searched (TPE); components: context masking, collaborative token, `dynamic_moe`, `bo` (the search)."
        ),
    )

    def choose_adapter(self, fit: FitSession) -> tuple[Arch, dict[str, Any]]:
        if not self.enabled("dynamic_moe"):
            return LoraArch.uniform(fit.n_layers), {"kind": "none (single LoRA r=8 on q/v)"}
        if not self.enabled("bo"):
            return HOMOGENEOUS, {"kind": "none (homogeneous experts 4 x r=8)"}
        return fit.searched_arch(self.card.name, propose_moe)
