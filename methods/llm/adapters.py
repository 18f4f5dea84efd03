"""Adapters on a Llama-style backbone: per-layer LoRA through peft, and a mixture of LoRA experts.

An architecture is data (JSON-able), so a search can propose it, a result record can store it and
a test can compare two of them:
- ``LoraArch``: per layer, a LoRA rank (0 = no adapter in that layer) and a target set
  (``qv``: attention q and v projections; ``attn``: q, k, v and o; ``attn_mlp``: all attention
  and MLP projections).
- ``MoeArch``: per-expert ranks (the expert count is their number), applied to q and v in every
  layer; experts are mixed by a softmax router on the token's input state.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

TARGET_SETS = {
    "qv": ("self_attn.q_proj", "self_attn.v_proj"),
    "attn": ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj"),
    "attn_mlp": (
        "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
        "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj",
    ),
}
LORA_DROPOUT = 0.05
LOAD_BALANCE_WEIGHT = 0.01


@dataclass(frozen=True)
class LayerAdapter:
    rank: int
    targets: str = "qv"


@dataclass(frozen=True)
class LoraArch:
    layers: tuple[LayerAdapter, ...]

    @classmethod
    def uniform(cls, n_layers: int, rank: int = 8, targets: str = "qv") -> "LoraArch":
        return cls(tuple(LayerAdapter(rank, targets) for _ in range(n_layers)))

    def as_dict(self) -> dict:
        return {"kind": "lora", "layers": [asdict(layer) for layer in self.layers]}


@dataclass(frozen=True)
class MoeArch:
    expert_ranks: tuple[int, ...]

    def as_dict(self) -> dict:
        return {"kind": "moe_lora", "experts": len(self.expert_ranks), "expert_ranks": list(self.expert_ranks)}


def arch_from_dict(stored: dict) -> LoraArch | MoeArch:
    """The inverse of ``as_dict`` (a cached search stores its chosen architecture as JSON)."""
    if stored["kind"] == "lora":
        return LoraArch(tuple(LayerAdapter(layer["rank"], layer["targets"]) for layer in stored["layers"]))
    if stored["kind"] == "moe_lora":
        return MoeArch(tuple(stored["expert_ranks"]))
    raise ValueError(f"unknown adapter architecture kind '{stored['kind']}'")


def apply_lora(model: nn.Module, arch: LoraArch) -> nn.Module:
    """Inject LoRA modules (peft) into ``model`` in place, per ``arch``; freezes the base weights.

    alpha = 2 * rank in every layer, dropout 0.05. Layers with rank 0 get no adapter.
    """
    from peft import LoraConfig, inject_adapter_in_model

    for p in model.parameters():
        p.requires_grad_(False)
    targets, ranks = [], {}
    for index, layer in enumerate(arch.layers):
        if layer.rank == 0:
            continue
        for suffix in TARGET_SETS[layer.targets]:
            name = f"layers.{index}.{suffix}"
            targets.append(name)
            ranks[name] = layer.rank
    if not targets:
        return model
    config = LoraConfig(
        r=8, lora_alpha=16, lora_dropout=LORA_DROPOUT, target_modules=targets,
        rank_pattern=ranks, alpha_pattern={k: 2 * v for k, v in ranks.items()},
    )
    return inject_adapter_in_model(config, model)


class MoeLoraLinear(nn.Module):
    """``base(x) + sum_e g_e(x) * (alpha_e / r_e) * B_e A_e x`` with ``g = softmax(router(x))``.

    All experts' down-projections are stacked into one matrix and the gate is broadcast over each
    expert's rank slice, so the whole mixture is two matmuls regardless of the expert count. The
    Switch-style load-balancing term of the last forward is kept in ``aux_loss``.
    """

    def __init__(self, base: nn.Linear, expert_ranks: tuple[int, ...]):
        super().__init__()
        self.base = base
        self.expert_ranks = expert_ranks
        total = sum(expert_ranks)
        self.router = nn.Linear(base.in_features, len(expert_ranks), bias=False)
        nn.init.normal_(self.router.weight, std=0.01)
        self.down = nn.Parameter(torch.empty(total, base.in_features))
        nn.init.kaiming_uniform_(self.down, a=5**0.5)
        self.up = nn.Parameter(torch.zeros(base.out_features, total))
        self.register_buffer("expert_of_rank", torch.repeat_interleave(
            torch.arange(len(expert_ranks)), torch.tensor(expert_ranks)), persistent=False)
        self.register_buffer("scale_of_rank", torch.cat(
            [torch.full((r,), 2.0) for r in expert_ranks]), persistent=False)  # alpha = 2r -> alpha/r = 2
        self.dropout = nn.Dropout(LORA_DROPOUT)
        self.aux_loss: Tensor | None = None

    def forward(self, x: Tensor) -> Tensor:
        gate = F.softmax(self.router(x).float(), dim=-1)  # [..., E]
        per_rank = gate[..., self.expert_of_rank] * self.scale_of_rank  # [..., R]
        low = self.dropout(x) @ self.down.to(x.dtype).T
        out = self.base(x) + (low * per_rank.to(x.dtype)) @ self.up.to(x.dtype).T
        if self.training:
            experts = len(self.expert_ranks)
            flat = gate.reshape(-1, experts)
            load = F.one_hot(flat.argmax(-1), experts).float().mean(0)
            self.aux_loss = experts * (load * flat.mean(0)).sum()
        return out


def apply_moe_lora(model: nn.Module, arch: MoeArch) -> list[MoeLoraLinear]:
    """Replace q and v projections of every layer by mixtures of LoRA experts; freezes the base."""
    for p in model.parameters():
        p.requires_grad_(False)
    modules = []
    for layer in model.model.layers:
        attention = layer.self_attn
        for name in ("q_proj", "v_proj"):
            moe = MoeLoraLinear(getattr(attention, name), arch.expert_ranks)
            setattr(attention, name, moe)
            modules.append(moe)
    return modules


def load_balance_loss(modules: list[MoeLoraLinear]) -> Tensor | None:
    terms = [m.aux_loss for m in modules if m.aux_loss is not None]
    return LOAD_BALANCE_WEIGHT * torch.stack(terms).mean() if terms else None
