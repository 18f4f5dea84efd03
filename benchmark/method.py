"""The method interface every recommender implements, and the card that describes it.

A method is a class with a ``card`` (paper, fidelity, ablatable components, default
hyper-parameters) that the harness constructs with a resolved config and a set of disabled
components. ``fit`` receives a ``TrainView`` (no test targets); ``score`` receives a ``ScoreBatch``
of histories and, on candidate boards, the candidate ids to score.
"""

from __future__ import annotations

import abc
import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Mapping

import torch
from torch import Tensor

from llmrec_benchmark.data.split import TrainView
from llmrec_benchmark.errors import BenchmarkError


@dataclass(frozen=True)
class Budget:
    """Per-run limits, identical for every method of a profile.

    The stopping rule is early stopping by ``patience`` epochs without a better valid NDCG@10 (or
    ``max_epochs``, a declared epoch count). ``wall_clock_s`` is a safety cap on one fit (training
    plus its validation passes), not a budget to spend: a run that hits it keeps its best validated
    state but is marked "not converged" on the board, gets no rank and cannot be a reference.
    """

    max_epochs: int
    patience: int
    wall_clock_s: float
    eval_user_cap: int | None = None
    tuning_trials: int = 0


FIDELITIES = ("official-code-port", "paper-spec", "reconstructed-from-abstract", "library-model", "baseline")


@dataclass(frozen=True)
class MethodCard:
    """What a leaderboard reader needs to know about a method, and what the harness may switch.

    ``fidelity``: how close the implementation is to the paper. ``library-model`` means a model
    class taken unchanged from RecBole 1.2.1 and trained by this suite's loop; ``baseline`` is a
    reference heuristic (e.g. popularity) with no paper to follow.
    """

    name: str
    title: str
    fidelity: str
    paper: str = ""
    arxiv: str | None = None
    authors: str = ""
    year: int | None = None
    components: tuple[str, ...] = ()
    variants: tuple[str, ...] = ()  # config overrides run alongside the ablations, e.g. "summary=recurrent"
    full_ranking: bool = True
    defaults: Mapping[str, Any] = field(default_factory=dict)
    deviations: tuple[str, ...] = ()
    description: str = ""
    # hyper-parameter -> ("log"|"float"|"int", low, high) or ("choice", [values]); see benchmark.engine.tuning
    search_space: Mapping[str, Any] = field(default_factory=dict)
    # what one run asks of a worker (``--executor ray``); GPUs only when the profile's device is CUDA
    cpus: float = 1.0
    gpus: float = 1.0

    def __post_init__(self) -> None:
        if self.fidelity not in FIDELITIES:
            raise ValueError(f"method card '{self.name}': fidelity must be one of {FIDELITIES}")


@dataclass(frozen=True)
class ScoreBatch:
    """Inputs for one scoring call. ``history`` is left-aligned and zero-padded on the right
    (RecBole's layout), holding each user's most recent ``max_history`` items."""

    users: Tensor  # [B] user ids
    history: Tensor  # [B, L]
    lengths: Tensor  # [B]
    candidates: Tensor | None = None  # [B, C] item ids, or None for full ranking


ScoreFn = Callable[[ScoreBatch], Tensor]


@dataclass
class RunContext:
    """Everything a fit needs from the harness: seed, budget, device, caches and validation.

    ``validate(score_fn)`` returns valid NDCG@10 under the run's validation protocol; training loops
    use it for early stopping. ``deadline`` is the ``time.monotonic()`` value at which the
    wall-clock budget of this fit runs out.
    """

    seed: int
    budget: Budget
    max_history: int
    device: torch.device
    cache_dir: Path
    validate: Callable[..., float]  # (score_fn, max_users=None) -> valid NDCG@10
    deadline: float
    validation_users: int = 0  # how many users ``validate`` scores (for budgeting its time)
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("llmrec_benchmark.fit"))

    def time_left(self) -> float:
        return self.deadline - time.monotonic()


