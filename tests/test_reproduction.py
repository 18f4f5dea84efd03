"""The reproduction board: targets matched to runs with a +-5% verdict, and SASRec with sampled
negatives (sampled softmax and 1-negative BCE) as a method that trains and reproduces itself."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from llmrec_benchmark.boards.reproduction import reproduction_rows, verdict
from llmrec_benchmark.errors import BenchmarkError
from llmrec_benchmark.profiles import load_profile


def test_verdict_is_relative_within_five_percent():
    assert verdict(0.0531 * 1.049, 0.0531) == "within ±5%"
    assert verdict(0.0531 * 0.951, 0.0531) == "within ±5%"
    assert verdict(0.0531 * 1.06, 0.0531) == "above"
    assert verdict(0.0318 * 0.9, 0.0318) == "below"


def _record(method: str, seed: int, ndcg: float, stopped_by: str = "patience") -> dict:
    return {"dataset": "beauty", "protocol": "full", "method": method, "base_method": method.split("[")[0], "seed": seed,
            "metrics": {"NDCG@10": ndcg, "HR@10": 2 * ndcg}, "training": {"stopped_by": stopped_by, "seconds_to_best": 10.0 * seed},
            "code_hash": "current", "dataset_stats": {"users": 3, "items": 4, "interactions": 5}}


def test_targets_match_their_spec_and_only_converged_runs_count():
    profile = load_profile("reproduce")
    records = [_record("sasrec-sampled", s, 0.0531) for s in (0, 1, 2)]
    # the BCE variant's name spelled with its overrides in another order still matches the target
    records += [_record("sasrec-sampled[negatives=1,loss=bce]", 0, 0.04), _record("sasrec-sampled[negatives=1,loss=bce]", 1, 0.05, "wall_clock")]
    rows = {(r["dataset"], r["method"], r["metric"]): r for r in reproduction_rows(profile, records)}
    ss = rows[("beauty", "sasrec-sampled", "NDCG@10")]
    assert ss["verdict"] == "within ±5%" and ss["seeds"] == [0, 1, 2] and ss["seconds_to_best"] == pytest.approx(10.0)
    bce = rows[("beauty", "sasrec-sampled[loss=bce,negatives=1]", "NDCG@10")]
    assert bce["seeds"] == [0] and bce["verdict"] == "above" and bce["delta"] == pytest.approx(100 * (0.04 - 0.0318) / 0.0318)
    assert rows[("beauty", "sasrec-ce", "NDCG@10")]["why"] == "not run yet"
    capped = [_record("sasrec-ce", 0, 0.06, "wall_clock")]
    assert reproduction_rows(profile, capped)[2]["why"] == "no converged run with the current code"


def test_a_published_configuration_runs_only_on_its_targets_datasets(tmp_path):
    """A spec that only reproduction targets name (S3-Rec's BCE SASRec on Beauty and Sports) is
    planned by a plain ``run``, on those datasets only; a card's declared variant still runs everywhere."""
    from llmrec_benchmark.commands.common import method_specs
    from llmrec_benchmark.commands.options import Options
    from llmrec_benchmark.engine.planning import plan, published_configurations
    from llmrec_benchmark.engine.registry import Registry
    from llmrec_benchmark.method import parse_variant
    from llmrec_benchmark.store.results import ResultStore
    from llmrec_methods import BUILTIN_METHODS

    profile, registry = load_profile("reproduce"), Registry(BUILTIN_METHODS)
    published = published_configurations(profile, registry)
    s3rec = next(name for name in published if "n_heads=2" in name)
    assert published[s3rec] == {"beauty", "sports"} and "sasrec-sampled[loss=bce,negatives=1]" not in published
    # transformer_benchmark's runnable 256-d SASRec+SS: the three Amazon sets it publishes, not Yelp
    assert published["sasrec-original[hidden_size=256]"] == {"beauty", "sports", "toys"}
    specs = method_specs(Options(profile="reproduce", methods="sasrec-sampled"), profile, registry)
    assert s3rec in specs and all(parse_variant(s).base == "sasrec-sampled" for s in specs)
    assert s3rec not in method_specs(Options(profile="reproduce", methods="sasrec-sampled", no_variants=True), profile, registry)
    units = plan(profile, registry, specs, ["beauty", "toys"], [0], ResultStore(tmp_path), False)
    where = {(u.method.name, u.card.name) for u in units}
    assert (s3rec, "beauty") in where and (s3rec, "toys") not in where
    assert {("sasrec-sampled[loss=bce,negatives=1]", d) for d in ("beauty", "toys")} <= where


@pytest.mark.parametrize("change, problem", [
    (lambda t: t.pop("source"), "must have exactly the keys"),
    (lambda t: t.update(dataset="ml-100k"), "is not in 'datasets'"),
    (lambda t: t.update(method="bert4rec"), "is not a spec of a method in 'methods'"),
    (lambda t: t.update(metrics={"NDCG@10": "high"}), "metrics must map metric names to published positive numbers"),
])
def test_a_bad_target_is_named(tmp_path, change, problem):
    import yaml

    from llmrec_benchmark.paths import PROFILES_DIR

    raw = yaml.safe_load((PROFILES_DIR / "reproduce.yaml").read_text())
    change(raw["reproduction"][0])
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(BenchmarkError, match=problem):
        load_profile(str(path))


@pytest.fixture(scope="module")
def tiny():
    profile = load_profile("ci")
    return dataclasses.replace(profile, user_cap=80, max_history=10, candidates=(19,),
                               budget=dataclasses.replace(profile.budget, max_epochs=2))


@pytest.mark.parametrize("spec", ["sasrec-sampled", "sasrec-sampled[loss=bce,negatives=1]", "sasrec-original",
                                  "sasrec-original[loss=bce,negatives=1]", "sasrec-original[loss=ce]"])
def test_sampled_sasrec_trains_and_repeats_its_numbers(tiny, tmp_path, spec):
    from llmrec_benchmark.engine.planning import plan
    from llmrec_benchmark.engine.registry import Registry
    from llmrec_benchmark.store.results import ResultStore
    from llmrec_methods import BUILTIN_METHODS
    from tests.conftest import run_units

    registry = Registry(BUILTIN_METHODS)
    metrics = []
    for name in ("a", "b"):
        store = ResultStore(tmp_path / name)
        run_units(tiny, store, plan(tiny, registry, [spec], ["ml-100k"], [0], store, False, seeds_given=True))
        metrics.append([r["metrics"] for r in store.latest()])
    assert metrics[0] == metrics[1] and any(m["NDCG@10"] > 0 for m in metrics[0])


def test_sampled_softmax_masks_a_negative_that_is_the_target_and_bce_redraws_it():
    from llmrec_methods.sasrec_net import SASRecNet
    from llmrec_methods.sasrec_sampled import SASRecSampled

    method = SASRecSampled({**SASRecSampled.card.defaults, "negatives": 3}, frozenset())
    method.n_items, method.config = 6, {**method.config, "negatives": 3}
    torch.manual_seed(0)
    method.model = SASRecNet(n_items=6, max_len=4, hidden_size=8, n_layers=1, n_heads=1, inner_size=8,
                             hidden_dropout_prob=0.0, attn_dropout_prob=0.0, layer_norm_eps=1e-12, initializer_range=0.02)
    method.model.eval()
    windows = torch.tensor([[1, 2, 0, 0, 0]])  # one target: item 2
    with_hit = method._sampled_loss((windows, torch.tensor([2, 4, 5])))
    without = method._sampled_loss((windows, torch.tensor([4, 5])))
    assert torch.isfinite(with_hit) and with_hit.item() == pytest.approx(without.item())  # the hit adds nothing
    per_position = torch.tensor([[[2, 4, 5], [1, 1, 1], [1, 1, 1], [1, 1, 1]]])  # [B, W, K]; only position 0 is a target
    assert method._sampled_loss((windows, per_position)).item() == pytest.approx(without.item())
    method.config = {**method.config, "loss": "bce", "negatives": 1}
    drawn = method._draw(torch.tensor([[1, 2, 2, 2, 2, 2, 2, 2, 2]]), torch.Generator().manual_seed(0))
    assert drawn.shape == (1, 8) and bool((drawn >= 1).all()) and bool((drawn < 6).all())


@pytest.mark.parametrize("config, problem", [({"loss": "hinge"}, "loss must be one of"), ({"negatives": 0}, "positive integer"),
                                             ({"negatives_per": "user"}, "negatives_per must be one of"),
                                             ({"loss": "bce", "negatives": 4}, "takes exactly 1 negative")])
@pytest.mark.parametrize("name", ["sasrec-sampled", "sasrec-original"])
def test_sampled_sasrec_rejects_a_bad_config(config, problem, name):
    from llmrec_benchmark.method import Budget, RunContext
    from llmrec_methods.sasrec_original import SASRecOriginal
    from llmrec_methods.sasrec_sampled import SASRecSampled

    cls = SASRecSampled if name == "sasrec-sampled" else SASRecOriginal
    method = cls({**cls.card.defaults, **config}, frozenset())
    ctx = RunContext(seed=0, budget=Budget(1, 1, 10.0), max_history=5, device=torch.device("cpu"), cache_dir=None,
                     validate=lambda score: 0.0, deadline=0.0)
    with pytest.raises(BenchmarkError, match=f"{name}: .*{problem}"):
        method.fit(None, ctx)


def test_original_full_cross_entropy_ranks_the_target_among_every_item_but_padding():
    """The loss equals -log softmax of the target over items 1..n-1 (the padding id is no class),
    taken at real targets only, and does not depend on the unused negatives slot."""
    from llmrec_methods.sasrec_original import SASRecOriginal
    from llmrec_methods.sasrec_original.net import AuthorsSASRecNet

    method = SASRecOriginal({**SASRecOriginal.card.defaults, "loss": "ce"}, frozenset())
    torch.manual_seed(0)
    method.model = AuthorsSASRecNet(n_items=7, max_len=4, hidden_size=8, n_layers=1, n_heads=1, dropout=0.0).eval()
    windows = torch.tensor([[1, 2, 3, 0, 0], [4, 5, 0, 0, 0]])
    loss = method._full_cross_entropy((windows, torch.zeros_like(windows)))
    hidden = method.model(windows[:, :-1])
    table = method.model.item_embedding.weight
    expected = []
    for row, position, target in ((0, 0, 2), (0, 1, 3), (1, 0, 5)):
        scores = hidden[row, position] @ table[1:].T
        expected.append(-torch.log_softmax(scores, 0)[target - 1])
    assert loss.item() == pytest.approx(torch.stack(expected).mean().item(), rel=1e-5)
    assert method._full_cross_entropy((windows, windows)).item() == pytest.approx(loss.item())


def test_original_rejects_an_adam_beta2_outside_zero_one():
    from llmrec_benchmark.method import Budget, RunContext
    from llmrec_methods.sasrec_original import SASRecOriginal

    method = SASRecOriginal({**SASRecOriginal.card.defaults, "adam_beta2": 1.0}, frozenset())
    ctx = RunContext(seed=0, budget=Budget(1, 1, 10.0), max_history=5, device=torch.device("cpu"), cache_dir=None,
                     validate=lambda score: 0.0, deadline=0.0)
    with pytest.raises(BenchmarkError, match="sasrec-original: adam_beta2 must be in"):
        method.fit(None, ctx)


def test_the_authors_block_counts_positions_back_from_the_last_item_and_ignores_padding():
    """A sequence's last hidden state is the same however much padding follows it, and shifting
    the sequence by one item changes it (positions are relative to the last item)."""
    from llmrec_methods.sasrec_original.net import AuthorsSASRecNet

    torch.manual_seed(0)
    net = AuthorsSASRecNet(n_items=20, max_len=6, hidden_size=8, n_layers=2, n_heads=2, dropout=0.2).eval()
    short = net(torch.tensor([[3, 4, 5, 0, 0, 0]]))[0, 2]
    padded = net(torch.tensor([[3, 4, 5, 0]]))[0, 2]
    alone = net(torch.tensor([[3, 4, 5]]))[0, 2]
    assert torch.allclose(short, padded) and torch.allclose(short, alone, atol=1e-6)
    longer = net(torch.tensor([[9, 3, 4, 5, 0, 0]]))[0, 3]
    assert not torch.allclose(short, longer)


def test_sampled_softmax_draws_negatives_per_position_unless_shared_per_batch():
    from llmrec_methods.sasrec_sampled import SASRecSampled

    items = torch.tensor([[1, 2, 3, 0], [4, 5, 0, 0]])
    method = SASRecSampled({**SASRecSampled.card.defaults, "negatives": 5}, frozenset())
    method.n_items = 50
    drawn = method._draw(items, torch.Generator().manual_seed(0))
    assert drawn.shape == (2, 3, 5) and bool((drawn >= 1).all()) and bool((drawn < 50).all())
    assert not torch.equal(drawn[0, 0], drawn[0, 1])  # each position has its own negatives
    method.config = {**method.config, "negatives_per": "batch"}
    assert method._draw(items, torch.Generator().manual_seed(0)).shape == (5,)
