"""The options every command reads, as one typed record (the CLI's flags, the API's keywords)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, fields

from llmrec_benchmark.profiles import DEFAULT_PROFILE


@dataclass
class Options:
    """Defaults are those of ``python -m benchmark run`` with no flags (except ``profile``,
    which each CLI sub-command sets)."""

    profile: str = DEFAULT_PROFILE
    results: str | None = None
    methods: str | None = None  # comma-separated specs, as on the command line
    datasets: str | None = None
    seeds: str | None = None
    all: bool = False
    no_variants: bool = False
    dry_run: bool = False
    force: bool = False
    keep_stale: bool = False
    mirror: str | None = None
    device: str | None = None
    no_progress: bool = False
    executor: str = "local"
    jobs: int = 1
    isolate: bool = False
    address: str | None = None
    retries: int = 1
    keep: str | None = None  # check
    bundle: str | None = None  # check
    method: str | None = None  # submit, validate
    out: str | None = None  # submit
    trials: int | None = None  # tune
    storage: str | None = None  # tune
    name: str | None = None  # new-method
    plugin: str | None = None  # new-method
    wheel: str | None = None  # weights

    @classmethod
    def from_namespace(cls, args: argparse.Namespace) -> Options:
        """The options an argparse sub-command set (its other attributes, like -v, are the CLI's)."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in vars(args).items() if k in known})
