"""Rendering leaderboards from result records only (never from live runs).

One table per (dataset, protocol): mean over seeds with a 95% Student-t confidence interval
(half-width shown as ``±``; none with one seed), the best mean per column in bold, and notes for
runs that hit their wall-clock budget. Methods that cannot rank the full catalogue are listed on
the full-ranking board as not applicable, and methods whose profile budget leaves out a candidate
board are listed on it as not run, with the reason; none is silently dropped.
"""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from benchmark.ablation import render_ablations
from benchmark.confidence import mean_ci
from benchmark.costs import render_costs
from benchmark.html import markdown_to_html
from benchmark.metrics import METRICS, PRIMARY_METRIC
from benchmark.results import ResultStore
from benchmark.significance import significance_marks, tie_ranks

PLOTS_DIR = "plots"
PROTOCOL_TITLES = {"full": "full ranking (all items, history masked)"}


def protocol_title(protocol: str) -> str:
    if protocol in PROTOCOL_TITLES:
        return PROTOCOL_TITLES[protocol]
    n = protocol.split("-")[1]
    return f"1 target + {n} sampled negatives (fixed candidate files)"


def current_records(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One record per (method, dataset, protocol, seed): the newest. A record whose config was
    superseded (e.g. a profile setting changed) stays in ``records.jsonl`` as history but is not
    mixed into the board with the runs that replaced it."""
    newest: dict[tuple, dict[str, Any]] = {}
    for record in records:
        key = (record["method"], record["dataset"], record["protocol"], record["seed"])
        if key not in newest or record["created_at"] >= newest[key]["created_at"]:
            newest[key] = record
    return list(newest.values())


def _group(records: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, list[dict[str, Any]]]]:
    """Main-board records by (dataset, protocol) and method; ablation variants are left out here
    and shown in their method's ablation table instead."""
    tables: dict[tuple[str, str], dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for record in records:
        if not record.get("disabled_components"):
            tables[(record["dataset"], record["protocol"])][record["method"]].append(record)
    return tables


def _notes(runs: list[dict[str, Any]]) -> str:
    limited = sum(r["training"]["stopped_by"] == "wall_clock" for r in runs)
    capped = sum(r["training"]["stopped_by"] == "max_epochs" for r in runs)
    notes = []
    if limited:
        notes.append(f"hit wall-clock budget in {limited}/{len(runs)} seeds")
    if capped:
        notes.append(f"reached max_epochs in {capped}/{len(runs)} seeds")
    tuned = {(r.get("tuning") or {}).get("trials") for r in runs}
    if tuned != {None}:
        notes.append("tuned: " + "/".join(str(t or 0) for t in sorted(tuned, key=lambda t: t or 0)) + " TPE trials")
    return "; ".join(notes)


def summarize_table(by_method: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    rows = []
    for method, runs in by_method.items():
        row: dict[str, Any] = {
            "method": method,
            "fidelity": runs[0]["method_card"]["fidelity"],
            "seeds": sorted(r["seed"] for r in runs),
            "users": runs[0]["n_eval_users"],
            "train_s": float(np.mean([r["timing"]["train_s"] for r in runs])),
            "epochs": float(np.mean([r["training"]["epochs"] for r in runs])),
            "notes": _notes(runs),
            "llm": runs[0].get("tokens_processed") is not None,
        }
        for metric in METRICS:
            row[metric] = mean_ci([r["metrics"][metric] for r in runs])
        rows.append(row)
    rows.sort(key=lambda r: -r[PRIMARY_METRIC][0])
    return rows


def _cell(value: tuple[float, float | None], best: bool) -> str:
    mean, half = value
    text = f"{mean:.4f}" + (f" ± {half:.4f}" if half is not None else "")
    return f"**{text}**" if best else text


def _markdown_table(rows: list[dict[str, Any]], not_applicable: list[tuple[str, str]], reference: str | None) -> list[str]:
    versus = f"vs `{reference}` (Holm)" if reference else "vs classic baseline"
    header = ["#", "method", "fidelity", *METRICS, versus, "seeds", "users", "train s", "epochs", "notes"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    best = {m: max(r[m][0] for r in rows) for m in METRICS} if rows else {}
    for row in rows:
        cells = [row["rank"], f"`{row['method']}`", row["fidelity"]]
        cells += [_cell(row[m], math.isclose(row[m][0], best[m])) for m in METRICS]
        cells += [row["mark"].text, ",".join(map(str, row["seeds"])), str(row["users"]), f"{row['train_s']:.1f}",
                  f"{row['epochs']:.1f}", row["notes"]]
        lines.append("| " + " | ".join(cells) + " |")
    for method, why in not_applicable:
        cells = ["–", f"`{method}`", "", *(["n/a"] * len(METRICS)), "", "", "", "", "", why]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def ranked_table(store: ResultStore, by_method: dict[str, list[dict[str, Any]]]) -> tuple[list[dict[str, Any]], str | None]:
    """Summarised rows with tie-aware ranks and significance marks, and the reference method."""
    rows = summarize_table(by_method)
    reference, marks = significance_marks(store, by_method, {r["method"]: r[PRIMARY_METRIC][0] for r in rows})
    for row, rank in zip(rows, tie_ranks(rows)):
        row["rank"], row["mark"] = rank, marks[row["method"]]
    return rows, reference


def _plots_section(folder: Path, boards: dict, records: list[dict[str, Any]]) -> list[str]:
    """Write the plots (stale PNGs from an earlier render are removed) and link them."""
    from benchmark.plots import render_plots

    written = render_plots(folder, boards, records)
    keep = {name for names in written.values() for name in names}
    for stale in folder.glob("*.png"):
        if stale.name not in keep:
            stale.unlink()
    lines = []
    for dataset, names in sorted(written.items()):
        lines += ["", f"## Plots: {dataset}", ""]
        lines += [f"![{name[:-4]}]({PLOTS_DIR}/{name})" for name in names]
    return lines


def render(store: ResultStore, profile: str, cards: Mapping[str, Mapping[str, Any]] | None = None,
           code_hashes: Mapping[str, str] | None = None) -> Path:
    """Write ``README.md``, ``leaderboard.csv``, ``plots/`` and ``index.html`` next to the records;
    returns the Markdown path. ``cards`` (method name -> card fields) completes the HTML's method
    cards with what records do not carry (description, deviations); without it the cards come from
    the records' own ``method_card``."""
    records = current_records(store.latest())
    tables = _group(records)
    not_run: dict[tuple[str, str], dict[str, str]] = defaultdict(dict)  # (dataset, protocol) -> method -> why
    for r in records:
        if r.get("disabled_components"):
            continue
        if not r["method_card"]["full_ranking"]:
            not_run[(r["dataset"], "full")][r["method"]] = "n/a: scores candidate lists only (cannot rank the full catalogue)"
        for protocol, why in (r.get("skipped_protocols") or {}).items():
            not_run[(r["dataset"], protocol)][r["method"]] = why
    shas = sorted({f"{r['code']['git_sha'] or 'unknown'}{'+dirty' if r['code']['dirty'] else ''}" for r in records})
    lines = [
        f"# Leaderboard: profile `{profile}`",
        "",
        f"Rendered by `python -m benchmark leaderboard --profile {profile}` from {len(records)} records in "
        "`records.jsonl` (do not edit by hand). Cells are the mean over seeds ± the half-width of a 95% "
        "Student-t confidence interval (no interval with one seed); the best mean per column is bold; rows are "
        f"ordered by {PRIMARY_METRIC}, and methods whose {PRIMARY_METRIC} intervals overlap share a rank (`=k`). "
        "The `vs` column compares each method with the table's strongest classic (non-LLM) baseline: a two-sided "
        "Wilcoxon signed-rank test over users of per-user NDCG@10 (averaged over the seeds both ran), "
        "Holm-corrected across the methods of the table; `better`/`worse` at family-wise 0.05, else `n.s.`. Split: leave-one-out by time (last item = test, second last = valid). "
        "Full ranking masks each user's history items (the target stays rankable) and breaks ties "
        "pessimistically. Candidate boards rank the target among N negatives never interacted with, "
        "drawn once per (dataset, N, seed) and shared by every method.",
        "",
        f"Code versions: {', '.join(shas) if shas else 'none'}.",
    ]
    csv_rows = []
    boards = {}
    for (dataset, protocol) in sorted(tables, key=lambda k: (k[0], k[1] != "full", k[1])):
        rows, reference = ranked_table(store, tables[(dataset, protocol)])
        boards[(dataset, protocol)] = rows
        not_applicable = sorted(not_run[(dataset, protocol)].items())
        lines += ["", f"## {dataset}: {protocol_title(protocol)}", ""]
        lines += _markdown_table(rows, not_applicable, reference)
        for row in rows:
            for metric in METRICS:
                mean, half = row[metric]
                csv_rows.append({
                    "dataset": dataset, "protocol": protocol, "method": row["method"], "metric": metric,
                    "mean": f"{mean:.6f}", "ci95_half_width": "" if half is None else f"{half:.6f}",
                    "n_seeds": len(row["seeds"]), "n_users": row["users"], "train_s": f"{row['train_s']:.2f}",
                    "rank": row["rank"], "vs_reference": row["mark"].text,
                })
    ablation_lines, ablation_csv = render_ablations(store, records)
    lines += ablation_lines
    lines += render_costs(records)
    csv_rows += ablation_csv
    store.root.mkdir(parents=True, exist_ok=True)
    lines += _plots_section(store.root / PLOTS_DIR, boards, records)
    markdown = store.root / "README.md"
    markdown.write_text("\n".join(lines) + "\n", encoding="utf-8")
    record_cards = {r["base_method"]: {"name": r["base_method"], **r["method_card"]} for r in records}
    page = markdown_to_html("\n".join(lines), store.root, {**record_cards, **{k: v for k, v in (cards or {}).items()
                                                                             if k in record_cards}})
    (store.root / "index.html").write_text(page, encoding="utf-8")
    with (store.root / "leaderboard.csv").open("w", newline="", encoding="utf-8") as handle:
        fieldnames = ["dataset", "protocol", "method", "metric", "mean", "ci95_half_width", "n_seeds", "n_users", "train_s",
                      "rank", "vs_reference"]
        writer = csv.DictWriter(handle, fieldnames=fieldnames, restval="")
        writer.writeheader()
        writer.writerows(csv_rows)
    return markdown
