"""Cards generated for a user's own data (``--dataset PATH``).

Accepted: a folder holding one ``<name>.inter`` RecBole atomic file (and optionally ``<name>.item``),
or a plain text file with one ``user item`` pair per line, in chronological order. The generated
card applies no k-core filtering beyond the 3 interactions per user that leave-one-out needs, and
uses every text column of the ``.item`` file as item text.
"""

from __future__ import annotations

import re
from pathlib import Path

from benchmark.cards import DatasetCard, Fields, Filtering, Source, SourceFile
from benchmark.errors import BenchmarkError
from benchmark.fetch import sha256_of

TEXT_TYPES = ("token", "token_seq")


def _header(path: Path) -> list[tuple[str, str]]:
    with path.open(encoding="utf-8") as handle:
        first = handle.readline().rstrip("\n")
    columns = []
    for column in first.split("\t"):
        name, sep, kind = column.partition(":")
        if not sep:
            raise BenchmarkError(f"{path}:1: header column '{column}' is not of the form name:type")
        columns.append((name, kind))
    return columns


def card_for_path(path: Path) -> DatasetCard:
    path = path.resolve()
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", path.stem if path.is_file() else path.name)
    if path.is_file():
        source = Source(
            kind="local",
            format="user-item-lines",
            files=(SourceFile(role="inter", local_path=str(path), sha256=sha256_of(path)),),
        )
        return DatasetCard(
            name=name, title=f"user data {path.name}", licence="user-provided", source=source,
            fields=Fields(time=None), filtering=Filtering(user_min=3, item_min=1),
        )
    inters = sorted(path.glob("*.inter"))
    if len(inters) != 1:
        raise BenchmarkError(f"{path}: expected exactly one *.inter file, found {len(inters)}")
    inter = inters[0]
    files = [SourceFile(role="inter", local_path=str(inter), sha256=sha256_of(inter))]
    header = dict(_header(inter))
    for required in ("user_id", "item_id"):
        if required not in header:
            raise BenchmarkError(f"{inter}:1: header lacks the column '{required}:token' (found {list(header)})")
    text_fields: tuple[str, ...] = ()
    item = inter.with_suffix(".item")
    if item.exists():
        files.append(SourceFile(role="item", local_path=str(item), sha256=sha256_of(item)))
        text_fields = tuple(n for n, kind in _header(item) if n != "item_id" and kind in TEXT_TYPES)
    return DatasetCard(
        name=name, title=f"user data {path.name}", licence="user-provided",
        source=Source(kind="local", format="atomic", files=tuple(files)),
        fields=Fields(time="timestamp" if "timestamp" in header else None),
        text_fields=text_fields, filtering=Filtering(user_min=3, item_min=1),
    )
