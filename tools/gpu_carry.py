"""Get what a GPU run needs onto the lent GPU machine (issue 20), whose calls carry at most 64 MiB
each and which has no network (``../shared/GPU.md``).

    python tools/gpu_carry.py split FILE --out gpu-carry/weights          # here: <=48 MiB parts + sums
    python tools/gpu_carry.py wheels --out gpu-carry/wheels               # here: what that machine lacks
    python tools/gpu_carry.py assemble gpu-carry/weights --out DIR        # there: join, verify, or fail

``split`` writes ``<name>.partNN`` files and ``<name>.sha256.json`` (the whole file's sha256, and
each part's), so the parts can travel in separate calls on a warm machine and ``assemble`` can
refuse a missing or damaged part by name before anything uses it. ``gpu-carry/`` is git-ignored:
it travels through the device tool's ``carry`` list, never through git.

The machine's Python (3.12, numpy 2, torch 2.11, transformers 5.17; no recbole, optuna or gguf) is
described in the device tool's KINDS.md. ``wheels`` downloads, for that Python, the packages the
suite needs that are not there. RecBole 1.2.1 goes without its declared dependencies: its
``ray<=2.6.3`` has no 3.12 wheels, and the suite never imports ``recbole.quick_start``, which is the
only module that needs ray.

Measured sizes (2026-11-30): the wheels are 25 MB (numpy 18 MB of it), the Q4_1 GGUF is 98 MB, and
the tracked tree is 3.5 MB. With 64 MiB per call and ``--part-mib 32`` (parts of 32 + 32 + 30 MiB),
that makes three calls on a warm machine:
1. the tree, the wheels and part 00;
2. part 01;
3. part 02, and the run itself.
Ignored paths carried earlier stay on the machine while it is warm. This plan is untested on the
machine: no GPU has been lent to a session since the tool was written.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
from pathlib import Path

PART_BYTES = 48 * 2**20
# For the GPU machine's Python 3.12: the suite's dependencies that its image lacks, at the versions
# of constraints.txt. numpy<2 is what RecBole 1.2.1 needs (measured: DESIGN.md).
GPU_WHEELS = ["recbole==1.2.1", "gguf==0.19.0", "optuna==5.0.0", "numpy==1.26.4", "colorlog==4.7.2",
              "texttable==1.7.2", "thop==0.1.1.post2209072238", "alembic", "sqlalchemy", "mako"]


def sha256(path: Path) -> str:
    # standard library only (like the whole script): it runs on the GPU machine before the suite's
    # import names exist there, so it does not use llmrec_benchmark.data.fetch.sha256_of
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(2**20), b""):
            digest.update(block)
    return digest.hexdigest()


def split(source: Path, out: Path, part_bytes: int = PART_BYTES) -> Path:
    """``source`` as parts of at most ``part_bytes`` in ``out``, plus the manifest; returns it."""
    out.mkdir(parents=True, exist_ok=True)
    parts = []
    with source.open("rb") as handle:
        for index, block in enumerate(iter(lambda: handle.read(part_bytes), b"")):
            part = out / f"{source.name}.part{index:02d}"
            part.write_bytes(block)
            parts.append({"file": part.name, "bytes": len(block), "sha256": hashlib.sha256(block).hexdigest()})
    manifest = out / f"{source.name}.sha256.json"
    manifest.write_text(json.dumps({"file": source.name, "bytes": source.stat().st_size, "sha256": sha256(source),
                                    "parts": parts}, indent=1))
    return manifest


def assemble(folder: Path, out: Path) -> list[Path]:
    """Join every manifest's parts in ``folder`` into ``out``; a missing, short or damaged part, or a
    joined file whose sha256 differs, is an error that names it (and nothing is left half-written)."""
    joined = []
    manifests = sorted(folder.glob("*.sha256.json"))
    if not manifests:
        raise SystemExit(f"assemble: no *.sha256.json manifest in {folder}")
    out.mkdir(parents=True, exist_ok=True)
    for manifest_path in manifests:
        manifest = json.loads(manifest_path.read_text())
        for part in manifest["parts"]:
            path = folder / part["file"]
            if not path.exists():
                raise SystemExit(f"assemble: {path} is missing (carry it in another call); expected {part['bytes']} bytes")
            found = sha256(path)
            if found != part["sha256"]:
                raise SystemExit(f"assemble: {path}: sha256 {found[:12]}..., expected {part['sha256'][:12]}... (damaged)")
        target, tmp = out / manifest["file"], out / (manifest["file"] + ".tmp")
        with tmp.open("wb") as handle:
            for part in manifest["parts"]:
                handle.write((folder / part["file"]).read_bytes())
        if sha256(tmp) != manifest["sha256"]:
            tmp.unlink()
            raise SystemExit(f"assemble: joined {manifest['file']} does not match its sha256 {manifest['sha256'][:12]}...")
        tmp.replace(target)
        joined.append(target)
    return joined


def download_wheels(out: Path) -> None:
    """The GPU machine's missing packages as wheels for CPython 3.12 on x86_64 Linux (needs PyPI)."""
    out.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "--python-version",
               "3.12", "--platform", "manylinux2014_x86_64", "--platform", "manylinux_2_17_x86_64",
               "--platform", "any", "-d", str(out), *GPU_WHEELS]
    subprocess.run(command, check=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    cut = sub.add_parser("split", help="a file as <=48 MiB parts with sha256 sums")
    cut.add_argument("file", type=Path)
    cut.add_argument("--out", type=Path, required=True)
    cut.add_argument("--part-mib", type=int, default=PART_BYTES // 2**20, help="part size in MiB (default 48)")
    join = sub.add_parser("assemble", help="join and verify the parts of every manifest in a folder")
    join.add_argument("folder", type=Path)
    join.add_argument("--out", type=Path, required=True)
    wheels = sub.add_parser("wheels", help="download the GPU machine's missing packages as wheels")
    wheels.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if args.command == "split":
        print(split(args.file, args.out, args.part_mib * 2**20))
    elif args.command == "assemble":
        for path in assemble(args.folder, args.out):
            print(f"verified {path}")
    else:
        download_wheels(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
