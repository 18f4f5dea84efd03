"""The stopping rule and the stale-row rule: a run that hits the safety cap or was computed by older
code is never ranked nor a reference; a capped first seed blocks its method's other seeds and
variants; a record from older code is re-run. Also the board's honesty guards: HR@k hidden where it
is trivially 1, rank marks that cannot contradict the significance column, ablation deltas that are
the difference of two displayed numbers, and the code hash's scope."""

from __future__ import annotations

import json

import numpy as np

from llmrec_benchmark.boards.leaderboard import ranked_table, render, shown_metrics
from llmrec_benchmark.boards.ranking import Mark, tie_ranks
from llmrec_benchmark.store.code_hash import method_code_hash, method_code_modules
from tests.test_significance import USERS, _record, _store


def _by_method(store):
    by_method: dict[str, list[dict]] = {}
    for record in store.latest():
        by_method.setdefault(record["method"], []).append(record)
    return by_method


def _cap(store, method: str) -> None:
    """Rewrite ``method``'s records as runs that hit the 900 s safety cap."""
    lines = []
    for line in store.records_path.read_text().splitlines():
        record = json.loads(line)
        if record["method"] == method:
            record["training"] = {"stopped_by": "wall_clock", "epochs": 4, "best_epoch": 3}
        record["budget"] = {"patience": 5, "max_epochs": 200, "wall_clock_s": 900}
        lines.append(json.dumps(record))
    store.records_path.write_text("\n".join(lines) + "\n")


def test_a_capped_run_is_unranked_and_never_the_reference(tmp_path):
    rng = np.random.default_rng(1)
    best = [np.zeros(USERS.size, dtype=int) for _ in range(2)]  # the best classic numbers, but capped
    good = [rng.integers(0, 3, USERS.size) for _ in range(2)]
    store = _store(tmp_path, {"capped": (best, False), "good": (good, False),
                              "weak": ([np.full(USERS.size, 12) for _ in range(2)], False)})
    _cap(store, "capped")
    rows, reference = ranked_table(store, _by_method(store))
    by_name = {row["method"]: row for row in rows}
    assert reference == "good"
    assert by_name["capped"]["rank"] == "–" and by_name["capped"]["mark"].text == "unranked"
    assert rows[-1]["method"] == "capped"  # listed after every ranked row despite the best mean
    assert "not converged: hit the 900 s safety cap in 2/2 seeds" in by_name["capped"]["notes"]
    assert "needs at least 2.2x the cap" in by_name["capped"]["notes"]  # 4 epochs done, >= 5 more needed... at least 9/4
    board = render(store, "toy").read_text()
    assert "**Converged**: 4 of 6 runs" in board


def test_the_banner_says_how_many_runs_each_machine_ran(tmp_path):
    rng = np.random.default_rng(2)
    store = _store(tmp_path, {"a": ([rng.integers(0, 5, USERS.size) for _ in range(2)], False),
                              "b": ([rng.integers(0, 5, USERS.size) for _ in range(2)], False)})
    lines = []
    for line in store.records_path.read_text().splitlines():
        record = json.loads(line)
        if record["record_id"] == "b-1":  # one run on a recorded CPU, three on machines that predate the field
            record["hardware"] = {**record["hardware"], "cpu_model": "AMD EPYC", "cpu_features": ["avx2"]}
        lines.append(json.dumps(record))
    store.records_path.write_text("\n".join(lines) + "\n")
    hardware = next(line for line in render(store, "toy").read_text().splitlines() if line.startswith("> **Hardware**"))
    assert "AMD EPYC (avx2), 2 CPUs (2 torch threads), 8.0 GB (1 run)" in hardware
    assert "CPU model not recorded, 2 CPUs (2 torch threads), 8.0 GB (3 runs)" in hardware


