"""The Python API: run, leaderboard and load_records, as a notebook user calls them."""

from __future__ import annotations

import pytest

import llmrec_benchmark.api as bench
from llmrec_benchmark.errors import BenchmarkError


def test_run_returns_the_records_as_a_frame_and_renders_the_board(tmp_path):
    frame = bench.run(["pop", "random"], profile="ci", seeds=[0], results=tmp_path, variants=False)
    assert sorted(frame["method"].unique()) == ["pop", "random"]
    assert set(frame["protocol"]) == {"full", "cand-19", "cand-99"} and len(frame) == 6
    assert frame["NDCG@10"].between(0, 1).all() and set(frame["stopped_by"]) == {"completed"}
    assert bench.leaderboard("ci", results=tmp_path) == tmp_path / "ci" / "README.md"
    again = bench.run(["pop", "random"], profile="ci", seeds=[0], results=tmp_path, variants=False)
    assert again.equals(frame)  # nothing re-ran: the same records come back


def test_load_records_reads_a_committed_board():
    frame = bench.load_records("ci")
    assert {"sasrec-ce", "pop", "darec"} <= set(frame["method"]) and "HR@10" in frame.columns
    assert frame["record_id"].is_unique


def test_errors_raise_instead_of_printing(tmp_path):
    with pytest.raises(BenchmarkError, match="unknown profile"):
        bench.run(["pop"], profile="no-such-profile", results=tmp_path)
    with pytest.raises(BenchmarkError, match="no records"):
        bench.leaderboard("ci", results=tmp_path / "empty")
