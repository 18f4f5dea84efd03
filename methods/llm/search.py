"""Bayesian optimisation (optuna TPE) of adapter architectures under the run's budget.

Each trial trains a fresh model for a few proxy steps and returns valid NDCG@10 on a fixed user
subset. Trials come from the profile (``budget.tuning_trials``) and stop early when the search's
share of the wall-clock budget would be exceeded by another trial (as long as the last one); the report says how many ran. The sampler is seeded with
the run seed, so a fixed seed gives the same sequence of proposals.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from benchmark.errors import BenchmarkError
from methods.llm.adapters import LayerAdapter, LoraArch, MoeArch

LORA_RANKS = (0, 4, 8, 16)
LORA_TARGETS = ("qv", "attn_mlp")
EXPERT_COUNTS = (2, 3, 4)
EXPERT_RANKS = (4, 8, 16)


def propose_lora(trial: Any, n_layers: int) -> LoraArch:
    """DARec's space: per layer, a rank in {0, 4, 8, 16} and q/v or all projections."""
    return LoraArch(tuple(
        LayerAdapter(trial.suggest_categorical(f"rank_{i}", LORA_RANKS), trial.suggest_categorical(f"targets_{i}", LORA_TARGETS))
        for i in range(n_layers)
    ))


def propose_moe(trial: Any) -> MoeArch:
    """MixRec's space: the expert count in {2, 3, 4} and each expert's rank in {4, 8, 16}."""
    experts = trial.suggest_categorical("experts", EXPERT_COUNTS)
    return MoeArch(tuple(trial.suggest_categorical(f"rank_{e}", EXPERT_RANKS) for e in range(experts)))


def tpe_search(
    propose: Callable[[Any], Any], objective: Callable[[Any], float], trials: int, seed: int, deadline: float,
    method: str,
) -> tuple[Any, dict[str, Any]]:
    """Run up to ``trials`` TPE trials before ``deadline``; returns the best arch and a report.

    At least one trial always runs (a search with zero trials has no answer); a profile with
    ``tuning_trials: 0`` is an error for a method whose component needs the search.
    """
    import optuna

    if trials < 1:
        raise BenchmarkError(
            f"{method}: the profile's budget.tuning_trials is {trials}; the architecture search needs at "
            "least 1 (or switch the search off with its ablation variant)"
        )
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=min(trials, 3)))
    archs: dict[int, Any] = {}
    history = []
    last_trial_s = 0.0
    for _ in range(trials):
        if study.trials and time.monotonic() + last_trial_s > deadline:
            break  # the next trial would end past the search's share of the budget
        trial = study.ask()
        arch = propose(trial)
        started = time.monotonic()
        value = objective(arch)
        study.tell(trial, value)
        archs[trial.number] = arch
        last_trial_s = time.monotonic() - started
        history.append({"arch": arch.as_dict(), "valid_ndcg10": round(value, 6), "seconds": round(last_trial_s, 3)})
    best = study.best_trial.number
    return archs[best], {"kind": "optuna-tpe", "trials_budget": trials, "trials_run": len(history), "best_trial": best, "trials": history}
