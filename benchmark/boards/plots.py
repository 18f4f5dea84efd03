"""Leaderboard plots (PNG, written next to the boards by ``leaderboard``), from records only.

Per dataset:
- ``<dataset>-accuracy-vs-cost.png``: NDCG@10 (mean, 95% CI over seeds) against mean training
  seconds (log scale) on one candidate board that every plotted method ran (the one with the
  most methods; ties go to the smaller board), LLM methods and classic ones marked apart;
- ``<dataset>-<protocol>.png``: one bar per method with its 95% CI, for every main board;
- ``<dataset>-ablation.png``: Δ NDCG@10 of every ablation/config variant against its full model
  (paired on shared seeds; an error bar only where two or more seeds give an interval).

PNG metadata carries no software version or date, so an unchanged record set renders the same
bytes (with the pinned matplotlib) and the committed plots only change when the numbers do.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)

from llmrec_benchmark.boards.ablation import ablation_groups, paired_deltas  # noqa: E402
from llmrec_benchmark.evaluation.confidence import mean_ci  # noqa: E402
from llmrec_benchmark.evaluation.metrics import PRIMARY_METRIC  # noqa: E402

STABLE_PNG = {"Software": None}
LLM_COLOUR, CLASSIC_COLOUR = "#d9534f", "#337ab7"


def _save(fig, path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=100, metadata=STABLE_PNG)
    plt.close(fig)
    return path.name


def _is_llm(row: dict[str, Any]) -> bool:
    return row.get("tokens") is not None


def _half(value: float | None) -> float:
    return 0.0 if value is None else value


def board_bars(path: Path, title: str, rows: list[dict[str, Any]]) -> str:
    """One horizontal bar per method (best at the top) with its 95% CI."""
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(rows) + 1.4))
    names = [r["method"] for r in rows][::-1]
    means = [r[PRIMARY_METRIC][0] for r in rows][::-1]
    errors = [_half(r[PRIMARY_METRIC][1]) for r in rows][::-1]
    colours = [LLM_COLOUR if r["llm"] else CLASSIC_COLOUR for r in rows][::-1]
    ax.barh(names, means, xerr=errors, color=colours, capsize=3)
    ax.set_xlabel(f"{PRIMARY_METRIC} (mean over seeds, 95% CI)")
    ax.set_title(title, fontsize=10)
    return _save(fig, path)


def accuracy_vs_cost(path: Path, title: str, points: list[dict[str, Any]]) -> str:
    """One marker per method (LLM methods red, classic blue) named in a legend, not by labels on
    the points: methods of similar cost and accuracy would write over each other."""
    fig, ax = plt.subplots(figsize=(8.5, 4.8))
    markers = "osD^vP*Xh<>p"
    for index, point in enumerate(sorted(points, key=lambda p: -p["mean"])):
        colour = LLM_COLOUR if point["llm"] else CLASSIC_COLOUR
        ax.errorbar(max(point["train_s"], 0.01), point["mean"], yerr=_half(point["half"]), fmt=markers[index % len(markers)],
                    color=colour, capsize=3, markersize=7, label=point["method"])
    ax.set_xscale("log")
    ax.set_xlabel("training seconds per run (mean over seeds, log scale)")
    ax.set_ylabel(f"{PRIMARY_METRIC} (95% CI)")
    ax.set_title(title + "  (red: LLM methods, blue: classic)", fontsize=10)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    return _save(fig, path)


def ablation_deltas(path: Path, title: str, bars: list[tuple[str, float, float | None]]) -> str:
    fig, ax = plt.subplots(figsize=(7, 0.4 * len(bars) + 1.4))
    names = [b[0] for b in bars][::-1]
    ax.barh(names, [b[1] for b in bars][::-1], xerr=[_half(b[2]) for b in bars][::-1], color="#777777", capsize=3)
    ax.axvline(0.0, color="black", linewidth=0.8)
    ax.set_xlabel(f"Δ {PRIMARY_METRIC}: variant minus full model (paired seeds)")
    ax.set_title(title, fontsize=10)
    return _save(fig, path)


def _shared_board(tables: dict[str, list[dict[str, Any]]]) -> str | None:
    candidates = [p for p in tables if p != "full"]
    if not candidates:
        return None
    return max(candidates, key=lambda p: (len(tables[p]), -int(p.split("-")[1])))


def render_plots(folder: Path, boards: dict[tuple[str, str], list[dict[str, Any]]],
                 records: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Write every plot; returns the file names per dataset (for the Markdown board).

    ``boards`` maps (dataset, protocol) to ranked rows (``leaderboard.ranked_table``), each with an
    ``llm`` flag added by the caller."""
    written: dict[str, list[str]] = {}
    datasets = sorted({d for d, _ in boards})
    for dataset in datasets:
        per_protocol = {p: rows for (d, p), rows in boards.items() if d == dataset}
        names: list[str] = []
        shared = _shared_board(per_protocol)
        if shared:
            points = [{"method": r["method"], "llm": r["llm"], "train_s": r["train_s"], "mean": r[PRIMARY_METRIC][0],
                       "half": r[PRIMARY_METRIC][1]} for r in per_protocol[shared]]
            names.append(accuracy_vs_cost(folder / f"{dataset}-accuracy-vs-cost.png",
                                          f"{dataset}, {shared}: accuracy vs training cost", points))
        for protocol, rows in sorted(per_protocol.items(), key=lambda kv: (kv[0] != "full", kv[0])):
            names.append(board_bars(folder / f"{dataset}-{protocol}.png", f"{dataset}, {protocol}", rows))
        bars = []
        for group_dataset, _, protocol, full, variants in ablation_groups(records):
            if group_dataset != dataset:
                continue
            for variant, by_seed in variants.items():
                deltas = paired_deltas(full, by_seed)
                if deltas:
                    mean, half = mean_ci(deltas)
                    bars.append((f"{variant} ({protocol})", mean, None if half is None or math.isnan(half) else half))
        if bars:
            names.append(ablation_deltas(folder / f"{dataset}-ablation.png", f"{dataset}: ablations", bars))
        written[dataset] = names
    return written


def slice_lines(path: Path, title: str, panels: list[tuple[str, list[str], dict[str, list[tuple[float, float | None]]],
                                                          set[str]]]) -> str:
    """One panel per slicing (title, slice labels, method -> [(mean, half)] per slice, LLM method
    names): NDCG@10 by slice, one line per method with its 95% interval over the slice's users."""
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4.2), squeeze=False)
    for ax, (heading, labels, lines, llm) in zip(axes[0], panels):
        x = list(range(len(labels)))
        for method, cells in sorted(lines.items()):
            means = [m for m, _ in cells]
            errors = [0.0 if h is None or math.isnan(h) else h for _, h in cells]
            ax.errorbar(x, means, yerr=errors, marker="o", capsize=3, label=method,
                        linestyle="--" if method in llm else "-")
        ax.set_xticks(x, labels)
        ax.set_title(heading, fontsize=10)
        ax.set_ylabel(f"{PRIMARY_METRIC} (mean over the slice's users, 95% CI)")
    axes[0][-1].legend(fontsize=7, loc="best")
    fig.suptitle(title, fontsize=10)
    return _save(fig, path)
