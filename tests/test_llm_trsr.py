"""LLM-TRSR: block segmentation, both summary orders on a hand-made history, the summary memo's
hit path, packed yes/no scoring against plain one-prompt-per-candidate forwards, the loss options,
determinism, and the component switches."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from llmrec_benchmark.boards.leaderboard import render
from llmrec_benchmark.engine.planning import plan
from llmrec_benchmark.engine.registry import Registry
from llmrec_benchmark.errors import BenchmarkError
from llmrec_benchmark.method import ScoreBatch
from llmrec_benchmark.profiles import load_profile
from llmrec_benchmark.store.results import ResultStore
from llmrec_methods import BUILTIN_METHODS
from llmrec_methods.llm.backbone import load_backbone
from llmrec_methods.llm.generation import Decoding, GenerationMemo, GenerationStats, TextGenerator
from llmrec_methods.llm.prompts import token_ids
from llmrec_methods.llm.summarize import block_prompt, segment_blocks, summarize_histories
from llmrec_methods.llm.yesno import YesNoLM, answer_token_ids, constant, pack, ragged, suffixes
from llmrec_methods.llm_trsr import DEFAULTS, LLMTRSR
from tests.conftest import candidate_scores, fit_context, run_units

CPU = torch.device("cpu")
ITEM_TEXT = ("",) + tuple(f"film-{i}" for i in range(1, 21))
SMALL = dict(DEFAULTS, max_blocks=2, max_new_tokens=6, item_max_tokens=6, summary_max_tokens=12,
             train_batch_size=8, generation_batch_size=16)


def test_blocks_are_chronological_and_keep_the_most_recent_items():
    assert segment_blocks(list(range(1, 13)), 5, 5) == [[1, 2, 3, 4, 5], [6, 7, 8, 9, 10], [11, 12]]
    recent = segment_blocks(list(range(1, 31)), 5, 5)
    assert len(recent) == 5 and recent[0] == [6, 7, 8, 9, 10] and recent[-1] == [26, 27, 28, 29, 30]
    assert segment_blocks(list(range(1, 31)), 5, 2) == [[21, 22, 23, 24, 25], [26, 27, 28, 29, 30]]
    assert segment_blocks([], 5, 5) == []
    with pytest.raises(ValueError, match="must be positive"):
        segment_blocks([1, 2], 0, 5)


class ScriptedGenerator:
    """Stands in for the LLM: records every level's prompts and answers ``summary-<n>``."""

    def __init__(self):
        self.levels: list[list[str]] = []
        self.count = 0

    def generate(self, prompts, progress=""):
        self.levels.append(list(prompts))
        replies = []
        for _ in prompts:
            self.count += 1
            replies.append(f"summary-{self.count}")
        return replies, GenerationStats(prompts=len(prompts), generated=len(prompts))


HISTORIES = [list(range(1, 13)), [13, 14, 15]]  # three blocks (5, 5, 2), and a single block


def test_hierarchical_summarises_each_block_then_the_block_summaries():
    generator = ScriptedGenerator()
    summaries, stats = summarize_histories(HISTORIES, ITEM_TEXT, "hierarchical", 5, 5, generator)
    blocks, merges = generator.levels
    assert len(blocks) == 4  # every block of every user, in one level
    assert "- film-1\n- film-2\n- film-3\n- film-4\n- film-5\n" in blocks[0] and "film-6" not in blocks[0]
    assert "- film-11\n- film-12\n" in blocks[2] and "film-10" not in blocks[2]
    assert len(merges) == 1 and "1. summary-1\n2. summary-2\n3. summary-3\n" in merges[0]
    assert "film-" not in merges[0]  # the merge reads summaries, not items
    assert summaries == ["summary-5", "summary-4"]  # a single block needs no merge
    assert stats.generated == 5


def test_recurrent_updates_the_previous_summary_with_each_next_block():
    generator = ScriptedGenerator()
    summaries, _ = summarize_histories(HISTORIES, ITEM_TEXT, "recurrent", 5, 5, generator)
    first, second, third = generator.levels
    assert len(first) == 2 and "film-1\n" in first[0] and "film-13" in first[1]
    assert len(second) == 1 and "summary-1" in second[0] and "film-6" in second[0] and "film-1\n" not in second[0]
    assert len(third) == 1 and "summary-3" in third[0] and "film-11" in third[0] and "film-6" not in third[0]
    assert summaries == ["summary-4", "summary-2"]


