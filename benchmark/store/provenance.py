"""Provenance for result records: code version, package versions, hardware, peak memory."""

from __future__ import annotations

import platform
import subprocess
import threading
from importlib.metadata import PackageNotFoundError, version

import psutil
import torch

from llmrec_benchmark.paths import REPO_ROOT, in_checkout, results_root

PACKAGES = ("torch", "recbole", "numpy", "pandas", "scipy", "transformers", "peft")


def code_version() -> dict[str, object]:
    """Git sha of the checkout and whether it has uncommitted changes (``None`` outside git).

    An installed package is not a checkout: git would answer for whatever repository happens to
    enclose site-packages (a venv inside a project), so it reports the package version instead,
    as ``git_sha: "llmrec-benchmark <version>"`` and ``dirty: None``."""
    if not in_checkout():
        try:
            return {"git_sha": f"llmrec-benchmark {version('llmrec-benchmark')}", "dirty": None}
        except PackageNotFoundError:
            return {"git_sha": None, "dirty": None}

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    sha = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no", "--", ".", *_results_exclusion())
    return {"git_sha": sha, "dirty": None if status is None else bool(status)}


def _results_exclusion() -> list[str]:
    """Records landing in the committed results folder are data, not code: a run that appends
    to ``leaderboards/`` must not mark the next run's code as dirty (a board run starts a new
    runner after its pilots, by which time the pilots' records are uncommitted changes)."""
    try:
        relative = results_root().resolve().relative_to(REPO_ROOT)
    except ValueError:  # results outside the checkout never show in its status
        return []
    return [f":(exclude){relative.as_posix()}"]


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    return versions


# Instruction-set features that change how fast this suite's CPU paths run: bf16 matmuls (the LLM
# methods' frozen weights) use AMX tiles where present, else AVX512-BF16, else fp32 emulation.
CPU_FEATURES = ("amx_bf16", "amx_tile", "avx512_bf16", "avx512f", "avx2")


def cpu_identity(cpuinfo: str | None = None) -> dict[str, object]:
    """The CPU's model name and the ``CPU_FEATURES`` it has, read from ``/proc/cpuinfo`` (Linux;
    elsewhere the model is ``platform.processor()`` and the features are unknown, ``None``).

    Why records keep it: the same profile on "2 CPU cores" took 1.5-1.8x longer per step on an
    AMD EPYC without AMX than on the Intel CPU with AMX that timed the quick board, so a cost figure
    is only meaningful beside the CPU that measured it."""
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
                cpuinfo = handle.read()
        except OSError:
            cpuinfo = ""
    model, flags = None, None
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and model is None:
            model = " ".join(value.split())
        elif key == "flags" and flags is None:
            flags = set(value.split())
    return {
        "cpu_model": model or platform.processor() or platform.machine(),
        "cpu_features": None if flags is None else [f for f in CPU_FEATURES if f in flags],
    }


def cpu_label(hardware: dict[str, object]) -> str:
    """The CPU model and its bf16-relevant features, or a plain "model not recorded" for records
    written before 2026-12-01 (the same core count can mean 1.5-1.8x different speeds)."""
    model = hardware.get("cpu_model")
    if not model:
        return "CPU model not recorded"
    features = hardware.get("cpu_features")
    return f"{model} ({', '.join(features) or 'no AVX2'})" if features is not None else model


def hardware(device: torch.device) -> dict[str, object]:
    info: dict[str, object] = {
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        **cpu_identity(),
        "cpu_count": psutil.cpu_count(logical=True),
        "torch_threads": torch.get_num_threads(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "device": str(device),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def environment(device: torch.device) -> dict[str, object]:
    """Code version, package versions and hardware: what every record (and bundle) carries."""
    return {"code": code_version(), "packages": package_versions(), "hardware": hardware(device)}


class PeakMemory:
    """Peak resident memory of this process during a block (sampled at 20 Hz), plus the CUDA
    allocator's peak when on a GPU. Sampling can miss spikes shorter than 50 ms."""

    def __init__(self, device: torch.device, interval: float = 0.05):
        self.device, self.interval = device, interval
        self.peak_rss = 0
        self._stop = threading.Event()

    def _sample(self) -> None:
        process = psutil.Process()
        while not self._stop.is_set():
            self.peak_rss = max(self.peak_rss, process.memory_info().rss)
            self._stop.wait(self.interval)

    def __enter__(self) -> "PeakMemory":
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_rss = max(self.peak_rss, psutil.Process().memory_info().rss)

    def as_dict(self) -> dict[str, float | None]:
        gpu = torch.cuda.max_memory_allocated(self.device) / 2**20 if self.device.type == "cuda" else None
        return {"peak_rss_mb": round(self.peak_rss / 2**20, 1), "peak_gpu_mb": gpu}
