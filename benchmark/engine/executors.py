"""Executors for the run grid: where (method variant, dataset, seed) units run.

- ``local`` (default): in this process, one unit after another; ``--jobs N`` runs N units at a
  time in spawned worker processes.
- ``ray``: every unit is a Ray task (``--address`` of a running cluster, or a local instance), with
  the CPU/GPU request of its method card (``MethodCard.cpus``; ``MethodCard.gpus`` only when the
  profile's device is CUDA).

Workers only compute: each returns its unit's records and per-user ranks to the driver, which
writes them to the results store (atomic appends), so a remote node needs no access to the store.
A worker sets torch's thread count to the driver's, so a unit gives the same numbers whichever
executor runs it (for runs bounded by epochs or patience; a run cut by its wall-clock cap depends
on load, and concurrent jobs add load).

Failures: a unit that raises is retried up to ``retries`` times; a unit that still fails is
reported at the end with its error, every other unit still runs and keeps its records, and the
command exits 1. A re-run then only runs what is missing. A ``BenchmarkError`` is bad input (a
dataset too small for a protocol, a malformed file): it would fail the same way again, so it stops
the whole command at once with its message (exit 2), like any bad input; records already written
stay.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import sys
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from llmrec_benchmark.engine.planning import RunUnit
from llmrec_benchmark.engine.progress import epoch_progress, forward_epochs, relay_epochs
from llmrec_benchmark.engine.runner import Runner
from llmrec_benchmark.errors import BenchmarkError
from llmrec_benchmark.evaluation.metrics import PRIMARY_METRIC
from llmrec_benchmark.profiles import Profile
from llmrec_benchmark.store.results import ResultStore

log = logging.getLogger(__name__)
EXECUTORS = ("local", "ray")
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


@dataclass(frozen=True)
class RunnerSpec:
    """What a worker needs to build its own Runner (picklable)."""

    profile: Profile
    store_root: Path
    device: str
    mirror: Path | None
    threads: int

    def runner(self) -> Runner:
        return Runner(self.profile, ResultStore(self.store_root), torch.device(self.device), self.mirror)

    def key(self) -> tuple:
        return (self.profile.name, self.profile.digest(), str(self.store_root), self.device, str(self.mirror), self.threads)


@dataclass
class Failure:
    label: str
    attempts: int
    error: str


@dataclass
class Execution:
    ran: int = 0
    failures: list[Failure] = field(default_factory=list)

    def failure_table(self) -> str:
        return "\n".join(f"  {f.label}: failed {f.attempts} time(s): {f.error}" for f in self.failures)



_WORKER_RUNNERS: dict[tuple, Runner] = {}


def execute_in_worker(spec: RunnerSpec, unit: RunUnit, epochs: Any = None) -> tuple[list[dict[str, Any]], dict]:
    """Run one unit in a worker process (one Runner per worker and spec, so datasets load once);
    ``epochs``: the driver's queue for per-epoch progress, or None."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    torch.set_num_threads(spec.threads)
    if spec.key() not in _WORKER_RUNNERS:
        _WORKER_RUNNERS[spec.key()] = spec.runner()
    with forward_epochs(epochs, unit.label) if epochs is not None else contextlib.nullcontext():
        return _WORKER_RUNNERS[spec.key()].execute_unit(unit)


def log_headline(unit: RunUnit, records: list[dict[str, Any]]) -> None:
    headline = records[0]
    log.info("%s: %s %s=%.4f (train %.1fs, %s)", unit.label, headline["protocol"], PRIMARY_METRIC,
             headline["metrics"][PRIMARY_METRIC], headline["timing"]["train_s"], headline["training"]["stopped_by"])


def _describe(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[-1] if text else ''}"


class Executor:
    """Base: retry bookkeeping, writing results, progress; subclasses decide where units run."""

    def __init__(self, spec: RunnerSpec, retries: int = 1):
        if retries < 0:
            raise BenchmarkError(f"--retries must be >= 0, found {retries}")
        self.spec, self.retries = spec, retries
        self.store = ResultStore(spec.store_root)

    def execute(self, units: list[RunUnit], progress: bool = True) -> Execution:
        pending = [u for u in units if u.pending]
        outcome = Execution()
        self.progress = progress
        # disable=None: no bar when stderr is not a terminal (piped CI logs get the per-run log lines, not \r frames)
        with logging_redirect_tqdm(), tqdm(total=len(pending), desc="runs", unit="run",
                                           disable=True if not progress else None) as bar:
            def finished(unit: RunUnit, result) -> None:
                records, per_user = result
                self.store.write_unit(records, per_user)
                log_headline(unit, records)
                outcome.ran += 1
                bar.update(1)

            def failed(unit: RunUnit, attempts: int, error: BaseException) -> bool:
                """True when the unit should be tried again; bad input stops everything."""
                if isinstance(error, BenchmarkError):
                    raise error
                again = attempts <= self.retries
                log.warning("%s failed (attempt %d of %d): %s%s", unit.label, attempts, self.retries + 1,
                            _describe(error), "; retrying" if again else "")
                if not again:
                    outcome.failures.append(Failure(unit.label, attempts, _describe(error)))
                    bar.update(1)
                return again

            self.bar = bar
            self._run(pending, finished, failed)
        return outcome

    def _run(self, units: list[RunUnit], finished: Callable, failed: Callable) -> None:
        raise NotImplementedError


