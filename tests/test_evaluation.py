"""Scoring once per user batch and reading candidate protocols from the full score matrix gives
exactly the ranks a per-protocol call with the candidates gives."""

import torch

from llmrec_benchmark.data.candidates import candidate_set
from llmrec_benchmark.evaluation.protocols import EvalTask, evaluate, evaluate_protocols
from llmrec_benchmark.method import ScoreBatch


def test_shared_full_scores_match_per_protocol_candidate_scoring(ml100k, tmp_cache):
    data = ml100k
    weights = torch.randn(data.n_items, generator=torch.Generator().manual_seed(0))
    calls = []

    def score(batch: ScoreBatch) -> torch.Tensor:
        calls.append(batch.candidates is None)
        full = weights.expand(batch.users.numel(), -1) + batch.history[:, :1].float() * 1e-3
        return full if batch.candidates is None else torch.gather(full, 1, batch.candidates)

    task = EvalTask(users=data.users, history=data.test_history(), targets=data.test_targets, rows=torch.arange(300))
    protocols = {"full": None}
    for n in (19, 99):
        protocols[f"cand-{n}"] = candidate_set(
            data.fingerprint, "test", data.sequences, data.test_targets, data.n_items, n, 0, tmp_cache / data.dataset
        )
    shared, seconds = evaluate_protocols(score, task, data.n_items, 50, protocols, full_ranking=True)
    assert all(calls) and len(calls) == 2  # 300 users = two batches, each scored once for all protocols
    for name, candidates in protocols.items():
        assert torch.equal(shared[name], evaluate(score, task, data.n_items, 50, candidates))
        assert seconds[name] >= 0
