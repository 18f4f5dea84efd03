"""A cache for expensive artifacts (converted checkpoints, LLM summaries, teacher predictions),
keyed by a content hash of everything that produced them.

An entry is a directory ``<root>/<kind>/<key>/`` written under a temporary name and renamed into
place, so an interrupted build leaves no half-written entry and a later run simply rebuilds it.
``inputs.json`` in the entry records what the key was computed from, for provenance.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any, Callable


def file_sha256(path: Path, chunk: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def content_key(inputs: dict[str, Any]) -> str:
    """A stable 16-hex key of JSON-able inputs (order-independent for dict keys)."""
    return hashlib.sha256(json.dumps(inputs, sort_keys=True, default=str).encode()).hexdigest()[:16]


class ArtifactCache:
    def __init__(self, root: Path):
        self.root = Path(root)

    def path(self, kind: str, inputs: dict[str, Any]) -> Path:
        return self.root / kind / content_key(inputs)

    def get_or_build(self, kind: str, inputs: dict[str, Any], build: Callable[[Path], None]) -> Path:
        """The entry for ``inputs``; ``build(tmp_dir)`` fills a fresh directory when it is missing."""
        target = self.path(kind, inputs)
        if (target / "inputs.json").exists():
            return target
        staging = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.part")
        staging.mkdir(parents=True)
        try:
            build(staging)
            (staging / "inputs.json").write_text(json.dumps(inputs, indent=1, sort_keys=True, default=str))
            try:
                os.replace(staging, target)
            except OSError:  # another process finished the same entry first: keep theirs
                if not (target / "inputs.json").exists():
                    raise
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
        return target
