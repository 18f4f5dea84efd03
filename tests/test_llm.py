"""The LLM layer and DARec/MixRec: offline backbones, item spans and the block-causal mask on a
hand-made example, the architecture search within its trial budget, determinism, and one test per
component proving that switching it off changes the computation."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import pytest
import torch

from llmrec_benchmark.errors import BenchmarkError
from llmrec_benchmark.method import Budget, RunContext
from llmrec_methods.darec import DARec
from llmrec_methods.llm.adapters import LoraArch, MoeArch, MoeLoraLinear
from llmrec_methods.llm.backbone import byte_tokenizer, load_backbone
from llmrec_methods.llm.itemrec import LLM_DEFAULTS, FitSession
from llmrec_methods.llm.prompts import ItemTokenTable, attention_allowed
from llmrec_methods.llm.search import (
    EXPERT_COUNTS, EXPERT_RANKS, LORA_RANKS, LORA_TARGETS, propose_lora, propose_moe, tpe_search,
)
from llmrec_methods.mixrec import HOMOGENEOUS, MixRec

SMALL = dict(LLM_DEFAULTS, llm_history=4, item_max_tokens=6, proxy_steps=2, proxy_users=16, train_batch_size=8)


def context(seed: int = 0, trials: int = 2, seconds: float = 120.0, max_history: int = 10) -> RunContext:
    return RunContext(
        seed=seed, budget=Budget(max_epochs=1, patience=1, wall_clock_s=seconds, tuning_trials=trials),
        max_history=max_history, device=torch.device("cpu"),
        cache_dir=Path(tempfile.mkdtemp(prefix="benchmark-test-cache-")),  # the search caches its artifact here
        validate=lambda score: 0.0, deadline=time.monotonic() + seconds,
    )


def test_tiny_backbone_is_offline_and_small():
    backbone = load_backbone("tiny", Path("unused"))
    assert backbone.n_layers == 2 and backbone.hidden_size == 64
    ids = backbone.tokenizer("Toy Story (1995)", add_special_tokens=False).input_ids
    assert len(ids) == len("Toy Story (1995)")  # byte-level: one token per byte
    out = backbone.model.model(input_ids=torch.tensor([ids])).last_hidden_state
    assert out.shape == (1, len(ids), 64) and torch.isfinite(out).all()


def test_missing_smollm2_weights_are_a_clear_error(monkeypatch, tmp_path):
    import llmrec_benchmark.data.weights as weights

    monkeypatch.setenv("BENCHMARK_WEIGHTS_DIR", str(tmp_path / "empty"))
    monkeypatch.setattr(weights.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(BenchmarkError, match="fetch it with: python -m benchmark weights"):
        load_backbone("smollm2-135m", Path("unused"))


def test_smollm2_loads_from_the_gguf_truncated(tmp_path):
    from llmrec_benchmark.data.weights import find_smollm2_gguf

    try:
        find_smollm2_gguf()
    except BenchmarkError:
        pytest.skip("SmolLM2 GGUF not fetched (python -m benchmark weights; .ci/run does)")
    backbone = load_backbone("smollm2-135m", tmp_path, layers=2)
    assert backbone.n_layers == 2 and backbone.hidden_size == 576
    assert len(backbone.model.model.layers) == 2
    again = load_backbone("smollm2-135m", tmp_path, layers=2)  # from the safetensors cache now
    assert again.identity == backbone.identity
    ids = torch.tensor([backbone.tokenizer("Star Wars (1977)", add_special_tokens=False).input_ids])
    a = backbone.model.model(input_ids=ids).last_hidden_state
    b = again.model.model(input_ids=ids).last_hidden_state
    assert torch.equal(a, b)


def test_item_spans_boundaries_and_block_causal_mask_on_a_hand_example():
    table = ItemTokenTable(("[PAD]", "ab", "c"), byte_tokenizer(), max_tokens=4)
    table.instruction = torch.tensor([7])  # one instruction token keeps the example small
    batch = table.build(torch.tensor([[1, 2], [2, 0]]))
    a, b, c, sep = (byte_tokenizer()(x, add_special_tokens=False).input_ids[0] for x in ("a", "b", "c", "\n"))
    assert batch.input_ids.tolist() == [[7, a, b, sep, c, sep], [7, c, sep, 0, 0, 0]]
    assert batch.spans.tolist() == [[0, 1, 1, 1, 2, 2], [0, 1, 1, -1, -1, -1]]
    assert batch.boundaries.tolist() == [[3, 5], [2, -1]]
    block = attention_allowed(batch.spans, block_causal=True)[0].int().tolist()
    assert block == [
        [1, 0, 0, 0, 0, 0],
        [1, 1, 1, 1, 0, 0],  # 'a' sees the rest of its own item, not the next item
        [1, 1, 1, 1, 0, 0],
        [1, 1, 1, 1, 0, 0],
        [1, 1, 1, 1, 1, 1],
        [1, 1, 1, 1, 1, 1],
    ]
    causal = attention_allowed(batch.spans, block_causal=False)[0]
    assert torch.equal(causal, torch.ones(6, 6, dtype=torch.bool).tril())
    padded = attention_allowed(batch.spans, block_causal=True)[1].int().tolist()
    assert padded[3][3] == 1  # a padding query always sees itself (no empty softmax row)
    assert [row[3] for row in padded[:3]] == [0, 0, 0]  # and no real token sees padding


def test_search_returns_a_valid_architecture_within_its_trial_budget():
    calls = []

    def objective(arch):
        calls.append(arch)
        return sum(layer.rank for layer in arch.layers) / 100

    arch, report = tpe_search(lambda t: propose_lora(t, 3), objective, trials=6, seed=0, method="darec")
    assert len(calls) == report["trials_run"] == 6
    assert report["startup_trials"] == 3  # half random start-up, half TPE: not a pure random search
    assert len(arch.layers) == 3
    assert all(layer.rank in LORA_RANKS and layer.targets in LORA_TARGETS for layer in arch.layers)
    values = [sum(layer.rank for layer in a.layers) / 100 for a in calls]
    assert sum(layer.rank for layer in arch.layers) / 100 == max(values)
    moe, _ = tpe_search(propose_moe, lambda a: 0.0, trials=3, seed=0, method="mixrec")
    assert len(moe.expert_ranks) in EXPERT_COUNTS and set(moe.expert_ranks) <= set(EXPERT_RANKS)
    with pytest.raises(BenchmarkError, match="tuning_trials is 0"):
        tpe_search(propose_moe, lambda a: 0.0, trials=0, seed=0, method="mixrec")


def _fit(cls, disabled, view, seed=0, trials=2):
    method = cls(dict(SMALL), frozenset(disabled))
    report = method.fit(view, context(seed=seed, trials=trials))
    return method, report


def _scores(method, view):
    from llmrec_benchmark.method import ScoreBatch

    history, lengths = view.train.last(torch.arange(8), 10)
    return method.score(ScoreBatch(users=view.users[:8], history=history, lengths=lengths))


def test_darec_fit_is_deterministic_and_records_its_searched_architecture(small_view):
    first, report = _fit(DARec, (), small_view)
    second, _ = _fit(DARec, (), small_view)
    assert torch.equal(_scores(first, small_view), _scores(second, small_view))
    search = report.notes["search"]
    assert 1 <= search["trials_run"] <= 2
    assert report.notes["adapter"] == first.arch.as_dict() and len(first.arch.layers) == 2
    other, _ = _fit(DARec, (), small_view, seed=1)
    assert not torch.equal(_scores(first, small_view), _scores(other, small_view))


def _session(cls, disabled, view):
    method = cls(dict(SMALL), frozenset(disabled))
    return method, FitSession(method, view, context())


def _decoder_inputs(model, rows, session, monkeypatch):
    """The arguments the item-level model passes to its decoder forward, and the loss."""
    import llmrec_methods.llm.itemrec as itemrec

    seen = {}
    forward = itemrec.decoder_hidden_at

    def spy(decoder, embeds, positions, allowed, columns):
        seen.update(embeds=embeds, allowed=allowed, columns=columns)
        return forward(decoder, embeds, positions, allowed, columns)

    model.eval()
    with monkeypatch.context() as patch, torch.no_grad():
        patch.setattr(itemrec, "decoder_hidden_at", spy)
        seen["loss"] = session.loss_fn(model)(rows)
    return seen


def test_context_masking_off_changes_the_attention_mask_and_the_output(small_view, monkeypatch):
    rows = torch.arange(4)
    outputs = {}
    for disabled in ((), ("context_masking",)):
        _, session = _session(DARec, disabled, small_view)
        model = session.build(LoraArch.uniform(session.n_layers))
        outputs[disabled] = _decoder_inputs(model, rows, session, monkeypatch)
    allowed_on, allowed_off = outputs[()]["allowed"], outputs[("context_masking",)]["allowed"]
    assert allowed_on.shape == allowed_off.shape
    assert not torch.equal(outputs[()]["loss"], outputs[("context_masking",)]["loss"])
    assert (allowed_off & ~allowed_on).sum() == 0  # causal is a subset of block-causal
    assert (allowed_on & ~allowed_off).sum() > 0  # block-causal adds within-item lookahead
    assert torch.equal(allowed_off, allowed_off & torch.ones_like(allowed_off).tril())


def test_collab_injection_off_removes_the_token_and_the_cf_model(small_view, monkeypatch):
    rows = torch.arange(4)
    lengths = {}
    for disabled in ((), ("collab_injection",)):
        _, session = _session(DARec, disabled, small_view)
        model = session.build(LoraArch.uniform(session.n_layers))
        lengths[disabled] = _decoder_inputs(model, rows, session, monkeypatch)["embeds"].shape[1]
        assert (model.collab is None) == bool(disabled)
    assert lengths[()] == lengths[("collab_injection",)] + 1


def _lora_ranks(model):
    from peft.tuners.lora import LoraLayer

    return {name: module.r["default"] for name, module in model.named_modules() if isinstance(module, LoraLayer)}


def test_dynamic_adaption_off_gives_uniform_adapters_on_gives_the_searched_ones(small_view):
    off, report_off = _fit(DARec, ("dynamic_adaption",), small_view)
    ranks = _lora_ranks(off.model)
    assert len(ranks) == 2 * 2 and set(ranks.values()) == {8}
    assert all(name.endswith(("q_proj", "v_proj")) for name in ranks)
    assert "trials_run" not in report_off.notes["search"]
    on, report_on = _fit(DARec, (), small_view)
    assert report_on.notes["adapter"] == on.arch.as_dict()
    expected = {i: layer for i, layer in enumerate(on.arch.layers)}
    got = _lora_ranks(on.model)
    for i, layer in expected.items():
        in_layer = {n: r for n, r in got.items() if f"layers.{i}." in n}
        assert set(in_layer.values()) <= {layer.rank}
        assert len(in_layer) == (0 if layer.rank == 0 else (2 if layer.targets == "qv" else 7))


def test_dynamic_moe_off_is_a_single_lora_and_bo_off_is_homogeneous_experts(small_view):
    single, _ = _fit(MixRec, ("dynamic_moe",), small_view)
    assert not any(isinstance(m, MoeLoraLinear) for m in single.model.modules())
    assert set(_lora_ranks(single.model).values()) == {8}
    homogeneous, report = _fit(MixRec, ("bo",), small_view)
    moes = [m for m in homogeneous.model.modules() if isinstance(m, MoeLoraLinear)]
    assert moes and all(m.expert_ranks == HOMOGENEOUS.expert_ranks for m in moes)
    assert "trials_run" not in report.notes["search"]
    searched, report = _fit(MixRec, (), small_view)
    assert isinstance(searched.arch, MoeArch) and report.notes["search"]["trials_run"] >= 1
    assert all(m.expert_ranks == searched.arch.expert_ranks for m in searched.model.modules() if isinstance(m, MoeLoraLinear))


def test_artifact_cache_builds_once_and_an_interrupted_build_leaves_nothing(tmp_path):
    from llmrec_methods.llm.cache import ArtifactCache

    cache, builds = ArtifactCache(tmp_path), []

    def build(out):
        builds.append(out)
        (out / "payload.txt").write_text("x")

    first = cache.get_or_build("thing", {"a": 1}, build)
    assert cache.get_or_build("thing", {"a": 1}, build) == first and len(builds) == 1
    assert cache.path("thing", {"a": 2}) != first  # other inputs, other entry

    def crash(out):
        (out / "half.txt").write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        cache.get_or_build("thing", {"a": 3}, crash)
    assert sorted(p.name for p in (tmp_path / "thing").iterdir()) == [first.name]


def test_context_masking_reaches_the_boundary_states_only_from_the_second_layer_on(small_view):
    """A boundary (SEP) token already sees its whole item causally, so with one layer both masks
    give the same boundary states; from two layers on, within-item lookahead reaches them. This is
    why the quick profile keeps two backbone layers."""
    from llmrec_methods.llm.collab import split_history

    history, lengths = small_view.train.last(torch.arange(4), 10)
    recent, _, older, older_lengths = split_history(history, lengths, 4, 6)
    for layers, should_differ in ((1, False), (2, True)):
        states = []
        for disabled in ((), ("context_masking",)):
            method = DARec(dict(SMALL, backbone_layers=layers), frozenset(disabled))
            session = FitSession(method, small_view, context())
            model = session.build(LoraArch.uniform(session.n_layers)).eval()
            with torch.no_grad():
                states.append(model.boundary_states(recent, older, older_lengths)[0])
        assert (not torch.allclose(states[0], states[1], atol=1e-6)) == should_differ
