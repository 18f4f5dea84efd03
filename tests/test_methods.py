"""Every built-in method trains and scores under the harness; seeds make runs repeatable; every
method sees the same data and candidates; a plugin registers through the entry-point group."""

import dataclasses
from importlib.metadata import EntryPoint

import pytest

from llmrec_benchmark.engine import registry as registry_module
from llmrec_benchmark.engine.planning import plan
from llmrec_benchmark.engine.registry import Registry
from llmrec_benchmark.engine.runner import Runner
from llmrec_benchmark.profiles import load_profile
from llmrec_benchmark.store.results import ResultStore
from llmrec_methods import BUILTIN_METHODS
from tests import plugin_method
from tests.conftest import run_units


@pytest.fixture(scope="module")
def tiny_profile():
    profile = load_profile("ci")
    return dataclasses.replace(
        profile, user_cap=80, max_history=10,
        budget=dataclasses.replace(profile.budget, max_epochs=1, wall_clock_s=60),
    )


def run(profile, methods, tmp_path, seeds=(0,), registry=None, force=False):
    registry = registry or Registry(BUILTIN_METHODS)
    store = ResultStore(tmp_path / profile.name)
    units = plan(profile, registry, list(methods), ["ml-100k"], list(seeds), store, force)
    run_units(profile, store, units)
    return store


@pytest.mark.parametrize("method", sorted(BUILTIN_METHODS))
def test_builtin_method_trains_and_beats_nothing_silently(method, tiny_profile, tmp_path):
    store = run(tiny_profile, [method], tmp_path)
    records = store.latest()
    full = ["full"] if Registry(BUILTIN_METHODS).get(method).card.full_ranking else []
    limit = tiny_profile.method_config.get(method, {}).get("max_candidates")
    boards = [f"cand-{n}" for n in tiny_profile.candidates if limit is None or n <= limit]
    assert sorted(r["protocol"] for r in records) == sorted([*boards, *full])
    for record in records:
        assert record["n_eval_users"] == 80
        assert 0.0 <= record["metrics"]["NDCG@10"] <= 1.0
        ranks = store.load_per_user(record)["ranks"]
        assert ranks.shape == (80,)
    if method not in ("pop", "random"):  # the two baselines have nothing to train
        assert records[0]["parameters"]["trainable"] > 0
        training = records[0]["training"]
        assert training["epochs"] == 1
        if training["valid_curve"]:  # every validation is timed, from the first training step
            assert len(training["valid_seconds"]) == len(training["valid_curve"])
            assert 0.0 < training["valid_seconds"][0] <= records[0]["timing"]["train_s"] + training["artifact_seconds"]


def test_fixed_seed_repeats_exactly_and_seeds_differ(tiny_profile, tmp_path):
    first = run(tiny_profile, ["sasrec-ce"], tmp_path / "a", seeds=(0, 1))
    second = run(tiny_profile, ["sasrec-ce"], tmp_path / "b", seeds=(0,))
    a = {(r["seed"], r["protocol"]): r for r in first.latest()}
    b = {(r["seed"], r["protocol"]): r for r in second.latest()}
    for protocol in ("full", "cand-19"):
        assert a[(0, protocol)]["metrics"] == b[(0, protocol)]["metrics"]
        assert (first.load_per_user(a[(0, protocol)])["ranks"] == second.load_per_user(b[(0, protocol)])["ranks"]).all()
    assert a[(0, "full")]["metrics"] != a[(1, "full")]["metrics"]


