"""The method registry: an explicit table of built-ins plus plugins from the ``benchmark.methods``
entry-point group. Classes are imported lazily ("module:Class" strings), so listing methods does
not import torch-heavy code, and a broken plugin only fails when it is used."""

from __future__ import annotations

import importlib
import math
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Mapping

from llmrec_benchmark.errors import BenchmarkError
from llmrec_benchmark.method import Method, MethodCard, Variant, parse_variant
from llmrec_benchmark.schema import reject_unknown_keys

ENTRY_POINT_GROUP = "llmrec_benchmark.methods"


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


def check_override_type(default: Any, value: Any, where: str) -> None:
    """An override must have its card default's type (an int where a float is expected is fine;
    a default of None accepts anything), so a typo such as ``lora_rank: "8"`` fails before any
    run starts instead of inside every run as a retried failure."""
    if default is None:
        return
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    elif isinstance(default, (list, tuple)):
        ok = isinstance(value, (list, tuple))
    else:
        ok = isinstance(value, type(default))
    if not ok:
        raise BenchmarkError(f"{where} expects {type(default).__name__} like the card default {default!r}, "
                             f"found {value!r} ({type(value).__name__})")


class Registry:
    def __init__(self, table: Mapping[str, str | type[Method]], include_plugins: bool = True):
        self._table: dict[str, str | type[Method]] = dict(table)
        if include_plugins:
            for entry in entry_points(group=ENTRY_POINT_GROUP):
                self._table.setdefault(entry.name, entry.value)

    def names(self) -> list[str]:
        return sorted(self._table)

    def loadable(self) -> tuple[list[str], dict[str, str]]:
        """(names that load, {name: why not} for those that do not): listing and rendering go on
        past a broken plugin and name it, instead of failing as a whole."""
        good, broken = [], {}
        for name in self.names():
            try:
                self.get(name)
                good.append(name)
            except BenchmarkError as exc:
                broken[name] = str(exc)
        return good, broken

    def get(self, name: str) -> type[Method]:
        if name not in self._table:
            raise BenchmarkError(f"unknown method '{name}'; available: {', '.join(self.names())}")
        target = self._table[name]
        if isinstance(target, str):
            module_name, _, attribute = target.partition(":")
            try:
                target = getattr(importlib.import_module(module_name), attribute)
            except Exception as exc:  # a plugin's import may fail in any way; it must not take the suite down
                raise BenchmarkError(f"method '{name}': cannot load '{self._table[name]}' "
                                     f"({type(exc).__name__}: {exc})") from None
            self._table[name] = target
        if not (isinstance(target, type) and issubclass(target, Method)):
            raise BenchmarkError(f"method '{name}': '{target}' is not a benchmark.method.Method subclass")
        if not isinstance(getattr(target, "card", None), MethodCard):
            raise BenchmarkError(f"method '{name}': class {target.__name__} has no MethodCard 'card' attribute")
        if target.card.name != name:
            raise BenchmarkError(f"method '{name}': its card is named '{target.card.name}'; the registered name "
                                 "and the card name must match")
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
        profile_overrides = (profile_config or {}).get(variant.base, {})
        if not isinstance(profile_overrides, Mapping):
            raise BenchmarkError(f"profile method_config.{variant.base}: expected a mapping of config keys, "
                                 f"found {type(profile_overrides).__name__}")
        for where, overrides in ((f"profile method_config.{variant.base}", dict(profile_overrides)),
                                 (f"tuned parameters of '{variant.base}'", dict(tuned or {})),
                                 (f"method spec '{spec}'", dict(variant.overrides))):
            reject_unknown_keys(overrides, config, where)
            for key, value in overrides.items():
                check_override_type(card.defaults[key], value, f"{where}: key '{key}'")
            config.update(overrides)
        return ResolvedMethod(cls, variant, config)

    def ablation_variants(self, name: str) -> list[str]:
        """The full model, then one variant per switched-off component, then the card's declared
        config variants (e.g. ``llm-trsr[summary=recurrent]``)."""
        card = self.get(name).card
        return [name] + [f"{name}[-{c}]" for c in card.components] + [f"{name}[{v}]" for v in card.variants]
