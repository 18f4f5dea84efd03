"""Significance marks and tie-aware ranks for the main leaderboard tables.

Reference: the strongest classic baseline of the table (the best mean NDCG@10 among methods that
process no LLM tokens; ``tokens_processed`` is ``None`` in their records). Every other method is
compared with it on the users both evaluated: each user's NDCG@10 is averaged over the seeds both
ran, then a two-sided Wilcoxon signed-rank test runs over users (users are the independent units;
seeds of one user are not). The p-values of one table are Holm-corrected together, so a mark
holds at family-wise level 0.05 across the methods of that table.

Ranks: walking down the table (best mean first), a method whose 95% interval overlaps the interval
of its tie group's first method, and whose verdict against the reference (better / worse / not
significant) is the same, shares that method's rank (shown as ``=k``); any other method opens the
next group. With one seed the interval is the point.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


from llmrec_benchmark.boards.ablation import paired_test
from llmrec_benchmark.evaluation.metrics import PRIMARY_METRIC
from llmrec_benchmark.evaluation.significance import ALPHA, holm
from llmrec_benchmark.store.results import ResultStore

@dataclass(frozen=True)
class Mark:
    text: str  # what the board shows
    p_holm: float | None = None


def is_classic(runs: list[dict[str, Any]]) -> bool:
    return all(r.get("tokens_processed") is None for r in runs)


def significance_marks(store: ResultStore, by_method: dict[str, list[dict[str, Any]]],
                       means: dict[str, float]) -> tuple[str | None, dict[str, Mark]]:
    """(reference method, mark per method) for one table; no reference without a classic method."""
    classic = [m for m, runs in by_method.items() if is_classic(runs)]
    if not classic:
        return None, {m: Mark("no classic baseline") for m in by_method}
    reference = max(classic, key=lambda m: means[m])
    ref_runs = {r["seed"]: r for r in by_method[reference]}
    marks: dict[str, Mark] = {reference: Mark("reference")}
    tested: list[tuple[str, float, float]] = []  # (method, p, mean difference)
    for method, runs in by_method.items():
        if method == reference:
            continue
        own = {r["seed"]: r for r in runs}
        seeds = sorted(own.keys() & ref_runs.keys())
        if not seeds:
            marks[method] = Mark("no shared seed")
            continue
        p, direction = paired_test(store, own, ref_runs, seeds)
        if p is None:
            marks[method] = Mark("identical")
            continue
        tested.append((method, p, direction))
    for (method, _, direction), adjusted in zip(tested, holm([p for _, p, _ in tested])):
        if adjusted < ALPHA:
            marks[method] = Mark(f"{'better' if direction > 0 else 'worse'} (p={adjusted:.2g})", adjusted)
        else:
            marks[method] = Mark(f"n.s. (p={adjusted:.2g})", adjusted)
    return reference, marks


def verdict(mark: Mark) -> str:
    """'better', 'worse' or 'same' (reference, n.s., identical, untested) against the reference."""
    for word in ("better", "worse"):
        if mark.text.startswith(word):
            return word
    return "same"


def tie_ranks(rows: list[dict[str, Any]], metric: str = PRIMARY_METRIC, marks: list[Mark] | None = None) -> list[str]:
    """Rank labels for rows sorted best first: walking down, a row whose interval overlaps the
    interval of its tie group's first row shares that row's rank (``=k``); otherwise it opens a new
    group with its position as rank (competition ranking), so ranks never go up as means go down.
    With ``marks`` (the rows' significance marks), a row also opens a new group when its verdict
    against the reference differs from the group leader's, so a row marked significantly worse
    never shares a rank with the reference or with a row marked not significant; and a row not
    significantly different from the reference joins the reference's group even when the seed
    intervals do not overlap (as with one seed). So the rank column and the significance column
    cannot contradict each other."""
    ranks: list[int] = []
    leader_low, leader_verdict, leader_is_reference = None, None, False
    for position, row in enumerate(rows, start=1):
        mean, half = row[metric]
        low, high = mean - (half or 0.0), mean + (half or 0.0)
        mark = marks[position - 1] if marks else None
        own = verdict(mark) if mark else None
        overlaps = leader_low is not None and high >= leader_low
        if leader_low is not None and own == leader_verdict and (overlaps or (leader_is_reference and own == "same")):
            ranks.append(ranks[-1])
        else:
            ranks.append(position)
            leader_low, leader_verdict = low, own
            leader_is_reference = mark is not None and mark.text == "reference"
    return [f"={r}" if ranks.count(r) > 1 else str(r) for r in ranks]
