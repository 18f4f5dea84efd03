"""The dry-run's artifact estimate and the CPU a record names (``engine.estimates``,
``store.provenance.cpu_identity``)."""

from __future__ import annotations

from types import SimpleNamespace

from llmrec_benchmark.boards.costs import hardware_label
from llmrec_benchmark.engine.estimates import artifact_builds, artifact_seconds, cpu_warning, planned_records
from llmrec_benchmark.store.provenance import cpu_identity, cpu_label, hardware

CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC   9B14
flags\t\t: fpu avx2 avx512f avx512_bf16 sse
processor\t: 1
model name\t: AMD EPYC   9B14
flags\t\t: fpu avx2 avx512f avx512_bf16 sse
"""


def test_the_cpu_model_and_its_bf16_features_are_read_from_cpuinfo():
    assert cpu_identity(CPUINFO) == {"cpu_model": "AMD EPYC 9B14", "cpu_features": ["avx512_bf16", "avx512f", "avx2"]}
    assert cpu_identity("")["cpu_features"] is None  # unknown, not "none"
    import torch

    assert set(hardware(torch.device("cpu"))) >= {"cpu_model", "cpu_features", "cpu_count", "torch_threads"}


def test_a_label_names_the_cpu_or_says_it_was_not_recorded():
    assert cpu_label({"cpu_model": "X", "cpu_features": ["amx_bf16"]}) == "X (amx_bf16)"
    assert cpu_label({"cpu_model": "X", "cpu_features": []}) == "X (no AVX2)"
    assert cpu_label({"cpu_count": 2}) == "CPU model not recorded"
    assert hardware_label({"cpu_count": 2, "torch_threads": 2, "memory_gb": 8}).startswith("CPU model not recorded, 2 CPUs")


def _record(method: str, config_hash: str, notes: dict, built: float = 0.0, created: str = "2026-12-01T00:00:00Z",
            hardware: dict | None = None) -> dict:
    return {"record_id": f"{config_hash}-full", "config_hash": config_hash, "method": method,
            "base_method": method.split("[")[0], "dataset": "d", "created_at": created,
            "timing": {"artifact_build_s": built}, "training": {"notes": notes}, "hardware": hardware or {}}


PROFILE = SimpleNamespace(digest=lambda: "current")  # the records below carry no profile digest


def _unit(method: str, config_hash: str) -> SimpleNamespace:
    return SimpleNamespace(config_hash=config_hash, card=SimpleNamespace(name="d"),
                           method=SimpleNamespace(name=method, variant=SimpleNamespace(base=method.split("[")[0])))


def test_a_shared_artifact_counts_once_and_a_superseded_config_not_at_all():
    search = {"search": {"build_seconds": 100.0, "cache_key": "k1"}}
    records = [
        _record("darec", "old", {"search": {"build_seconds": 300.0, "cache_key": "k0"}}, created="2026-11-01T00:00:00Z"),
        _record("darec", "a", search),
        _record("darec[-collab]", "b", search),  # the same search, a cache hit
        _record("delrec", "c", {"teacher": {"train_seconds": 20.0, "cache_key": "t"},
                                "stage1": {"build_seconds": 50.0, "cache_key": "s"}}),
        _record("plugin", "e", {}, built=7.0),  # an artifact its notes do not name
    ]
    assert sorted(artifact_builds(records[1:]).values()) == [7.0, 20.0, 50.0, 100.0]
    units = [_unit("darec", "a"), _unit("darec[-collab]", "b"), _unit("delrec", "c"), _unit("plugin", "e")]
    assert artifact_seconds(planned_records(units, records, PROFILE)) == 177.0
    # a unit with no record of its own config falls back to its variant's newest run, not every run
    assert artifact_seconds(planned_records([_unit("darec", "new")], records, PROFILE)) == 100.0


def test_an_estimate_from_another_cpu_says_so(monkeypatch):
    import llmrec_benchmark.engine.estimates as estimates

    monkeypatch.setattr(estimates, "cpu_identity", lambda: {"cpu_model": "Here", "cpu_features": ["avx2"]})
    same = [_record("pop", "a", {}, hardware={"cpu_model": "Here", "cpu_features": ["avx2"]})]
    other = [_record("pop", "a", {}, hardware={"cpu_count": 2})]
    assert cpu_warning(planned_records([_unit("pop", "a")], same, PROFILE)) is None
    warning = cpu_warning(planned_records([_unit("pop", "a")], other, PROFILE))
    assert "CPU model not recorded" in warning and "Here (avx2)" in warning
