"""The board's "where methods win" sections: per-slice tables, one slice plot per dataset, and the
protocol-agreement table (definitions and statistics in ``benchmark.boards.slices``).

The slices need each dataset's training split, loaded from the cache or mirror at render time;
when it cannot be loaded the section says so instead of failing the render. The definitions used
(bin edges, class sizes, split fingerprint) are written to ``slices.json`` beside the records, so
a reader can see exactly what a slice held.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Callable

from llmrec_benchmark.evaluation.metrics import PRIMARY_METRIC
from llmrec_benchmark.store.results import ResultStore
from llmrec_benchmark.boards.slices import (
    AGREEMENT_WARNING_TAU, POPULARITY_SLICES, SLICE_METRICS, SliceDefinition, UserValues, kendall_agreement,
    slice_table,
)

SLICES_FILE = "slices.json"
Board = dict[str, Any]  # {"rows": ranked_table rows, "reference": str | None, "runs": method -> records}


def _cell(cell: tuple[float, float | None]) -> str:
    mean, half = cell
    if math.isnan(mean):
        return "–"
    return f"{mean:.4f}" if half is None else f"{mean:.4f} ± {half:.4f}"


def agreement(boards: dict[str, Board]) -> list[tuple[str, str, float | None, int, int]]:
    """(protocol a, protocol b, tau, flipped pairs, pairs) for every pair of one dataset's boards."""
    means = {p: {r["method"]: r[PRIMARY_METRIC][0] for r in b["rows"] if r["ranked"]} for p, b in boards.items()}
    order = sorted(means, key=lambda p: (p != "full", -int(p.split("-")[1]) if p != "full" else 0))
    out = []
    for i, first in enumerate(order):
        for second in order[i + 1:]:
            tau, flips, pairs = kendall_agreement(means[first], means[second])
            out.append((first, second, tau, flips, pairs))
    return out


def agreement_warning(protocol: str, pairs: list[tuple[str, str, float | None, int, int]]) -> str | None:
    """The one-line warning a candidate board carries when its ordering disagrees with full ranking."""
    for first, second, tau, flips, count in pairs:
        if first == "full" and second == protocol and tau is not None and tau < AGREEMENT_WARNING_TAU:
            return (f"> **Warning**: this candidate board orders the methods differently from full ranking "
                    f"(Kendall's τ = {tau:.2f} < {AGREEMENT_WARNING_TAU}; {flips} of {count} method pairs flip). "
                    "Sampled metrics can reorder methods (Krichene & Rendle, KDD 2020).")
    return None


