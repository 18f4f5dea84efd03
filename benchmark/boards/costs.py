"""Cost tables: what each method (and variant) spent for its numbers, from the records alone.

One table per dataset, one row per method variant, on the variant's headline protocol (full
ranking where it has one, else its smallest candidate board): mean training wall clock (without
one-off cached artifacts), the artifact time, evaluation wall clock for that protocol, peak memory
(process RSS; CUDA allocator peak on a GPU), trainable and total parameters, tokens processed by
LLM methods, and the hardware the runs used. Means are over the seeds the variant ran.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from llmrec_benchmark.boards.ablation import headline_protocol
from llmrec_benchmark.store.provenance import cpu_label


def hardware_label(hardware: dict[str, Any]) -> str:
    threads = hardware.get("torch_threads")
    cpu = (f"{cpu_label(hardware)}, {hardware.get('cpu_count')} CPUs ({threads} torch thread{'' if threads == 1 else 's'}), "
           f"{hardware.get('memory_gb')} GB")
    return f"{hardware['gpu']}; {cpu}" if hardware.get("gpu") else cpu


def _mean(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return float(np.mean(present)) if present else None


def _number(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def _count(value: float | None) -> str:
    if value is None:
        return "–"
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if value >= size:
            return f"{value / size:.2f}{unit}"
    return f"{value:.0f}"


def cost_rows(records: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Per dataset, one summary row per method variant (sorted by name)."""
    by_variant: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        by_variant[(record["dataset"], record["method"])].append(record)
    tables: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for (dataset, method), group in sorted(by_variant.items()):
        protocol = headline_protocol(group)
        runs = [r for r in group if r["protocol"] == protocol]
        gpu = _mean([r["memory"].get("peak_gpu_mb") for r in runs])
        tables[dataset].append({
            "method": method, "protocol": protocol, "seeds": len(runs),
            "train_s": _mean([r["timing"]["train_s"] for r in runs]),
            "artifact_s": _mean([r["timing"].get("artifact_s", 0.0) for r in runs]),
            "artifact_build_s": _mean([r["timing"].get("artifact_build_s", r["timing"].get("artifact_s", 0.0)) for r in runs]),
            "eval_s": _mean([r["timing"]["eval_s"] for r in runs]),
            "peak_mb": gpu if gpu is not None else _mean([r["memory"].get("peak_rss_mb") for r in runs]),
            "memory_kind": "GPU" if gpu is not None else "RSS",
            "trainable": _mean([r["parameters"]["trainable"] for r in runs]),
            "total": _mean([r["parameters"]["total"] for r in runs]),
            "tokens": _mean([r.get("tokens_processed") for r in runs]),
            "hardware": sorted({hardware_label(r.get("hardware", {})) for r in runs}),
        })
    return tables


def render_costs(records: list[dict[str, Any]]) -> list[str]:
    lines: list[str] = []
    for dataset, rows in sorted(cost_rows(records).items()):
        lines += [
            "", f"## Cost: {dataset}", "",
            "Per method variant on its headline protocol, mean over its seeds. `train s` excludes one-off cached "
            "artifacts (LLM summaries, a teacher, an architecture search, DELRec's stage 1), built once per dataset and "
            "reused by later runs: `artifact s (this run)` is what building them cost inside these runs (0 on a cache "
            "hit), `artifact s (built)` what they cost when they were built, whichever run built them; `eval s` is "
            "that protocol's scoring time; peak memory is the process RSS on CPU or the CUDA allocator's peak on a GPU.",
            "",
            "| method | protocol | seeds | train s | artifact s (this run) | artifact s (built) | eval s | peak MB | trainable params | total params | tokens | hardware |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for row in rows:
            cells = [f"`{row['method']}`", row["protocol"], str(row["seeds"]), _number(row["train_s"]),
                     _number(row["artifact_s"]), _number(row["artifact_build_s"]), _number(row["eval_s"]),
                     f"{_number(row['peak_mb'], 0)} ({row['memory_kind']})", _count(row["trainable"]),
                     _count(row["total"]), _count(row["tokens"]), "; ".join(row["hardware"])]
            lines.append("| " + " | ".join(cells) + " |")
    return lines
