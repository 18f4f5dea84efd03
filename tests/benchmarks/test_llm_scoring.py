"""LLM scoring throughput of each LLM method's eval path (prompt tokens per second).

LLM-TRSR (yes/no) and DELRec (full titles) score C candidates of a user with one prompt prefix.
The packed path encodes the prefix once per user and every candidate's suffix beside it (4D
mask); the reference encodes ``prefix + suffix`` once per candidate, batched. Both give the same
scores (asserted here, and exactly tested in tests/test_llm_trsr.py); the benchmark measures the
prompt tokens scored per second, i.e. users x candidates x (prefix + suffix) tokens, whichever
way they were computed.

Not part of the default test run:

    python -m pytest tests/benchmarks/test_llm_scoring.py --benchmark-only
    (or: tox -e benchmarks)

DELRec's title scores reuse the same packed batches (titles are the suffixes) through
``TitleScorer``, with the softmax over the catalogue's title tokens (quick's ``title_softmax:
title_tokens``; here the suffixes' distinct tokens).

DARec and MixRec score the whole catalogue from one forward pass of a user's history prompt (item
tokens, the collaborative token), read out by an item head: there is no per-candidate prompt, so
prefix reuse does not apply; their benchmark times ``score_with`` on quick's settings and reports
prompt tokens and users per second.

The backbone is SmolLM2-135M's architecture with random weights (no download), cut to
``LAYERS`` layers as the quick profile does; sizes follow quick's LLM-TRSR prompts.
"""

from __future__ import annotations

import pytest
import torch

from llmrec_benchmark.data.loading import load_split
from llmrec_benchmark.method import ScoreBatch
from llmrec_methods.darec import DARec
from llmrec_methods.llm.adapters import LoraArch
from llmrec_methods.llm.backbone import load_backbone
from llmrec_methods.llm.itemrec import LLM_DEFAULTS, score_with
from llmrec_methods.llm.title_scoring import TitleScorer
from llmrec_methods.llm.yesno import YesNoLM, constant, pack, suffixes
from llmrec_methods.mixrec import HOMOGENEOUS, MixRec
from tests.benchmarks.llm_throughput import standalone_session

USERS, CANDIDATES, PREFIX, SUFFIX, LAYERS = 4, 20, 160, 14, 2


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    torch.manual_seed(0)
    backbone = load_backbone("random:smollm2-135m", tmp_path_factory.mktemp("models"), layers=LAYERS)
    model = YesNoLM(backbone.model.eval(), 5, 6)
    vocab = backbone.model.config.vocab_size
    prefix = torch.randint(10, vocab, (PREFIX,))
    tails = torch.randint(10, vocab, (USERS, CANDIDATES, SUFFIX))
    lengths = torch.full((USERS, CANDIDATES), SUFFIX)
    packed = pack([constant(prefix, USERS), suffixes(tails, lengths)])
    alone = pack([constant(prefix, USERS * CANDIDATES),
                  suffixes(tails.reshape(USERS * CANDIDATES, 1, SUFFIX), lengths.reshape(-1, 1))])
    with torch.no_grad():
        reference = model.answer_scores(alone).reshape(USERS, CANDIDATES)
        assert torch.allclose(model.answer_scores(packed), reference, atol=1e-3)
    return model, packed, alone, tails


@pytest.fixture(scope="module")
def titles(setup):
    model, packed, alone, tails = setup
    scorer = TitleScorer(model.lm, None, vocabulary=torch.unique(tails)).eval()
    with torch.no_grad():
        reference = scorer.scores(alone, None).reshape(USERS, CANDIDATES)
        assert torch.allclose(scorer.scores(packed, None), reference, atol=1e-3)
    return scorer, packed, alone


def _measure(benchmark, score, batch, path: str) -> None:
    with torch.no_grad():
        benchmark.pedantic(score, args=(batch,), rounds=5, warmup_rounds=1)
    scored = USERS * CANDIDATES * (PREFIX + SUFFIX)
    computed = int((batch.spans >= 0).sum())
    benchmark.extra_info.update({
        "path": path, "prompt_tokens_scored": scored, "tokens_computed": computed,
        "prompt_tokens_per_s": round(scored / benchmark.stats.stats.mean, 1),
    })


@pytest.mark.benchmark(group="llm-yesno-scoring")
def test_packed_shared_prefix(benchmark, setup):
    model, packed, _, _ = setup
    _measure(benchmark, model.answer_scores, packed, "packed: prefix once per user")


@pytest.mark.benchmark(group="llm-yesno-scoring")
def test_one_prompt_per_candidate(benchmark, setup):
    model, _, alone, _ = setup
    _measure(benchmark, model.answer_scores, alone, "no prefix reuse: prefix + suffix per candidate")


@pytest.mark.benchmark(group="llm-title-scoring")
def test_titles_packed_shared_prefix(benchmark, titles):
    scorer, packed, _ = titles
    _measure(benchmark, lambda batch: scorer.scores(batch, None), packed, "packed: prefix once per user")


@pytest.mark.benchmark(group="llm-title-scoring")
def test_titles_one_prompt_per_candidate(benchmark, titles):
    scorer, _, alone = titles
    _measure(benchmark, lambda batch: scorer.scores(batch, None), alone, "no prefix reuse: prefix + suffix per candidate")


ITEM_SCORING_USERS = 128


@pytest.mark.benchmark(group="llm-item-scoring")
@pytest.mark.parametrize("method", ["darec", "mixrec"])
def test_full_catalogue_item_scoring(benchmark, method, tmp_path):
    """DARec/MixRec's eval path: one history prompt per user, every item scored by the head."""
    data = load_split("ml-100k").train_view()
    config = dict(LLM_DEFAULTS, backbone="random:smollm2-135m", backbone_layers=LAYERS, llm_history=10, item_max_tokens=12)
    cls, arch = (DARec, None) if method == "darec" else (MixRec, HOMOGENEOUS)
    session = standalone_session(cls(config, frozenset()), data, torch.device("cpu"), tmp_path)
    model = session.build(arch or LoraArch.uniform(session.n_layers)).eval()
    history, lengths = data.train.last(torch.arange(ITEM_SCORING_USERS), 50)
    batch = ScoreBatch(users=torch.arange(ITEM_SCORING_USERS), history=history, lengths=lengths)
    before = model.tokens_seen
    rounds, warmup = 3, 1
    scores = benchmark.pedantic(score_with, args=(model, batch, config, session.long_width), rounds=rounds,
                                warmup_rounds=warmup)
    assert scores.shape == (ITEM_SCORING_USERS, data.n_items) and torch.isfinite(scores[:, 1:]).all()
    tokens = (model.tokens_seen - before) / (rounds + warmup)
    seconds = benchmark.stats.stats.mean
    benchmark.extra_info.update({
        "method": method, "users": ITEM_SCORING_USERS, "items": data.n_items, "prompt_tokens_per_call": tokens,
        "prompt_tokens_per_s": round(tokens / seconds, 1), "users_per_s": round(ITEM_SCORING_USERS / seconds, 1),
        "prefix_reuse": "not applicable: one prompt per user, the catalogue is scored by the item head",
    })
