"""LLM scoring throughput of the packed shared-prefix path against one prompt per candidate.

LLM-TRSR (yes/no) and DELRec (full titles) score C candidates of a user with one prompt prefix.
The packed path encodes the prefix once per user and every candidate's suffix beside it (4D
mask); the reference encodes ``prefix + suffix`` once per candidate, batched. Both give the same
scores (asserted here, and exactly tested in tests/test_llm_trsr.py); the benchmark measures the
prompt tokens scored per second, i.e. users x candidates x (prefix + suffix) tokens, whichever
way they were computed.

Not part of the default test run:

    python -m pytest tests/benchmarks/test_llm_scoring.py --benchmark-only
    (or: tox -e benchmarks)

The backbone is SmolLM2-135M's architecture with random weights (no download), cut to
``LAYERS`` layers as the quick profile does; sizes follow quick's LLM-TRSR prompts.
"""

from __future__ import annotations

import pytest
import torch

from methods.llm.backbone import load_backbone
from methods.llm.yesno import YesNoLM, constant, pack, suffixes

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
    return model, packed, alone


def _measure(benchmark, model, batch, path: str) -> None:
    with torch.no_grad():
        benchmark.pedantic(model.answer_scores, args=(batch,), rounds=5, warmup_rounds=1)
    scored = USERS * CANDIDATES * (PREFIX + SUFFIX)
    computed = int((batch.spans >= 0).sum())
    benchmark.extra_info.update({
        "path": path, "prompt_tokens_scored": scored, "tokens_computed": computed,
        "prompt_tokens_per_s": round(scored / benchmark.stats.stats.mean, 1),
    })


@pytest.mark.benchmark(group="llm-yesno-scoring")
def test_packed_shared_prefix(benchmark, setup):
    model, packed, _ = setup
    _measure(benchmark, model, packed, "packed: prefix once per user")


@pytest.mark.benchmark(group="llm-yesno-scoring")
def test_one_prompt_per_candidate(benchmark, setup):
    model, _, alone = setup
    _measure(benchmark, model, alone, "no prefix reuse: prefix + suffix per candidate")