class SequentialExecutor(Executor):
    def _run(self, units, finished, failed) -> None:
        runner = self.spec.runner()
        watch = epoch_progress(self.bar, self.spec.profile.budget.patience, sys.stderr.isatty()) if self.progress \
            else contextlib.nullcontext()
        with watch as epochs:
            self._each(runner, units, finished, failed, epochs)

    @staticmethod
    def _each(runner, units, finished, failed, epochs) -> None:
        for unit in units:
            attempts = 0
            while True:
                attempts += 1
                if epochs is not None:
                    epochs.start(unit.label)
                try:
                    result = runner.execute_unit(unit)
                except Exception as error:  # noqa: BLE001  (reported per unit, never lost)
                    if failed(unit, attempts, error):
                        continue
                    break
                finished(unit, result)
                break


class ProcessExecutor(Executor):
    """``--jobs N`` worker processes (spawned: no inherited torch or CUDA state).

    ``fresh_process_per_run`` (``--isolate``): every run gets a new worker process. Measured on
    ``quick`` (2 CPU cores): DELRec's stage-2 epochs took ~157 s on average late in a long-lived
    process that had already run the other methods (its RSS had grown from 2.4 to 4.1 GB), and
    108-126 s in a fresh one; the one-off LLM stages were 1.4-1.7x slower there too. Each new
    process pays the imports and the dataset load again (seconds), so it is not the default."""

    def __init__(self, spec: RunnerSpec, jobs: int, retries: int = 1, fresh_process_per_run: bool = False):
        super().__init__(spec, retries)
        if jobs < 1:
            raise BenchmarkError(f"--jobs must be >= 1, found {jobs}")
        self.jobs, self.fresh = jobs, fresh_process_per_run

    def _run(self, units, finished, failed) -> None:
        context = multiprocessing.get_context("spawn")
        with contextlib.ExitStack() as stack:
            queue = None
            if self.progress:  # workers forward their epoch reports to this process's progress display
                queue = stack.enter_context(context.Manager()).Queue()
                epochs = stack.enter_context(
                    epoch_progress(self.bar, self.spec.profile.budget.patience, sys.stderr.isatty()))
                stack.enter_context(relay_epochs(queue, epochs))
            self._pool(context, units, finished, failed, queue)

    def _pool(self, context, units, finished, failed, queue) -> None:
        pool = ProcessPoolExecutor(max_workers=self.jobs, mp_context=context,
                                   max_tasks_per_child=1 if self.fresh else None)
        try:
            running: dict[Future, tuple[RunUnit, int]] = {
                pool.submit(execute_in_worker, self.spec, u, queue): (u, 1) for u in units}
            while running:
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    unit, attempts = running.pop(future)
                    error = future.exception()
                    if error is None:
                        finished(unit, future.result())
                    elif failed(unit, attempts, error):
                        running[pool.submit(execute_in_worker, self.spec, unit, queue)] = (unit, attempts + 1)
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)  # queued units never start
            raise
        pool.shutdown(wait=True)


class RayExecutor(Executor):
    """One Ray task per unit, with the card's resource request; results return to the driver."""

    def __init__(self, spec: RunnerSpec, address: str | None, retries: int = 1):
        super().__init__(spec, retries)
        self.address = address

    def _run(self, units, finished, failed) -> None:
        try:
            import ray
        except ImportError:
            raise BenchmarkError("--executor ray needs the 'ray' package (pip install 'llmrec-benchmark[ray]')") from None
        if not ray.is_initialized():
            ray.init(address=self.address, log_to_driver=True)
        remote = ray.remote(execute_in_worker)
        spec_ref = ray.put(self.spec)
        # Ray starts workers with OMP_NUM_THREADS=<num_cpus>; the driver's thread count is set in the
        # environment too, so the OpenMP runtime starts with the threads torch will use
        threads = {name: str(self.spec.threads) for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}

        def submit(unit: RunUnit):
            card = unit.method.cls.card
            gpus = card.gpus if self.spec.device.startswith("cuda") else 0
            return remote.options(num_cpus=card.cpus, num_gpus=gpus, max_retries=0,
                                  runtime_env={"env_vars": threads}).remote(spec_ref, unit)

        running = {submit(u): (u, 1) for u in units}
        try:
            while running:
                done, _ = ray.wait(list(running), num_returns=1)
                for ref in done:
                    unit, attempts = running.pop(ref)
                    try:
                        result = ray.get(ref)
                    except Exception as error:  # noqa: BLE001  (a RayTaskError wraps the unit's exception)
                        cause = getattr(error, "cause", None) or error
                        if failed(unit, attempts, cause):
                            running[submit(unit)] = (unit, attempts + 1)
                        continue
                    finished(unit, result)
        except BaseException:
            for ref in running:  # bad input or an interrupt: the remaining tasks are not wanted
                ray.cancel(ref)
            raise


def make_executor(kind: str, spec: RunnerSpec, jobs: int = 1, address: str | None = None, retries: int = 1,
                  isolate: bool = False) -> Executor:
    if kind not in EXECUTORS:
        raise BenchmarkError(f"--executor must be one of {EXECUTORS}, found '{kind}'")
    if kind == "ray":
        return RayExecutor(spec, address, retries)
    if address:
        raise BenchmarkError("--address only applies to --executor ray")
    if isolate:
        return ProcessExecutor(spec, jobs, retries, fresh_process_per_run=True)
    return ProcessExecutor(spec, jobs, retries) if jobs > 1 else SequentialExecutor(spec, retries)
