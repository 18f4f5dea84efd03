"""The method registry: an explicit table of built-ins plus plugins from the ``benchmark.methods``
entry-point group. Classes are imported lazily ("module:Class" strings), so listing methods does
not import torch-heavy code, and a broken plugin only fails when it is used."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Mapping

from benchmark.errors import BenchmarkError
from benchmark.method import Method, Variant, parse_variant
from benchmark.schema import reject_unknown_keys

ENTRY_POINT_GROUP = "benchmark.methods"


@dataclass(frozen=True)
class ResolvedMethod:
    """A method class with its variant and its final config (card defaults < profile < variant)."""

    cls: type[Method]
    variant: Variant
    config: dict[str, Any]

    @property
    def name(self) -> str:
        return self.variant.name

    def instantiate(self) -> Method:
        return self.cls(self.config, self.variant.disabled)


class Registry:
    def __init__(self, table: Mapping[str, str | type[Method]], include_plugins: bool = True):
        self._table: dict[str, str | type[Method]] = dict(table)
        if include_plugins:
            for entry in entry_points(group=ENTRY_POINT_GROUP):
                self._table.setdefault(entry.name, entry.value)

    def names(self) -> list[str]:
        return sorted(self._table)

    def get(self, name: str) -> type[Method]:
        if name not in self._table:
            raise BenchmarkError(f"unknown method '{name}'; available: {', '.join(self.names())}")
        target = self._table[name]
        if isinstance(target, str):
            module_name, _, attribute = target.partition(":")
            try:
                target = getattr(importlib.import_module(module_name), attribute)
            except (ImportError, AttributeError) as exc:
                raise BenchmarkError(f"method '{name}': cannot load '{self._table[name]}' ({exc})") from None
            self._table[name] = target
        if not (isinstance(target, type) and issubclass(target, Method)):
            raise BenchmarkError(f"method '{name}': '{target}' is not a benchmark.method.Method subclass")
        return target

    def resolve(self, spec: str, profile_config: Mapping[str, Any] | None = None,
                tuned: Mapping[str, Any] | None = None) -> ResolvedMethod:
        """Parse ``name[-component,key=value]`` and build the config (card defaults < profile
        ``method_config`` < ``tuned`` parameters < the spec's overrides); unknown components or
        keys are errors that name them."""
        variant = parse_variant(spec)
        cls = self.get(variant.base)
        card = cls.card
        unknown = sorted(variant.disabled - set(card.components))
        if unknown:
            allowed = ", ".join(card.components) or "none"
            raise BenchmarkError(f"method '{variant.base}' has no component '{unknown[0]}' (components: {allowed})")
        config = dict(card.defaults)
        overrides = dict((profile_config or {}).get(variant.base, {}))
        reject_unknown_keys(overrides, config, f"profile method_config.{variant.base}")
        config.update(overrides)
        reject_unknown_keys(dict(tuned or {}), config, f"tuned parameters of '{variant.base}'")
        config.update(dict(tuned or {}))
        reject_unknown_keys(dict(variant.overrides), config, f"method spec '{spec}'")
        config.update(dict(variant.overrides))
        return ResolvedMethod(cls, variant, config)

    def ablation_variants(self, name: str) -> list[str]:
        """The full model, then one variant per switched-off component, then the card's declared
        config variants (e.g. ``llm-trsr[summary=recurrent]``)."""
        card = self.get(name).card
        return [name] + [f"{name}[-{c}]" for c in card.components] + [f"{name}[{v}]" for v in card.variants]
