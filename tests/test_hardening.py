"""Hardening: no code runs from files a user or a bundle can plant, the CLI's last-resort
handlers, results that must not land on a committed board, and broken plugins."""

from __future__ import annotations

import os
import pickle
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
import torch

import llmrec_benchmark.cli as cli
import llmrec_benchmark.engine.registry as registry_module
from llmrec_benchmark.paths import PROFILES_DIR


class Planted:
    """Unpickling this creates ``marker``: proof that a planted pickle was loaded."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def plant(path: Path, marker: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(Planted(marker)))


def test_a_pickle_planted_where_recbole_looks_is_never_loaded(tmp_path, tmp_cache, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    marker = tmp_path / "PWNED"
    for name in ("ml-100k-Dataset.pth", "ml-100k-SequentialDataset.pth", "ml-100k-for-Pop-dataloader.pth"):
        plant(tmp_path / "saved" / name, marker)
    assert cli.main(["datasets", "--datasets", "ml-100k"]) == 0
    assert "ml-100k" in capsys.readouterr().out
    assert not marker.exists()


def test_recbole_configs_point_at_a_private_empty_checkpoint_folder():
    from llmrec_benchmark.data.recbole_compat import private_checkpoint_dir, recbole_config

    config = recbole_config("Pop", "ml-100k", {"checkpoint_dir": "saved", "dataset_save_path": "x.pth", "save_dataset": True})
    folder = Path(config["checkpoint_dir"])
    assert folder == private_checkpoint_dir() and folder.is_dir() and not any(folder.iterdir())
    assert oct(folder.stat().st_mode & 0o777) == "0o700"
    assert config["dataset_save_path"] is None and config["save_dataset"] is False


def test_cached_tensors_are_loaded_without_unpickling_code(tmp_path):
    """Teachers and DELRec's stage 1 are cached as .pt files and read with torch.load, whose
    default (weights_only, torch >= 2.6) refuses arbitrary objects: a planted file cannot run code."""
    marker = tmp_path / "PWNED"
    plant(tmp_path / "topk.pt", marker)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(tmp_path / "topk.pt")
    assert not marker.exists()


def test_an_unexpected_exception_prints_one_line_and_keeps_the_traceback(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("BENCHMARK_LOCAL_RESULTS_DIR", str(tmp_path))

    def explode(args):
        raise ZeroDivisionError("division by zero in a place nobody expected")

    monkeypatch.setattr(cli, "cmd_list", explode)
    assert cli.main(["list"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: `list` failed unexpectedly: ZeroDivisionError")
    logs = list((tmp_path / "crash-logs").glob("benchmark-list-*.log"))
    assert len(logs) == 1 and str(logs[0]) in err[0]
    assert "Traceback" in logs[0].read_text() and "explode" in logs[0].read_text()


def test_ctrl_c_stops_cleanly_with_exit_130(monkeypatch, capsys):
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "cmd_list", interrupted)
    assert cli.main(["list"]) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("interrupted: `list` stopped; every record already written is kept")


@pytest.mark.parametrize("option,value", [("--jobs", "0"), ("--jobs", "x"), ("--retries", "-1")])
def test_counts_below_their_minimum_are_usage_errors(option, value, capsys):
    with pytest.raises(SystemExit) as stopped:
        cli.main(["run", "--dry-run", "--profile", "ci", option, value])
    assert stopped.value.code == 2
    assert f"argument {option}:" in capsys.readouterr().err


def _records_line(out: str) -> Path:
    return Path(next(line for line in out.splitlines() if line.startswith("Records: ")).removeprefix("Records: "))


def test_a_copied_profile_never_writes_into_the_committed_board(tmp_path, monkeypatch, capsys):
    """A copy of ci.yaml that keeps ``name: ci`` goes to a git-ignored store named after its
    file's hash, not leaderboards/ci; the committed profile by name still goes to the board."""
    local = tmp_path / "local"
    monkeypatch.setenv("BENCHMARK_LOCAL_RESULTS_DIR", str(local))
    copy = tmp_path / "my-ci.yaml"
    copy.write_bytes((PROFILES_DIR / "ci.yaml").read_bytes())
    assert cli.main(["run", "--dry-run", "--profile", str(copy), "--methods", "pop"]) == 0
    where = _records_line(capsys.readouterr().out)
    assert where.parent.parent == local and where.parent.name.startswith("ci-")
    assert cli.main(["run", "--dry-run", "--profile", "ci", "--methods", "pop"]) == 0
    committed = _records_line(capsys.readouterr().out)
    assert committed.parent.name == "ci" and local not in committed.parents
    assert cli.main(["run", "--dry-run", "--profile", "ci", "--methods", "pop", "--results", str(tmp_path / "mine")]) == 0
    assert _records_line(capsys.readouterr().out) == tmp_path / "mine" / "ci" / "records.jsonl"