def test_a_stale_row_is_marked_and_unranked(tmp_path):
    store = _store(tmp_path, {"a": ([np.zeros(USERS.size, dtype=int)], False), "b": ([np.ones(USERS.size, dtype=int)], False)})
    rows, reference = ranked_table(store, _by_method(store), code_hashes={"a": "new", "b": "new"})
    assert all(row["rank"] == "–" for row in rows) and reference is None  # no record carries the current code hash
    assert all("stale: computed by older code" in row["notes"] for row in rows)
    rows, reference = ranked_table(store, _by_method(store))  # without code hashes nothing is judged stale
    assert reference == "a"


def test_rank_and_significance_never_contradict():
    rows = [{"NDCG@10": (0.50, 0.05)}, {"NDCG@10": (0.48, 0.05)}, {"NDCG@10": (0.47, 0.05)}]
    marks = [Mark("reference"), Mark("worse (p=0.001)"), Mark("n.s. (p=0.4)")]
    ranks = tie_ranks(rows, marks=marks)
    assert ranks[0] != ranks[1]  # overlapping intervals, but significantly worse: not tied with the reference
    assert tie_ranks(rows) == ["=1", "=1", "=1"]  # intervals alone would have tied all three
    single_seed = [{"NDCG@10": (0.50, None)}, {"NDCG@10": (0.45, None)}, {"NDCG@10": (0.30, None)}]
    ranks = tie_ranks(single_seed, marks=[Mark("reference"), Mark("n.s. (p=0.06)"), Mark("worse (p=1e-9)")])
    assert ranks == ["=1", "=1", "3"]  # not significantly different from the reference: its rank


def test_hr_at_k_is_hidden_where_it_is_always_one():
    assert "HR@20" not in shown_metrics("cand-19") and "HR@10" in shown_metrics("cand-19")
    assert "HR@20" in shown_metrics("cand-99") and "HR@20" in shown_metrics("full")
    assert "NDCG@20" in shown_metrics("cand-19")


def test_code_hash_covers_the_method_and_its_shared_layers_only():
    darec = method_code_modules("llmrec_methods.darec")
    assert {"llmrec_methods.darec", "llmrec_methods.llm.itemrec", "llmrec_methods.llm.adapters", "llmrec_benchmark.engine.training",
            "llmrec_benchmark.evaluation.metrics", "llmrec_benchmark.data.split", "llmrec_benchmark.data.candidates", "llmrec_benchmark.evaluation.protocols"} <= set(darec)
    assert "llmrec_methods.delrec" not in darec and "llmrec_benchmark.boards.leaderboard" not in darec
    assert "llmrec_methods.llm.itemrec" not in method_code_modules("llmrec_methods.pop")
    assert method_code_hash("llmrec_methods.darec") != method_code_hash("llmrec_methods.mixrec")
    assert method_code_hash("llmrec_methods.darec") == method_code_hash("llmrec_methods.darec")


# -- the run plan ---------------------------------------------------------------------------------
import dataclasses  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from llmrec_benchmark.profiles import load_profile  # noqa: E402
from llmrec_benchmark.engine.registry import Registry  # noqa: E402
from llmrec_benchmark.store.results import ResultStore  # noqa: E402
from llmrec_benchmark.engine.planning import pilots, plan  # noqa: E402
from llmrec_methods import BUILTIN_METHODS  # noqa: E402
from tests.conftest import run_units  # noqa: E402


@pytest.fixture(scope="module")
def small_profile():
    profile = load_profile("ci")
    return dataclasses.replace(profile, user_cap=60, max_history=10,
                               budget=dataclasses.replace(profile.budget, max_epochs=2))


