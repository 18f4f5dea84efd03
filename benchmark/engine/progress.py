"""Progress inside a run: each validated epoch of the unit in progress, with its valid NDCG@10, the
best so far and how long the stopping rule needs at least.

The training loop reports every epoch on the ``benchmark.fit`` logger (``RunContext.logger``);
this handler turns those reports into the progress bar's status line on a terminal, or into one
plain log line per epoch when the output is piped (CI logs get lines, never ``\\r`` frames). The
"at least" time is what patience-based early stopping still needs if valid NDCG@10 never improves
again: (best epoch + patience - this epoch) epochs at the mean epoch time so far; every
improvement moves it. Only in-process (local, one job) runs report epochs this way.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Iterator

FIT_LOGGER = "llmrec_benchmark.fit"
log = logging.getLogger("llmrec_benchmark.engine.progress")


class EpochProgress(logging.Handler):
    def __init__(self, bar, patience: int, terminal: bool):
        super().__init__(logging.DEBUG)
        self.bar, self.patience, self.terminal = bar, patience, terminal
        self.label = ""
        self._reset()

    def _reset(self) -> None:
        self.best, self.best_epoch, self.seconds = float("-inf"), -1, []

    def start(self, label: str) -> None:
        self.label = label
        self._reset()

    def emit(self, record: logging.LogRecord) -> None:
        if not (isinstance(record.msg, str) and record.msg.startswith("epoch %d: valid") and len(record.args or ()) == 3):
            if record.levelno >= logging.INFO and not logging.getLogger(FIT_LOGGER).propagate:
                logging.getLogger("llmrec_benchmark").handle(record)  # never swallow what is not an epoch report
            return
        epoch, valid, seconds = record.args
        self.seconds.append(float(seconds))
        if valid > self.best:
            self.best, self.best_epoch = float(valid), int(epoch)
        left = max(self.best_epoch + self.patience - int(epoch), 0) * sum(self.seconds) / len(self.seconds)
        status = (f"{self.label}: epoch {int(epoch) + 1}, valid NDCG@10 {valid:.4f} (best {self.best:.4f} at epoch "
                  f"{self.best_epoch + 1}), {seconds:.1f} s/epoch, at least {left:.0f} s left")
        if self.terminal:
            self.bar.set_postfix_str(status, refresh=True)
        else:
            log.info(status)


@contextlib.contextmanager
def epoch_progress(bar, patience: int, terminal: bool) -> Iterator[EpochProgress]:
    """Attach an ``EpochProgress`` to the fit logger for the duration; the fit logger's own DEBUG
    lines still reach the console only under ``-v``."""
    fit = logging.getLogger(FIT_LOGGER)
    handler = EpochProgress(bar, patience, terminal)
    before = (fit.level, fit.propagate)
    verbose = logging.getLogger("llmrec_benchmark").getEffectiveLevel() <= logging.DEBUG
    fit.setLevel(logging.DEBUG)
    fit.propagate = verbose
    fit.addHandler(handler)
    try:
        yield handler
    finally:
        fit.removeHandler(handler)
        fit.setLevel(before[0])
        fit.propagate = before[1]
