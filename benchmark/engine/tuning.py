"""Equal-budget hyper-parameter tuning: ``python -m benchmark tune``.

Each method card declares a ``search_space`` (hyper-parameter -> ``("log", low, high)``,
``("float", low, high)``, ``("int", low, high)`` or ``("choice", [values])``; every key must be
one of the card's defaults). ``tune`` runs the profile's ``hpo_trials`` optuna TPE trials per
(method, dataset), the same number for every method, seeded (``TUNING_SEED``). A trial is one fit
under the profile's per-run budget on the profile's first seed, and its objective is the fit's
best valid NDCG@10: test targets are never scored while tuning.

The study lives in an optuna storage: by default a SQLite file ``tuning/optuna.db`` next to the
profile's records (any RDB URL works, e.g. PostgreSQL shared by several workers). Several ``tune``
processes may work on one study at once: each stops when the study holds the budget's number of
complete or running trials (a worker that starts a trial just before another finishes can add one
more; the outcome file records the count actually spent). Completed
trials are kept, so an interrupted ``tune`` resumes and only runs the trials still missing; the
trials after a resume come from a freshly seeded sampler, so an interrupted study can choose other
points than an uninterrupted one would (the trial count, not the trajectory, is the budget).

The outcome is written atomically to ``tuning/<method>--<dataset>.json`` (chosen parameters, best
valid value, trials completed and failed, their seconds, the search space). ``run`` applies those
parameters on top of the profile's ``method_config`` (variant overrides still win), every record
carries them under ``tuning``, and the board notes say how many trials a method was tuned with.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Mapping

from llmrec_benchmark.errors import BenchmarkError

log = logging.getLogger(__name__)
TUNING_DIR = "tuning"
TUNING_SEED = 0
SPACE_KINDS = ("log", "float", "int", "choice")

# Shared ranges, so methods that share a hyper-parameter search it over the same interval.
LEARNING_RATE = ("log", 1e-4, 1e-2)
DROPOUT = ("float", 0.1, 0.5)
WEIGHT_DECAY = ("choice", [0.0, 1e-6, 1e-4])


def check_space(name: str, space: Mapping[str, Any], defaults: Mapping[str, Any]) -> None:
    """A malformed search space is an error naming the method, the key and what was expected."""
    for key, spec in space.items():
        where = f"method '{name}': search_space['{key}']"
        if key not in defaults:
            raise BenchmarkError(f"{where}: not a hyper-parameter of the card (defaults: {', '.join(sorted(defaults))})")
        if not isinstance(spec, (tuple, list)) or not spec or spec[0] not in SPACE_KINDS:
            raise BenchmarkError(f"{where}: expected (kind, ...) with kind one of {SPACE_KINDS}, found {spec!r}")
        if spec[0] == "choice":
            if len(spec) != 2 or not isinstance(spec[1], (list, tuple)) or not spec[1]:
                raise BenchmarkError(f"{where}: expected ('choice', [values]), found {spec!r}")
        elif len(spec) != 3 or not spec[1] < spec[2] or (spec[0] == "log" and spec[1] <= 0):
            raise BenchmarkError(f"{where}: expected ('{spec[0]}', low, high) with low < high"
                                 f"{' and low > 0' if spec[0] == 'log' else ''}, found {spec!r}")


def suggest(trial, space: Mapping[str, Any]) -> dict[str, Any]:
    params = {}
    for key, spec in sorted(space.items()):
        kind = spec[0]
        if kind == "choice":
            params[key] = trial.suggest_categorical(key, list(spec[1]))
        elif kind == "int":
            params[key] = trial.suggest_int(key, int(spec[1]), int(spec[2]))
        else:
            params[key] = trial.suggest_float(key, float(spec[1]), float(spec[2]), log=kind == "log")
    return params


def tuned_path(root: Path, method: str, dataset: str) -> Path:
    return root / TUNING_DIR / f"{method}--{dataset}.json"


def load_tuned(root: Path | None, method: str, dataset: str) -> dict[str, Any] | None:
    """The stored tuning outcome of (method, dataset) under a results root, or None."""
    if root is None:
        return None
    path = tuned_path(root, method, dataset)
    if not path.exists():
        return None
    try:
        outcome = json.loads(path.read_text())
        outcome["params"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise BenchmarkError(f"{path}: malformed tuning outcome ({exc}); delete it and re-run tune") from None
    return outcome


def default_storage(root: Path) -> str:
    (root / TUNING_DIR).mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(root / TUNING_DIR / 'optuna.db').resolve()}"


def _write_atomically(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    with os.fdopen(fd, "w") as handle:
        handle.write(json.dumps(payload, indent=1, sort_keys=True) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _open_study(name: str, storage: str, attempts: int = 5):
    """Create or load the study. Two workers starting at once on a fresh storage can race on the
    schema or the study row; the loser retries and then loads what the winner created."""
    import optuna

    for attempt in range(1, attempts + 1):
        try:
            return optuna.create_study(study_name=name, storage=storage, load_if_exists=True, direction="maximize",
                                       sampler=optuna.samplers.TPESampler(seed=TUNING_SEED))
        except ImportError as exc:  # a missing database driver: retrying cannot help
            raise BenchmarkError(
                f"cannot open optuna study '{name}' in {storage.split('@')[-1]}: no driver for this storage URL "
                f"({exc}); for PostgreSQL install the postgres extra: pip install -e '.[postgres]'"
            ) from None
        except Exception as exc:  # noqa: BLE001  (sqlalchemy errors differ by backend)
            if attempt == attempts:
                raise BenchmarkError(f"cannot open optuna study '{name}' in {storage.split('@')[-1]}: {exc}") from None
            log.warning("opening study %s failed (%s); retrying", name, type(exc).__name__)
            time.sleep(0.5 * attempt)


def _wait_for_other_workers(study, patience_s: float) -> None:
    """Trials other workers are still running belong in the outcome: wait for them (a worker that
    died leaves its trial RUNNING forever, hence the limit: one trial's budget, twice, plus slack)."""
    import optuna

    deadline = time.monotonic() + patience_s
    while time.monotonic() < deadline:
        running = [t for t in study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.RUNNING]
        if not running:
            return
        log.info("waiting for %d trial(s) that other workers are running", len(running))
        time.sleep(2.0)
    log.warning("gave up waiting for trials still marked running (a worker may have died); they are not counted")


def tune_method(
    method: str, dataset: str, profile, space: Mapping[str, Any], trials: int, storage: str, root: Path, objective_fit,
) -> dict[str, Any]:
    """Run the missing trials of one study and store its outcome. ``objective_fit(params)`` fits the
    method with ``params`` and returns (best valid NDCG@10, details for the trial's record)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = _open_study(f"{profile.name}/{method}/{dataset}/{profile.digest()}", storage)
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    missing = max(trials - len(complete), 0)
    log.info("tune %s on %s: %d of %d trials done, running %d", method, dataset, len(complete), trials, missing)

    def objective(trial) -> float:
        params = suggest(trial, space)
        started = time.perf_counter()
        value, details = objective_fit(params)
        trial.set_user_attr("seconds", round(time.perf_counter() - started, 3))
        for key, detail in details.items():
            trial.set_user_attr(key, detail)
        log.info("tune %s on %s: trial %d %s -> valid NDCG@10 %.4f", method, dataset, trial.number, params, value)
        return value

    if missing:
        # several workers may share one study (a shared RDB): each stops once the study holds
        # ``trials`` finished or running trials, so together they spend the budget once
        enough = optuna.study.MaxTrialsCallback(
            trials, states=(optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.RUNNING))
        study.optimize(objective, n_trials=missing, catch=(RuntimeError, ValueError), callbacks=[enough])
    _wait_for_other_workers(study, 2 * profile.budget.wall_clock_s + 60)
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not complete:
        raise BenchmarkError(f"tune {method} on {dataset}: no trial completed (see the log for each failure)")
    best = study.best_trial
    outcome = {
        "method": method, "dataset": dataset, "profile": profile.name, "profile_digest": profile.digest(),
        "params": best.params, "best_valid": best.value, "best_trial": best.number,
        "trials": len(complete), "failed_trials": sum(t.state == optuna.trial.TrialState.FAIL for t in study.trials),
        "trial_seconds": round(sum(t.user_attrs.get("seconds", 0.0) for t in complete), 3),
        "search_space": {k: list(v) if isinstance(v, tuple) else v for k, v in space.items()},
        "sampler": f"optuna TPESampler(seed={TUNING_SEED})", "objective": "best valid NDCG@10 of one fit",
        "study": study.study_name, "storage": storage.split("@")[-1],  # never store a password
    }
    _write_atomically(tuned_path(root, method, dataset), outcome)
    return outcome