def test_a_first_seed_that_hits_the_cap_blocks_the_other_seeds(small_profile, tmp_path):
    capped = dataclasses.replace(small_profile, budget=dataclasses.replace(small_profile.budget, wall_clock_s=1e-6))
    registry, store = Registry(BUILTIN_METHODS), ResultStore(tmp_path / "ci")
    units = plan(capped, registry, ["sasrec-ce", "pop"], ["ml-100k"], [0, 1], store, False)
    first = pilots(units)
    assert sorted((u.method.name, u.seed) for u in first) == [("pop", 0), ("sasrec-ce", 0)]
    run_units(capped, store, first)
    assert {r["method"]: r["training"]["stopped_by"] for r in store.latest()} == {"sasrec-ce": "wall_clock", "pop": "completed"}
    again = {(u.method.name, u.seed): u for u in plan(capped, registry, ["sasrec-ce", "pop"], ["ml-100k"], [0, 1], store, False)}
    assert again[("sasrec-ce", 1)].blocked.startswith("not run: sasrec-ce seed 0 hit the 1e-06 s safety cap")
    assert not again[("sasrec-ce", 1)].pending and again[("pop", 1)].pending  # pop converged: its seed 1 runs
    assert again[("sasrec-ce", 0)].done


def test_a_record_from_older_code_is_re_run_unless_kept(small_profile, tmp_path):
    registry, store = Registry(BUILTIN_METHODS), ResultStore(tmp_path / "ci")
    run_units(small_profile, store, plan(small_profile, registry, ["pop"], ["ml-100k"], [0], store, False))
    assert all(u.done for u in plan(small_profile, registry, ["pop"], ["ml-100k"], [0], store, False))
    lines = [json.loads(line) for line in store.records_path.read_text().splitlines()]
    assert {r["code_hash"] for r in lines} == {method_code_hash("llmrec_methods.pop")}
    for record in lines:
        record["code_hash"] = "older-code"
    store.records_path.write_text("".join(json.dumps(r) + "\n" for r in lines))
    assert all(u.pending for u in plan(small_profile, registry, ["pop"], ["ml-100k"], [0], store, False))
    assert all(u.done for u in plan(small_profile, registry, ["pop"], ["ml-100k"], [0], store, False, keep_stale=True))
    board = render(store, "ci", code_hashes={"pop": method_code_hash("llmrec_methods.pop")}).read_text()
    assert "stale: computed by older code" in board and "| – | `pop` |" in board


def test_raising_the_cap_re_runs_exactly_the_capped_runs(small_profile, tmp_path):
    """The cap is a safety net, not part of a run's definition: a converged record stays done under
    any cap (same config hash), a capped one is re-run once the cap grows, and its method is no
    longer blocked."""
    capped = dataclasses.replace(small_profile, budget=dataclasses.replace(small_profile.budget, wall_clock_s=1e-6))
    assert capped.digest() == small_profile.digest()
    registry, store = Registry(BUILTIN_METHODS), ResultStore(tmp_path / "ci")
    run_units(capped, store, pilots(plan(capped, registry, ["sasrec-ce", "pop"], ["ml-100k"], [0, 1], store, False)))
    smaller = dataclasses.replace(small_profile, budget=dataclasses.replace(small_profile.budget, wall_clock_s=1e-7))
    assert all(u.done for u in plan(smaller, registry, ["sasrec-ce", "pop"], ["ml-100k"], [0], store, False))
    raised = {(u.method.name, u.seed): u for u in plan(small_profile, registry, ["sasrec-ce", "pop"], ["ml-100k"], [0, 1],
                                                       store, False)}
    assert raised[("pop", 0)].done  # converged under the tiny cap: valid under any cap
    assert raised[("sasrec-ce", 0)].pending  # capped at 1e-06 s: the larger cap may let it converge
    assert raised[("sasrec-ce", 1)].pending and raised[("sasrec-ce", 1)].blocked is None


