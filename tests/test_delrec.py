"""DELRec: the leak-free teacher artifact, full-title scoring against plain forwards (and no more
first-token ties), GradNorm weighting, stage parameter freezing, the prompts' parts, the component
switches and determinism."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from scipy import stats

from llmrec_benchmark.data.split import Sequences, SplitData, sequences_from_sorted
from llmrec_benchmark.errors import BenchmarkError
from llmrec_benchmark.method import Budget, ScoreBatch
from llmrec_methods.delrec import DEFAULTS, DELRec
from llmrec_methods.delrec.gradnorm import GradNormWeights
from llmrec_methods.delrec.prompts import DelrecPrompts, listing_order
from llmrec_methods.llm.backbone import load_backbone
from llmrec_methods.llm.prompts import token_ids
from llmrec_methods.llm.title_scoring import SoftPrompt, TitleScorer
from llmrec_methods.llm.yesno import constant, pack, suffixes
from llmrec_methods.teacher import teacher_topk
from tests.conftest import candidate_scores, fit_context

CPU = torch.device("cpu")
SMALL = dict(DEFAULTS, soft_tokens=4, llm_history=4, item_max_tokens=8, train_candidates=6, stage1_steps=3,
             train_batch_size=8, score_batch_size=8, teacher_k=3)
TEACHER_BUDGET = Budget(max_epochs=2, patience=1, wall_clock_s=1e6)


# -- teacher ------------------------------------------------------------------------------------
def _first_users(data: SplitData, count: int) -> SplitData:
    rows, index = data.sequences.flat_index(torch.arange(count))
    return dataclasses.replace(data, users=data.users[:count],
                               sequences=sequences_from_sorted(rows, data.sequences.items[index], count))


def _with_other_targets(data: SplitData) -> SplitData:
    """The same users and training items, every valid and test target replaced."""
    items = data.sequences.items.clone()
    ends = data.sequences.offsets[1:]
    items[ends - 1] = 1 + (items[ends - 1] % (data.n_items - 1))
    items[ends - 2] = 1 + ((items[ends - 2] + 7) % (data.n_items - 1))
    return dataclasses.replace(data, sequences=Sequences(items, data.sequences.offsets))


def test_teacher_never_sees_valid_or_test_targets(ml100k, tmp_path):
    data = _first_users(ml100k, 120)
    other = _with_other_targets(data)
    assert not torch.equal(data.valid_targets, other.valid_targets) and torch.equal(data.train.items, other.train.items)

    def build(split: SplitData, cache: Path):
        return teacher_topk(split.train_view().train, split.n_items, 10, 0, 20, TEACHER_BUDGET, CPU, cache)

    first = build(data, tmp_path / "a")
    second = build(other, tmp_path / "b")  # trained from scratch in another cache
    assert first.notes["cache"] == second.notes["cache"] == "built"
    assert torch.equal(first.topk, second.topk)  # the targets cannot have influenced it
    assert first.notes["cache_key"] == second.notes["cache_key"]
    assert first.topk.shape == (120, 10) and not bool((first.topk == 0).any())
    train = data.train
    for row in range(120):
        assert not set(first.topk[row].tolist()) & set(train.row(row).tolist())  # no seen item predicted
    again = build(data, tmp_path / "a")
    assert again.notes["cache"] == "hit" and again.built_seconds == 0.0 and torch.equal(again.topk, first.topk)
    shorter = dataclasses.replace(data, sequences=data.sequences.drop_last(1))  # different training items
    assert build(shorter, tmp_path / "a").notes["cache_key"] != first.notes["cache_key"]


# -- title scoring ------------------------------------------------------------------------------
def _title_rows(tokenizer, prompt: str, titles: list[str]):
    prompt_ids = token_ids(tokenizer, prompt)
    encoded = [token_ids(tokenizer, t + "\n") for t in titles]
    width = max(len(e) for e in encoded)
    ids = torch.zeros(1, len(titles), width, dtype=torch.long)
    for c, e in enumerate(encoded):
        ids[0, c, : len(e)] = e
    lengths = torch.tensor([[len(e) for e in encoded]])
    return prompt_ids, encoded, pack([constant(prompt_ids, 1), suffixes(ids, lengths)])


def test_full_titles_are_scored_like_separate_forwards_and_shared_first_tokens_no_longer_tie(tmp_path):
    backbone = load_backbone("tiny", tmp_path)
    lm = backbone.model.eval()
    titles = ["Star Wars (1977)", "Star Trek (1979)", "Fargo (1996)"]
    prompt, encoded, packed = _title_rows(backbone.tokenizer, "History:\nToy Story (1995)\nNext:\n", titles)
    scorer = TitleScorer(lm, None)
    with torch.no_grad():
        scores = scorer.scores(packed, None)[0]
        for c, title in enumerate(encoded):
            alone = torch.cat([prompt, title]).unsqueeze(0)
            log_probs = lm(input_ids=alone).logits[0].log_softmax(-1)
            positions = torch.arange(len(prompt) - 1, alone.size(1) - 1)
            expected = log_probs[positions, title].mean()
            assert torch.allclose(scores[c], expected, atol=1e-4), title
        first_token = lm(input_ids=prompt.unsqueeze(0)).logits[0, -1].log_softmax(-1)
    assert encoded[0][0] == encoded[1][0]  # "Star ..." titles share their first token:
    assert first_token[encoded[0][0]] == first_token[encoded[1][0]]  # a first-token verbalizer ties them
    assert scores[0] != scores[1]  # the full-title score does not
    vocabulary = torch.unique(torch.cat(encoded))
    restricted = TitleScorer(lm, None, vocabulary)
    with torch.no_grad():
        renormalised = restricted.scores(packed, None)[0]
    assert bool((renormalised > scores).all()) and bool((renormalised <= 0).all())  # fewer tokens share the mass


def test_soft_prompt_replaces_the_placeholder_embeddings(tmp_path):
    backbone = load_backbone("tiny", tmp_path)
    prompts = DelrecPrompts(backbone.tokenizer, ("",) + tuple(f"film-{i}" for i in range(1, 9)), 8, soft_tokens=3)
    packed = prompts.recommend(torch.tensor([0, 1]), torch.tensor([[1, 2, 0], [3, 4, 5]]), torch.tensor([[6, 7], [8, 1]]))
    at = prompts.soft_at("recommend")
    soft = SoftPrompt(backbone.model.get_input_embeddings(), 3, seed=0)
    scorer = TitleScorer(backbone.model.eval(), soft)
    with torch.no_grad():
        before = scorer.scores(packed, at)
        soft.vectors.add_(1.0)
        after = scorer.scores(packed, at)
    assert not bool(torch.isclose(before, after).any())  # the soft prompt reaches every candidate's score
    assert torch.equal(packed.input_ids[:, at : at + 3], torch.full((2, 3), backbone.tokenizer.pad_token_id))
    text = backbone.tokenizer.decode(packed.input_ids[0, :at])
    assert text.endswith("The recommendation pattern of the SASRec model is:")


def test_the_listing_hides_the_target_and_ignores_item_id_order(tmp_path):
    backbone = load_backbone("tiny", tmp_path)
    prompts = DelrecPrompts(backbone.tokenizer, ("",) + tuple(f"film-{i}" for i in range(1, 9)), 8, soft_tokens=0)
    history, user = torch.tensor([[1, 2]]), torch.tensor([3])
    a = prompts.recommend(user, history, torch.tensor([[5, 3, 7]]))
    b = prompts.recommend(user, history, torch.tensor([[7, 5, 3]]))
    prefix = int(a.prefix_length[0])
    assert torch.equal(a.input_ids[:, :prefix], b.input_ids[:, :prefix])  # arrival order (target first) is hidden
    text = backbone.tokenizer.decode(a.input_ids[0, :prefix])
    assert "pattern" not in text  # no soft prompt: no pattern sentence
    assert all(f"film-{i}" in text for i in (3, 5, 7))


def test_listing_order_is_a_per_user_shuffle_unrelated_to_item_ids():
    users = torch.arange(3000)
    generator = torch.Generator().manual_seed(0)
    candidates = torch.stack([torch.randperm(1682, generator=generator)[:20] + 1 for _ in range(3000)])
    listed = listing_order(users, candidates)
    assert torch.equal(torch.sort(listed, 1).values, torch.sort(candidates, 1).values)  # a permutation per row
    position = torch.arange(20).expand(3000, -1).flatten().numpy()
    rank_in_row = torch.argsort(torch.argsort(listed, 1), 1).flatten().numpy()  # 0 = smallest id of the row
    assert abs(stats.spearmanr(position, rank_in_row).statistic) < 0.02  # id order says nothing about position
    assert not torch.equal(listed[0], torch.sort(listed[0]).values)
    shuffled = torch.gather(candidates, 1, torch.argsort(torch.rand(3000, 20, generator=generator), 1))
    assert torch.equal(listing_order(users, shuffled), listed)  # the order does not depend on arrival order
    assert not torch.equal(listing_order(users + 1, candidates), listed)  # per user
    # relabelling items by popularity (a monotone map of ids) does not make the listing id-ordered
    first = listing_order(users, candidates * 2)
    assert abs(stats.spearmanr(position, torch.argsort(torch.argsort(first, 1), 1).flatten().numpy()).statistic) < 0.02


# -- GradNorm -----------------------------------------------------------------------------------
def test_gradnorm_weights_balance_gradient_norms_and_favour_the_slower_task():
    weighting = GradNormWeights(2, alpha=0.5)
    first = weighting(torch.tensor([2.0, 4.0]), torch.tensor([1.0, 3.0]))
    assert torch.isclose(first.sum(), torch.tensor(2.0))
    assert torch.isclose(first[0] * 1.0, first[1] * 3.0)  # equal loss ratios: equal weighted norms
    # task 0's loss halved, task 1's did not move: task 1 trains slower and gets the larger share
    later = weighting(torch.tensor([1.0, 4.0]), torch.tensor([2.0, 2.0]))
    ratio = torch.tensor([0.5, 1.0])
    expected_norms = (ratio / ratio.mean()) ** 0.5
    weighted = later * 2.0
    assert torch.allclose(weighted / weighted.sum(), expected_norms / expected_norms.sum())
    assert later[1] > later[0] and torch.isclose(later.sum(), torch.tensor(2.0))
    flat = GradNormWeights(2, alpha=0.0)
    flat(torch.tensor([1.0, 1.0]), torch.tensor([1.0, 1.0]))
    assert torch.allclose(flat(torch.tensor([0.1, 1.0]), torch.tensor([1.0, 4.0])) * torch.tensor([1.0, 4.0]),
                          torch.full((2,), 1.6))  # alpha 0: pure gradient-norm equalisation


# -- fits ---------------------------------------------------------------------------------------
def _fit(view, cache: Path, disabled=(), seed=0, spy=None, **overrides):
    method = DELRec(dict(SMALL, **overrides), frozenset(disabled))
    if spy is not None:
        spy(method)
    report = method.fit(view, fit_context(cache, seed, wall_clock_s=600))
    return method, report


class StageSpy:
    """Snapshots the model when stage 2 starts (after stage 1) and right after the adapters exist."""

    def __init__(self, method: DELRec):
        self.original = method._attach_adalora
        method._attach_adalora = self.attach
        self.method = method

    def attach(self, n_rows, ctx):
        model = self.method.model
        self.after_stage1 = {n: p.detach().clone() for n, p in model.named_parameters()}
        optimizer = self.original(n_rows, ctx)
        self.adapters_at_init = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
        return optimizer


def test_stage1_trains_only_the_soft_prompt_and_stage2_only_the_adapters(small_view, tmp_path):
    spies = []
    method, report = _fit(small_view, tmp_path, spy=lambda m: spies.append(StageSpy(m)))
    spy = spies[0]
    fresh = load_backbone("tiny", tmp_path).model
    initial_soft = SoftPrompt(fresh.get_input_embeddings(), SMALL["soft_tokens"], 0).vectors
    for name, value in spy.after_stage1.items():
        if name == "soft_prompt.vectors":
            assert not torch.equal(value, initial_soft)  # stage 1 moved the soft prompt
        else:
            assert torch.equal(value, fresh.state_dict()[name.removeprefix("lm.")]), name  # the LLM is frozen
    assert report.notes["stage1"]["steps"] == 3 and set(report.notes["stage1"]["tasks"]) == {
        "temporal_analysis", "pattern_simulating"}
    assert all(len(point["weights"]) == 2 for point in report.notes["stage1"]["curve"])
    final = dict(method.model.named_parameters())
    assert spy.adapters_at_init and all(".lora_" in n for n in spy.adapters_at_init)
    assert any(not torch.equal(final[n], v) for n, v in spy.adapters_at_init.items())  # the adapters learnt
    assert torch.equal(final["soft_prompt.vectors"], spy.after_stage1["soft_prompt.vectors"])  # frozen in stage 2
    for name, value in spy.after_stage1.items():
        if name != "soft_prompt.vectors":
            assert torch.equal(final[name.replace("q_proj.weight", "q_proj.base_layer.weight").replace(
                "v_proj.weight", "v_proj.base_layer.weight")], value), name
    assert report.notes["stage2"]["steps"] == 5 and report.notes["teacher"]["k"] == 3
    trainable, total = method.parameter_counts()
    assert 0 < trainable < total and method.tokens_processed() > 0


def test_fit_is_deterministic_and_refuses_full_ranking(small_view, tmp_path):
    first, _ = _fit(small_view, tmp_path)
    second, again = _fit(small_view, tmp_path)
    assert again.notes["teacher"]["cache"] == "hit"
    assert torch.equal(candidate_scores(first, small_view), candidate_scores(second, small_view))
    other, _ = _fit(small_view, tmp_path, seed=1)
    assert not torch.equal(candidate_scores(first, small_view), candidate_scores(other, small_view))
    history, lengths = small_view.train.last(torch.arange(2), 10)
    with pytest.raises(BenchmarkError, match="candidate lists only"):
        first.score(ScoreBatch(users=small_view.users[:2], history=history, lengths=lengths))
    with pytest.raises(BenchmarkError, match="'title_softmax' must be"):
        _fit(small_view, tmp_path, title_softmax="softmax")


def test_each_switch_changes_what_is_trained(small_view, tmp_path):
    only_pattern, report = _fit(small_view, tmp_path, disabled=("temporal_analysis",))
    assert report.notes["stage1"]["tasks"] == ["pattern_simulating"]
    only_temporal, report = _fit(small_view, tmp_path, disabled=("pattern_simulating",))
    assert report.notes["stage1"]["tasks"] == ["temporal_analysis"]
    untrained, report = _fit(small_view, tmp_path, disabled=("distillation",))
    assert "untrained soft prompt" in report.notes["stage1"]["skipped"] and "teacher" not in report.notes
    initial = SoftPrompt(load_backbone("tiny", tmp_path).model.get_input_embeddings(), SMALL["soft_tokens"], 0).vectors
    assert torch.equal(untrained.model.soft_prompt.vectors, initial)
    no_soft, report = _fit(small_view, tmp_path, disabled=("soft_prompt",))
    assert no_soft.model.soft_prompt is None and no_soft.prompts.soft_at("recommend") is None
    assert "no soft prompt" in report.notes["stage1"]["skipped"]
    scores = [candidate_scores(m, small_view) for m in (only_pattern, only_temporal, untrained, no_soft)]
    assert all(not torch.equal(a, b) for i, a in enumerate(scores) for b in scores[i + 1 :])


def test_temporal_analysis_splits_the_history_into_example_query_and_hidden_item():
    train = Sequences(torch.tensor([*range(1, 11), 20, 21, 22]), torch.tensor([0, 10, 13]))
    view = type("View", (), {"train": train})()
    method = DELRec(dict(SMALL, llm_history=4, example_items=4), frozenset())
    example, hidden_ex, next_ex, query, hidden = method._temporal_parts(view, torch.tensor([0, 1]))
    assert hidden.tolist() == [10, 22]
    assert query[0].tolist() == [6, 7, 8, 9] and example[0].tolist() == [2, 3]
    assert hidden_ex.tolist() == [4, 0] and next_ex.tolist() == [5, 0]  # user 1 has too few items for an example
    assert query[1].tolist()[:2] == [20, 21]


def test_validation_subset_is_fixed_and_smaller(tmp_path):
    from llmrec_benchmark.engine.planning import plan
    from llmrec_benchmark.engine.registry import Registry
    from llmrec_benchmark.engine.runner import Runner
    from llmrec_benchmark.profiles import load_profile
    from llmrec_benchmark.store.results import ResultStore
    from llmrec_methods import BUILTIN_METHODS

    profile = load_profile("ci")
    store = ResultStore(tmp_path / "ci")
    unit = plan(profile, Registry(BUILTIN_METHODS), ["delrec"], ["ml-100k"], [0], store, False)[0]
    runner = Runner(profile, store, CPU)
    data = runner.data(unit.card)
    validate = runner._validator(unit, data, torch.arange(len(data.sequences)))
    seen: list[list[int]] = []

    def record(batch: ScoreBatch):
        seen.append(batch.users.tolist())
        return torch.zeros(batch.candidates.shape)

    validate(record, max_users=50)
    validate(record, max_users=50)
    assert len(seen[0]) == 50 and seen[0] == seen[1]
    seen.clear()
    validate(record)
    everyone = [u for batch in seen for u in batch]
    assert sorted(everyone) == sorted(set(everyone)) and len(everyone) == len(data.sequences)
