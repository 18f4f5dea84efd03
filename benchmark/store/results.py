"""The results store: one JSON line per (method variant, dataset, protocol, seed) in
``<root>/records.jsonl``, and one per-user rank file per record in ``<root>/per_user/``.

Writes are crash-safe: per-user files are written to a temporary file and renamed; all records of
one run unit are appended in a single ``write`` under an exclusive ``flock``, so concurrent runs
never interleave or tear lines, and an interrupted run leaves no partial record. A re-run of the
same config hash appends a newer record; readers keep the latest per record id.

A torn last line (a short write on another system, a full disk) is skipped with a warning on
read, and moved to ``records.jsonl.torn-<time>`` before the next append, so the append starts on
a fresh line and the torn bytes stay available to inspect. Commands that write (``run``,
``submit``, ``tune``) hold ``exclusive()``, a per-store lock, so two runs on one store cannot both
do the same work. Every record is checked on read against ``REQUIRED_FIELDS``; bad records are
reported one line each (file, line, reason).
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import logging
import os
import tempfile
import time
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Iterator

import numpy as np

from llmrec_benchmark.errors import BenchmarkError

log = logging.getLogger(__name__)

# what every reader of a record relies on: field -> expected type
REQUIRED_FIELDS: dict[str, type | tuple[type, ...]] = {
    "record_id": str, "config_hash": str, "method": str, "base_method": str, "dataset": str, "protocol": str,
    "seed": int, "metrics": dict, "per_user_file": str,
}


def record_problem(record: Any) -> str | None:
    """Why ``record`` cannot be used, or None when it has every required field with its type."""
    if not isinstance(record, dict):
        return f"expected a JSON object, found {type(record).__name__}"
    for field, kind in REQUIRED_FIELDS.items():
        if field not in record:
            return f"missing key '{field}'"
        value = record[field]
        if not isinstance(value, kind) or isinstance(value, bool):
            return f"key '{field}' must be {getattr(kind, '__name__', kind)}, found {type(value).__name__} {value!r:.40}"
    per_user = PurePosixPath(record["per_user_file"])
    if per_user.is_absolute() or ".." in per_user.parts or per_user.parts[:1] != ("per_user",):
        return f"per_user_file must be a path under per_user/, found '{record['per_user_file']}'"
    for name, value in record["metrics"].items():
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return f"metric '{name}' must be a number, found {value!r:.40}"
    return None


class ResultStore:
    def __init__(self, root: Path):
        self.root = root
        self.records_path = root / "records.jsonl"
        self.per_user_dir = root / "per_user"
        self.run_log_path = root / "run-log.jsonl"

    def read_all(self) -> list[dict[str, Any]]:
        """Every record in file order. A malformed line is an error naming file and line, except a
        torn last line without a newline (a crash mid-write on another system), which is skipped."""
        if not self.records_path.exists():
            return []
        text = self.records_path.read_text(encoding="utf-8")
        lines = text.split("\n")
        records, problems = [], []
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                if number == len(lines):
                    log.warning("%s:%d: ignoring an incomplete last line (it is set aside before the next append)",
                                self.records_path, number)
                    continue
                problems.append(f"{self.records_path}:{number}: malformed record ({exc.msg})")
                continue
            problem = record_problem(record)
            if problem:
                problems.append(f"{self.records_path}:{number}: {problem}")
            else:
                records.append(record)
        if len(problems) == 1:
            raise BenchmarkError(f"bad record at {problems[0]}; fix or remove that line")
        if problems:
            shown = problems[:20] + ([f"... and {len(problems) - 20} more"] if len(problems) > 20 else [])
            raise BenchmarkError(f"{len(problems)} bad records; fix or remove these lines:\n" + "\n".join(shown))
        return records

    def latest(self) -> list[dict[str, Any]]:
        """The newest record per record id, in first-seen order."""
        latest: dict[str, dict[str, Any]] = {}
        for record in self.read_all():
            latest[record["record_id"]] = record
        return list(latest.values())

    def completed_hashes(self) -> set[str]:
        return {r["config_hash"] for r in self.read_all()}

    def completed_code(self, keep: Callable[[dict[str, Any]], bool] | None = None) -> dict[str, set[str]]:
        """Config hash -> the code hashes (``benchmark.store.code_hash``) of the records that hold it and
        pass ``keep`` (all by default); records from before code hashing, or that ``keep`` rejects,
        contribute an empty set (stale or unsettled, never done)."""
        out: dict[str, set[str]] = {}
        for record in self.read_all():
            codes = out.setdefault(record["config_hash"], set())
            if record.get("code_hash") and (keep is None or keep(record)):
                codes.add(record["code_hash"])
        return out

    def load_per_user(self, record: dict[str, Any]) -> dict[str, np.ndarray]:
        """A record's per-user arrays (``allow_pickle`` stays off: the file is data, never code)."""
        path = self.root / record["per_user_file"]
        try:
            with np.load(path, allow_pickle=False) as stored:
                arrays = {k: stored[k] for k in stored.files}
        except FileNotFoundError:
            raise BenchmarkError(f"{path}: per-user file of record {record['record_id']} is missing") from None
        except (ValueError, OSError, EOFError) as exc:  # not an npz, truncated, or holding pickled objects
            raise BenchmarkError(f"{path}: unreadable per-user file of record {record['record_id']} ({exc})") from None
        missing = {"users", "ranks"} - set(arrays)
        if missing:
            raise BenchmarkError(f"{path}: per-user file of record {record['record_id']} lacks {sorted(missing)} "
                                 f"(found {sorted(arrays)})")
        if arrays["users"].shape != arrays["ranks"].shape:
            raise BenchmarkError(f"{path}: 'users' and 'ranks' differ in length "
                                 f"({arrays['users'].shape} vs {arrays['ranks'].shape})")
        return arrays

    @contextlib.contextmanager
    def exclusive(self, command: str) -> Iterator[None]:
        """Hold this store's lock while ``command`` writes to it; a second writer gets a clear
        error instead of repeating the first one's work."""
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / ".lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another process"
                raise BenchmarkError(f"{self.root} is in use by {holder}; wait for it to finish, or pass "
                                     "--results to write somewhere else") from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"`{command}` (pid {os.getpid()})".encode(), 0)
            yield
        finally:
            os.close(fd)  # closing releases the lock

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
        fd = os.open(self.records_path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            self._set_aside_torn_tail(fd)
            written = os.write(fd, payload)
            if written != len(payload):
                raise OSError(f"short write to {self.records_path}: {written} of {len(payload)} bytes")
            os.fsync(fd)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def log_invocation(self, entry: dict[str, Any]) -> None:
        """Append one line to ``run-log.jsonl``: what a ``run`` invocation did and its wall clock.
        A board built over several invocations (a run resumed after an interruption) is timed end
        to end by the sum of its lines; records time each run, this times everything around them."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.run_log_path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry, sort_keys=True) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def _set_aside_torn_tail(self, fd: int) -> None:
        """If the file does not end with a newline, move its unfinished last line to a
        ``.torn-<time>`` file beside it and cut it off, so the next append starts a fresh line."""
        size = os.fstat(fd).st_size
        if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
            return
        content = os.pread(fd, size, 0)  # only on this rare repair path
        start = content.rfind(b"\n") + 1
        torn = content[start:]
        aside = self.records_path.with_name(f"{self.records_path.name}.torn-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}")
        aside.write_bytes(torn)
        os.ftruncate(fd, start)
        log.warning("%s: its last line was incomplete (%d bytes, a torn write); moved it to %s before appending",
                    self.records_path, len(torn), aside)


def current_records(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One record per (method, dataset, protocol, seed): the newest. A record whose config was
    superseded (e.g. a profile setting changed) stays in ``records.jsonl`` as history but is not
    mixed into the board with the runs that replaced it."""
    newest: dict[tuple, dict[str, Any]] = {}
    for record in records:
        key = (record["method"], record["dataset"], record["protocol"], record["seed"])
        if key not in newest or record["created_at"] >= newest[key]["created_at"]:
            newest[key] = record
    return list(newest.values())
