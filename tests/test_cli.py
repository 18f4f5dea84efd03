"""The CLI end to end, as a user runs it (real subprocesses on the ci profile)."""

import json
import subprocess
import sys

import pytest

from llmrec_benchmark.paths import REPO_ROOT
from tests.conftest import write_atomic


def cli(*args, env_extra=None, timeout=900):
    import os

    env = {**os.environ, **(env_extra or {})}
    out = subprocess.run([sys.executable, "-m", "benchmark", *args], cwd=REPO_ROOT, capture_output=True,
                         text=True, timeout=timeout, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def records(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize("command", [[], ["run"], ["list"], ["datasets"], ["leaderboard"]])
def test_help_everywhere(command):
    assert "usage:" in cli(*command, "--help")


def test_list_shows_methods_datasets_profiles():
    out = cli("list")
    for word in ("sasrec-ce", "bert4rec", "library-model", "ml-100k", "lastfm", "games-6k", "beauty", "ci", "quick"):
        assert word in out


def test_run_skip_force_and_leaderboard(tmp_path):
    results = tmp_path / "results"
    args = ("run", "--methods", "pop,sasrec-ce", "--profile", "ci", "--seeds", "0", "--results", str(results), "--no-progress")
    out = cli(*args)
    assert "Plan: profile 'ci', 2 runs (0 already done" in out and "Estimated time" in out
    board = results / "ci" / "README.md"
    assert f"Leaderboard: {board}" in out
    text = board.read_text()
    assert "`sasrec-ce`" in text and "`pop`" in text and "1 target + 99 sampled negatives" in text
    first = records(results / "ci" / "records.jsonl")
    assert len(first) == 6
    record = first[0]
    for key in ("config_hash", "dataset_fingerprint", "code", "packages", "hardware", "memory", "parameters", "timing", "training", "budget"):
        assert key in record
    # same config hash: skipped, and the run says what it did instead and how to reproduce the board
    second = cli(*args)
    assert "2 already done" in second
    assert "Nothing to run: all 2 runs of profile 'ci' are already in" in second
    assert "`python -m benchmark run --all --force --profile ci`" in second and "check --profile ci" in second
    assert len(records(results / "ci" / "records.jsonl")) == 6
    # --force re-runs and reproduces the numbers exactly
    cli(*args, "--force")
    again = records(results / "ci" / "records.jsonl")
    assert len(again) == 12
    # every invocation is logged with the runs it landed: a re-run of existing config hashes counts
    assert [line["ran"] for line in records(results / "ci" / "run-log.jsonl")] == [2, 0, 2]
    for old, new in zip(again[:6], again[6:]):
        assert old["record_id"] == new["record_id"]
        if "wall_clock" not in (old["training"]["stopped_by"], new["training"]["stopped_by"]):
            assert old["metrics"] == new["metrics"]  # a run cut by the clock on a loaded machine may differ
    assert "Leaderboard:" in cli("leaderboard", "--profile", "ci", "--results", str(results))
    csv_text = (results / "ci" / "leaderboard.csv").read_text()
    assert csv_text.startswith("dataset,protocol,method,metric,mean")


def test_dry_run_runs_nothing(tmp_path):
    out = cli("run", "--all", "--profile", "ci", "--dry-run", "--results", str(tmp_path))
    assert "sasrec on ml-100k (seed 0)" in out and "Estimated time" in out
    assert not (tmp_path / "ci").exists()


def test_issue_example_two_datasets_two_seeds(tmp_path, mirror):
    out = cli("run", "--methods", "sasrec-ce,gru4rec", "--datasets", "ml-100k,lastfm", "--profile", "ci",
              "--seeds", "0,1", "--results", str(tmp_path), "--mirror", str(mirror), "--no-progress")
    assert "8 runs" in out
    text = (tmp_path / "ci" / "README.md").read_text()
    assert "## lastfm: full ranking" in text and "## ml-100k: full ranking" in text
    assert "0,1" in text  # both seeds aggregated


def test_datasets_command_reports_stats(mirror):
    out = cli("datasets", "--datasets", "ml-100k,lastfm", "--mirror", str(mirror))
    assert "943" in out and "1362" in out and "movie_title" in out


def test_user_folder_and_plain_file(tmp_path):
    rows = [(f"u{u}", f"i{(u * 7 + t) % 150}", t) for u in range(30) for t in range(12)]
    folder = write_atomic(tmp_path / "mydata", "mydata", rows,
                          items=[(f"i{k}", f"Item number {k}") for k in range(150)])
    plain = tmp_path / "pairs.txt"
    plain.write_text("".join(f"{u} {i}\n" for u, i, _ in rows))
    out = cli("run", "--methods", "pop,sasrec-ce", "--dataset", f"{folder},{plain}", "--profile", "ci",
              "--seeds", "0", "--results", str(tmp_path / "res"), "--no-progress")
    text = (tmp_path / "res" / "ci" / "README.md").read_text()
    assert "## mydata: full ranking" in text and "## pairs: full ranking" in text
    assert "Ran 4 runs" in out


def test_too_small_catalogue_for_candidates_is_a_clear_error(tmp_path):
    import subprocess

    rows = [(f"u{u}", f"i{(u + t) % 30}", t) for u in range(20) for t in range(10)]
    folder = write_atomic(tmp_path / "small", "small", rows)
    out = subprocess.run([sys.executable, "-m", "benchmark", "run", "--methods", "pop", "--dataset", str(folder),
                          "--profile", "ci", "--results", str(tmp_path / "res"), "--no-progress"],
                         cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 2
    assert "dataset small: user row" in out.stderr and "cannot sample 99 negatives for the cand-99 protocol" in out.stderr


def test_ablation_variants_use_ablation_seeds_and_get_their_own_table(tmp_path):
    results = tmp_path / "results"
    out = cli("run", "--methods", "darec,darec[-context_masking]", "--no-variants", "--profile", "ci", "--results", str(results), "--no-progress")
    assert "Plan: profile 'ci', 3 runs" in out  # darec on seeds 0 and 1, its ablation on seed 0 only
    text = (results / "ci" / "README.md").read_text()
    main_board, ablation = text.split("## Ablation: `darec` on ml-100k (full)")
    assert "`darec`" in main_board and "context_masking" not in main_board
    assert "`darec[-context_masking]` | 0 |" in ablation and "Δ NDCG@10" in ablation


def test_verbose_is_accepted_after_the_sub_command_and_other_libraries_stay_quiet():
    import logging

    from llmrec_benchmark.cli import QUIET_LIBRARIES, build_parser, main

    parser = build_parser()
    assert parser.parse_args(["run", "-v"]).verbose and parser.parse_args(["-v", "run"]).verbose
    assert not parser.parse_args(["run"]).verbose
    assert main(["list", "-v"]) == 0
    assert logging.getLogger("llmrec_benchmark").getEffectiveLevel() == logging.DEBUG
    assert all(logging.getLogger(name).getEffectiveLevel() == logging.WARNING for name in QUIET_LIBRARIES)


def test_quiet_keeps_results_and_warnings_and_verbose_leaves_the_root_logger_at_info(capsys):
    import logging

    from llmrec_benchmark.cli import build_parser, main

    parser = build_parser()
    assert parser.parse_args(["list", "-q"]).quiet and parser.parse_args(["-q", "list"]).quiet
    assert main(["list", "-q"]) == 0
    assert "Datasets:" in capsys.readouterr().out  # a command's result is printed, not logged
    assert logging.getLogger("llmrec_benchmark").getEffectiveLevel() == logging.WARNING
    assert main(["-v", "list", "-q"]) == 2
    assert "contradict" in capsys.readouterr().err
    main(["list", "-v"])
    # RecBole logs its dataset DEBUG lines to the root logger: -v must not let them through
    assert logging.getLogger().getEffectiveLevel() == logging.INFO
    assert logging.getLogger("llmrec_methods").getEffectiveLevel() == logging.DEBUG
    main(["list"])
    assert logging.getLogger("llmrec_benchmark").getEffectiveLevel() == logging.INFO


@pytest.mark.parametrize("seconds, text", [(42, "42 s"), (600, "10.0 min"), (5340, "89.0 min"), (5400, "1 h 30 min"),
                                           (11_100, "3 h 05 min")])
def test_durations_are_printed_in_s_min_or_h(seconds, text):
    from llmrec_benchmark.commands.common import duration

    assert duration(seconds) == text


def test_each_epoch_is_reported_as_a_plain_line_when_output_is_piped(tmp_path):
    import os

    env = {**os.environ}
    out = subprocess.run([sys.executable, "-m", "benchmark", "run", "--methods", "sasrec-ce", "--profile", "ci", "--seeds",
                          "0", "--results", str(tmp_path)], cwd=REPO_ROOT, capture_output=True, text=True, timeout=600, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = [line for line in out.stderr.splitlines() if "llmrec_benchmark.engine.progress" in line]
    assert len(lines) >= 2 and "sasrec-ce on ml-100k (seed 0): epoch 1, valid NDCG@10" in lines[0]
    assert "at least" in lines[0] and "\r" not in out.stderr  # piped: lines, no bar frames
    assert "DEBUG" not in out.stderr  # the fit logger's own lines only under -v


def test_sigterm_stops_a_run_keeping_its_records_and_logging_the_interrupted_invocation(tmp_path):
    import os
    import signal
    import time

    # pop lands at once; darec (its architecture search, then training) is still running when the signal comes
    args = [sys.executable, "-m", "benchmark", "run", "--methods", "pop,darec", "--profile", "ci", "--seeds",
            "0", "--results", str(tmp_path), "--no-variants", "--no-progress"]
    process = subprocess.Popen(args, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    records_path = tmp_path / "ci" / "records.jsonl"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and (not records_path.exists() or len(records_path.read_text().splitlines()) < 3):
        time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130 and "interrupted: `run` stopped" in err
    log = [json.loads(line) for line in (tmp_path / "ci" / "run-log.jsonl").read_text().splitlines()]
    assert log[-1]["interrupted"] is True and log[-1]["ran"] == 1
    assert len(records_path.read_text().splitlines()) == 3  # pop's whole run (3 protocols), nothing of darec


def test_the_committed_ci_board_is_current():
    """Every ci run is done with the current code and config hashes: a change that silently alters
    a config or code hash (a rename, a new field in the hashed payload) would make `check` and every
    fresh clone re-run the board, and fails here first."""
    import re

    out = cli("run", "--all", "--profile", "ci", "--dry-run")
    planned, done = map(int, re.search(r"Plan: profile 'ci', (\d+) runs \((\d+) already done", out).groups())
    assert planned == done > 0, out[:2000]
