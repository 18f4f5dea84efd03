"""A table of bad inputs, each given to the CLI as a careless user would: every one must end in
exit code 2 with one ``error:`` line holding the expected words, no traceback, and a results
store byte-for-byte unchanged. The count of cases is asserted, so the table cannot shrink
silently."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import yaml

from llmrec_benchmark.cli import main
from llmrec_benchmark.paths import PROFILES_DIR
from tests.conftest import minimal_record, synthetic_rows, write_atomic

CI = yaml.safe_load((PROFILES_DIR / "ci.yaml").read_text())


def profile(tmp: Path, change: Callable[[dict], None] | None = None, text: str | bytes | None = None) -> str:
    """A copy of ci.yaml (changed by ``change``), or the given raw text, as a file; its path."""
    path = tmp / "profile.yaml"
    if text is not None:
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
        return str(path)
    data = json.loads(json.dumps(CI))
    if change:
        change(data)
    path.write_text(yaml.safe_dump(data))
    return str(path)


def setter(path: str, value) -> Callable[[dict], None]:
    """Set ``a.b.c`` in the profile mapping."""
    def change(data: dict) -> None:
        *parents, last = path.split(".")
        for key in parents:
            data = data[key]
        data[last] = value
    return change


def dropper(path: str) -> Callable[[dict], None]:
    def change(data: dict) -> None:
        *parents, last = path.split(".")
        for key in parents:
            data = data[key]
        del data[last]
    return change


def dry(tmp: Path, *args: str) -> list[str]:
    return ["run", "--dry-run", "--results", str(tmp / "results"), *args]


def edited(change: Callable[[dict], None]) -> Callable[[Path], list[str]]:
    """argv of a dry run with ci.yaml changed by ``change``."""
    return lambda t: dry(t, "--profile", profile(t, change))


def option(*args: str) -> Callable[[Path], list[str]]:
    """argv of a dry run of the ci profile with these options."""
    return lambda t: dry(t, "--profile", "ci", *args)


def store_with(tmp: Path, lines: list[str], per_user: dict[str, bytes] | None = None) -> Path:
    """The ci store under ``tmp/results`` holding these raw record lines (and per-user files)."""
    root = tmp / "results" / "ci"
    (root / "per_user").mkdir(parents=True, exist_ok=True)
    (root / "records.jsonl").write_text("".join(line + "\n" for line in lines))
    for name, data in (per_user or {}).items():
        (root / "per_user" / name).write_bytes(data)
    return root


def good_per_user() -> bytes:
    import io

    buffer = io.BytesIO()
    np.savez(buffer, users=np.arange(3), ranks=np.arange(3))
    return buffer.getvalue()


def board(tmp: Path) -> list[str]:
    return ["leaderboard", "--profile", "ci", "--results", str(tmp / "results")]


def bundle(tmp: Path, manifest: str | None, files: dict[str, bytes] | None = None) -> list[str]:
    folder = tmp / "bundle"
    folder.mkdir()
    if manifest is not None:
        (folder / "MANIFEST.json").write_text(manifest)
    for name, data in (files or {}).items():
        (folder / name).write_bytes(data)
    return ["check", "--bundle", str(folder), "--results", str(tmp / "results")]


def own_data(tmp: Path, inter: str | bytes | None = None, item: str | None = None, plain: bytes | None = None) -> str:
    if plain is not None:
        path = tmp / "pairs.txt"
        path.write_bytes(plain)
        return str(path)
    folder = tmp / "mine"
    folder.mkdir()
    if inter is not None:
        (folder / "mine.inter").write_bytes(inter if isinstance(inter, bytes) else inter.encode())
    if item is not None:
        (folder / "mine.item").write_text(item)
    return str(folder)


GOOD_INTER = "user_id:token\titem_id:token\ttimestamp:float\n" + "".join(
    f"{u}\t{i}\t{t}\n" for u, i, t in synthetic_rows())

# (id, argv from a temp folder, expected words in the error line); the exit code is always 2
CASES: list[tuple[str, Callable[[Path], list[str]], str]] = [
    # profile files
    ("profile-not-utf8", lambda t: dry(t, "--profile", profile(t, text=b"name: ci\ndescription: \xff\xfe\n")), "not UTF-8 text"),
    ("profile-invalid-yaml", lambda t: dry(t, "--profile", profile(t, text="name: [ci\n")), "invalid YAML"),
    ("profile-a-list", lambda t: dry(t, "--profile", profile(t, text="- ci\n")), "expected a mapping at the top level"),
    ("profile-empty-file", lambda t: dry(t, "--profile", profile(t, text="")), "expected a mapping at the top level"),
    ("profile-missing-seeds", edited(dropper("seeds")), "missing required key 'seeds'"),
    ("profile-no-seeds", edited(setter("seeds", [])), "at least one seed"),
    ("profile-duplicate-seeds", edited(setter("seeds", [0, 0])), "'seeds' lists 0 more than once"),
    ("profile-seed-text", edited(setter("seeds", ["a"])), "key 'seeds'"),
    ("profile-no-datasets", edited(setter("datasets", [])), "at least one dataset"),
    ("profile-duplicate-datasets", edited(setter("datasets", ["ml-100k", "ml-100k"])), "more than once"),
    ("profile-unknown-dataset", edited(setter("datasets", ["ml-1000k"])), "unknown dataset 'ml-1000k'"),
    ("profile-empty-ablation-seeds", edited(setter("ablation_seeds", [])), "'ablation_seeds' is empty"),
    ("profile-ablation-seeds-not-subset", edited(setter("ablation_seeds", [7])), "must be a subset"),
    ("profile-nan-wall-clock", edited(setter("budget.wall_clock_s", float("nan"))), "budget.wall_clock_s must be a finite number"),
    ("profile-inf-wall-clock", edited(setter("budget.wall_clock_s", float("inf"))), "finite number"),
    ("profile-negative-wall-clock", edited(setter("budget.wall_clock_s", -5)), "wall_clock_s > 0"),
    ("profile-zero-patience", edited(setter("budget.patience", 0)), "patience >= 1"),
    ("profile-negative-epochs", edited(setter("budget.max_epochs", -1)), "max_epochs >= 1"),
    ("profile-epochs-text", edited(setter("budget.max_epochs", "three")), "key 'max_epochs' expects int"),
    ("profile-budget-missing-key", edited(dropper("budget.patience")), "missing required key 'patience'"),
    ("profile-budget-a-list", edited(setter("budget", [1, 2])), "expected a mapping"),
    ("profile-budget-typo", edited(setter("budget.patiense", 3)), "patiense"),
    ("profile-top-level-typo", edited(setter("seedz", [0])), "seedz"),
    ("profile-zero-candidates", edited(setter("candidates", [0])), "'candidates' must be positive"),
    ("profile-duplicate-candidates", edited(setter("candidates", [19, 19])), "'candidates' lists 19 more than once"),
    ("profile-short-history", edited(setter("max_history", 1)), "'max_history' must be >= 2"),
    ("profile-unknown-device", edited(setter("device", "tpu")), "'device' must be cpu, cuda or auto"),
    ("profile-negative-hpo", edited(setter("hpo_trials", -1)), "'hpo_trials' must be >= 0"),
    ("profile-nan-tolerance", edited(setter("regression_tolerance", float("nan"))), "regression_tolerance"),
    ("profile-zero-user-cap", edited(setter("user_cap", 0)), "'user_cap' must be >= 1"),
    ("profile-negative-tuning-trials", edited(setter("budget.tuning_trials", -2)), "'budget.tuning_trials' must be >= 0"),
    ("profile-unknown-method", edited(setter("methods", ["sasrek"])), "unknown method 'sasrek'"),
    ("profile-duplicate-methods", edited(setter("methods", ["pop", "pop"])), "'methods' lists 'pop' more than once"),
    ("profile-config-wrong-type", edited(setter("method_config.sasrec-ce", {"learning_rate": "fast"})), "key 'learning_rate' expects float"),
    ("profile-config-bool-for-int", edited(setter("method_config.sasrec-ce", {"hidden_size": True})), "key 'hidden_size' expects int"),
    ("profile-config-unknown-key", edited(setter("method_config.sasrec-ce", {"hiden_size": 32})), "hiden_size"),
    ("profile-config-not-mapping", edited(setter("method_config.pop", 3)), "expected a mapping of config keys"),
    ("profile-not-run-bad-keys", edited(setter("not_run", {"sasrec": {"board": "x"}})), "not_run.sasrec must have exactly the keys"),
    ("profile-file-missing", lambda t: dry(t, "--profile", str(t / "nowhere.yaml")), "file not found"),
    ("profile-is-a-folder", lambda t: (t / "dir.yaml").mkdir() or dry(t, "--profile", str(t / "dir.yaml")), "is a folder"),
    ("profile-unknown-name", lambda t: dry(t, "--profile", "qiuck"), "unknown profile 'qiuck'"),
    # command-line options
    ("methods-empty", option("--methods", ""), "--methods is empty"),
    ("methods-only-commas", option("--methods", ",,"), "--methods is empty"),
    ("methods-unknown", option("--methods", "sasrek"), "unknown method 'sasrek'"),
    ("methods-malformed-spec", option("--methods", "pop["), "malformed method spec"),
    ("methods-unknown-component", option("--methods", "darec[-attention]"), "has no component 'attention'"),
    ("methods-override-wrong-type", option("--methods", "sasrec-ce[learning_rate=abc]"), "key 'learning_rate' expects float"),
    ("methods-override-unknown-key", option("--methods", "sasrec-ce[nokey=1]"), "nokey"),
    ("methods-override-bare-word", option("--methods", "pop[x]"), "neither -component nor key=value"),
    ("methods-and-all", option("--all", "--methods", "pop"), "either --all or --methods"),
    ("seeds-text", option("--seeds", "a"), "--seeds expects comma-separated integers"),
    ("seeds-duplicate", option("--seeds", "0,0"), "more than once"),
    ("seeds-negative", option("--seeds", "-1"), "non-negative"),
    ("seeds-empty", option("--seeds", ""), "--seeds is empty"),
    ("datasets-empty", option("--datasets", ""), "--datasets is empty"),
    ("datasets-unknown", option("--datasets", "ml-1000k"), "unknown dataset 'ml-1000k'"),
    ("datasets-duplicate", option("--datasets", "ml-100k,ml-100k"), "more than once"),
    ("results-is-a-file", lambda t: (t / "results.txt").write_text("x") and ["run", "--dry-run", "--profile", "ci", "--results", str(t / "results.txt")], "is a file"),
    # the user's own data
    ("own-data-not-utf8", lambda t: dry(t, "--profile", "ci", "--datasets", own_data(t, inter=GOOD_INTER.encode() + b"u1\t\xff\t9\n")), "not UTF-8 text"),
    ("own-data-empty-inter", lambda t: dry(t, "--profile", "ci", "--datasets", own_data(t, inter="")), "the file is empty"),
    ("own-data-no-inter", lambda t: dry(t, "--profile", "ci", "--datasets", own_data(t)), "expected exactly one *.inter file"),
    ("own-data-bad-header", lambda t: dry(t, "--profile", "ci", "--datasets", own_data(t, inter="user item\n")), "is not of the form name:type"),
    ("own-data-no-item-column", lambda t: dry(t, "--profile", "ci", "--datasets", own_data(t, inter="user_id:token\tfoo:token\nu\tx\n")), "lacks the column 'item_id:token'"),
    ("own-data-item-file-lacks-items", lambda t: dry(t, "--profile", "ci", "--datasets", own_data(t, inter=GOOD_INTER, item="item_id:token\ttitle:token_seq\ni1\tone\n")), "RecBole would silently drop"),
    ("own-data-pairs-one-field", lambda t: dry(t, "--profile", "ci", "--datasets", own_data(t, plain=b"u1 i1\nu2\n")), ":2: expected 'user item'"),
    ("own-data-pairs-not-utf8", lambda t: dry(t, "--profile", "ci", "--datasets", own_data(t, plain=b"u1 i1\nu2 \xe9\n")), ":2: not UTF-8 text"),
    # stores: records and per-user files
    ("store-malformed-line", lambda t: store_with(t, [json.dumps(minimal_record("a")), "{not json", json.dumps(minimal_record("b"))]) and board(t), "records.jsonl:2: malformed record"),
    ("store-missing-key", lambda t: store_with(t, [json.dumps({k: v for k, v in minimal_record().items() if k != "dataset"})]) and board(t), "missing key 'dataset'"),
    ("store-wrong-type", lambda t: store_with(t, [json.dumps(minimal_record(seed=[0]))]) and board(t), "key 'seed' must be int"),
    ("store-not-an-object", lambda t: store_with(t, ["[1, 2]"]) and board(t), "expected a JSON object"),
    ("store-path-escape", lambda t: store_with(t, [json.dumps(minimal_record(per_user_file="/etc/passwd"))]) and board(t), "per_user_file must be a path under per_user/"),
    ("store-text-metric", lambda t: store_with(t, [json.dumps(minimal_record(metrics={"HR@10": None}))]) and board(t), "metric 'HR@10' must be a number"),
    ("store-empty", lambda t: board(t), "no records for profile 'ci'"),
    ("run-on-bad-store", lambda t: store_with(t, ["{torn", json.dumps(minimal_record())]) and dry(t, "--profile", "ci", "--methods", "pop"), "records.jsonl:1: malformed record"),
    # submission bundles
    ("bundle-not-a-bundle", lambda t: bundle(t, None), "is not a submission bundle"),
    ("bundle-manifest-not-json", lambda t: bundle(t, "{oops"), "malformed manifest"),
    ("bundle-manifest-no-files", lambda t: bundle(t, json.dumps({"format": 1, "method": "pop"})), "malformed manifest"),
    ("bundle-manifest-files-a-list", lambda t: bundle(t, json.dumps({"format": 1, "method": "pop", "files": ["a"]})), "malformed manifest"),
    ("bundle-path-outside", lambda t: bundle(t, json.dumps({"format": 1, "method": "pop", "files": {"../secret": "0" * 64}})), "a path outside the bundle"),
    ("bundle-absolute-path", lambda t: bundle(t, json.dumps({"format": 1, "method": "pop", "files": {"/etc/passwd": "0" * 64}})), "a path outside the bundle"),
    ("bundle-file-missing", lambda t: bundle(t, json.dumps({"format": 1, "method": "pop", "files": {"records.jsonl": "0" * 64}})), "is listed in MANIFEST.json but missing"),
    ("bundle-file-changed", lambda t: bundle(t, json.dumps({"format": 1, "method": "pop", "files": {"records.jsonl": "0" * 64}}), {"records.jsonl": b"{}\n"}), "was changed after submission"),
    # other commands
    ("validate-unknown-method", lambda t: ["validate", "sasrek"], "unknown method 'sasrek'"),
    ("leaderboard-unknown-profile", lambda t: ["leaderboard", "--profile", "qiuck"], "unknown profile 'qiuck'"),
    ("datasets-command-unknown", lambda t: ["datasets", "--datasets", "ml-1000k"], "unknown dataset 'ml-1000k'"),
    ("tune-without-trials", lambda t: ["tune", "--profile", "ci", "--methods", "pop", "--results", str(t / "results")], "pass --trials N"),
]


def snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()} if folder.exists() else {}


def test_the_table_is_large_enough():
    assert len(CASES) >= 60
    assert len({case[0] for case in CASES}) == len(CASES)


@pytest.mark.parametrize("make_args,expected", [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_bad_input_gives_one_clean_line(make_args, expected, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("BENCHMARK_LOCAL_RESULTS_DIR", str(tmp_path / "local-runs"))
    monkeypatch.chdir(tmp_path)
    args = make_args(tmp_path)
    before = snapshot(tmp_path / "results")
    code = main(args)
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == 2, err
    assert len(errors) == 1, err
    assert expected in errors[0], errors[0]
    assert "Traceback" not in err
    assert snapshot(tmp_path / "results") == before
