"""The results store: one JSON line per (method variant, dataset, protocol, seed) in
``<root>/records.jsonl``, and one per-user rank file per record in ``<root>/per_user/``.

Writes are crash-safe: per-user files are written to a temporary file and renamed; all records of
one run unit are appended in a single ``write`` under an exclusive ``flock``, so concurrent runs
never interleave or tear lines, and an interrupted run leaves no partial record. A re-run of the
same config hash appends a newer record; readers keep the latest per record id.
"""

from __future__ import annotations

import fcntl
import io
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.errors import BenchmarkError

log = logging.getLogger(__name__)


class ResultStore:
    def __init__(self, root: Path):
        self.root = root
        self.records_path = root / "records.jsonl"
        self.per_user_dir = root / "per_user"

    def read_all(self) -> list[dict[str, Any]]:
        """Every record in file order. A malformed line is an error naming file and line, except a
        torn last line without a newline (a crash mid-write on another system), which is skipped."""
        if not self.records_path.exists():
            return []
        text = self.records_path.read_text(encoding="utf-8")
        lines = text.split("\n")
        records = []
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as exc:
                if number == len(lines):
                    log.warning("%s:%d: ignoring an incomplete last line", self.records_path, number)
                    continue
                raise BenchmarkError(f"{self.records_path}:{number}: malformed record ({exc.msg})") from None
        return records

    def latest(self) -> list[dict[str, Any]]:
        """The newest record per record id, in first-seen order."""
        latest: dict[str, dict[str, Any]] = {}
        for record in self.read_all():
            latest[record["record_id"]] = record
        return list(latest.values())

    def completed_hashes(self) -> set[str]:
        return {r["config_hash"] for r in self.read_all()}

    def completed_code(self) -> dict[str, set[str]]:
        """Config hash -> the code hashes (``benchmark.code_hash``) of the records that hold it;
        records from before code hashing contribute an empty set (always stale)."""
        out: dict[str, set[str]] = {}
        for record in self.read_all():
            codes = out.setdefault(record["config_hash"], set())
            if record.get("code_hash"):
                codes.add(record["code_hash"])
        return out

    def load_per_user(self, record: dict[str, Any]) -> dict[str, np.ndarray]:
        with np.load(self.root / record["per_user_file"]) as stored:
            return {k: stored[k] for k in stored.files}

    def write_unit(self, records: list[dict[str, Any]], per_user: dict[str, dict[str, np.ndarray]]) -> None:
        self.per_user_dir.mkdir(parents=True, exist_ok=True)
        for record_id, arrays in per_user.items():
            buffer = io.BytesIO()
            np.savez_compressed(buffer, **arrays)
            fd, tmp = tempfile.mkstemp(dir=self.per_user_dir, prefix=".tmp-")
            with os.fdopen(fd, "wb") as handle:
                handle.write(buffer.getvalue())
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.per_user_dir / f"{record_id}.npz")
        payload = "".join(json.dumps(r, sort_keys=True) + "\n" for r in records).encode("utf-8")
        fd = os.open(self.records_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            written = os.write(fd, payload)
            if written != len(payload):
                raise OSError(f"short write to {self.records_path}: {written} of {len(payload)} bytes")
            os.fsync(fd)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