def test_summaries_are_generated_once_then_read_from_the_memo(tmp_path, monkeypatch):
    def generator(max_new_tokens=8):
        return TextGenerator(load_backbone("tiny", tmp_path), Decoding(max_new_tokens, 1.3), tmp_path, CPU, 4)

    first = generator()
    texts, stats = summarize_histories(HISTORIES, ITEM_TEXT, "hierarchical", 5, 5, first)
    assert stats.generated == 5 and stats.new_tokens > 0 and all(texts)
    again = generator()
    monkeypatch.setattr(again.model, "generate", lambda *a, **k: pytest.fail("the memo should have answered"))
    cached, cached_stats = summarize_histories(HISTORIES, ITEM_TEXT, "hierarchical", 5, 5, again)
    assert cached == texts and cached_stats.generated == 0 and cached_stats.memo_hits == cached_stats.prompts == 5
    # the recurrent order issues the same first-block prompts: only the updates are new
    _, recurrent = summarize_histories(HISTORIES, ITEM_TEXT, "recurrent", 5, 5, first)
    assert recurrent.memo_hits == 2 and recurrent.generated == 2
    assert generator(max_new_tokens=9).memo.path != first.memo.path  # decoding settings are in the key
    before = len(first.memo.entries)
    with first.memo.path.open("a") as handle:
        handle.write('{"sha": "torn')  # an interrupted append
    assert len(GenerationMemo(first.memo.directory, {}).entries) == before


def test_solo_replies_do_not_depend_on_the_memo_or_the_other_prompts(tmp_path):
    """Solo generation (batch size 1, the ci setting) is what makes `check` exact from an empty memo."""
    prompts = [block_prompt(list(range(start, start + 4)), ITEM_TEXT) for start in (1, 5, 9, 13)]

    def generator(cache, batch_size=1):
        return TextGenerator(load_backbone("tiny", tmp_path / "models"), Decoding(10, 1.3), cache, CPU, batch_size)

    together, _ = generator(tmp_path / "a").generate(prompts)
    piecemeal = generator(tmp_path / "b")
    piecemeal.generate(prompts[2:3])  # the memo holds one prompt before the rest arrive
    apart, stats = piecemeal.generate(prompts[::-1])
    assert apart[::-1] == together and stats.memo_hits == 1
    assert generator(tmp_path / "a", batch_size=4).memo.path != generator(tmp_path / "a").memo.path


def test_packed_candidates_score_exactly_like_one_prompt_per_candidate(tmp_path):
    backbone = load_backbone("tiny", tmp_path)
    tokenizer, lm = backbone.tokenizer, backbone.model.eval()
    model = YesNoLM(lm, *answer_token_ids(tokenizer))
    head = token_ids(tokenizer, "Likes: ")
    middle = [token_ids(tokenizer, "drama, comedy\n"), token_ids(tokenizer, "war\n")]
    tails = [[token_ids(tokenizer, t) for t in ("\nfilm-1\nAnswer:", "\nb\nAnswer:", "\nfilm-300\nAnswer:")],
             [token_ids(tokenizer, t) for t in ("\nx\nAnswer:", "\nfilm-22\nAnswer:", "\nyy\nAnswer:")]]

    def padded(seqs):
        out = torch.zeros(len(seqs), max(len(s) for s in seqs), dtype=torch.long)
        for row, s in enumerate(seqs):
            out[row, : len(s)] = s
        return out, torch.tensor([len(s) for s in seqs])

    middle_ids, middle_lengths = padded(middle)
    tail_ids, tail_lengths = padded([t for row in tails for t in row])
    packed = pack([constant(head, 2), ragged(middle_ids, middle_lengths),
                   suffixes(tail_ids.view(2, 3, -1), tail_lengths.view(2, 3))])
    with torch.no_grad():
        scores = model.answer_scores(packed)
        for row in range(2):
            for c in range(3):
                alone = torch.cat([head, middle[row], tails[row][c]]).unsqueeze(0)
                logits = lm(input_ids=alone).logits[0, -1].log_softmax(-1)
                expected = logits[model.yes_id] - logits[model.no_id]  # = log P(yes) - log P(no)
                assert torch.allclose(scores[row, c], expected, atol=1e-4), (row, c)


def _fit(view, cache: Path, disabled=(), seed=0, **overrides):
    method = LLMTRSR(dict(SMALL, **overrides), frozenset(disabled))
    report = method.fit(view, fit_context(cache, seed))
    return method, report


