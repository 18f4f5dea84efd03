"""Significance marks and tie-aware ranks on the main boards: Holm's correction, the paired
Wilcoxon test against the strongest classic baseline, and ranks shared where intervals overlap."""

from __future__ import annotations

import numpy as np

from llmrec_benchmark.boards.leaderboard import ranked_table, render
from llmrec_benchmark.boards.ranking import tie_ranks
from llmrec_benchmark.evaluation.significance import holm
from llmrec_benchmark.store.results import ResultStore

USERS = np.arange(1, 201)


def _record(method: str, seed: int, ranks: np.ndarray, llm: bool = False) -> tuple[dict, dict]:
    record_id = f"{method}-{seed}"
    gains = np.where(ranks < 10, 1.0 / np.log2(ranks + 2.0), 0.0)
    metrics = {m: float(gains.mean()) for m in ("HR@1", "HR@5", "HR@10", "HR@20", "NDCG@5", "NDCG@10", "NDCG@20", "MRR")}
    record = {
        "record_id": record_id, "config_hash": record_id, "method": method, "base_method": method,
        "disabled_components": [], "dataset": "toy", "protocol": "cand-19", "seed": seed, "metrics": metrics,
        "n_eval_users": len(ranks), "per_user_file": f"per_user/{record_id}.npz", "created_at": "2026-01-01T00:00:00Z",
        "method_card": {"fidelity": "paper-spec", "full_ranking": False}, "skipped_protocols": {},
        "training": {"stopped_by": "patience", "epochs": 1}, "timing": {"train_s": 1.0, "eval_s": 1.0},
        "tokens_processed": 1000 if llm else None, "code": {"git_sha": "abc", "dirty": False},
        "memory": {"peak_rss_mb": 100.0 + seed, "peak_gpu_mb": None}, "parameters": {"trainable": 10, "total": 2_000_000},
        "hardware": {"cpu_count": 2, "torch_threads": 2, "memory_gb": 8.0, "device": "cpu"},
    }
    return record, {record_id: {"users": USERS, "ranks": ranks.astype(np.int32)}}


def _store(tmp_path, runs: dict[str, tuple[list[np.ndarray], bool]]) -> ResultStore:
    store = ResultStore(tmp_path / "toy")
    for method, (per_seed, llm) in runs.items():
        for seed, ranks in enumerate(per_seed):
            record, per_user = _record(method, seed, ranks, llm)
            store.write_unit([record], per_user)
    return store


def test_holm_adjusts_in_step_down_order_and_stays_monotone():
    assert np.allclose(holm([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06])
    assert holm([0.5, 0.9]) == [1.0, 1.0]
    assert holm([]) == []


def test_ranks_are_shared_where_intervals_overlap_and_never_rise():
    rows = [{"NDCG@10": (0.50, 0.02)}, {"NDCG@10": (0.49, 0.01)}, {"NDCG@10": (0.40, 0.05)},
            {"NDCG@10": (0.36, None)}, {"NDCG@10": (0.20, None)}]
    assert tie_ranks(rows) == ["=1", "=1", "=3", "=3", "5"]


def test_marks_name_the_strongest_classic_baseline_and_correct_for_multiplicity(tmp_path):
    rng = np.random.default_rng(0)
    strong = [rng.integers(0, 4, USERS.size) for _ in range(2)]
    weak_classic = [np.full(USERS.size, 15) for _ in range(2)]
    llm_worse = [np.minimum(r + rng.integers(2, 6, USERS.size), 19) for r in strong]
    llm_same = [r.copy() for r in strong]
    llm_same[0][:3] += 1  # a handful of users differ: not a significant change
    store = _store(tmp_path, {
        "strong": (strong, False), "weak": (weak_classic, False), "llm-worse": (llm_worse, True),
        "llm-same": (llm_same, True),
    })
    by_method: dict[str, list[dict]] = {}
    for record in store.latest():
        by_method.setdefault(record["method"], []).append(record)
    rows, reference = ranked_table(store, by_method)
    marks = {row["method"]: row["mark"] for row in rows}
    assert reference == "strong" and marks["strong"].text == "reference"
    assert marks["llm-worse"].text.startswith("worse") and marks["llm-worse"].p_holm < 0.05
    assert marks["weak"].text.startswith("worse")
    assert marks["llm-same"].text.startswith("n.s.")
    board = render(store, "toy").read_text()
    assert "vs `strong` (Holm)" in board and "| reference |" in board
    costs = board.split("## Cost: toy")[1]
    assert "| `llm-worse` | cand-19 | 2 | 1.0 | 0.0 | 0.0 | 1.0 | 100 (RSS) | 10 | 2.00M | 1.00k | CPU model not recorded, 2 CPUs (2 torch threads), 8.0 GB |" in costs
    assert "| `strong` | cand-19 | 2 | 1.0 | 0.0 | 0.0 | 1.0 | 100 (RSS) | 10 | 2.00M | – |" in costs  # no LLM tokens


def test_a_table_without_classic_methods_has_no_reference(tmp_path):
    store = _store(tmp_path, {"llm-a": ([np.zeros(USERS.size, dtype=int)], True),
                              "llm-b": ([np.ones(USERS.size, dtype=int)], True)})
    by_method = {r["method"]: [r] for r in store.latest()}
    rows, reference = ranked_table(store, by_method)
    assert reference is None and {row["mark"].text for row in rows} == {"no classic baseline"}
    assert [row["rank"] for row in rows] == ["1", "2"]  # no reference to be "not significantly different" from
