"""Obtaining raw dataset files: from the installed RecBole package, a mirror folder, or the
network, always checked against the card's sha256 before use."""

from __future__ import annotations

import hashlib
import logging
import shutil
import urllib.request
from pathlib import Path

from llmrec_benchmark.data.cards import DatasetCard, SourceFile
from llmrec_benchmark.errors import BenchmarkError

log = logging.getLogger(__name__)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _verify(path: Path, spec: SourceFile, card: DatasetCard) -> Path:
    if spec.sha256 is None:
        return path
    found = sha256_of(path)
    if found != spec.sha256:
        raise BenchmarkError(
            f"checksum mismatch for {path} (dataset '{card.name}', {spec.role} file): "
            f"expected sha256 {spec.sha256}, found {found}"
        )
    return path


def _recbole_package_file(spec: SourceFile) -> Path:
    import recbole

    return Path(recbole.__file__).resolve().parent / str(spec.package_path)


def _download(spec: SourceFile, card: DatasetCard, raw_dir: Path) -> Path:
    target = raw_dir / Path(str(spec.url)).name
    if target.exists() and (spec.sha256 is None or sha256_of(target) == spec.sha256):
        return target
    raw_dir.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(target.suffix + ".part")
    log.info("downloading %s", spec.url)
    try:
        with urllib.request.urlopen(str(spec.url), timeout=60) as response, partial.open("wb") as out:
            shutil.copyfileobj(response, out)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise BenchmarkError(
            f"cannot download {spec.url} for dataset '{card.name}' ({exc}); "
            "on an offline machine pass --mirror DIR or set BENCHMARK_DATA_MIRROR"
        ) from None
    try:
        _verify(partial, spec, card)
    except BenchmarkError:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(target)
    return target


def obtain_raw_files(card: DatasetCard, mirror: Path | None, raw_dir: Path) -> dict[str, Path]:
    """Return ``{role: verified path}`` for every source file of ``card``."""
    found: dict[str, Path] = {}
    for spec in card.source.files:
        if card.source.kind == "recbole-package":
            path = _recbole_package_file(spec)
            if not path.exists():
                raise BenchmarkError(f"dataset '{card.name}': {path} is missing from the installed recbole package")
        elif card.source.kind == "local":
            path = Path(str(spec.local_path))
            if not path.exists():
                raise BenchmarkError(f"dataset '{card.name}': file {path} not found")
        elif mirror is not None:
            if not spec.mirror:
                raise BenchmarkError(f"dataset '{card.name}': the card gives no mirror path for its {spec.role} file")
            path = mirror / spec.mirror
            if not path.exists():
                raise BenchmarkError(
                    f"mirror file missing: {path} (dataset '{card.name}', {spec.role} file, "
                    f"expected sha256 {spec.sha256})"
                )
        else:
            if not spec.url:
                raise BenchmarkError(f"dataset '{card.name}': the card gives no URL for its {spec.role} file")
            path = _download(spec, card, raw_dir)
        found[spec.role] = _verify(path, spec, card)
    return found