def test_plugin_entry_point_and_identical_inputs(tiny_profile, tmp_path, monkeypatch):
    entry = EntryPoint(name="spy", value="tests.plugin_method:Spy", group=registry_module.ENTRY_POINT_GROUP)
    monkeypatch.setattr(registry_module, "entry_points", lambda group: [entry] if group == entry.group else [])
    registry = Registry(BUILTIN_METHODS)
    assert "spy" in registry.names()
    plugin_method.SEEN.clear()
    store = run(tiny_profile, ["spy", "spy[label=b]", "pop"], tmp_path, registry=registry)
    first, second = plugin_method.SEEN
    assert first["type"] == "TrainView" and not any("test" in a for a in first["attributes"])
    assert first["view"] == second["view"]
    assert first["candidates"] == second["candidates"]  # same candidate files for every method
    records = store.latest()
    assert len({r["dataset_fingerprint"] for r in records}) == 1
    for protocol in ("cand-19", "cand-99"):
        assert len({r["candidates"]["sha256"] for r in records if r["protocol"] == protocol}) == 1
    assert not any(r["method"].startswith("spy") and r["protocol"] == "full" for r in records)


def test_ablation_variant_changes_the_computation(tiny_profile, tmp_path, monkeypatch):
    entry = EntryPoint(name="spy", value="tests.plugin_method:Spy", group=registry_module.ENTRY_POINT_GROUP)
    monkeypatch.setattr(registry_module, "entry_points", lambda group: [entry] if group == entry.group else [])
    registry = Registry(BUILTIN_METHODS)
    assert registry.ablation_variants("spy") == ["spy", "spy[-item_bias]"]
    store = run(tiny_profile, registry.ablation_variants("spy"), tmp_path, registry=registry)
    by_method = {(r["method"], r["protocol"]): r["metrics"] for r in store.latest()}
    assert by_method[("spy", "cand-19")] != by_method[("spy[-item_bias]", "cand-19")]
    assert len({r["config_hash"] for r in store.latest()}) == 2


def test_interrupted_unit_leaves_no_record(tiny_profile, tmp_path, monkeypatch):
    store = ResultStore(tmp_path / "ci")
    units = plan(tiny_profile, Registry(BUILTIN_METHODS), ["pop"], ["ml-100k"], [0], store, False)
    calls = {"n": 0}
    original = Runner.candidates

    def interrupt_later(self, *args):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return original(self, *args)

    monkeypatch.setattr(Runner, "candidates", interrupt_later)
    with pytest.raises(KeyboardInterrupt):
        run_units(tiny_profile, store, units)
    assert not store.records_path.exists()
    assert not list((tmp_path / "ci").rglob("*.npz"))


def test_sasrec_ce_loss_at_targets_equals_every_position():
    """The padding-free loss (default) and the every-position loss (the delrec teacher's) are the
    same function: equal loss and gradients up to float rounding, on windows with padding."""
    import torch

    from llmrec_methods.sasrec_ce import ARCHITECTURE_KEYS, SASRecCE
    from llmrec_methods.sasrec_net import SASRecNet

    torch.manual_seed(0)
    config = SASRecCE.card.defaults
    windows = torch.randint(1, 30, (6, 9))
    windows[torch.arange(9).expand(6, 9) >= torch.tensor([[2], [3], [9], [5], [1], [7]])] = 0  # right padding
    results = []
    for logits_at in ("targets", "every_position"):
        method = SASRecCE({**config, "logits_at": logits_at})
        torch.manual_seed(0)
        method.model = SASRecNet(n_items=30, max_len=8, **{k: config[k] for k in ARCHITECTURE_KEYS}).eval()
        loss = method._loss(windows)
        loss.backward()
        results.append((loss.detach(), [p.grad for p in method.model.parameters()]))
    (a, grads_a), (b, grads_b) = results
    assert torch.allclose(a, b, rtol=1e-6)
    assert all(torch.allclose(x, y, atol=1e-7, rtol=1e-5) for x, y in zip(grads_a, grads_b))


def test_sasrec_ce_rejects_an_unknown_logits_at():
    from llmrec_benchmark.errors import BenchmarkError
    from llmrec_methods.sasrec_ce import SASRecCE

    with pytest.raises(BenchmarkError, match="logits_at must be one of.*found 'middle'"):  # checked before any work
        SASRecCE({**SASRecCE.card.defaults, "logits_at": "middle"}).fit(None, None)
