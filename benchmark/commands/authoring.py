"""For paper authors: ``submit`` (run one method and write its bundle), ``validate`` (the
submission checks) and ``new-method`` (a package that passes them)."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

from llmrec_benchmark.commands.common import builtin_registry, execute, make_runner, runner_spec, selection, store_for
from llmrec_benchmark.commands.options import Options
from llmrec_benchmark.errors import BenchmarkError
from llmrec_benchmark.profiles import load_profile

log = logging.getLogger("llmrec_benchmark")


def cmd_submit(args: Options) -> int:
    """Run what is missing of one method (with its variants) on a profile, then write its bundle."""
    import tempfile

    import torch

    from llmrec_benchmark.engine.planning import plan
    from llmrec_benchmark.profiles import profile_file
    from llmrec_benchmark.submission.bundle import write_bundle

    args = replace(args, methods=args.method, seeds=None, no_variants=False)
    profile, registry, specs, datasets, seeds = selection(args)
    store = store_for(args, profile, datasets)
    out = Path(args.out or f"submission-{args.method}-{profile.name}")
    with tempfile.TemporaryDirectory(prefix="benchmark-submit-") as scratch, store.exclusive("submit"):
        log_file = Path(scratch) / "submit.log"
        handler = logging.FileHandler(log_file)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root = logging.getLogger()
        root.addHandler(handler)
        level = root.level
        root.setLevel(min(level, logging.INFO) if level else logging.INFO)  # the bundle's log is never empty
        try:
            units = plan(profile, registry, specs, datasets, seeds, store, force=False)
            pending = [u for u in units if u.pending]
            log.info("submit %s on profile %s: %d runs, %d already in %s", args.method, profile.name, len(units),
                     len(units) - len(pending), store.records_path)
            if execute(args, profile, store, units).failures:
                return 1  # no bundle from an incomplete set of runs
            bundle = write_bundle(out, args.method, store, registry, profile_file(args.profile), specs, log_file,
                                  torch.device(runner_spec(args, profile, store).device))
        finally:
            root.removeHandler(handler)
            root.setLevel(level)
            handler.close()
    print(f"Bundle: {bundle} ({len(units)} runs; {len(pending)} run now). Maintainers re-run it with:\n"
          f"  python -m benchmark check --bundle {bundle}")
    return 0


def cmd_validate(args: Options) -> int:
    """Mock-run one method on a small profile and report every submission check (exit 1 on a failure)."""
    import tempfile

    from llmrec_benchmark.store.results import ResultStore
    from llmrec_benchmark.submission.validation import render_findings, validate_method

    profile = load_profile(args.profile)
    registry = builtin_registry()
    registry.get(args.method)  # unknown names fail here, with the list of known ones
    with tempfile.TemporaryDirectory(prefix="benchmark-validate-") as scratch:
        runner = make_runner(args, profile, ResultStore(Path(scratch)))
        findings = validate_method(args.method, registry, profile, runner)
    print(render_findings(args.method, findings))
    return 0 if all(f.passed for f in findings) else 1


def cmd_new_method(args: Options) -> int:
    """Write a method package that already passes ``validate`` (``llmrec_benchmark.submission.scaffold``)."""
    from llmrec_benchmark.paths import REPO_ROOT, in_checkout
    from llmrec_benchmark.submission.scaffold import scaffold

    if args.plugin is None and not in_checkout():
        raise BenchmarkError("new-method: a built-in method goes into a checkout's methods/ folder, and this is an "
                             "installed package; give --plugin DIR for an installable plugin package instead")
    files, next_step = scaffold(args.name, REPO_ROOT / "methods", Path(args.plugin) if args.plugin else None)
    for path in files:
        print(f"wrote {path}")
    print(f"next: {next_step}")
    return 0
