"""The reproduction section of a board: our numbers beside published ones, with a +-5% verdict.

A profile lists published targets (``Profile.reproduction``); each is matched to the records of
the same dataset and method spec on full ranking. The verdict follows the +-5% criterion of the
BERT4Rec replicability study (Petrov & Macdonald) and of eSASRec's replication checks: our mean
over seeds within 5% of the published value (relative), else above or below. Only converged runs
computed by the current code count; a target without such runs says why instead of a number.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from llmrec_benchmark.evaluation.confidence import mean_ci
from llmrec_benchmark.method import parse_variant
from llmrec_benchmark.profiles import Profile
from llmrec_benchmark.store.run_status import converged, stale

TOLERANCE = 0.05


def verdict(ours: float, published: float) -> str:
    delta = (ours - published) / published
    if abs(delta) <= TOLERANCE:
        return "within ±5%"
    return "above" if delta > 0 else "below"


def _runs(records: list[dict[str, Any]], dataset: str, spec: str) -> list[dict[str, Any]]:
    wanted = parse_variant(spec)
    return sorted((r for r in records if r["dataset"] == dataset and r["protocol"] == "full"
                   and parse_variant(r["method"]) == wanted), key=lambda r: r["seed"])


def reproduction_rows(profile: Profile, records: list[dict[str, Any]],
                      code_hashes: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """One row per (target, metric): published, ours (mean, half-width, seeds), delta %, verdict,
    seconds to the best epoch, or ``why`` when there is no converged current-code run."""
    rows = []
    for target in profile.reproduction:
        runs = _runs(records, target["dataset"], target["method"])
        usable = [r for r in runs if converged(r) and not stale(r, code_hashes)]
        for metric, published in target["metrics"].items():
            row = {"dataset": target["dataset"], "method": target["method"], "setting": target["setting"],
                   "source": target["source"], "metric": metric, "published": float(published), "why": None}
            if not runs:
                row["why"] = "not run yet"
            elif not usable:
                row["why"] = "no converged run with the current code"
            else:
                mean, half = mean_ci([r["metrics"][metric] for r in usable])
                to_best = [r["training"].get("seconds_to_best") for r in usable]
                row.update(ours=mean, half=half, seeds=[r["seed"] for r in usable],
                           delta=100.0 * (mean - published) / published, verdict=verdict(mean, published),
                           seconds_to_best=float(np.mean([t for t in to_best if t is not None])) if any(
                               t is not None for t in to_best) else None)
            rows.append(row)
    return rows


def render_reproduction(profile: Profile | None, records: list[dict[str, Any]],
                        code_hashes: Mapping[str, str] | None = None) -> list[str]:
    """Markdown lines: the dataset statistics table and the reproduction table (nothing for a
    profile without targets)."""
    if profile is None or not profile.reproduction:
        return []
    lines = ["", "## Reproduction: our numbers beside published ones", "",
             "Full ranking, leave-one-out. *Ours* is the mean over the seeds shown ± the half-width of a 95% "
             "Student-t interval. Δ = (ours − published) / published; the verdict is *within ±5%* when |Δ| ≤ 5% "
             "(the criterion of the BERT4Rec replicability study and of eSASRec's replication checks), else *above* "
             "or *below*. Hyper-parameters are the published ones where stated (see *setting*) and the profile's "
             "otherwise; nothing is tuned on test. *To best* is the mean training time to the best validated epoch "
             "on this profile's hardware (no published time is stated for these rows).", "",
             "### Our copy of each dataset", "",
             "| dataset | users | items | interactions | published (users / items / interactions) | source |",
             "|---|---|---|---|---|---|"]
    for dataset in profile.datasets:
        ours = next((r["dataset_stats"] for r in records if r["dataset"] == dataset), None)
        published = profile.published_stats.get(dataset)
        cells = ["–", "–", "–"] if ours is None else [f"{ours['users']:,}", f"{ours['items']:,}", f"{ours['interactions']:,}"]
        pub = "not stated in the anchors" if published is None else \
            f"{published['users']:,} / {published['items']:,} / {published['interactions']:,}"
        match = ""
        if ours is not None and published is not None:
            same = all(ours[k] == published[k] for k in ("users", "items", "interactions"))
            match = " (same)" if same else " (**differs**)"
        lines.append(f"| {dataset} | {' | '.join(cells)} | {pub}{match} | {published['source'] if published else '–'} |")
    lines += ["", "### Targets", "",
              "| dataset | method | setting | metric | published | ours | Δ | verdict | to best | source |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for row in reproduction_rows(profile, records, code_hashes):
        head = f"| {row['dataset']} | `{row['method']}` | {row['setting']} | {row['metric']} | {row['published']:.4f} | "
        if row["why"]:
            lines.append(head + f"{row['why']} | – | – | – | {row['source']} |")
            continue
        ours = f"{row['ours']:.4f}" + ("" if row["half"] is None else f" ± {row['half']:.4f}")
        ours += f" ({len(row['seeds'])} seed{'s' if len(row['seeds']) > 1 else ''})"
        best = "–" if row["seconds_to_best"] is None else f"{row['seconds_to_best']:.0f} s"
        lines.append(head + f"{ours} | {row['delta']:+.1f}% | **{row['verdict']}** | {best} | {row['source']} |")
    return lines