@dataclass
class FitReport:
    """What a fit did with its budget; stored in the result record."""

    epochs: int = 0
    best_epoch: int | None = None
    best_valid: float | None = None
    stopped_by: str = "completed"  # completed | patience | max_epochs | wall_clock
    epoch_seconds: list[float] = field(default_factory=list)
    seconds_to_best: float | None = None
    valid_curve: list[float] = field(default_factory=list)
    # Seconds since training began at the end of each validation (same order as ``valid_curve``):
    # with it, time-to-quality is read off a record for any quality level, not only the best.
    valid_seconds: list[float] = field(default_factory=list)
    # Seconds this fit spent building cached artifacts that later runs reuse (LLM summaries, a
    # teacher model): recorded apart from train_s, so one seed does not carry the one-off cost.
    artifact_seconds: float = 0.0
    # The original build time of every cached artifact this fit used, whether it was built in this
    # fit or reused: the cost table shows it, so a cache hit does not hide what the artifact cost.
    artifact_build_seconds: float = 0.0
    notes: dict[str, Any] = field(default_factory=dict)


class Method(abc.ABC):
    """Base class of every recommender in the suite."""

    card: ClassVar[MethodCard]

    def __init__(self, config: Mapping[str, Any], disabled: frozenset[str] = frozenset()):
        self.config = dict(config)
        self.disabled = disabled

    def enabled(self, component: str) -> bool:
        return component not in self.disabled

    @abc.abstractmethod
    def fit(self, data: TrainView, ctx: RunContext) -> FitReport:
        """Train on ``data`` within ``ctx.budget``; valid targets may be used for model selection."""

    @abc.abstractmethod
    def score(self, batch: ScoreBatch) -> Tensor:
        """Scores ``[B, n_items]`` (full ranking) or ``[B, C]`` for ``batch.candidates``; higher is better."""

    def parameter_counts(self) -> tuple[int, int]:
        """(trainable, total) parameters of the fitted model."""
        return (0, 0)

    def tokens_processed(self) -> int | None:
        """Tokens an LLM method consumed in training and scoring; ``None`` for non-LLM methods."""
        return None


def module_parameter_counts(module: torch.nn.Module) -> tuple[int, int]:
    trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
    return trainable, sum(p.numel() for p in module.parameters())


@dataclass(frozen=True)
class Variant:
    """A method name plus switched-off components and config overrides, e.g.
    ``darec[-context_masking]`` or ``llm_trsr[summary=recurrent]``."""

    base: str
    disabled: frozenset[str] = frozenset()
    overrides: tuple[tuple[str, Any], ...] = ()

    @property
    def name(self) -> str:
        parts = [f"-{c}" for c in sorted(self.disabled)] + [f"{k}={v}" for k, v in self.overrides]
        return f"{self.base}[{','.join(parts)}]" if parts else self.base

    @property
    def is_variant(self) -> bool:
        """True when anything is switched off or overridden: ablation seeds and scope apply to it."""
        return bool(self.disabled or self.overrides)


_VARIANT = re.compile(r"^(?P<base>[A-Za-z0-9_.-]+)(\[(?P<body>[^\[\]]*)\])?$")


def _literal(text: str) -> Any:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def parse_variant(spec: str) -> Variant:
    match = _VARIANT.match(spec.strip())
    if not match:
        raise BenchmarkError(f"malformed method spec '{spec}'; expected name or name[-component,key=value]")
    disabled, overrides = set(), []
    for part in filter(None, (p.strip() for p in (match.group("body") or "").split(","))):
        if part.startswith("-"):
            disabled.add(part[1:])
        elif "=" in part:
            key, value = part.split("=", 1)
            overrides.append((key.strip(), _literal(value.strip())))
        else:
            raise BenchmarkError(f"method spec '{spec}': '{part}' is neither -component nor key=value")
    return Variant(match.group("base"), frozenset(disabled), tuple(sorted(overrides)))
