"""Conversion of raw dataset files into RecBole atomic files.

Formats without timestamps (one sequence per line) get the position in the sequence as their
timestamp, so chronological order is exactly the published order.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

from llmrec_benchmark.data.atomic import read_table, validate_inter, validate_item
from llmrec_benchmark.data.cards import DatasetCard
from llmrec_benchmark.errors import BenchmarkError

INTER_HEADER = "user_id:token\titem_id:token\ttimestamp:float\n"


def _write_inter(rows: pd.DataFrame, target: Path) -> None:
    with target.open("w", encoding="utf-8") as out:
        out.write(INTER_HEADER)
        rows.to_csv(out, sep="\t", header=False, index=False)


def _from_sequences(sequences: list[tuple[str, list[str]]], target: Path) -> None:
    users, items, stamps = [], [], []
    for user, seq in sequences:
        users.extend([user] * len(seq))
        items.extend(seq)
        stamps.extend(range(len(seq)))
    _write_inter(pd.DataFrame({"u": users, "i": items, "t": stamps}), target)


def _s3rec_txt(path: Path, target: Path) -> None:
    sequences = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            parts = line.split()
            if len(parts) < 2:
                raise BenchmarkError(f"{path}:{number}: expected 'user item item ...', found {line.strip()!r}")
            sequences.append((parts[0], parts[1:]))
    _from_sequences(sequences, target)


def _llmrank_seq(path: Path, target: Path) -> None:
    frame = read_table(path)
    for column in ("user_id", "item_id_list", "item_id"):
        if column not in frame.columns:
            raise BenchmarkError(f"{path}:1: header lacks column '{column}'")
    sequences = [
        (user, history.split() + [last])
        for user, history, last in zip(frame["user_id"], frame["item_id_list"], frame["item_id"])
    ]
    _from_sequences(sequences, target)


def _user_item_lines(path: Path, target: Path) -> None:
    users, items = [], []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 2:
                raise BenchmarkError(f"{path}:{number}: expected 'user item', found {line.strip()!r}")
            users.append(parts[0])
            items.append(parts[1])
    if not users:
        raise BenchmarkError(f"{path}: no interactions found")
    _write_inter(pd.DataFrame({"u": users, "i": items, "t": range(len(users))}), target)


def convert(card: DatasetCard, raw: dict[str, Path], out_dir: Path) -> None:
    """Write ``<out_dir>/<name>.inter`` (and ``.item``) for RecBole."""
    out_dir.mkdir(parents=True, exist_ok=True)
    inter_target = out_dir / f"{card.name}.inter"
    fmt = card.source.format
    if fmt == "atomic":
        validate_inter(raw["inter"], card.fields.user, card.fields.item, card.fields.time)
        shutil.copyfile(raw["inter"], inter_target)
    elif fmt == "s3rec-txt":
        _s3rec_txt(raw["inter"], inter_target)
    elif fmt == "llmrank-seq":
        _llmrank_seq(raw["inter"], inter_target)
    elif fmt == "user-item-lines":
        _user_item_lines(raw["inter"], inter_target)
    if "item" in raw:
        validate_item(raw["item"], card.fields.item, card.text_fields)
        shutil.copyfile(raw["item"], out_dir / f"{card.name}.item")
