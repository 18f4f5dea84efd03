"""Training throughput of the DARec/MixRec model: tokens per second, peak accelerator memory and
the fraction of the device's bf16 peak reached. Not part of the test run; for sizing profiles.

    python -m tests.benchmarks.llm_throughput --backbone random:smollm2-135m --device cuda

Model FLOPs per token are counted as 2 x (matmul parameters) per forward pass plus attention
(4 x layers x T x hidden), and training as 3 x forward (the usual convention, as if weight
gradients were computed). With a frozen backbone only LoRA weights get gradients, so the work
actually done is nearer 2 x forward; both fractions are reported.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from llmrec_benchmark.data.loading import load_split
from llmrec_benchmark.method import Budget, RunContext
from llmrec_benchmark.paths import cache_dir
from llmrec_methods.darec import DARec
from llmrec_methods.llm.adapters import LoraArch
from llmrec_methods.llm.itemrec import LLM_DEFAULTS, FitSession, trainable_parameters

BF16_PEAK_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0}


def matmul_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for name, p in model.decoder.layers.named_parameters() if p.dim() == 2)


def standalone_session(method, view, device: torch.device, models_cache: Path) -> FitSession:
    """A DARec/MixRec fit session outside a run (no validation, an hour of budget): enough to
    build the model and time its training or scoring."""
    ctx = RunContext(seed=0, budget=Budget(1, 1, 3600.0), max_history=50, device=device, cache_dir=models_cache,
                     validate=lambda score: 0.0, deadline=time.monotonic() + 3600)
    return FitSession(method, view, ctx)


def measure(backbone: str, device: str, batch: int, history: int, steps: int, warmup: int) -> dict:
    data = load_split("ml-100k")
    view = data.train_view()
    config = dict(LLM_DEFAULTS, backbone=backbone, llm_history=history, item_max_tokens=24, train_batch_size=batch)
    method = DARec(config, frozenset({"dynamic_adaption"}))
    session = standalone_session(method, view, torch.device(device), cache_dir())
    model = session.build(LoraArch.uniform(session.n_layers))
    optimizer = torch.optim.AdamW(trainable_parameters(model), lr=1e-3)
    loss_fn = session.loss_fn(model)
    batches = iter(list(session.epoch_batches(0)) * 100)
    model.train()

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        loss_fn(next(batches)).backward()
        optimizer.step()

    for _ in range(warmup):
        step()
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    tokens_before = model.tokens_seen
    started = time.perf_counter()
    for _ in range(steps):
        step()
    if device == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    tokens = model.tokens_seen - tokens_before
    tokens_per_row = tokens / (steps * batch)
    hidden, layers = session.backbone.hidden_size, session.n_layers
    forward_per_token = 2 * matmul_parameters(model) + 4 * layers * tokens_per_row * hidden
    result = {
        "backbone": backbone, "device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
        "layers": layers, "batch_users": batch, "llm_history": history, "mean_tokens_per_row": round(tokens_per_row, 1),
        "steps": steps, "seconds": round(seconds, 3), "train_tokens_per_s": round(tokens / seconds, 1),
        "peak_memory_gb": round(torch.cuda.max_memory_allocated() / 1e9, 3) if device == "cuda" else None,
    }
    name = result["device"]
    peak = next((v for k, v in BF16_PEAK_TFLOPS.items() if k in name), None)
    if peak:
        achieved_3x = 3 * forward_per_token * tokens / seconds / 1e12
        result.update({"model_tflops_3x_forward": round(achieved_3x, 2), "fraction_of_bf16_peak_3x": round(achieved_3x / peak, 4),
                       "fraction_of_bf16_peak_2x": round(achieved_3x * 2 / 3 / peak, 4), "bf16_peak_tflops": peak})
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="random:smollm2-135m")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch", type=int, nargs="+", default=[32])
    parser.add_argument("--history", type=int, default=20)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    results = [measure(args.backbone, args.device, b, args.history, args.steps, args.warmup) for b in args.batch]
    text = json.dumps(results, indent=1)
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
