"""The ``gpu`` profile's code paths on the CPU: its method configs are valid for every method,
and one epoch of each full model runs end to end on a few users, with the tiny backbone in place
of SmolLM2 and the CPU in place of CUDA. Issue 20's profile cannot rot between GPU leases."""

from __future__ import annotations

import json
import subprocess
import sys

import yaml

from llmrec_benchmark.paths import PROFILES_DIR, REPO_ROOT


def test_the_gpu_profile_runs_every_method_on_the_cpu_with_the_tiny_backbone(tmp_path):
    raw = yaml.safe_load((PROFILES_DIR / "gpu.yaml").read_text())
    raw.update(name="gpu-on-cpu", device="cpu", datasets=["ml-100k"], user_cap=40)
    raw["budget"].update(max_epochs=1, patience=1)
    for config in raw["method_config"].values():
        config.update(backbone="tiny", precision="fp32")
        if "summarizer" in config:
            config.update(summarizer="tiny", max_blocks=2, max_new_tokens=8, generation_batch_size=1)
        for key, small in (("proxy_steps", 2), ("proxy_users", 16), ("stage1_steps", 2), ("soft_tokens", 4)):
            if key in config:
                config[key] = small
    profile = tmp_path / "gpu-on-cpu.yaml"
    profile.write_text(yaml.safe_dump(raw))
    done = subprocess.run([sys.executable, "-m", "benchmark", "run", "--profile", str(profile), "--seeds", "0",
                           "--no-variants", "--results", str(tmp_path / "results"), "--no-progress"],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:]
    records = [json.loads(line) for line in (tmp_path / "results" / "gpu-on-cpu" / "records.jsonl").read_text().splitlines()]
    assert {r["method"] for r in records} == set(raw["methods"])
