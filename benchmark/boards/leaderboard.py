"""Rendering leaderboards from result records only (never from live runs).

One table per (dataset, protocol): mean over seeds with a 95% Student-t confidence interval
(half-width shown as ``±``; none with one seed), the best mean per column in bold. Only rows whose
every run converged and was computed by the method's current code are ranked
(``benchmark.store.run_status``); rows that hit the safety cap or are stale are shown below the ranked
rows, unranked, with the reason. Methods that cannot rank the full catalogue are listed on the
full-ranking board as not applicable, methods whose profile budget leaves out a candidate board or
that the profile cannot converge are listed as not run, with the reason; none is silently dropped.
HR@k is hidden on a candidate board where k is at least the number of candidates (it is 1 there).
A banner opens each board: hardware, the stopping rule, how many runs converged, and what the
board can and cannot show.
"""

from __future__ import annotations

import csv
import json
import math
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from llmrec_benchmark.boards.ablation import headline_protocol, render_ablations
from llmrec_benchmark.boards.costs import render_costs
from llmrec_benchmark.boards.html import markdown_to_html
from llmrec_benchmark.boards.ranking import Mark, significance_marks, tie_ranks
from llmrec_benchmark.boards.reproduction import render_reproduction
from llmrec_benchmark.boards.slice_board import agreement, agreement_warning, render_agreement, render_slices
from llmrec_benchmark.boards.slices import SliceDefinition, slices_of_split
from llmrec_benchmark.errors import BenchmarkError
from llmrec_benchmark.evaluation.confidence import mean_ci
from llmrec_benchmark.evaluation.metrics import METRICS, PRIMARY_METRIC
from llmrec_benchmark.profiles import Profile, load_profile
from llmrec_benchmark.store.results import ResultStore, current_records
from llmrec_benchmark.store.run_status import capped_note, converged, not_run_note, stale

PLOTS_DIR = "plots"
PROTOCOL_TITLES = {"full": "full ranking (all items, history masked)"}


def protocol_title(protocol: str) -> str:
    if protocol in PROTOCOL_TITLES:
        return PROTOCOL_TITLES[protocol]
    n = protocol.split("-")[1]
    return f"1 target + {n} sampled negatives (fixed candidate files)"


def shown_metrics(protocol: str) -> tuple[str, ...]:
    """The metrics a table shows: on a 1+N board HR@k with k >= N+1 is always 1 and is hidden."""
    if protocol == "full":
        return METRICS
    size = int(protocol.split("-")[1]) + 1
    return tuple(m for m in METRICS if not (m.startswith("HR@") and int(m[3:]) >= size))


