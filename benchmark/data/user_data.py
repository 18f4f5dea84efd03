"""Cards generated for a user's own data (``--dataset PATH``).

Accepted: a folder holding one ``<name>.inter`` RecBole atomic file (and optionally ``<name>.item``),
or a plain text file with one ``user item`` pair per line, in chronological order. The generated
card applies no k-core filtering beyond the 3 interactions per user that leave-one-out needs, and
uses every text column of the ``.item`` file as item text.
"""

from __future__ import annotations

import re
from pathlib import Path

from llmrec_benchmark.data.atomic import read_table
from llmrec_benchmark.data.cards import DatasetCard, Fields, Filtering, Source, SourceFile
from llmrec_benchmark.data.fetch import sha256_of
from llmrec_benchmark.errors import BenchmarkError
from llmrec_benchmark.schema import read_utf8

TEXT_TYPES = ("token", "token_seq")


def _text(path: Path) -> str:
    """The file's text (UTF-8, not empty)."""
    text = read_utf8(path)
    if not text.strip():
        raise BenchmarkError(f"{path}: the file is empty")
    return text


def _check_user_item_lines(path: Path) -> None:
    for number, line in enumerate(_text(path).splitlines(), start=1):
        if line.strip() and len(line.split()) < 2:
            raise BenchmarkError(f"{path}:{number}: expected 'user item' (two whitespace-separated fields), "
                                 f"found {line.strip()[:40]!r}")


def _header(path: Path) -> dict[str, str]:
    """``{column name: type}`` of an atomic file's first line (the file checked as UTF-8 first)."""
    first = _text(path).split("\n", 1)[0].rstrip("\r")
    columns = {}
    for column in first.split("\t"):
        name, sep, kind = column.partition(":")
        if not sep:
            raise BenchmarkError(f"{path}:1: header column '{column}' is not of the form name:type")
        columns[name] = kind
    return columns


def card_for_path(path: Path) -> DatasetCard:
    path = path.resolve()
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", path.stem if path.is_file() else path.name)
    if path.is_file():
        _check_user_item_lines(path)
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
    header = _header(inter)
    for required in ("user_id", "item_id"):
        if required not in header:
            raise BenchmarkError(f"{inter}:1: header lacks the column '{required}:token' (found {list(header)})")
    text_fields: tuple[str, ...] = ()
    item = inter.with_suffix(".item")
    if item.exists():
        files.append(SourceFile(role="item", local_path=str(item), sha256=sha256_of(item)))
        item_columns = _header(item)
        if "item_id" not in item_columns:
            raise BenchmarkError(f"{item}:1: header lacks the column 'item_id:token' (found {list(item_columns)})")
        text_fields = tuple(n for n, kind in item_columns.items() if n != "item_id" and kind in TEXT_TYPES)
        used, described = set(read_table(inter)["item_id"]), set(read_table(item)["item_id"])
        missing = sorted(used - described)
        if missing:
            raise BenchmarkError(
                f"{item}: lacks {len(missing)} of the {len(used)} items that {inter.name} uses (e.g. '{missing[0]}'); "
                "RecBole would silently drop their interactions. Add those items, or remove the .item file")
    return DatasetCard(
        name=name, title=f"user data {path.name}", licence="user-provided",
        source=Source(kind="local", format="atomic", files=tuple(files)),
        fields=Fields(time="timestamp" if "timestamp" in header else None),
        text_fields=text_fields, filtering=Filtering(user_min=3, item_min=1),
    )
