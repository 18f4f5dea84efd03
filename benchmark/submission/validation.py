"""``validate METHOD``: the checks a method must pass before its numbers can join a leaderboard.

A mock run on a small profile (``ci`` by default: its first dataset, first seed and budget), with
every check reported by name:

- card: the card names the method as registered, has a title, a description and (unless it is a
  ``baseline``) the paper it follows; defaults are JSON values; every declared config variant
  resolves.
- interface: ``fit`` returns a ``FitReport``; ``score`` returns finite float scores of the right
  shape (``[B, C]`` for candidates, ``[B, n_items]`` for full ranking); ``parameter_counts`` gives
  two non-negative ints; ``tokens_processed`` gives ``None`` or a non-negative int.
- determinism: two fits with the same seed give bit-identical scores on a fixed probe batch.
- no test access: the method is fitted again on a copy of the dataset whose test targets (and
  only those) were replaced; ``fit`` never receives them, so its scores on the same probe batch
  must be identical. A method that reaches the harness's split by another route (the objects of
  the running process: stack frames, the garbage collector, module globals) scores differently
  and fails. What this cannot see: a method that re-reads the raw data files from disk itself gets
  the unaltered test targets in both fits; that route is left to code review of ``fit``.
- candidate order: a candidate-scoring method must give each candidate the same score wherever
  it sits in the row (the target's column is hidden from methods, so nothing may depend on it).
- ablation switches: with each component switched off the scores on the probe batch differ from
  the full model's; a switch that changes nothing fails.

The probe batch is the first ``PROBE_USERS`` evaluation users with their test histories and the
profile's first test candidate file. A check that cannot be decided (e.g. the leak check when the
method is not deterministic) is reported as failed with the reason, never skipped silently.
"""

from __future__ import annotations

import gc
import json
import logging
from dataclasses import dataclass, replace

import torch
from torch import Tensor

from llmrec_benchmark.data.catalog import load_card
from llmrec_benchmark.data.split import Sequences, SplitData
from llmrec_benchmark.engine.planning import plan
from llmrec_benchmark.engine.registry import Registry
from llmrec_benchmark.engine.runner import Runner
from llmrec_benchmark.engine.tuning import check_space
from llmrec_benchmark.errors import BenchmarkError
from llmrec_benchmark.method import FIDELITIES, Method, ScoreBatch
from llmrec_benchmark.profiles import Profile

log = logging.getLogger(__name__)
PROBE_USERS = 32
PERTURB_SEED = 12345
ORDER_TOLERANCE = 1e-4  # relative to the largest |score|: packed LLM scoring reorders float sums


@dataclass(frozen=True)
class Finding:
    check: str
    passed: bool
    detail: str


def card_findings(name: str, registry: Registry) -> list[Finding]:
    """Completeness of a method card (what a leaderboard reader needs)."""
    card = registry.get(name).card
    problems = []
    if card.name != name:
        problems.append(f"card.name is '{card.name}' but the method is registered as '{name}'")
    for field_name in ("title", "description"):
        if not str(getattr(card, field_name)).strip():
            problems.append(f"card.{field_name} is empty")
    if card.fidelity != "baseline" and not card.paper.strip():
        problems.append(f"card.paper is empty (required unless fidelity is 'baseline'; fidelity is '{card.fidelity}')")
    if card.fidelity not in FIDELITIES:
        problems.append(f"card.fidelity '{card.fidelity}' is not one of {FIDELITIES}")
    try:
        json.dumps(dict(card.defaults))
    except TypeError as exc:
        problems.append(f"card.defaults must hold JSON values ({exc})")
    if any(not str(d).strip() for d in card.deviations):
        problems.append("card.deviations has an empty entry")
    try:
        check_space(name, card.search_space, card.defaults)
    except BenchmarkError as exc:
        problems.append(str(exc))
    for variant in card.variants:
        try:
            registry.resolve(f"{name}[{variant}]")
        except BenchmarkError as exc:
            problems.append(f"card.variants entry '{variant}': {exc}")
    return [Finding("card", not problems, "; ".join(problems) or "complete")]


def probe_batches(data: SplitData, runner: Runner, profile: Profile, seed: int) -> dict[str, ScoreBatch]:
    """Fixed inputs to compare fitted models on: test histories with and without candidates."""
    rows = runner.eval_rows(data)[:PROBE_USERS]
    history, lengths = data.test_history().last(rows, profile.max_history)
    candidates = runner.candidates(data, "test", profile.candidates[0], seed).items[rows]
    users = data.users[rows].clone()
    return {
        "candidates": ScoreBatch(users=users, history=history, lengths=lengths, candidates=candidates.clone()),
        "full": ScoreBatch(users=users, history=history.clone(), lengths=lengths.clone()),
    }


def with_other_test_targets(data: SplitData, seed: int = PERTURB_SEED) -> SplitData:
    """A copy of ``data`` whose last item per user (the test target) is another item; training
    sequences, valid targets, item text and the fingerprint are unchanged."""
    generator = torch.Generator().manual_seed(seed)
    items = data.sequences.items.clone()
    last = data.sequences.offsets[1:] - 1
    shift = torch.randint(1, data.n_items - 1, (last.numel(),), generator=generator)
    items[last] = (items[last] - 1 + shift) % (data.n_items - 1) + 1
    return replace(data, sequences=Sequences(items, data.sequences.offsets.clone()))