def test_own_data_results_never_land_on_the_committed_board(tmp_path, monkeypatch, capsys):
    from tests.conftest import synthetic_rows

    local = tmp_path / "local"
    monkeypatch.setenv("BENCHMARK_LOCAL_RESULTS_DIR", str(local))
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("".join(f"{u} {i}\n" for u, i, _ in synthetic_rows()))
    assert cli.main(["run", "--dry-run", "--profile", "quick", "--methods", "pop", "--datasets", str(pairs)]) == 0
    where = _records_line(capsys.readouterr().out)
    assert local in where.parents and where.parent.name.startswith("quick-")


def test_a_broken_plugin_is_named_and_does_not_break_list_runs_or_boards(monkeypatch, capsys, tmp_path):
    plugins = [EntryPoint(name="nonexistent", value="no_such_module:Thing", group=registry_module.ENTRY_POINT_GROUP),
               EntryPoint(name="notamethod", value="os:getcwd", group=registry_module.ENTRY_POINT_GROUP)]
    monkeypatch.setattr(registry_module, "entry_points", lambda group: plugins)
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    assert "  pop: baseline" in out
    assert "nonexistent: NOT USABLE: method 'nonexistent': cannot load 'no_such_module:Thing'" in out
    assert "notamethod: NOT USABLE: method 'notamethod'" in out and "is not a benchmark.method.Method subclass" in out
    assert os.getcwd()  # the bad entry point was never called
    from llmrec_benchmark.commands.common import builtin_registry, method_cards

    registry = builtin_registry()
    assert "pop" in method_cards(registry) and "nonexistent" not in method_cards(registry)  # boards still render
    assert cli.main(["run", "--dry-run", "--profile", "ci", "--methods", "pop", "--results", str(tmp_path)]) == 0


def test_ci_turns_a_missing_mirror_into_a_failure_not_a_skip(tmp_path):
    """With BENCHMARK_REQUIRE_MIRROR=1 (as .ci/run sets it) a test that needs the mirror fails
    when the mirror is absent; without it, the test is skipped."""
    import subprocess
    import sys

    from llmrec_benchmark.paths import REPO_ROOT

    probe = tmp_path / "test_probe.py"
    probe.write_text("from tests.conftest import mirror  # noqa: F401\n\n\ndef test_needs_it(mirror):\n    assert mirror.exists()\n")
    base = {**os.environ, "BENCHMARK_TEST_MIRROR": str(tmp_path / "absent")}

    def outcome(**env) -> str:
        done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(probe)],
                              env={**base, **env}, capture_output=True, text=True, cwd=REPO_ROOT, timeout=300)
        return done.stdout.strip().splitlines()[-1]

    assert "1 skipped" in outcome(BENCHMARK_REQUIRE_MIRROR="0")
    assert "1 error" in outcome(BENCHMARK_REQUIRE_MIRROR="1")  # the fixture fails: red, not skipped
