"""Results store: atomic, concurrent-safe appends; skip-by-hash; no partial records."""

import json
import multiprocessing

import numpy as np
import pytest

from benchmark.errors import BenchmarkError
from benchmark.results import ResultStore


def _writer(root, worker):
    store = ResultStore(root)
    for i in range(40):
        record_id = f"w{worker}-{i}"
        payload = {"record_id": record_id, "config_hash": record_id, "blob": "x" * 5000}
        store.write_unit([payload, {**payload, "record_id": record_id + "b"}], {record_id: {"ranks": np.arange(3)}})


def test_concurrent_appends_neither_tear_nor_lose_lines(tmp_path):
    processes = [multiprocessing.Process(target=_writer, args=(tmp_path, w)) for w in range(4)]
    for p in processes:
        p.start()
    for p in processes:
        p.join()
        assert p.exitcode == 0
    lines = (tmp_path / "records.jsonl").read_text().splitlines()
    assert len(lines) == 4 * 40 * 2
    parsed = [json.loads(line) for line in lines]
    assert len({r["record_id"] for r in parsed}) == 320
    # the two records of a unit are adjacent: one write per unit
    for first, second in zip(parsed[::2], parsed[1::2]):
        assert second["record_id"] == first["record_id"] + "b"


def test_malformed_line_is_named(tmp_path):
    (tmp_path / "records.jsonl").write_text('{"record_id": "a", "config_hash": "a"}\nnot json\n{"record_id": "b", "config_hash": "b"}\n')
    with pytest.raises(BenchmarkError, match=r"records.jsonl:2: malformed record"):
        ResultStore(tmp_path).read_all()


def test_torn_last_line_is_ignored(tmp_path):
    (tmp_path / "records.jsonl").write_text('{"record_id": "a", "config_hash": "a"}\n{"record_id": "b", "conf')
    assert [r["record_id"] for r in ResultStore(tmp_path).read_all()] == ["a"]


def test_latest_record_wins(tmp_path):
    store = ResultStore(tmp_path)
    store.write_unit([{"record_id": "a", "config_hash": "h", "v": 1}], {})
    store.write_unit([{"record_id": "a", "config_hash": "h", "v": 2}], {})
    assert [r["v"] for r in store.latest()] == [2]
    assert store.completed_hashes() == {"h"}
