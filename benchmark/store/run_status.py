"""Whether a board may rank a row: converged under the profile's stopping rule, and computed by the
current code. Also the measured shortfall of runs that hit the safety cap, and the note for
methods a profile declares it cannot converge (``Profile.not_run``).

Decisions (the issue left the details open):
- A row is ranked only when every one of its seeds converged (stopped by patience, by a declared
  epoch count, or has nothing to train) and every record carries the method's current code hash.
- The shortfall of a capped run is a lower bound measured from its own record: patience-based
  stopping needs at least ``patience - (epochs since the best)`` more epochs, so a converged run
  needs at least ``epochs + that`` epochs, i.e. at least that ratio of the cap (epochs cost about
  the same). The board says "at least": if valid NDCG@10 keeps rising, it needs more.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np

from llmrec_benchmark.store.results import ResultStore

CAPPED = "wall_clock"


def converged(record: dict[str, Any]) -> bool:
    return record["training"]["stopped_by"] != CAPPED


def stale(record: dict[str, Any], code_hashes: Mapping[str, str] | None) -> bool:
    """True when ``record`` was computed by other code than the method's current code (records
    from before code hashing are stale). Without ``code_hashes`` nothing is judged stale."""
    if code_hashes is None:
        return False
    return record.get("code_hash") is None or record.get("code_hash") != code_hashes.get(record["base_method"])


def needed_ratio(record: dict[str, Any]) -> float:
    """Lower bound on (epochs a converged run needs) / (epochs this capped run did)."""
    training, patience = record["training"], (record.get("budget") or {}).get("patience", 1)
    epochs = max(int(training["epochs"]), 1)
    since_best = epochs - (int(training["best_epoch"]) + 1) if training.get("best_epoch") is not None else 0
    return (epochs + max(patience - since_best, 1)) / epochs


def capped_note(runs: list[dict[str, Any]]) -> str:
    """'not converged: ...' for the runs of one row that hit the safety cap ('' when none did)."""
    capped = [r for r in runs if not converged(r)]
    if not capped:
        return ""
    cap = capped[0]["budget"]["wall_clock_s"]
    worst = max(capped, key=needed_ratio)
    training = worst["training"]
    return (f"not converged: hit the {cap:g} s safety cap in {len(capped)}/{len(runs)} seeds "
            f"(seed {worst['seed']}: {training['epochs']} epochs, best at epoch {(training.get('best_epoch') or 0) + 1}); "
            f"needs at least {needed_ratio(worst):.1f}x the cap")


def not_run_note(method: str, entry: Mapping[str, Any], cap: float, results_root: Path) -> str:
    """The board's note for a method the profile does not run: N measured from the epochs it took
    to converge on ``entry['board']`` (committed records) times this hardware's seconds per epoch."""
    epochs = [r["training"]["epochs"] for r in ResultStore(results_root / entry["board"]).latest()
              if r["method"] == method and r["protocol"] == "full" and converged(r)]
    if not epochs:
        return f"not run: {entry['why']}; no converged run on `{entry['board']}` to measure the shortfall"
    needed = float(np.mean(epochs)) * float(entry["epoch_s"])
    return (f"not run: needs about {needed / cap:.0f}x this profile's {cap:g} s cap ({np.mean(epochs):.0f} epochs to "
            f"converge on `{entry['board']}` x {entry['epoch_s']} s per epoch here); {entry['why']}")