def test_fit_is_deterministic_reuses_summaries_and_refuses_full_ranking(small_view, tmp_path):
    first, report = _fit(small_view, tmp_path)
    summaries = report.notes["summaries"]
    assert summaries["generated"] > 0 and summaries["type"] == "hierarchical"
    second, again = _fit(small_view, tmp_path)
    assert again.notes["summaries"]["generated"] == 0 and again.notes["summaries"]["memo"] == "hit (nothing generated)"
    assert torch.equal(candidate_scores(first, small_view), candidate_scores(second, small_view))
    other, _ = _fit(small_view, tmp_path, seed=1)
    assert not torch.equal(candidate_scores(first, small_view), candidate_scores(other, small_view))
    trainable, total = first.parameter_counts()
    assert 0 < trainable < total and first.tokens_processed() > 0
    history, lengths = small_view.train.last(torch.arange(2), 10)
    with pytest.raises(BenchmarkError, match="candidate lists only"):
        first.score(ScoreBatch(users=small_view.users[:2], history=history, lengths=lengths))


def _prompt_ids(method, view):
    history, lengths = view.train.last(torch.arange(4), 10)
    return method.packed(view.users[:4], history, lengths, torch.arange(1, 9).view(4, 2)).input_ids


def test_each_switch_changes_the_prompt_and_the_summary_order_changes_the_summaries(small_view, tmp_path):
    full, hierarchical = _fit(small_view, tmp_path)
    tokenizer = load_backbone("tiny", tmp_path).tokenizer
    text = tokenizer.decode(_prompt_ids(full, small_view)[0])
    assert "[Preference summary]\nNULL" not in text and "[Recent items]\nNULL" not in text
    no_summary, report = _fit(small_view, tmp_path, disabled=("summary",))
    assert report.notes["summaries"]["type"] == "none (NULL summary)"
    assert "[Preference summary]\nNULL\n" in tokenizer.decode(_prompt_ids(no_summary, small_view)[0])
    no_recent, _ = _fit(small_view, tmp_path, disabled=("recent_items",))
    decoded = tokenizer.decode(_prompt_ids(no_recent, small_view)[0])
    assert "[Recent items]\nNULL\n[Candidate item]" in decoded
    recurrent, report = _fit(small_view, tmp_path, summary="recurrent")
    assert report.notes["summaries"]["type"] == "recurrent"
    users = small_view.users.numel()  # every user has two blocks (max_blocks=2)
    assert hierarchical.notes["summaries"]["prompts"] == 3 * users  # two blocks + one merge
    assert report.notes["summaries"]["prompts"] == 2 * users  # first block + one update


def test_loss_on_the_answer_token_or_the_full_text(small_view, tmp_path):
    method, _ = _fit(small_view, tmp_path)
    batch = next(iter(method._epoch(small_view, torch.arange(8), 0, 0)))
    answer = method._loss(batch)
    method.config["loss_on"] = "full"
    full = method._loss(batch)
    assert torch.isfinite(answer) and torch.isfinite(full) and not torch.isclose(answer, full)
    full.backward()
    grads = [p for p in method.model.parameters() if p.grad is not None]
    assert grads and all(p.requires_grad for p in grads)  # only the LoRA weights learn
    with pytest.raises(BenchmarkError, match="'loss_on' must be"):
        _fit(small_view, tmp_path, loss_on="prompt")


def test_max_candidates_drops_a_board_and_the_leaderboard_says_why(tmp_path):
    profile = load_profile("ci")
    profile = dataclasses.replace(
        profile, user_cap=60, max_history=10, budget=dataclasses.replace(profile.budget, max_epochs=1),
        method_config={"llm-trsr": dict(profile.method_config["llm-trsr"], max_candidates=19, max_blocks=2)},
    )
    store = ResultStore(tmp_path / "ci")
    units = plan(profile, Registry(BUILTIN_METHODS), ["llm-trsr", "pop"], ["ml-100k"], [0], store, False)
    assert units[0].protocols == ("cand-19",) and units[0].skipped[0][0] == "cand-99"
    run_units(profile, store, units)
    board = render(store, "ci").read_text()
    full, candidates = board.split("## ml-100k: 1 target + 19")
    assert "`llm-trsr`" in full and "n/a: scores candidate lists only" in full
    cand19, cand99 = candidates.split("## ml-100k: 1 target + 99")
    assert "| 1 | `llm-trsr`" in cand19 or "| 2 | `llm-trsr`" in cand19
    assert "not run: over this profile's budget (max_candidates 19)" in cand99
