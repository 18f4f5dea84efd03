"""Results store: atomic, concurrent-safe appends; skip-by-hash; no partial records."""

import json
import multiprocessing

import numpy as np
import pytest

from llmrec_benchmark.errors import BenchmarkError
from llmrec_benchmark.store.results import ResultStore
from tests.conftest import minimal_record


def _writer(root, worker):
    store = ResultStore(root)
    for i in range(40):
        record_id = f"w{worker}-{i}"
        payload = minimal_record(record_id, config_hash=record_id, blob="x" * 5000)
        store.write_unit([payload, {**payload, "record_id": record_id + "b"}],
                         {record_id: {"users": np.arange(3), "ranks": np.arange(3)}})


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
    (tmp_path / "records.jsonl").write_text(f"{json.dumps(minimal_record('a'))}\nnot json\n{json.dumps(minimal_record('b'))}\n")
    with pytest.raises(BenchmarkError, match=r"records.jsonl:2: malformed record"):
        ResultStore(tmp_path).read_all()


def test_torn_last_line_is_ignored(tmp_path):
    (tmp_path / "records.jsonl").write_text(json.dumps(minimal_record("a")) + '\n{"record_id": "b", "conf')
    assert [r["record_id"] for r in ResultStore(tmp_path).read_all()] == ["a"]


def test_latest_record_wins(tmp_path):
    store = ResultStore(tmp_path)
    store.write_unit([minimal_record("a", config_hash="h", v=1)], {})
    store.write_unit([minimal_record("a", config_hash="h", v=2)], {})
    assert [r["v"] for r in store.latest()] == [2]
    assert store.completed_hashes() == {"h"}


def test_torn_tail_is_set_aside_before_the_next_append(tmp_path, caplog):
    """A torn last line (a short write) must not swallow the next record: it is moved to a
    .torn-* file, the append starts on a fresh line, and every later read works."""
    whole = json.dumps(minimal_record("a"))
    (tmp_path / "records.jsonl").write_text(whole + '\n{"record_id": "b", "conf')
    store = ResultStore(tmp_path)
    store.write_unit([minimal_record("c")], {})
    assert [r["record_id"] for r in store.read_all()] == ["a", "c"]
    aside = list(tmp_path.glob("records.jsonl.torn-*"))
    assert len(aside) == 1 and aside[0].read_text() == '{"record_id": "b", "conf'
    assert "moved it to" in caplog.text
    store.write_unit([minimal_record("d")], {})  # a second append needs no repair
    assert [r["record_id"] for r in store.read_all()] == ["a", "c", "d"]
    assert len(list(tmp_path.glob("records.jsonl.torn-*"))) == 1


def test_bad_records_are_listed_one_line_each(tmp_path):
    lines = [minimal_record("a"), {k: v for k, v in minimal_record("b").items() if k != "seed"},
             minimal_record("c", metrics={"NDCG@10": "high"}), minimal_record("d", per_user_file="../../etc/passwd"),
             minimal_record("e", seed="0")]
    (tmp_path / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    with pytest.raises(BenchmarkError) as caught:
        ResultStore(tmp_path).read_all()
    message = str(caught.value).splitlines()
    assert message[0] == "4 bad records; fix or remove these lines:"
    assert message[1].endswith("records.jsonl:2: missing key 'seed'")
    assert message[2].endswith("records.jsonl:3: metric 'NDCG@10' must be a number, found 'high'")
    assert "records.jsonl:4: per_user_file must be a path under per_user/" in message[3]
    assert "records.jsonl:5: key 'seed' must be int, found str" in message[4]


def test_per_user_file_problems_name_the_file(tmp_path):
    store = ResultStore(tmp_path)
    record = minimal_record("a")
    with pytest.raises(BenchmarkError, match=r"per_user/a.npz: per-user file of record a is missing"):
        store.load_per_user(record)
    (tmp_path / "per_user").mkdir()
    (tmp_path / "per_user" / "a.npz").write_bytes(b"not a zip file")
    with pytest.raises(BenchmarkError, match=r"unreadable per-user file of record a"):
        store.load_per_user(record)
    np.savez(tmp_path / "per_user" / "a.npz", users=np.arange(3))
    with pytest.raises(BenchmarkError, match=r"lacks \['ranks'\]"):
        store.load_per_user(record)
    np.savez(tmp_path / "per_user" / "a.npz", users=np.arange(3), ranks=np.array([object()], dtype=object))
    with pytest.raises(BenchmarkError, match=r"unreadable per-user file"):  # pickled objects are never loaded
        store.load_per_user(record)


def _hold_lock(root, ready, release):
    with ResultStore(root).exclusive("run"):
        ready.set()
        release.wait(30)


def test_a_second_writer_is_refused_while_the_store_is_in_use(tmp_path):
    ready, release = multiprocessing.Event(), multiprocessing.Event()
    holder = multiprocessing.Process(target=_hold_lock, args=(tmp_path, ready, release))
    holder.start()
    try:
        assert ready.wait(30)
        with pytest.raises(BenchmarkError, match=rf"is in use by `run` \(pid {holder.pid}\)"):
            with ResultStore(tmp_path).exclusive("run"):
                pass
    finally:
        release.set()
        holder.join()
    with ResultStore(tmp_path).exclusive("run"):  # released when the holder ends
        pass
