"""Ablation tables: each method's full model against every variant with one component off.

Comparisons are paired: only seeds that both the full model and the variant ran are used (a
profile may run ablations on fewer seeds), and the per-user NDCG@10 differences on those seeds
get a Wilcoxon signed-rank test (each user's value averaged over those seeds, as on the main
boards), so a reader can tell a real effect from seed noise.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Iterator, Mapping

import numpy as np
import torch

from llmrec_benchmark.evaluation.confidence import mean_ci
from llmrec_benchmark.evaluation.metrics import per_user
from llmrec_benchmark.evaluation.significance import seed_average, wilcoxon_over_users
from llmrec_benchmark.store.results import ResultStore

ABLATION_METRICS = ("NDCG@10", "HR@10")


def headline_protocol(records: list[dict[str, Any]]) -> str:
    """Full ranking where the method supports it, else its smallest candidate board."""
    protocols = {r["protocol"] for r in records}
    if "full" in protocols:
        return "full"
    return min(protocols, key=lambda p: int(p.split("-")[1]))


BySeed = dict[int, dict[str, Any]]


def per_user_values(store: ResultStore, record: dict[str, Any], metric: str = "NDCG@10") -> dict[int, float]:
    """User id -> ``metric`` of that user's stored rank in ``record``."""
    stored = store.load_per_user(record)
    values = per_user(torch.from_numpy(stored["ranks"]), metric)
    return dict(zip(stored["users"].tolist(), values.tolist()))


def per_user_ndcg10(store: ResultStore, record: dict[str, Any]) -> dict[int, float]:
    return per_user_values(store, record, "NDCG@10")


def user_means(store: ResultStore, runs: dict[int, dict[str, Any]], seeds: list[int]) -> dict[int, float]:
    """Each user's NDCG@10 averaged over ``seeds`` (``seed_average``)."""
    return seed_average([per_user_ndcg10(store, runs[s]) for s in seeds])


def paired_test(store: ResultStore, runs: BySeed, baseline: BySeed, seeds: list[int]) -> tuple[float | None, float]:
    """Two-sided Wilcoxon signed-rank p over users of NDCG@10 (``runs`` minus ``baseline``, each
    user averaged over ``seeds``) and the mean difference; p is None when nothing differs."""
    return wilcoxon_over_users(user_means(store, runs, seeds), user_means(store, baseline, seeds))


def _cell(values: list[float], signed: bool) -> str:
    mean, half = mean_ci(values)
    text = f"{mean:+.4f}" if signed else f"{mean:.4f}"
    return text if half is None else f"{text} ± {half:.4f}"


def _wilcoxon(store: ResultStore, full: BySeed, variant: BySeed, seeds: list[int]) -> str:
    p, _ = paired_test(store, variant, full, seeds)
    return "n/a (no differences)" if p is None else f"{p:.3g}"


def ablation_groups(records: list[dict[str, Any]]) -> Iterator[tuple[str, str, str, BySeed, dict[str, BySeed]]]:
    """(dataset, method, headline protocol, full model's records by seed, each variant's records by
    seed) for every (dataset, method) that has variants; shared by the tables and the plots."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        groups[(r["dataset"], r["base_method"])].append(r)
    for (dataset, base), group in sorted(groups.items()):
        if not any(r["method"] != base for r in group):
            continue
        protocol = headline_protocol(group)
        full = {r["seed"]: r for r in group if r["protocol"] == protocol and r["method"] == base}
        variants: dict[str, BySeed] = defaultdict(dict)
        for r in group:
            if r["protocol"] == protocol and r["method"] != base:
                variants[r["method"]][r["seed"]] = r
        yield dataset, base, protocol, full, dict(sorted(variants.items()))


def paired_deltas(full: BySeed, variant: BySeed, metric: str = "NDCG@10") -> list[float]:
    """Variant minus full model, per seed both ran."""
    return [variant[s]["metrics"][metric] - full[s]["metrics"][metric] for s in sorted(variant.keys() & full.keys())]


def render_ablations(store: ResultStore, records: list[dict[str, Any]],
                     code_hashes: Mapping[str, str] | None = None) -> tuple[list[str], list[dict[str, Any]]]:
    """Markdown lines and CSV rows for every (dataset, method) that has ablation variants.

    So that Δ is the difference of two numbers the table shows, each variant row also shows the full
    model's NDCG@10 on the same seeds (``full, same seeds``): Δ = variant − that column, whatever
    seeds the full model's own row averages over. A row that hit the safety cap or is stale says
    so in its notes: its Δ is not an effect of the component."""
    from llmrec_benchmark.store.run_status import capped_note, stale
    lines: list[str] = []
    csv_rows: list[dict[str, Any]] = []
    for dataset, base, protocol, full, variants in ablation_groups(records):
        lines += ["", f"## Ablation: `{base}` on {dataset} ({protocol})", ""]
        if not full:
            lines.append(f"The full model `{base}` has no {protocol} records yet; nothing to compare against.")
            continue
        lines += [
            "Each row switches one component off (or sets a declared config variant) and is trained under the same stopping "
            "rule, on the same shared artifacts, as the full model. Δ is the variant minus the full model on the seeds both "
            "ran (the `full, same seeds` column), so it is the difference of two numbers shown in the row; p is a Wilcoxon "
            "signed-rank test over users of NDCG@10 differences (each user averaged over those seeds). It measures how "
            "consistently these trained models differ across test users, not how much training runs vary: with one seed, "
            "a small p does not by itself establish a component's effect (re-training can move Δ by more than it).",
            "",
            "| variant | seeds | " + " | ".join(ABLATION_METRICS) + " | full, same seeds: NDCG@10 | Δ NDCG@10 | p (per-user) | train s | notes |",
            "|---|---|" + "---|" * len(ABLATION_METRICS) + "---|---|---|---|---|",
        ]
        rows = [(base, full)] + list(variants.items())
        for name, by_seed in rows:
            seeds = sorted(by_seed.keys() & full.keys())
            cells = [f"`{name}`", ",".join(map(str, sorted(by_seed)))]
            for metric in ABLATION_METRICS:
                cells.append(_cell([by_seed[s]["metrics"][metric] for s in sorted(by_seed)], signed=False))
            if name == base:
                cells += ["–", "–", "–"]
            elif seeds:
                cells += [_cell([full[s]["metrics"]["NDCG@10"] for s in seeds], signed=False),
                          _cell(paired_deltas(full, by_seed), signed=True), _wilcoxon(store, full, by_seed, seeds)]
            else:
                cells += ["–", "no shared seed", "–"]
            notes = [capped_note(list(by_seed.values()))]
            if any(stale(r, code_hashes) for r in by_seed.values()):
                notes.append("stale: computed by older code")
            cells += [f"{np.mean([r['timing']['train_s'] for r in by_seed.values()]):.1f}", "; ".join(n for n in notes if n)]
            lines.append("| " + " | ".join(cells) + " |")
            for metric in ABLATION_METRICS:
                values = [by_seed[s]["metrics"][metric] for s in sorted(by_seed)]
                csv_rows.append({
                    "dataset": dataset, "protocol": protocol, "method": name, "metric": metric,
                    "mean": f"{np.mean(values):.6f}", "ci95_half_width": "", "n_seeds": len(values),
                    "n_users": next(iter(by_seed.values()))["n_eval_users"],
                    "train_s": f"{np.mean([r['timing']['train_s'] for r in by_seed.values()]):.2f}",
                })
    return lines, csv_rows
