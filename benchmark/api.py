"""Python API mirroring the CLI, for notebooks and scripts::

    import llmrec_benchmark.api as bench
    frame = bench.run(["pop", "sasrec-ce"], profile="ci", seeds=[0], results="my-results")
    board = bench.leaderboard("ci", results="my-results")
    records = bench.load_records("quick")          # the committed quick board

``run`` does what ``python -m benchmark run`` does (plan, pilots first, resume, render) and returns
the store's records as a pandas frame; errors raise ``benchmark.errors.BenchmarkError`` instead of
printing them. Each frame row is one record: method, dataset, protocol, seed, every metric as a
column, how training stopped, timings, and the hashes that identify the run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import pandas as pd

from llmrec_benchmark.commands.common import store_for
from llmrec_benchmark.commands.info import render_board
from llmrec_benchmark.commands.options import Options
from llmrec_benchmark.commands.run import cmd_run
from llmrec_benchmark.errors import BenchmarkError
from llmrec_benchmark.profiles import load_profile


def _options(profile: str, results: str | Path | None, **options) -> Options:
    return Options(profile=profile, results=None if results is None else str(results), no_progress=True, **options)


def run(methods: Sequence[str] | None = None, *, profile: str = "quick", datasets: Sequence[str] | None = None,
        seeds: Sequence[int] | None = None, results: str | Path | None = None, force: bool = False,
        variants: bool = True, device: str | None = None, mirror: str | Path | None = None, jobs: int = 1) -> pd.DataFrame:
    """Run what is missing of ``methods`` (default: the profile's, with their variants unless
    ``variants=False``) and render the board; returns every record of the store."""
    args = _options(
        profile, results, methods=",".join(methods) if methods else None,
        datasets=",".join(datasets) if datasets else None,
        seeds=",".join(str(s) for s in seeds) if seeds is not None else None, force=force,
        no_variants=not variants, all=methods is None, device=device, mirror=None if mirror is None else str(mirror),
        jobs=jobs,
    )
    if cmd_run(args) != 0:
        raise BenchmarkError("some runs failed after retries; their records are missing (a re-run runs only them)")
    return load_records(profile, results=results, datasets=datasets)


def leaderboard(profile: str = "quick", *, results: str | Path | None = None) -> Path:
    """Re-render a board from its records; returns the Markdown path."""
    return render_board(_options(profile, results))


def load_records(profile: str = "quick", *, results: str | Path | None = None,
                 datasets: Sequence[str] | None = None, latest: bool = True) -> pd.DataFrame:
    """A board's records as a frame (the newest record per record id unless ``latest=False``)."""
    loaded = load_profile(profile)
    store = store_for(_options(profile, results), loaded, list(datasets) if datasets else loaded.datasets)
    rows = []
    for record in (store.latest() if latest else store.read_all()):
        training, timing = record.get("training") or {}, record.get("timing") or {}
        rows.append({
            "method": record["method"], "base_method": record["base_method"], "dataset": record["dataset"],
            "protocol": record["protocol"], "seed": record["seed"], **record["metrics"],
            "stopped_by": training.get("stopped_by"), "epochs": training.get("epochs"),
            "best_epoch": training.get("best_epoch"), "train_s": timing.get("train_s"), "eval_s": timing.get("eval_s"),
            "artifact_build_s": timing.get("artifact_build_s"), "tokens_processed": record.get("tokens_processed"),
            "config_hash": record["config_hash"], "code_hash": record.get("code_hash"), "record_id": record["record_id"],
            "created_at": record.get("created_at"),
        })
    return pd.DataFrame(rows)
