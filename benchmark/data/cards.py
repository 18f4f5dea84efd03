"""Dataset cards: one YAML file per dataset under ``datasets/`` describing where the data comes
from (URL + sha256, or the installed RecBole package), its licence, its raw format, which fields
carry item text, and how it is filtered. Finding a card by name or path is ``data.catalog``'s job.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

from llmrec_benchmark.errors import BenchmarkError
from llmrec_benchmark.schema import build

RAW_FORMATS = ("atomic", "llmrank-seq", "s3rec-txt", "user-item-lines")
SOURCE_KINDS = ("files", "recbole-package", "local")


@dataclass(frozen=True)
class SourceFile:
    """One raw file. ``role`` is ``inter`` or ``item``; ``mirror`` is its path inside a mirror dir."""

    role: str
    sha256: str | None = None
    url: str | None = None
    mirror: str | None = None
    package_path: str | None = None
    local_path: str | None = None


@dataclass(frozen=True)
class Source:
    kind: str
    format: str
    files: tuple[SourceFile, ...]


@dataclass(frozen=True)
class Fields:
    user: str = "user_id"
    item: str = "item_id"
    time: str | None = "timestamp"


@dataclass(frozen=True)
class Filtering:
    """k-core thresholds applied by RecBole (iterated to a fixed point). Users always need >= 3
    interactions for leave-one-out (train, valid, test), whatever the card says."""

    user_min: int = 5
    item_min: int = 5


@dataclass(frozen=True)
class DatasetCard:
    name: str
    title: str
    licence: str
    source: Source
    fields: Fields = field(default_factory=Fields)
    text_fields: tuple[str, ...] = ()
    text_template: str | None = None
    filtering: Filtering = field(default_factory=Filtering)
    citation: str = ""
    notes: str = ""

    def digest(self) -> str:
        """Content hash of the card: a changed card means changed data, caches and config hashes."""
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:16]

    @property
    def has_text(self) -> bool:
        return bool(self.text_fields)


def card_from_yaml_data(data: dict, where: str) -> DatasetCard:
    source = data.get("source")
    if isinstance(source, dict) and isinstance(source.get("files"), list):
        files = tuple(build(SourceFile, f, f"{where}: source.files[{i}]") for i, f in enumerate(source["files"]))
        data = {**data, "source": Source(kind=source.get("kind", ""), format=source.get("format", ""), files=files)}
        extra = set(source) - {"kind", "format", "files"}
        if extra:
            raise BenchmarkError(f"{where}: unknown key 'source.{sorted(extra)[0]}'; expected kind, format, files")
    elif "source" in data:
        raise BenchmarkError(f"{where}: 'source' must be a mapping with a 'files' list")
    card = build(DatasetCard, data, where)
    if card.source.kind not in SOURCE_KINDS:
        raise BenchmarkError(f"{where}: source.kind must be one of {SOURCE_KINDS}, found '{card.source.kind}'")
    if card.source.format not in RAW_FORMATS:
        raise BenchmarkError(f"{where}: source.format must be one of {RAW_FORMATS}, found '{card.source.format}'")
    roles = [f.role for f in card.source.files]
    if roles.count("inter") != 1 or any(r not in ("inter", "item") for r in roles):
        raise BenchmarkError(f"{where}: source.files needs exactly one 'inter' file and at most one 'item' file")
    if card.text_fields and "item" not in roles:
        raise BenchmarkError(f"{where}: text_fields {list(card.text_fields)} need an 'item' file")
    return card
