"""Submission bundles: everything a maintainer needs to audit and re-run a method's results.

``submit METHOD --profile P`` runs whatever of the method (with its ablation and config variants)
is missing from the profile's results store, then writes a folder:

- ``records.jsonl`` and ``per_user/*.npz``: the method's current records and per-user ranks;
- ``card.json``: the method card (fidelity, deviations, defaults);
- ``profile.yaml``: the exact profile file the records were produced under;
- ``config.json``: method specs, their resolved configs, datasets and seeds per spec;
- ``environment.json``: code version, package versions and hardware of the submitting machine;
- ``logs/submit.log``: the log of the submit command (the runs it made, or what it collected);
- ``tuning/<method>--<dataset>.json``: tuned parameters the runs used, if the method was tuned;
- ``MANIFEST.json``: the sha256 of every file above.

``check --bundle DIR`` verifies every hash (a changed, missing or unlisted file is rejected with
its name and both hashes), then re-runs the bundle's (spec, dataset, seed) units under its
profile (and its tuned parameters) into a scratch store and compares every metric with the
bundle's records, like ``check``.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict
from pathlib import Path, PurePosixPath
from typing import Any

from llmrec_benchmark.data.fetch import sha256_of
from llmrec_benchmark.engine.registry import Registry
from llmrec_benchmark.engine.tuning import TUNING_DIR
from llmrec_benchmark.errors import BenchmarkError
from llmrec_benchmark.store.provenance import environment
from llmrec_benchmark.store.results import ResultStore, current_records, record_problem

BUNDLE_FORMAT = 1
MANIFEST = "MANIFEST.json"


def method_records(store: ResultStore, method: str) -> list[dict[str, Any]]:
    """The current record of every (variant, dataset, protocol, seed) of ``method``."""
    return [r for r in current_records(store.latest()) if r["base_method"] == method]


def write_bundle(out: Path, method: str, store: ResultStore, registry: Registry, profile_file: Path,
                 specs: list[str], log_file: Path, device) -> Path:
    records = method_records(store, method)
    if not records:
        raise BenchmarkError(f"no records of '{method}' in {store.records_path}; nothing to submit")
    if out.exists() and any(out.iterdir()):
        raise BenchmarkError(f"bundle folder {out} exists and is not empty; choose another --out")
    (out / "per_user").mkdir(parents=True, exist_ok=True)
    (out / "logs").mkdir(exist_ok=True)
    (out / "records.jsonl").write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in records))
    for record in records:
        shutil.copyfile(store.root / record["per_user_file"], out / record["per_user_file"])
    card = asdict(registry.get(method).card)
    (out / "card.json").write_text(json.dumps(card, indent=1, sort_keys=True, default=list) + "\n")
    shutil.copyfile(profile_file, out / "profile.yaml")
    seeds: dict[str, set[int]] = {}
    for record in records:
        seeds.setdefault(record["method"], set()).add(record["seed"])
    config = {
        "method": method,
        "specs": {spec: {"config": _config_of(records, spec), "seeds": sorted(seeds.get(spec, ()))} for spec in specs},
        "datasets": sorted({r["dataset"] for r in records}),
    }
    (out / "config.json").write_text(json.dumps(config, indent=1, sort_keys=True) + "\n")
    (out / "environment.json").write_text(json.dumps(environment(device), indent=1, sort_keys=True) + "\n")
    shutil.copyfile(log_file, out / "logs" / "submit.log")
    for tuned in sorted((store.root / TUNING_DIR).glob(f"{method}--*.json")):  # tuned parameters the runs used
        (out / TUNING_DIR).mkdir(exist_ok=True)
        shutil.copyfile(tuned, out / TUNING_DIR / tuned.name)
    files = {str(p.relative_to(out)): sha256_of(p) for p in sorted(out.rglob("*")) if p.is_file()}
    manifest = {
        "format": BUNDLE_FORMAT, "method": method, "profile": records[0]["profile"],
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "files": files,
        "rerun": f"python -m benchmark check --bundle {out}",
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return out


def _config_of(records: list[dict[str, Any]], spec: str) -> dict[str, Any] | None:
    return next((r["config"] for r in records if r["method"] == spec), None)


def verify_bundle(folder: Path) -> dict[str, Any]:
    """The manifest, once every file's hash matches it; otherwise a BenchmarkError naming the file."""
    manifest_path = folder / MANIFEST
    if not manifest_path.exists():
        raise BenchmarkError(f"{folder} is not a submission bundle: {MANIFEST} is missing")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        files: dict[str, str] = manifest["files"]
        if not isinstance(files, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in files.items()):
            raise TypeError("'files' must map file names to sha256 strings")
        if not isinstance(manifest.get("method"), str):
            raise KeyError("method")
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, AttributeError) as exc:
        raise BenchmarkError(f"{manifest_path}: malformed manifest ({type(exc).__name__}: {exc})") from None
    if manifest.get("format") != BUNDLE_FORMAT:
        raise BenchmarkError(f"{manifest_path}: bundle format {manifest.get('format')!r}, expected {BUNDLE_FORMAT}")
    inside = folder.resolve()
    for name in files:
        pure = PurePosixPath(name)
        if pure.is_absolute() or ".." in pure.parts or not (folder / name).resolve().is_relative_to(inside):
            raise BenchmarkError(f"{manifest_path}: lists '{name}', a path outside the bundle")
    for name, expected in sorted(files.items()):
        path = folder / name
        if not path.is_file():
            raise BenchmarkError(f"bundle {folder}: '{name}' is listed in {MANIFEST} but missing")
        found = sha256_of(path)
        if found != expected:
            raise BenchmarkError(f"bundle {folder}: '{name}' was changed after submission "
                                 f"(sha256 in {MANIFEST} {expected[:16]}..., file {found[:16]}...)")
    unlisted = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()
                      and str(p.relative_to(folder)) not in files and p.name != MANIFEST)
    if unlisted:
        raise BenchmarkError(f"bundle {folder}: '{unlisted[0]}' is not listed in {MANIFEST}")
    if "records.jsonl" not in files:
        raise BenchmarkError(f"bundle {folder}: records.jsonl is missing from {MANIFEST}")
    for number, line in enumerate((folder / "records.jsonl").read_text(encoding="utf-8").splitlines(), start=1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise BenchmarkError(f"bundle {folder}: records.jsonl line {number}: malformed record ({exc.msg})") from None
        problem = record_problem(record)
        if problem:
            raise BenchmarkError(f"bundle {folder}: records.jsonl line {number}: {problem}")
        if record.get("base_method") != manifest["method"]:
            raise BenchmarkError(f"bundle {folder}: records.jsonl line {number} is a record of "
                                 f"'{record.get('base_method')}', expected '{manifest['method']}'")
        if record["per_user_file"] not in files:
            raise BenchmarkError(f"bundle {folder}: records.jsonl line {number} names '{record['per_user_file']}', "
                                 "which the bundle does not hold")
    return manifest


def bundle_units(folder: Path) -> tuple[list[dict[str, Any]], dict[str, list[int]], list[str]]:
    """(records, seeds per method spec, datasets) of a verified bundle."""
    records = [json.loads(line) for line in (folder / "records.jsonl").read_text().splitlines()]
    config = json.loads((folder / "config.json").read_text())
    seeds = {spec: entry["seeds"] for spec, entry in config["specs"].items() if entry["seeds"]}
    return records, seeds, config["datasets"]
