"""Bad input: one-line errors naming the culprit, exit code 2, no traceback, results untouched."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from llmrec_benchmark.cli import main
from llmrec_benchmark.paths import REPO_ROOT
from tests.conftest import minimal_record, synthetic_rows, write_atomic


def run_cli(capsys, *args):
    code = main(list(args))
    err = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in err if line.startswith("error:")]
    return code, errors


def assert_one_line_error(capsys, expected, *args):
    code, errors = run_cli(capsys, *args)
    assert code == 2
    assert len(errors) == 1, errors
    assert expected in errors[0], errors[0]
    return errors[0]


@pytest.fixture
def results(tmp_path):
    """A results store holding one earlier record, to prove failures leave it untouched."""
    store = tmp_path / "results" / "ci"
    store.mkdir(parents=True)
    (store / "records.jsonl").write_text(EARLIER)
    return tmp_path / "results"


EARLIER = json.dumps(minimal_record()) + "\n"


def untouched(results: Path) -> bool:
    return (results / "ci" / "records.jsonl").read_text() == EARLIER


def test_unknown_method(capsys, results):
    assert_one_line_error(capsys, "unknown method 'sasrek'", "run", "--methods", "sasrek", "--profile", "ci", "--results", str(results))
    assert untouched(results)


def test_unknown_dataset(capsys, results):
    assert_one_line_error(capsys, "unknown dataset 'ml-1000k'", "run", "--methods", "pop", "--datasets", "ml-1000k", "--profile", "ci", "--results", str(results))
    assert untouched(results)


def test_unknown_profile(capsys):
    assert_one_line_error(capsys, "unknown profile 'qiuck'", "run", "--profile", "qiuck")


def test_unknown_component_and_config_key(capsys):
    assert_one_line_error(capsys, "has no component 'attention'", "run", "--methods", "sasrec[-attention]", "--profile", "ci", "--dry-run")
    assert_one_line_error(capsys, "unknown key 'hiden_size'", "run", "--methods", "sasrec-ce[hiden_size=32]", "--profile", "ci", "--dry-run")


def test_misspelled_profile_key(capsys, tmp_path):
    text = (REPO_ROOT / "benchmark" / "profiles" / "ci.yaml").read_text().replace("max_epochs", "max_epoch")
    path = tmp_path / "typo.yaml"
    path.write_text(text)
    error = assert_one_line_error(capsys, "unknown key 'max_epoch'", "run", "--profile", str(path), "--dry-run")
    assert "did you mean 'max_epochs'" in error and str(path) in error


def test_wrong_header(capsys, tmp_path, tmp_cache, results):
    folder = write_atomic(tmp_path / "bad", "bad", synthetic_rows(), header="user_id:token\titem_id\ttimestamp:float")
    assert_one_line_error(capsys, "header column 'item_id' is not of the form name:type", "run", "--methods", "pop", "--datasets", str(folder), "--profile", "ci", "--results", str(results))
    assert untouched(results)


def test_non_numeric_timestamp(capsys, tmp_path, tmp_cache):
    rows = synthetic_rows()
    rows[5] = (rows[5][0], rows[5][1], "yesterday")
    folder = write_atomic(tmp_path / "bad", "bad", rows)
    error = assert_one_line_error(capsys, "column 'timestamp' expects a number, found 'yesterday'", "datasets", "--datasets", str(folder))
    assert "bad.inter:7:" in error  # header is line 1, row index 5 is line 7


def test_empty_title(capsys, tmp_path, tmp_cache):
    rows = synthetic_rows(items=5)
    items = [(f"i{k}", f"Title {k}") for k in range(5)]
    items[3] = ("i3", "")
    folder = write_atomic(tmp_path / "bad", "bad", rows, items=items)
    error = assert_one_line_error(capsys, "empty 'title' for item 'i3'", "datasets", "--datasets", str(folder))
    assert "bad.item:5:" in error


def test_empty_after_filtering(capsys, tmp_path, tmp_cache):
    rows = [(f"u{u}", f"i{u}", t) for u in range(5) for t in range(2)]  # 2 interactions per user < 3
    folder = write_atomic(tmp_path / "tiny", "tiny", rows)
    assert_one_line_error(capsys, "no interactions left after filtering", "datasets", "--datasets", str(folder))


def test_checksum_mismatch_and_missing_mirror_file(capsys, tmp_path, tmp_cache, monkeypatch):
    cards = tmp_path / "cards"
    cards.mkdir()
    monkeypatch.setenv("BENCHMARK_CARDS_DIR", str(cards))
    (cards / "toy.yaml").write_text(
        "name: toy\ntitle: toy\nlicence: test\nsource:\n  kind: files\n  format: s3rec-txt\n  files:\n"
        "    - {role: inter, url: 'https://example.invalid/toy.txt', sha256: '" + "0" * 64 + "', mirror: toy/toy.txt}\n"
    )
    mirror = tmp_path / "mirror"
    assert_one_line_error(capsys, "mirror file missing", "datasets", "--datasets", "toy", "--mirror", str(mirror))
    (mirror / "toy").mkdir(parents=True)
    (mirror / "toy" / "toy.txt").write_text("1 2 3 4\n2 3 4 5\n")
    error = assert_one_line_error(capsys, "checksum mismatch", "datasets", "--datasets", "toy", "--mirror", str(mirror))
    assert "toy.txt" in error and "expected sha256 " + "0" * 64 in error


def test_real_process_exits_2_without_traceback():
    out = subprocess.run(
        [sys.executable, "-m", "benchmark", "run", "--methods", "nope", "--profile", "ci", "--dry-run"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines()[-1].startswith("error: unknown method 'nope'")


def test_bad_llm_settings_in_a_profile(capsys, tmp_path):
    text = (REPO_ROOT / "benchmark" / "profiles" / "ci.yaml").read_text()
    path = tmp_path / "seeds.yaml"
    path.write_text(text.replace("ablation_seeds: [0]", "ablation_seeds: [7]"))
    assert_one_line_error(capsys, "'ablation_seeds' [7] must be a subset of 'seeds' [0, 1]", "run", "--profile", str(path), "--dry-run")
    path.write_text(text.replace("proxy_steps: 3", "proxy_step: 3"))
    assert_one_line_error(capsys, "unknown key 'proxy_step'", "run", "--profile", str(path), "--dry-run")


def test_max_candidates_must_be_an_integer(capsys):
    assert_one_line_error(capsys, "'max_candidates' must be an integer or null, found 'many'",
                          "run", "--methods", "llm-trsr[max_candidates=many]", "--no-variants", "--profile", "ci", "--dry-run")


def test_a_variant_with_several_overrides_stays_one_method_spec():
    from llmrec_benchmark.commands.common import parse_csv
    from llmrec_benchmark.errors import BenchmarkError
    from llmrec_benchmark.method import parse_variant

    specs = parse_csv("sasrec-ce, sasrec-sampled[loss=bce,negatives=1],darec[-context_masking]", "--methods")
    assert specs == ["sasrec-ce", "sasrec-sampled[loss=bce,negatives=1]", "darec[-context_masking]"]
    assert dict(parse_variant(specs[1]).overrides) == {"loss": "bce", "negatives": 1}
    [unbalanced] = parse_csv("sasrec-sampled[loss=bce,negatives=1", "--methods")
    with pytest.raises(BenchmarkError, match="malformed method spec 'sasrec-sampled\\[loss=bce,negatives=1'"):
        parse_variant(unbalanced)
