"""The catalog: which datasets exist, and the card for a name (``datasets/<name>.yaml``), a card
file, or a user's own data path (a generated card). It sits above ``cards`` (the card schema),
``fetch`` and ``user_data``, which all need the schema, so none of them imports another in a
circle."""

from __future__ import annotations

from pathlib import Path

from llmrec_benchmark.data.cards import DatasetCard, card_from_yaml_data
from llmrec_benchmark.data.user_data import card_for_path
from llmrec_benchmark.errors import BenchmarkError
from llmrec_benchmark.paths import cards_dir
from llmrec_benchmark.schema import read_yaml


def available_datasets() -> list[str]:
    return sorted(p.stem for p in cards_dir().glob("*.yaml"))


def load_card(name: str) -> DatasetCard:
    """A named card from ``datasets/<name>.yaml``, or a generated card for a local path."""
    candidate = Path(name)
    if candidate.exists() and (candidate.is_dir() or candidate.suffix not in (".yaml", ".yml")):
        return card_for_path(candidate)
    path = candidate if candidate.suffix in (".yaml", ".yml") else cards_dir() / f"{name}.yaml"
    if not path.exists():
        raise BenchmarkError(
            f"unknown dataset '{name}'; available: {', '.join(available_datasets())} "
            "(or pass a folder of RecBole atomic files / a 'user item' file)"
        )
    card = card_from_yaml_data(read_yaml(path), str(path))
    if path.parent == cards_dir() and card.name != path.stem:
        raise BenchmarkError(f"{path}: card name '{card.name}' must match the file name '{path.stem}'")
    return card