def _scores(method: Method, batches: dict[str, ScoreBatch], full_ranking: bool, n_items: int) -> dict[str, Tensor]:
    """Scores per probe batch, checked for shape, dtype and finiteness (BenchmarkError otherwise)."""
    out = {}
    wanted = {"candidates": batches["candidates"]} | ({"full": batches["full"]} if full_ranking else {})
    with torch.no_grad():
        for name, batch in wanted.items():
            scores = method.score(batch)
            expected = (batch.users.numel(), n_items if batch.candidates is None else batch.candidates.size(1))
            if not isinstance(scores, Tensor):
                raise BenchmarkError(f"score() must return a torch.Tensor, found {type(scores).__name__}")
            if tuple(scores.shape) != expected:
                raise BenchmarkError(f"score() on the {name} probe must return shape {list(expected)}, found {list(scores.shape)}")
            if not scores.dtype.is_floating_point:
                raise BenchmarkError(f"score() must return floating-point scores, found {scores.dtype}")
            if not torch.isfinite(scores).all():
                raise BenchmarkError(f"score() returned {int((~torch.isfinite(scores)).sum())} non-finite scores on the {name} probe")
            out[name] = scores.detach().float().cpu()
    return out


def _same(a: dict[str, Tensor], b: dict[str, Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _interface(method: Method) -> list[str]:
    problems = []
    counts = method.parameter_counts()
    if not (isinstance(counts, tuple) and len(counts) == 2 and all(isinstance(c, int) and c >= 0 for c in counts)):
        problems.append(f"parameter_counts() must return two non-negative ints, found {counts!r}")
    tokens = method.tokens_processed()
    if tokens is not None and not (isinstance(tokens, int) and tokens >= 0):
        problems.append(f"tokens_processed() must return None or a non-negative int, found {tokens!r}")
    return problems


def _order_finding(method: Method, batch: ScoreBatch, reference: Tensor) -> Finding:
    width = batch.candidates.size(1)
    permutation = torch.roll(torch.arange(width), shifts=width // 2 + 1).flip(0)
    moved = method.score(replace(batch, candidates=batch.candidates[:, permutation])).detach().float().cpu()
    gap = float((moved - reference[:, permutation]).abs().max())
    scale = max(float(reference.abs().max()), 1.0)
    ok = gap <= ORDER_TOLERANCE * scale
    return Finding("candidate order", ok, f"largest score change when candidate columns are permuted: {gap:.3g}"
                   + ("" if ok else f" (allowed {ORDER_TOLERANCE * scale:.3g}); scores depend on column positions"))


def validate_method(name: str, registry: Registry, profile: Profile, runner: Runner, seed: int | None = None) -> list[Finding]:
    """Every check for one method (its registered base name); see the module docstring."""
    findings = card_findings(name, registry)
    seed = profile.seeds[0] if seed is None else seed
    card = load_card(profile.datasets[0])
    specs = registry.ablation_variants(name)
    units = {u.method.name: u for u in plan(profile, registry, specs, [card.name], [seed], runner.store, force=True, seeds_given=True)}
    full_model = units[name]
    full_ranking = full_model.method.cls.card.full_ranking
    data = runner.data(card)
    rows, n_items = runner.eval_rows(data), data.n_items
    batches = probe_batches(data, runner, profile, seed)

    def fitted(unit, on: SplitData) -> tuple[Method, dict[str, Tensor]]:
        log.info("validate: fitting %s", unit.label)
        method, _, _ = runner.fit(unit, on, rows)
        return method, _scores(method, batches, full_ranking, n_items)

    try:
        method, first = fitted(full_model, data)
    except Exception as exc:  # the method under test may fail in any way; that is a finding, not a crash
        return findings + [Finding("interface", False, f"fit or score raised {type(exc).__name__}: {exc}")]
    problems = _interface(method)
    findings.append(Finding("interface", not problems, "; ".join(problems) or "fit/score/parameter_counts/tokens_processed conform"))
    if not full_ranking:
        findings.append(_order_finding(method, batches["candidates"], first["candidates"]))
    del method
    _, second = fitted(full_model, data)
    deterministic = _same(first, second)
    findings.append(Finding("determinism", deterministic, "two fits with seed %d give identical scores" % seed
                            if deterministic else f"two fits with seed {seed} give different scores on the probe batch"))

    perturbed = with_other_test_targets(data)
    runner.forget(card)  # only the perturbed copy is alive while the method fits on it
    del data
    gc.collect()
    _, other = fitted(full_model, perturbed)
    if not deterministic:
        findings.append(Finding("no test access", False, "undecidable: the method is not deterministic"))
    else:
        leak_free = _same(first, other)
        findings.append(Finding("no test access", leak_free, "scores do not change when only the test targets change"
                                if leak_free else "scores change when only the test targets change: the method reads test targets"))
    del perturbed
    gc.collect()
    data = runner.data(card)
    for spec, unit in units.items():
        disabled = unit.method.variant.disabled
        if not disabled:
            continue
        _, ablated = fitted(unit, data)
        changed = not _same(first, ablated)
        component = next(iter(disabled))
        findings.append(Finding(f"ablation -{component}", changed, "switching it off changes the scores" if changed
                                else f"switching off '{component}' changes nothing: the method ignores this switch"))
    return findings


def render_findings(name: str, findings: list[Finding]) -> str:
    lines = [f"validate {name}:"]
    lines += [f"  {'PASS' if f.passed else 'FAIL'}  {f.check}: {f.detail}" for f in findings]
    failed = sum(not f.passed for f in findings)
    lines.append(f"{'OK' if not failed else 'REJECTED'}: {len(findings) - failed}/{len(findings)} checks passed")
    return "\n".join(lines)
