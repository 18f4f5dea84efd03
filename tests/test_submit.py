"""`submit` writes a hashed bundle that `check --bundle` verifies and reproduces; a tampered file
is rejected by its hash, and a consistent forgery (record and manifest both rewritten) by the re-run."""

from __future__ import annotations

import json

import pytest

from llmrec_benchmark.cli import main
from llmrec_benchmark.data.fetch import sha256_of
from llmrec_benchmark.submission.bundle import MANIFEST


@pytest.fixture
def bundle(tmp_path, tmp_cache, capsys):
    out = tmp_path / "bundle"
    assert main(["submit", "pop", "--profile", "ci", "--results", str(tmp_path / "boards"), "--out", str(out),
                 "--no-progress"]) == 0
    assert "check --bundle" in capsys.readouterr().out
    return out


def test_bundle_holds_records_per_user_card_profile_environment_and_log(bundle):
    manifest = json.loads((bundle / MANIFEST).read_text())
    records = [json.loads(line) for line in (bundle / "records.jsonl").read_text().splitlines()]
    assert len(records) == 6 and {r["seed"] for r in records} == {0, 1}  # 2 seeds x (full, cand-19, cand-99)
    for name in ("records.jsonl", "card.json", "profile.yaml", "config.json", "environment.json", "logs/submit.log",
                 *(r["per_user_file"] for r in records)):
        assert manifest["files"][name] == sha256_of(bundle / name)
    assert json.loads((bundle / "card.json").read_text())["name"] == "pop"
    assert "submit pop on profile ci: 2 runs" in (bundle / "logs" / "submit.log").read_text()


def test_check_bundle_reproduces_it(bundle, capsys):
    assert main(["check", "--bundle", str(bundle), "--no-progress"]) == 0
    assert "OK: 6 committed records reproduced" in capsys.readouterr().out


def _edit_record(bundle, change=0.05):
    path = bundle / "records.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines()]
    records[0]["metrics"]["NDCG@10"] += change
    path.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in records))
    return records[0]


def test_a_tampered_record_fails_its_hash(bundle, capsys):
    _edit_record(bundle)
    assert main(["check", "--bundle", str(bundle), "--no-progress"]) == 2
    assert "'records.jsonl' was changed after submission (sha256 in MANIFEST.json" in capsys.readouterr().err


def test_an_unlisted_or_missing_file_is_rejected(bundle, capsys):
    (bundle / "extra.txt").write_text("smuggled")
    assert main(["check", "--bundle", str(bundle)]) == 2
    assert "'extra.txt' is not listed in MANIFEST.json" in capsys.readouterr().err
    (bundle / "extra.txt").unlink()
    (bundle / "card.json").unlink()
    assert main(["check", "--bundle", str(bundle)]) == 2
    assert "'card.json' is listed in MANIFEST.json but missing" in capsys.readouterr().err


def test_a_consistent_forgery_is_caught_by_the_rerun(bundle, capsys):
    forged = _edit_record(bundle)
    manifest = json.loads((bundle / MANIFEST).read_text())
    manifest["files"]["records.jsonl"] = sha256_of(bundle / "records.jsonl")
    (bundle / MANIFEST).write_text(json.dumps(manifest))
    assert main(["check", "--bundle", str(bundle), "--no-progress"]) == 1
    out = capsys.readouterr().out
    assert "DRIFT: 1 values differ" in out and forged["protocol"] in out and "-0.050000" in out
