"""Strict construction of typed config objects from YAML mappings.

RecBole silently accepts misspelled keys; this suite does not. ``build`` turns a mapping into a
dataclass, rejecting unknown keys (naming the key, the file and the allowed keys) and values of the
wrong type, so a typo can never become a silently ignored setting.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from pathlib import Path
from typing import Any, Mapping, TypeVar

import yaml

from llmrec_benchmark.errors import BenchmarkError

T = TypeVar("T")


def read_utf8(path: Path) -> str:
    """A text file's contents; a missing file, a folder or bytes that are not UTF-8 are one-line
    errors naming the file (and the line of the first bad byte)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise BenchmarkError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise BenchmarkError(f"{path}: is a folder; expected a file") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise BenchmarkError(f"{path}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
                             "save the file as UTF-8") from None


def read_yaml(path: Path) -> dict[str, Any]:
    """Parse a YAML file that must hold a mapping; errors name the file (and line, when known)."""
    text = read_utf8(path)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise BenchmarkError(f"{where}: invalid YAML ({getattr(exc, 'problem', exc)})") from None
    if not isinstance(data, dict):
        raise BenchmarkError(f"{path}: expected a mapping at the top level, found {type(data).__name__}")
    return data


def reject_unknown_keys(data: Mapping[str, Any], allowed: typing.Iterable[str], where: str) -> None:
    """Raise a BenchmarkError naming the first key of ``data`` not in ``allowed``."""
    allowed = list(allowed)
    for key in data:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise BenchmarkError(
                f"{where}: unknown key '{key}'{hint}; expected one of: {', '.join(sorted(allowed))}"
            )


def _type_ok(value: Any, annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if annotation is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(value, arg) for arg in typing.get_args(annotation))
    if annotation is type(None):
        return value is None
    if origin in (list, tuple):
        (item_type, *_rest) = typing.get_args(annotation) or (Any,)
        return isinstance(value, (list, tuple)) and all(_type_ok(v, item_type) for v in value)
    if origin is dict:
        return isinstance(value, dict)
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(annotation, type):
        return isinstance(value, annotation)
    return True


def build(cls: type[T], data: Mapping[str, Any], where: str) -> T:
    """Instantiate dataclass ``cls`` from ``data``; nested dataclass fields are built recursively."""
    if not isinstance(data, Mapping):
        raise BenchmarkError(f"{where}: expected a mapping, found {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    reject_unknown_keys(data, fields, where)
    kwargs: dict[str, Any] = {}
    for name, field in fields.items():
        if name not in data:
            if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
                raise BenchmarkError(f"{where}: missing required key '{name}'")
            continue
        value = data[name]
        annotation = hints[name]
        if dataclasses.is_dataclass(annotation) and not isinstance(value, annotation):
            kwargs[name] = build(annotation, value, f"{where}: {name}")
            continue
        if not _type_ok(value, annotation):
            expected = getattr(annotation, "__name__", str(annotation))
            raise BenchmarkError(
                f"{where}: key '{name}' expects {expected}, found {value!r} ({type(value).__name__})"
            )
        kwargs[name] = tuple(value) if typing.get_origin(annotation) is tuple else value
    return cls(**kwargs)
