"""Profiles: one YAML file fixes datasets, seeds, candidate sizes, history length and budgets.

Every method in a profile runs under the same budget, so the numbers in one leaderboard are
comparable. Keys are validated strictly (see ``benchmark.schema``).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from llmrec_benchmark.errors import BenchmarkError
from llmrec_benchmark.method import Budget, parse_variant
from llmrec_benchmark.paths import PROFILES_DIR
from llmrec_benchmark.schema import build, read_yaml

DEFAULT_PROFILE = "quick"


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    datasets: tuple[str, ...]
    methods: tuple[str, ...]
    seeds: tuple[int, ...]
    candidates: tuple[int, ...]
    max_history: int
    budget: Budget
    user_cap: int | None = None
    device: str = "cpu"
    method_config: dict[str, Any] = field(default_factory=dict)
    # Seeds for variants (``name[-component]`` and ``name[key=value]``); None = all seeds. A smaller set keeps a
    # CPU profile within its time target; ablation tables then compare on the shared seeds only.
    ablation_seeds: tuple[int, ...] | None = None
    # `check`: the largest absolute difference per metric between a re-run and the committed record
    # that is not a drift. 0.0 = exact match (expected on the same machine for epoch-bounded runs).
    regression_tolerance: float = 0.0
    # `tune`: optuna TPE trials per (method, dataset), the same for every method (0 = card defaults, no tuning)
    hpo_trials: int = 0
    # Methods this profile cannot converge and therefore does not run: method -> {board: a profile
    # whose committed records show it converged, epoch_s: seconds per epoch measured on this
    # profile's hardware, why: one sentence}. The board lists them as "not run: needs about N x this
    # profile's safety cap", N = (epochs to converge on that board) x epoch_s / wall_clock_s.
    not_run: dict[str, Any] = field(default_factory=dict)
    # Methods this profile runs only in part: method -> {seeds: the seeds its full model runs on,
    # variants: whether its ablation and config variants run (true, false, or the list of those
    # that do, by what goes inside the brackets: ['-summary']), why: one sentence with the measured
    # cost}. The units left out are planned as blocked ("not run in this profile: why") and the
    # board's banner states what was left out and why, so a trimmed method is never silently thin.
    scope: dict[str, Any] = field(default_factory=dict)
    # Published numbers this profile reproduces (``benchmark.boards.reproduction``): a list of {dataset,
    # method (a spec of this profile), metrics {name: value}, source, setting}; the board shows ours
    # beside each with a +-5% verdict. ``published_stats``: dataset -> {users, items, interactions,
    # source}, printed beside the statistics of our copy.
    reproduction: list[dict[str, Any]] = field(default_factory=list)
    published_stats: dict[str, Any] = field(default_factory=dict)

    def digest(self) -> str:
        """Hash of everything that changes a run's numbers (not the lists of what to run, and not
        the wall-clock safety cap: a converged run is the same run under any cap; see
        ``benchmark.engine.planning.settles``)."""
        relevant = asdict(self)
        relevant["budget"].pop("wall_clock_s")
        for key in ("name", "description", "datasets", "methods", "seeds", "method_config", "ablation_seeds",
                    "regression_tolerance", "hpo_trials", "not_run", "scope", "reproduction", "published_stats"):
            relevant.pop(key)
        return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()[:16]


def available_profiles() -> list[str]:
    return sorted(p.stem for p in PROFILES_DIR.glob("*.yaml"))


def profile_file(name_or_path: str) -> Path:
    """The YAML file behind a built-in profile name or a path."""
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = PROFILES_DIR / f"{name_or_path}.yaml"
        if not path.exists():
            raise BenchmarkError(
                f"unknown profile '{name_or_path}'; available: {', '.join(available_profiles())}"
            )
    return path


def load_profile(name_or_path: str) -> Profile:
    """Load a built-in profile by name, or any profile YAML by path."""
    path = profile_file(name_or_path)
    profile = build(Profile, read_yaml(path), str(path))
    _check(profile, str(path))
    return profile


def _check(profile: Profile, where: str) -> None:
    if not profile.seeds:
        raise BenchmarkError(f"{where}: 'seeds' must list at least one seed")
    for key in ("seeds", "ablation_seeds", "datasets", "methods", "candidates"):
        values = getattr(profile, key)
        if values is not None and len(set(values)) != len(values):
            repeated = sorted({v for v in values if list(values).count(v) > 1}, key=str)
            raise BenchmarkError(f"{where}: '{key}' lists {repeated[0]!r} more than once")
    if not profile.datasets:
        raise BenchmarkError(f"{where}: 'datasets' must list at least one dataset")
    if profile.ablation_seeds is not None and not profile.ablation_seeds:
        raise BenchmarkError(f"{where}: 'ablation_seeds' is empty; list at least one seed, or leave it out to use every seed")
    if profile.ablation_seeds is not None and not set(profile.ablation_seeds) <= set(profile.seeds):
        raise BenchmarkError(f"{where}: 'ablation_seeds' {list(profile.ablation_seeds)} must be a subset of 'seeds' {list(profile.seeds)}")
    if any(n < 1 for n in profile.candidates):
        raise BenchmarkError(f"{where}: 'candidates' must be positive negative counts, found {profile.candidates}")
    if profile.max_history < 2:
        raise BenchmarkError(f"{where}: 'max_history' must be >= 2, found {profile.max_history}")
    if profile.device not in ("cpu", "cuda", "auto"):
        raise BenchmarkError(f"{where}: 'device' must be cpu, cuda or auto, found '{profile.device}'")
    if profile.hpo_trials < 0:
        raise BenchmarkError(f"{where}: 'hpo_trials' must be >= 0, found {profile.hpo_trials}")
    for key, value, least in (("user_cap", profile.user_cap, 1), ("budget.eval_user_cap", profile.budget.eval_user_cap, 1),
                              ("budget.tuning_trials", profile.budget.tuning_trials, 0)):
        if value is not None and value < least:
            raise BenchmarkError(f"{where}: '{key}' must be >= {least}, found {value}")
    if not math.isfinite(profile.regression_tolerance) or profile.regression_tolerance < 0:
        raise BenchmarkError(f"{where}: 'regression_tolerance' must be >= 0, found {profile.regression_tolerance}")
    for method, entry in profile.not_run.items():
        if not isinstance(entry, dict) or set(entry) != {"board", "epoch_s", "why"}:
            raise BenchmarkError(f"{where}: not_run.{method} must have exactly the keys board, epoch_s, why; "
                                 f"found {entry!r}")
        if method in profile.methods:
            raise BenchmarkError(f"{where}: '{method}' is both in 'methods' and in 'not_run'")
    for method, entry in profile.scope.items():
        if not isinstance(entry, dict) or set(entry) != {"seeds", "variants", "why"}:
            raise BenchmarkError(f"{where}: scope.{method} must have exactly the keys seeds, variants, why; found {entry!r}")
        if method not in profile.methods:
            raise BenchmarkError(f"{where}: scope.{method}: '{method}' is not in 'methods'")
        seeds = entry["seeds"]
        if (not isinstance(seeds, list) or not seeds or not all(isinstance(x, int) and not isinstance(x, bool) for x in seeds)
                or not set(seeds) <= set(profile.seeds)):
            raise BenchmarkError(f"{where}: scope.{method}.seeds must be a non-empty subset of 'seeds' "
                                 f"{list(profile.seeds)}, found {seeds!r}")
        variants = entry["variants"]
        if not (isinstance(variants, bool) or (isinstance(variants, list) and all(isinstance(v, str) and v for v in variants))):
            raise BenchmarkError(f"{where}: scope.{method}.variants must be true, false or a list of variant "
                                 f"suffixes such as ['-summary'], found {variants!r}")
        if not isinstance(entry["why"], str) or not entry["why"].strip():
            raise BenchmarkError(f"{where}: scope.{method}.why must say why the rest is not run, found {entry['why']!r}")
    _check_reproduction(profile, where)
    b = profile.budget
    for key, value in vars(b).items():
        if isinstance(value, float) and not math.isfinite(value):
            raise BenchmarkError(f"{where}: budget.{key} must be a finite number, found {value}")
    if b.max_epochs < 1 or b.patience < 1 or b.wall_clock_s <= 0:
        raise BenchmarkError(f"{where}: budget needs max_epochs >= 1, patience >= 1, wall_clock_s > 0; found "
                             f"max_epochs {b.max_epochs}, patience {b.patience}, wall_clock_s {b.wall_clock_s}")


def _check_reproduction(profile: Profile, where: str) -> None:

    for index, target in enumerate(profile.reproduction):
        at = f"{where}: reproduction[{index}]"
        keys = {"dataset", "method", "metrics", "source", "setting"}
        if not isinstance(target, dict) or set(target) != keys:
            raise BenchmarkError(f"{at} must have exactly the keys {sorted(keys)}; found {target!r}")
        if target["dataset"] not in profile.datasets:
            raise BenchmarkError(f"{at}: dataset '{target['dataset']}' is not in 'datasets' {list(profile.datasets)}")
        if parse_variant(target["method"]).base not in profile.methods:
            raise BenchmarkError(f"{at}: method '{target['method']}' is not a spec of a method in 'methods'")
        metrics = target["metrics"]
        if (not isinstance(metrics, dict) or not metrics
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in metrics.values())):
            raise BenchmarkError(f"{at}: metrics must map metric names to published positive numbers, found {metrics!r}")
    for dataset, stats in profile.published_stats.items():
        keys = {"users", "items", "interactions", "source"}
        if not isinstance(stats, dict) or set(stats) != keys:
            raise BenchmarkError(f"{where}: published_stats.{dataset} must have exactly the keys {sorted(keys)}; "
                                 f"found {stats!r}")