def render_agreement(dataset: str, pairs: list[tuple[str, str, float | None, int, int]]) -> list[str]:
    if not pairs:
        return []
    lines = ["", f"### {dataset}: do the boards agree?", "",
             "Kendall's τ-b between the orderings (by mean NDCG@10) of the methods ranked on both boards, and the "
             "method pairs whose order flips.", "",
             "| boards | τ | flipped pairs | methods on both |", "|---|---|---|---|"]
    for first, second, tau, flips, count in pairs:
        methods = int((1 + math.isqrt(1 + 8 * count)) // 2) if count else 0
        lines.append(f"| {first} vs {second} | {'–' if tau is None else f'{tau:.2f}'} | {flips} of {count} | {methods} |")
    return lines


def _slice_section(dataset: str, protocol: str, heading: str, labels: tuple[str, ...],
                   table: dict[str, dict[str, Any]], order: list[str]) -> tuple[list[str], list[dict[str, Any]]]:
    lines = ["", f"#### {dataset}, {protocol}: by {heading}", "",
             "| method | " + " | ".join(f"{label}" for label in labels) + " |",
             "|---|" + "---|" * len(labels)]
    first = table[order[0]] if order else None
    if first is not None:
        lines.append("| *users* | " + " | ".join(str(n) for n in first["users"]) + " |")
    csv = []
    for method in order:
        entry = table[method]
        cells = []
        for index in range(len(labels)):
            ndcg, hr = entry["NDCG@10"][index], entry["HR@10"][index]
            mark = entry["marks"][index]
            cells.append(f"{_cell(ndcg)} / {_cell(hr)}" + (f" {mark}" if mark else ""))
            for metric in SLICE_METRICS:
                mean, half = entry[metric][index]
                csv.append({"dataset": dataset, "protocol": protocol, "slicing": heading, "slice": labels[index],
                            "method": method, "metric": metric, "mean": "" if math.isnan(mean) else f"{mean:.6f}",
                            "ci95_half_width": "" if half is None else f"{half:.6f}", "users": entry["users"][index],
                            "p_holm_vs_reference": "" if entry["p"][index] is None else f"{entry['p'][index]:.3g}"})
        lines.append(f"| `{method}` | " + " | ".join(cells) + " |")
    return lines, csv


def render_slices(store: ResultStore, boards: dict[tuple[str, str], Board],
                  load_definition: Callable[[str], SliceDefinition], plots_dir: Path | None,
                  ) -> tuple[list[str], list[dict[str, Any]], dict[str, str]]:
    """(Markdown lines, CSV rows, plot file per dataset) for every board's slices."""
    from llmrec_benchmark.boards.plots import slice_lines

    lines = ["", "## Where methods win: slices", "",
             "Each cell: NDCG@10 / HR@10 over the slice's users (each user's value averaged over the row's seeds), ± the "
             "half-width of a 95% t-interval over those users. ↑/↓: significantly better/worse than the table's "
             "reference (`ref`, as in the main table) inside that slice: two-sided Wilcoxon signed-rank test over the "
             "slice's users, Holm-corrected across the methods of the slice, family-wise 0.05. Only ranked rows take "
             "part. Slices come from the training split only: users by the length of their training sequence "
             "(quartiles), test targets by their item's training popularity (head: the most popular items holding "
             "20% of training interactions; tail: the least popular holding the last 20%; torso: between; cold: never "
             "in training). The definitions are in `slices.json`; per-slice numbers in `slices.csv`."]
    csv: list[dict[str, Any]] = []
    plots: dict[str, str] = {}
    provenance: dict[str, Any] = {}
    values = UserValues(store)
    for dataset in sorted({d for d, _ in boards}):
        try:
            definition = load_definition(dataset)
        except Exception as exc:  # noqa: BLE001 - a render must not fail for want of the raw data
            lines += ["", f"### {dataset}", "", f"Slices unavailable: the training split could not be loaded ({exc})."]
            continue
        provenance[dataset] = definition.provenance()
        lines += ["", f"### {dataset}", "",
                  f"History bins (training items per user): {', '.join(definition.history_labels)}. Items per "
                  "popularity class: " + ", ".join(f"{k} {v}" for k, v in provenance[dataset]["popularity"]
                                                   ["items_per_class"].items()) + "."]
        panels = None
        per_protocol = {p: b for (d, p), b in boards.items() if d == dataset}
        for protocol, board in sorted(per_protocol.items(), key=lambda kv: (kv[0] != "full", kv[0])):
            ranked = [r for r in board["rows"] if r["ranked"]]
            if not ranked:
                lines += ["", f"{protocol}: no ranked row (every run is stale or did not converge), so no slices."]
                continue
            runs = {r["method"]: board["runs"][r["method"]] for r in ranked}
            fingerprints = {rec["dataset_fingerprint"] for recs in runs.values() for rec in recs}
            if fingerprints != {definition.fingerprint}:
                lines += ["", f"{protocol}: slices skipped: the records were computed on another version of the split "
                          f"({', '.join(sorted(fingerprints))} vs {definition.fingerprint})."]
                continue
            order = [r["method"] for r in ranked]
            slicings = (("training-history length", definition.history_labels, definition.user_history_bin),
                        ("target popularity", POPULARITY_SLICES, definition.user_target_class))
            tables = []
            for heading, labels, assignment in slicings:
                table = slice_table(values, runs, board["reference"], assignment, labels)
                section, rows = _slice_section(dataset, protocol, heading, labels, table, order)
                lines += section
                csv += rows
                tables.append((heading, labels, table))
            if panels is None or (protocol != "full" and len(order) > panels[0]):
                llm = {r["method"] for r in ranked if r["llm"]}
                panels = (len(order), protocol, [(f"by {h}", list(lb), {m: t[m]["NDCG@10"] for m in order}, llm)
                                                 for h, lb, t in tables])
        if panels is not None and plots_dir is not None:
            plots[dataset] = slice_lines(plots_dir / f"{dataset}-slices.png",
                                         f"{dataset}, {panels[1]}: NDCG@10 by slice", panels[2])
    (store.root / SLICES_FILE).write_text(json.dumps(provenance, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return lines, csv, plots
