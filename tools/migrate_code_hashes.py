"""One-off: carry result records from code-hash scheme 1 to scheme 2 (``benchmark.store.code_hash``).

Scheme 1 hashed module names and bytes, scheme 2 hashes top-level statements wherever they live.
A record's scheme-1 hash says which code computed it; this tool can vouch for a scheme-2 hash only
where that code is the code checked out now, so it rewrites a record's ``code_hash`` only when the
record's hash equals the scheme-1 hash of the current code. Every other record keeps its hash and
stays stale (it was stale before). Only the ``code_hash`` value changes on a line; the rest of
each line is byte-identical, and each file is replaced atomically.

    python tools/migrate_code_hashes.py leaderboards/*/records.jsonl
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from llmrec_benchmark.store.code_hash import _module_file, method_code_hash, method_code_modules  # noqa: E402
from llmrec_benchmark.engine.registry import Registry  # noqa: E402
from llmrec_methods import BUILTIN_METHODS  # noqa: E402


def scheme1_hash(module: str) -> str:
    """The hash as scheme 1 computed it: sha256 over each module's name and bytes."""
    digest = hashlib.sha256()
    for name in method_code_modules(module):
        digest.update(name.encode() + b"\0" + _module_file(name).read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def migrate(path: Path, modules: dict[str, str]) -> dict[str, int]:
    counts = {"migrated": 0, "already current": 0, "left stale": 0, "no hash": 0}
    out = []
    for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
        record = json.loads(line)
        old, module = record.get("code_hash"), modules.get(record["base_method"])
        if old is None or module is None:
            counts["no hash"] += 1
        elif old == method_code_hash(module):
            counts["already current"] += 1
        elif old == scheme1_hash(module):
            field = f'"code_hash": "{old}"'
            assert line.count(field) == 1, f"{path}: record {record['record_id']}: expected one {field}"
            line = line.replace(field, f'"code_hash": "{method_code_hash(module)}"')
            counts["migrated"] += 1
        else:
            counts["left stale"] += 1
        out.append(line)
    tmp = path.with_suffix(".jsonl.tmp")
    tmp.write_text("".join(out), encoding="utf-8")
    os.replace(tmp, path)
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("records", nargs="+", type=Path, help="records.jsonl files")
    args = parser.parse_args()
    registry = Registry(BUILTIN_METHODS)
    modules = {name: registry.get(name).__module__ for name in registry.names()}
    for path in args.records:
        print(f"{path}: {migrate(path, modules)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