def test_a_scoped_method_runs_only_its_declared_seeds_and_says_why(small_profile, tmp_path, monkeypatch):
    why = "each run takes ~2,000 s here (measured)"
    scoped = dataclasses.replace(small_profile, scope={"sasrec-ce": {"seeds": [0], "variants": False, "why": why}})
    registry, store = Registry(BUILTIN_METHODS), ResultStore(tmp_path / "ci")
    units = {(u.method.name, u.seed): u for u in plan(scoped, registry, ["sasrec-ce", "sasrec-ce[logits_at=every_position]", "pop"],
                                                      ["ml-100k"], [0, 1], store, False, seeds_given=True)}
    assert units[("sasrec-ce", 0)].pending and units[("pop", 1)].pending
    for key in (("sasrec-ce", 1), ("sasrec-ce[logits_at=every_position]", 0)):
        assert units[key].blocked == f"not run in profile 'ci': {why}"
    run_units(scoped, store, [units[("pop", 0)]])
    monkeypatch.setattr("llmrec_benchmark.boards.leaderboard._profile", lambda name: scoped)
    board = render(store, "ci").read_text()
    assert f"**Run in part** (`sasrec-ce`): its full model on seed 0 only, without its ablation and config variants; {why}" in board


@pytest.mark.parametrize("entry, problem", [
    ({"seeds": [0], "variants": False}, "must have exactly the keys seeds, variants, why"),
    ({"seeds": [7], "variants": False, "why": "slow"}, "must be a non-empty subset of 'seeds'"),
    ({"seeds": [0], "variants": "no", "why": "slow"}, "variants must be true, false or a list"),
    ({"seeds": [0], "variants": False, "why": " "}, "why must say why"),
])
def test_a_bad_scope_entry_is_named(tmp_path, entry, problem):
    import yaml

    from llmrec_benchmark.errors import BenchmarkError

    raw = yaml.safe_load((Path(__file__).parents[1] / "benchmark/profiles/ci.yaml").read_text())
    raw["scope"] = {raw["methods"][0]: entry}
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(BenchmarkError, match=problem):
        load_profile(str(path))


def test_a_scope_can_keep_a_listed_variant(small_profile, tmp_path):
    scoped = dataclasses.replace(small_profile, scope={"sasrec-ce": {"seeds": [0], "variants": ["logits_at=every_position"],
                                                                      "why": "measured"}})
    registry, store = Registry(BUILTIN_METHODS), ResultStore(tmp_path / "ci")
    specs = ["sasrec-ce", "sasrec-ce[logits_at=every_position]", "sasrec-ce[logits_at=targets]"]
    units = {u.method.name: u for u in plan(scoped, registry, specs, ["ml-100k"], [0], store, False)}
    assert units["sasrec-ce[logits_at=every_position]"].pending
    assert units["sasrec-ce[logits_at=targets]"].blocked == "not run in profile 'ci': measured"


def test_an_estimate_times_the_current_rule_not_an_older_one():
    """The committed quick store holds DELRec under patience 5 (stopped at epoch 18, 2,329 s) and
    under patience 10 (37 epochs, 4,513 s): a --force estimate of the current run is the current
    record's time, not the mean of both rules."""
    from llmrec_benchmark.engine.planning import estimate_seconds, plan
    from llmrec_benchmark.engine.registry import Registry
    from llmrec_benchmark.paths import REPO_ROOT
    from llmrec_benchmark.profiles import load_profile
    from llmrec_benchmark.store.results import ResultStore
    from llmrec_methods import BUILTIN_METHODS

    profile, store = load_profile("quick"), ResultStore(REPO_ROOT / "leaderboards" / "quick")
    [unit] = plan(profile, Registry(BUILTIN_METHODS, include_plugins=False), ["delrec"], ["ml-100k"], [0], store,
                  force=True, seeds_given=True)
    runs = {r["config_hash"]: r for r in store.latest() if r["method"] == "delrec"}
    assert len(runs) >= 2 and unit.config_hash in runs  # an older rule's run is there to be ignored
    current = runs[unit.config_hash]["timing"]
    seconds, measured = estimate_seconds(unit, store.latest(), profile)
    assert measured and seconds == current["train_s"] + current["eval_s"]
