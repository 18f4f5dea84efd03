"""`benchmark check`: a re-run that reproduces the committed records passes; an altered committed
number, or a missing record, fails with a drift table naming method, dataset, metric and values."""

from __future__ import annotations

import json

import pytest

from llmrec_benchmark.cli import main
from llmrec_benchmark.engine.regression import Drift, compare
from llmrec_benchmark.errors import BenchmarkError

ARGS = ["--methods", "pop", "--profile", "ci", "--seeds", "0", "--no-progress"]


@pytest.fixture
def committed(tmp_path, tmp_cache):
    assert main(["run", *ARGS, "--results", str(tmp_path / "boards")]) == 0
    return tmp_path / "boards"


def _rewrite(path, change):
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    path.write_text("".join(json.dumps(change(r)) + "\n" for r in lines))


def test_check_passes_on_a_faithful_rerun_and_fails_on_an_altered_number(committed, capsys):
    assert main(["check", *ARGS, "--results", str(committed)]) == 0
    assert "OK: 3 committed records reproduced within 0.0" in capsys.readouterr().out

    def alter(record):
        if record["protocol"] == "cand-19":
            record["metrics"]["NDCG@10"] += 0.01
        return record

    _rewrite(committed / "ci" / "records.jsonl", alter)
    assert main(["check", *ARGS, "--results", str(committed)]) == 1
    out = capsys.readouterr().out
    assert "DRIFT: 1 values differ" in out
    row = next(line for line in out.splitlines() if line.startswith("pop "))
    assert row.split()[:5] == ["pop", "ml-100k", "cand-19", "0", "NDCG@10"] and row.split()[-1] == "-0.010000"


def test_tolerance_comes_from_the_profile(committed, tmp_path, capsys):
    _rewrite(committed / "ci" / "records.jsonl", lambda r: {**r, "metrics": {**r["metrics"], "MRR": r["metrics"]["MRR"] + 1e-4}})
    profile = tmp_path / "ci.yaml"
    from llmrec_benchmark.paths import PROFILES_DIR

    profile.write_text((PROFILES_DIR / "ci.yaml").read_text() + "regression_tolerance: 0.001\n")
    args = [a if a != "ci" else str(profile) for a in ARGS]
    assert main(["check", *args, "--results", str(committed)]) == 0


def test_missing_and_uncommitted_records_are_drifts():
    record = {"method": "m", "dataset": "d", "protocol": "full", "seed": 0, "created_at": "t",
              "metrics": {"NDCG@10": 0.5}}
    other = {**record, "seed": 1}
    drifts = compare([record], [other], 0.0)
    assert drifts == [Drift(("m", "d", "full", 0), "(record)", 0.5, None), Drift(("m", "d", "full", 1), "(record)", None, 0.5)]


def test_check_without_committed_records_is_an_error(tmp_path, capsys):
    assert main(["check", *ARGS, "--results", str(tmp_path / "empty")]) == 2
    assert "no committed records" in capsys.readouterr().err
    with pytest.raises(BenchmarkError, match="regression_tolerance"):
        from llmrec_benchmark.profiles import load_profile

        bad = tmp_path / "bad.yaml"
        from llmrec_benchmark.paths import PROFILES_DIR

        bad.write_text((PROFILES_DIR / "ci.yaml").read_text() + "regression_tolerance: -1\n")
        load_profile(str(bad))
