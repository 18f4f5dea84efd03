"""Validation of RecBole atomic files before RecBole sees them.

RecBole's own failures on malformed files are tracebacks deep in pandas; these checks turn the
common mistakes (bad header, wrong column count, non-numeric timestamp, empty title) into one-line
errors naming the file, line and column.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd

from llmrec_benchmark.errors import BenchmarkError

ATOMIC_TYPES = ("token", "token_seq", "float", "float_seq")


def read_header(path: Path) -> dict[str, str]:
    """``{column name: type}`` from the first line; errors name the offending column."""
    with path.open(encoding="utf-8") as handle:
        first = handle.readline().rstrip("\r\n")
    if not first:
        raise BenchmarkError(f"{path}:1: empty file or empty header line")
    header: dict[str, str] = {}
    for column in first.split("\t"):
        name, sep, kind = column.partition(":")
        if not sep or not name:
            raise BenchmarkError(f"{path}:1: header column '{column}' is not of the form name:type")
        if kind not in ATOMIC_TYPES:
            raise BenchmarkError(
                f"{path}:1: header column '{column}' has type '{kind}', expected one of {', '.join(ATOMIC_TYPES)}"
            )
        header[name] = kind
    return header


def read_table(path: Path) -> pd.DataFrame:
    """All cells as strings, header names without their ``:type`` suffix."""
    try:
        frame = pd.read_csv(
            path, sep="\t", dtype=str, keep_default_na=False, quoting=csv.QUOTE_NONE, engine="c"
        )
    except pd.errors.ParserError as exc:
        raise BenchmarkError(f"{path}: malformed row ({str(exc).strip()})") from None
    frame.columns = [c.partition(":")[0] for c in frame.columns]
    return frame


def _first_bad_line(mask: pd.Series) -> int:
    """Line number in the file (header is line 1) of the first True in ``mask``."""
    return int(mask.to_numpy().nonzero()[0][0]) + 2


def _require_columns(path: Path, header: dict[str, str], names: list[str]) -> None:
    for name in names:
        if name not in header:
            raise BenchmarkError(f"{path}:1: header lacks column '{name}' (found {', '.join(header)})")


def validate_inter(path: Path, user: str, item: str, time: str | None) -> None:
    header = read_header(path)
    _require_columns(path, header, [user, item] + ([time] if time else []))
    frame = read_table(path)
    if frame.empty:
        raise BenchmarkError(f"{path}: no interactions (only a header)")
    for column in (user, item):
        empty = frame[column].str.strip() == ""
        if empty.any():
            raise BenchmarkError(f"{path}:{_first_bad_line(empty)}: empty '{column}'")
    if time:
        numeric = pd.to_numeric(frame[time], errors="coerce")
        bad = numeric.isna()
        if bad.any():
            line = _first_bad_line(bad)
            raise BenchmarkError(
                f"{path}:{line}: column '{time}' expects a number, found '{frame[time].iloc[line - 2]}'"
            )


def validate_item(path: Path, item: str, text_fields: tuple[str, ...]) -> None:
    """The first text field is the item's title and must be non-empty; later ones may be empty."""
    header = read_header(path)
    _require_columns(path, header, [item, *text_fields])
    frame = read_table(path)
    if text_fields:
        title = text_fields[0]
        empty = frame[title].str.strip() == ""
        if empty.any():
            line = _first_bad_line(empty)
            raise BenchmarkError(
                f"{path}:{line}: empty '{title}' for item '{frame[item].iloc[line - 2]}' (every item needs a title)"
            )