def _group(records: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, list[dict[str, Any]]]]:
    """Main-board records by (dataset, protocol) and method; ablation variants are left out here
    and shown in their method's ablation table instead."""
    tables: dict[tuple[str, str], dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for record in records:
        if not record.get("disabled_components"):
            tables[(record["dataset"], record["protocol"])][record["method"]].append(record)
    return tables


def _notes(runs: list[dict[str, Any]], code_hashes: Mapping[str, str] | None = None) -> str:
    capped = sum(r["training"]["stopped_by"] == "max_epochs" for r in runs)
    note = capped_note(runs)
    notes = [note] if note else []
    if any(stale(r, code_hashes) for r in runs):
        notes.append("stale: computed by older code than the method's current code (re-run it)")
    if capped:
        notes.append(f"reached max_epochs in {capped}/{len(runs)} seeds")
    tuned = {(r.get("tuning") or {}).get("trials") for r in runs}
    if tuned != {None}:
        notes.append("tuned: " + "/".join(str(t or 0) for t in sorted(tuned, key=lambda t: t or 0)) + " TPE trials")
    return "; ".join(notes)


def fidelity_cell(record: dict[str, Any]) -> str:
    """The fidelity, plus the backbone that actually ran for an LLM method."""
    backbone = (record["training"].get("notes") or {}).get("backbone") or {}
    label = backbone.get("label")
    if label and (record.get("config") or {}).get("precision") == "bf16":
        label += ", bf16"
    return f"{record['method_card']['fidelity']}; {label}" if label else record["method_card"]["fidelity"]


def summarize_table(by_method: dict[str, list[dict[str, Any]]],
                    code_hashes: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    rows = []
    for method, runs in by_method.items():
        row: dict[str, Any] = {
            "method": method,
            "fidelity": fidelity_cell(runs[0]),
            "seeds": sorted(r["seed"] for r in runs),
            "users": runs[0]["n_eval_users"],
            "train_s": float(np.mean([r["timing"]["train_s"] for r in runs])),
            "epochs": float(np.mean([r["training"]["epochs"] for r in runs])),
            "notes": _notes(runs, code_hashes),
            "llm": runs[0].get("tokens_processed") is not None,
            "ranked": all(converged(r) and not stale(r, code_hashes) for r in runs),
        }
        for metric in METRICS:
            row[metric] = mean_ci([r["metrics"][metric] for r in runs])
        rows.append(row)
    rows.sort(key=lambda r: (not r["ranked"], -r[PRIMARY_METRIC][0]))
    return rows


def _cell(value: tuple[float, float | None], best: bool) -> str:
    mean, half = value
    text = f"{mean:.4f}" + (f" ± {half:.4f}" if half is not None else "")
    return f"**{text}**" if best else text


def _markdown_table(rows: list[dict[str, Any]], not_applicable: list[tuple[str, str]], reference: str | None,
                    metrics: tuple[str, ...] = METRICS) -> list[str]:
    versus = f"vs `{reference}` (Holm)" if reference else "vs classic baseline"
    header = ["#", "method", "fidelity", *metrics, versus, "seeds", "users", "train s", "epochs", "notes"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    ranked = [r for r in rows if r.get("ranked", True)]
    best = {m: max(r[m][0] for r in ranked) for m in metrics} if ranked else {}
    for row in rows:
        cells = [row["rank"], f"`{row['method']}`", row["fidelity"]]
        cells += [_cell(row[m], row.get("ranked", True) and math.isclose(row[m][0], best[m])) for m in metrics]
        cells += [row["mark"].text, ",".join(map(str, row["seeds"])), str(row["users"]), f"{row['train_s']:.1f}",
                  f"{row['epochs']:.1f}", row["notes"]]
        lines.append("| " + " | ".join(cells) + " |")
    for method, why in not_applicable:
        cells = ["–", f"`{method}`", "", *(["n/a"] * len(metrics)), "", "", "", "", "", why]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def ranked_table(store: ResultStore, by_method: dict[str, list[dict[str, Any]]],
                 code_hashes: Mapping[str, str] | None = None) -> tuple[list[dict[str, Any]], str | None]:
    """Summarised rows with tie-aware ranks and significance marks, and the reference method. Only
    ranked rows (converged, current code) take part: an unranked row cannot be the reference, gets
    no rank and no mark, so its numbers never enter a comparison a reader could cite."""
    rows = summarize_table(by_method, code_hashes)
    ranked = [r for r in rows if r["ranked"]]
    reference, marks = significance_marks(store, {r["method"]: by_method[r["method"]] for r in ranked},
                                          {r["method"]: r[PRIMARY_METRIC][0] for r in ranked})
    for row, rank in zip(ranked, tie_ranks(ranked, marks=[marks[r["method"]] for r in ranked])):
        row["rank"], row["mark"] = rank, marks[row["method"]]
    for row in rows:
        if not row["ranked"]:
            row["rank"], row["mark"] = "–", Mark("unranked")
    return rows, reference


def _plots_section(folder: Path, boards: dict, records: list[dict[str, Any]],
                   extra: Mapping[str, str] | None = None) -> list[str]:
    """Write the plots (stale PNGs from an earlier render are removed) and link them; ``extra``
    holds one already written plot per dataset (the slice plot)."""
    from llmrec_benchmark.boards.plots import render_plots

    written = render_plots(folder, boards, records)
    for dataset, name in (extra or {}).items():
        written.setdefault(dataset, []).append(name)
    keep = {name for names in written.values() for name in names}
    for old_png in folder.glob("*.png"):
        if old_png.name not in keep:
            old_png.unlink()
    lines = []
    for dataset, names in sorted(written.items()):
        lines += ["", f"## Plots: {dataset}", ""]
        lines += [f"![{name[:-4]}]({PLOTS_DIR}/{name})" for name in names]
    return lines


def _slice_definition(dataset: str, profile: Profile | None) -> SliceDefinition:
    """The slices of ``dataset``'s split as the board's profile loads it (its user cap)."""
    from llmrec_benchmark.data.loading import load_split

    return slices_of_split(load_split(dataset, profile.user_cap if profile is not None else None))


def _profile(name: str) -> Profile | None:
    """The built-in profile a board belongs to (for its banner and not-run list), if there is one."""
    try:
        return load_profile(name)
    except BenchmarkError:  # a board of a custom profile path or a renamed profile: render without it
        return None


def _scoped_variants(variants: bool | list[str]) -> str:
    if variants is True:
        return ""
    if not variants:
        return ", without its ablation and config variants"
    return f", with only these variants: {', '.join(f'`[{v}]`' for v in variants)}"


def banner(records: list[dict[str, Any]], profile: Profile | None, code_hashes: Mapping[str, str] | None) -> list[str]:
    """What a reader must know before reading a number: hardware, the stopping rule, how many runs
    converged, and what the board can and cannot show."""
    from llmrec_benchmark.boards.costs import hardware_label

    if not records:
        return ["> No records yet."]
    # the cap is a safety net, not part of a run's definition: records that converged under
    # different caps are the same kind of run (``benchmark.engine.planning.settles``)
    budgets = {json.dumps({k: v for k, v in (r.get("budget") or {}).items() if k != "wall_clock_s"}, sort_keys=True)
               for r in records}
    if profile is not None:
        budget = vars(profile.budget)
    else:
        budget = records[0].get("budget") or {"patience": "?", "max_epochs": "?", "wall_clock_s": float("nan")}
    by_run: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        by_run[record["config_hash"]].append(record)
    headlines = [next(r for r in run if r["protocol"] == headline_protocol(run)) for run in by_run.values()]
    # runs per machine: the same core count can mean 1.5-1.8x different speeds, so a reader comparing
    # train times needs to know which rows ran where
    machines = Counter(hardware_label(r.get("hardware", {})) for r in headlines)
    hardware = [f"{label} ({n} run{'' if n == 1 else 's'})" for label, n in sorted(machines.items())]
    done = sum(converged(r) for r in headlines)
    old = sum(stale(r, code_hashes) for r in headlines)
    not_run_methods = sorted(profile.not_run) if profile is not None else []
    return [
        "> **Read this first.**",
        f"> **Hardware**: {'; '.join(hardware)}.",
        f"> **Stopping rule** (the same for every method): early stopping after {budget['patience']} epochs without a "
        f"better valid NDCG@10, at most {budget['max_epochs']} epochs; the {budget['wall_clock_s']:g} s wall clock per "
        "run is a safety cap, not a budget: a run that hits it is *not converged*, gets no rank and cannot be the "
        "reference of the `vs` column. Cost (train s, tokens, artifact time) is reported, not equalised."
        + (" (Records with different budgets are mixed here.)" if len(budgets) > 1 else ""),
        f"> **Converged**: {done} of {len(headlines)} runs; {old} stale (computed by older code)."
        + (f" Not run: {', '.join(f'`{m}`' for m in not_run_methods)} (see the tables)." if not_run_methods else ""),
        *(f"> **Run in part** (`{method}`): its full model on seed{'s' if len(entry['seeds']) > 1 else ''} "
          f"{', '.join(map(str, entry['seeds']))} only{_scoped_variants(entry['variants'])}; {entry['why']}"
          for method, entry in sorted((profile.scope if profile is not None else {}).items())),
        "> **This board can show** how the ranked methods compare on these datasets, splits and candidate files "
        "under this profile's backbones (named in each LLM row's fidelity cell) and stopping rule. **It cannot show** "
        "how they compare at paper scale (larger or whole backbones, other datasets), nor anything about rows marked "
        "not converged, stale or not run; sampled-candidate boards can order methods differently from full ranking.",
    ]


def _note_versus_random(store: ResultStore, rows: list[dict[str, Any]], by_method: dict[str, list[dict[str, Any]]]) -> None:
    """Append 'vs random' to each LLM row's notes: does it beat chance on the users both ranked?"""
    from llmrec_benchmark.boards.ablation import paired_test

    if "random" not in by_method:
        return
    chance = {r["seed"]: r for r in by_method["random"]}
    for row in rows:
        if not row["llm"]:
            continue
        own = {r["seed"]: r for r in by_method[row["method"]]}
        seeds = sorted(own.keys() & chance.keys())
        if not seeds:
            continue
        p, difference = paired_test(store, own, chance, seeds)
        verdict = "beats random" if p is not None and p < 0.05 and difference > 0 else "does not beat random"
        note = f"{verdict} (p={p:.2g})" if p is not None else "identical to random"
        row["notes"] = f"{row['notes']}; {note}" if row["notes"] else note


def render(store: ResultStore, profile: str, cards: Mapping[str, Mapping[str, Any]] | None = None,
           code_hashes: Mapping[str, str] | None = None) -> Path:
    """Write ``README.md``, ``leaderboard.csv``, ``plots/`` and ``index.html`` next to the records;
    returns the Markdown path. ``cards`` (method name -> card fields) completes the HTML's method
    cards with what records do not carry (description, deviations); without it the cards come from
    the records' own ``method_card``."""
    records = current_records(store.latest())
    tables = _group(records)
    loaded = _profile(profile)
    not_run: dict[tuple[str, str], dict[str, str]] = defaultdict(dict)  # (dataset, protocol) -> method -> why
    for r in records:
        if r.get("disabled_components"):
            continue
        if not r["method_card"]["full_ranking"]:
            not_run[(r["dataset"], "full")][r["method"]] = "n/a: scores candidate lists only (cannot rank the full catalogue)"
        for protocol, why in (r.get("skipped_protocols") or {}).items():
            not_run[(r["dataset"], protocol)][r["method"]] = why
    if loaded is not None and records:
        ran = {r["base_method"] for r in records}
        for method in (m for m in loaded.methods if m not in ran):
            scope = (cards or {}).get(method, {})
            limit = (loaded.method_config.get(method) or {}).get("max_candidates")
            for key in tables:
                if key[1] == "full" and scope.get("full_ranking") is False:
                    continue
                if key[1] != "full" and limit is not None and int(key[1].split("-")[1]) > limit:
                    continue
                not_run[key].setdefault(method, "not run yet: the profile lists it but this store has no record of it "
                                                "(`python -m benchmark run --all` runs what is missing)")
        for method, entry in loaded.not_run.items():
            why = not_run_note(method, entry, loaded.budget.wall_clock_s, store.root.parent)
            for key in tables:
                not_run[key].setdefault(method, why)
    shas = sorted({f"{r['code']['git_sha'] or 'unknown'}{'+dirty' if r['code']['dirty'] else ''}" for r in records})
    lines = [
        f"# Leaderboard: profile `{profile}`",
        "",
        *banner(records, loaded, code_hashes),
        "",
        f"Rendered by `python -m benchmark leaderboard --profile {profile}` from {len(records)} records in "
        "`records.jsonl` (do not edit by hand). Cells are the mean over seeds ± the half-width of a 95% "
        "Student-t confidence interval (no interval with one seed); the best mean per column among ranked rows is "
        f"bold; ranked rows are ordered by {PRIMARY_METRIC}, and a method whose {PRIMARY_METRIC} interval overlaps "
        "that of its tie group's first method, with the same significance verdict, shares its rank (`=k`). "
        "The `vs` column compares each ranked method with the table's strongest ranked classic (non-LLM) baseline: a "
        "two-sided Wilcoxon signed-rank test over users of per-user NDCG@10 (averaged over the seeds both ran), "
        "Holm-corrected across the methods of the table; `better`/`worse` at family-wise 0.05, else `n.s.`. "
        "LLM rows also state in their notes whether they beat the `random` row (the same paired test, uncorrected). "
        "HR@k is hidden where k is at least the number of candidates (it is always 1 there). "
        "Split: leave-one-out by time (last item = test, second last = valid). "
        "Full ranking masks each user's history items (the target stays rankable) and breaks ties "
        "pessimistically. Candidate boards rank the target among N negatives never interacted with, "
        "drawn once per (dataset, N, seed) and shared by every method.",
        "",
        f"Code versions: {', '.join(shas) if shas else 'none'}.",
    ]
    lines += render_reproduction(loaded, records, code_hashes)
    csv_rows = []
    boards, references = {}, {}
    keys = sorted(tables, key=lambda k: (k[0], k[1] != "full", k[1]))
    for key in keys:
        boards[key], references[key] = ranked_table(store, tables[key], code_hashes)
        _note_versus_random(store, boards[key], tables[key])
    agreements = {d: agreement({p: {"rows": boards[(d2, p)]} for d2, p in keys if d2 == d}) for d in {d for d, _ in keys}}
    for (dataset, protocol) in keys:
        rows, reference = boards[(dataset, protocol)], references[(dataset, protocol)]
        not_applicable = sorted(not_run[(dataset, protocol)].items())
        metrics = shown_metrics(protocol)
        lines += ["", f"## {dataset}: {protocol_title(protocol)}", ""]
        warning = agreement_warning(protocol, agreements[dataset]) if protocol != "full" else None
        if warning:
            lines += [warning, ""]
        lines += _markdown_table(rows, not_applicable, reference, metrics)
        for row in rows:
            for metric in metrics:
                mean, half = row[metric]
                csv_rows.append({
                    "dataset": dataset, "protocol": protocol, "method": row["method"], "metric": metric,
                    "mean": f"{mean:.6f}", "ci95_half_width": "" if half is None else f"{half:.6f}",
                    "n_seeds": len(row["seeds"]), "n_users": row["users"], "train_s": f"{row['train_s']:.2f}",
                    "rank": row["rank"], "vs_reference": row["mark"].text,
                })
    for dataset in sorted(agreements):
        lines += render_agreement(dataset, agreements[dataset])
    store.root.mkdir(parents=True, exist_ok=True)
    slice_lines, slice_csv, slice_plots = render_slices(
        store, {k: {"rows": boards[k], "reference": references[k], "runs": tables[k]} for k in keys},
        lambda dataset: _slice_definition(dataset, loaded), store.root / PLOTS_DIR)
    lines += slice_lines
    ablation_lines, ablation_csv = render_ablations(store, records, code_hashes)
    lines += ablation_lines
    lines += render_costs(records)
    csv_rows += ablation_csv
    lines += _plots_section(store.root / PLOTS_DIR, boards, records, slice_plots)
    markdown = store.root / "README.md"
    markdown.write_text("\n".join(lines) + "\n", encoding="utf-8")
    record_cards = {r["base_method"]: {"name": r["base_method"], **r["method_card"]} for r in records}
    llm_methods = {r["base_method"] for r in records if r.get("tokens_processed") is not None}
    page = markdown_to_html("\n".join(lines), store.root, {**record_cards, **{k: v for k, v in (cards or {}).items()
                                                                             if k in record_cards}}, llm_methods)
    (store.root / "index.html").write_text(page, encoding="utf-8")
    with (store.root / "leaderboard.csv").open("w", newline="", encoding="utf-8") as handle:
        fieldnames = ["dataset", "protocol", "method", "metric", "mean", "ci95_half_width", "n_seeds", "n_users", "train_s",
                      "rank", "vs_reference"]
        writer = csv.DictWriter(handle, fieldnames=fieldnames, restval="")
        writer.writeheader()
        writer.writerows(csv_rows)
    with (store.root / "slices.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["dataset", "protocol", "slicing", "slice", "method", "metric", "mean",
                                                    "ci95_half_width", "users", "p_holm_vs_reference"])
        writer.writeheader()
        writer.writerows(slice_csv)
    return markdown
