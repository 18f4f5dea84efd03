"""Progress inside a run: each validated epoch of the unit in progress, with its valid NDCG@10, the
best so far and how long the stopping rule needs at least.

The training loop reports every epoch on the ``benchmark.fit`` logger (``RunContext.logger``);
this handler turns those reports into the progress bar's status line on a terminal, or into one
plain log line per epoch when the output is piped (CI logs get lines, never ``\\r`` frames). The
"at least" time is what patience-based early stopping still needs if valid NDCG@10 never improves
again: (best epoch + patience - this epoch) epochs at the mean epoch time so far; every
improvement moves it.

Runs in worker processes (``--jobs N``, ``--isolate``) report the same way: the worker's
``EpochForwarder`` puts each epoch report, tagged with its run's label, on a queue, and the
driver's ``relay_epochs`` thread hands it to the driver's ``EpochProgress``, which keeps one
stopping-rule state per run. Ray tasks do not report epochs (their logs reach the driver as Ray's
own log lines).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from dataclasses import dataclass, field
from typing import Any, Iterator

FIT_LOGGER = "llmrec_benchmark.fit"
log = logging.getLogger("llmrec_benchmark.engine.progress")


def epoch_report(record: logging.LogRecord) -> tuple[int, float, float] | None:
    """(epoch, valid NDCG@10, seconds) when the record is the training loop's epoch report."""
    if isinstance(record.msg, str) and record.msg.startswith("epoch %d: valid") and len(record.args or ()) == 3:
        epoch, valid, seconds = record.args
        return int(epoch), float(valid), float(seconds)
    return None


@dataclass
class _RunState:
    best: float = float("-inf")
    best_epoch: int = -1
    seconds: list[float] = field(default_factory=list)


class _EpochHandler(logging.Handler):
    """Base of the fit logger's handlers: an epoch report goes to ``on_epoch``; anything else at
    INFO or above is passed on to the suite's logger while the fit logger does not propagate, so
    attaching a handler never swallows a warning."""

    def __init__(self):
        super().__init__(logging.DEBUG)

    def emit(self, record: logging.LogRecord) -> None:
        report = epoch_report(record)
        if report is not None:
            self.on_epoch(*report)
        elif record.levelno >= logging.INFO and not logging.getLogger(FIT_LOGGER).propagate:
            logging.getLogger("llmrec_benchmark").handle(record)

    def on_epoch(self, epoch: int, valid: float, seconds: float) -> None:
        raise NotImplementedError


class EpochProgress(_EpochHandler):
    def __init__(self, bar, patience: int, terminal: bool):
        super().__init__()
        self.bar, self.patience, self.terminal = bar, patience, terminal
        self.label = ""
        self.runs: dict[str, _RunState] = {}

    def start(self, label: str) -> None:
        """The in-process run now training (its reports carry no label of their own)."""
        self.label = label
        self.runs[label] = _RunState()

    def on_epoch(self, epoch: int, valid: float, seconds: float) -> None:
        self.report(self.label, epoch, valid, seconds)

    def report(self, label: str, epoch: int, valid: float, seconds: float) -> None:
        """One validated epoch of run ``label``; epoch 0 starts its state afresh (a retried run)."""
        if epoch == 0 or label not in self.runs:
            self.runs[label] = _RunState()
        run = self.runs[label]
        run.seconds.append(seconds)
        if valid > run.best:
            run.best, run.best_epoch = valid, epoch
        left = max(run.best_epoch + self.patience - epoch, 0) * sum(run.seconds) / len(run.seconds)
        status = (f"{label}: epoch {epoch + 1}, valid NDCG@10 {valid:.4f} (best {run.best:.4f} at epoch "
                  f"{run.best_epoch + 1}), {seconds:.1f} s/epoch, at least {left:.0f} s left")
        if self.terminal:
            self.bar.set_postfix_str(status, refresh=True)
        else:
            log.info(status)


class EpochForwarder(_EpochHandler):
    """In a worker process: sends each epoch report of run ``label`` to the driver's queue."""

    def __init__(self, queue: Any, label: str):
        super().__init__()
        self.queue, self.label = queue, label

    def on_epoch(self, epoch: int, valid: float, seconds: float) -> None:
        self.queue.put((self.label, epoch, valid, seconds))


@contextlib.contextmanager
def _attached(handler: _EpochHandler, propagate: bool) -> Iterator[None]:
    """``handler`` on the fit logger, which logs at DEBUG and propagates as told meanwhile; both
    settings are restored afterwards."""
    fit = logging.getLogger(FIT_LOGGER)
    before = (fit.level, fit.propagate)
    fit.setLevel(logging.DEBUG)
    fit.propagate = propagate
    fit.addHandler(handler)
    try:
        yield
    finally:
        fit.removeHandler(handler)
        fit.setLevel(before[0])
        fit.propagate = before[1]


@contextlib.contextmanager
def forward_epochs(queue: Any, label: str) -> Iterator[None]:
    """Worker side: forward the fit logger's epoch reports for the duration of one run (not
    propagated: the driver prints the epochs, the worker's DEBUG lines would double them)."""
    with _attached(EpochForwarder(queue, label), propagate=False):
        yield


@contextlib.contextmanager
def relay_epochs(queue: Any, progress: EpochProgress) -> Iterator[None]:
    """Driver side: a thread hands the workers' epoch reports to ``progress`` until the block ends."""
    def relay() -> None:
        while (item := queue.get()) is not None:
            progress.report(*item)

    thread = threading.Thread(target=relay, name="epoch-relay", daemon=True)
    thread.start()
    try:
        yield
    finally:
        queue.put(None)
        thread.join(timeout=10)


@contextlib.contextmanager
def epoch_progress(bar, patience: int, terminal: bool) -> Iterator[EpochProgress]:
    """Attach an ``EpochProgress`` to the fit logger for the duration; the fit logger's own DEBUG
    lines still reach the console only under ``-v``."""
    handler = EpochProgress(bar, patience, terminal)
    verbose = logging.getLogger("llmrec_benchmark").getEffectiveLevel() <= logging.DEBUG
    with _attached(handler, propagate=verbose):
        yield handler
