"""``new-method``: write a method package that runs and passes ``validate`` before its author
changes a line, so the first thing an author edits is the model, not the plumbing.

The skeleton is a real, small trained model (mean of the history's item embeddings, scored against
the item table, cross-entropy, the harness's early-stopping loop) with one switchable component,
so every check of ``validate`` has something to check. Two layouts:
- built-in: ``methods/<package>/__init__.py`` in this checkout, plus the line to add to
  ``BUILTIN_METHODS`` (printed, not edited in: that table is reviewed by hand);
- ``--plugin DIR``: an installable package (``pyproject.toml`` with the entry point, ``src/``).
"""

from __future__ import annotations

import re
from pathlib import Path

from llmrec_benchmark.errors import BenchmarkError

NAME = re.compile(r"^[a-z][a-z0-9-]*$")

METHOD_TEMPLATE = '''"""{title}: a starting point written by ``python -m benchmark new-method {name}``.

Replace the model with yours and keep the contract: ``fit`` sees only the training view and the
run's budget, ``score`` returns [B, n_items] scores (or [B, C] for candidate lists), and every name
in ``card.components`` must change the scores when switched off (``validate`` checks all of it).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from llmrec_benchmark.engine.training import train_with_early_stopping
from llmrec_benchmark.method import (
    FitReport, Method, MethodCard, RunContext, ScoreBatch, TrainView, module_parameter_counts,
)
from llmrec_methods.sequential_data import prefix_batch, prefix_targets, shuffled_batches


class {class_name}(Method):
    card = MethodCard(
        name="{name}",
        title="{title}",
        fidelity="baseline",  # paper-spec | official-code-port | ... once it implements a paper (then set paper=)
        paper="",
        components=("recency_weighting",),
        full_ranking=True,
        defaults={{"dim": 64, "lr": 1e-3, "batch_size": 256}},
        description="Mean of the history's item embeddings (recency-weighted), dot product with the item table.",
    )

    def fit(self, data: TrainView, ctx: RunContext) -> FitReport:
        torch.manual_seed(ctx.seed)
        self.items = nn.Embedding(data.n_items, self.config["dim"], padding_idx=0).to(ctx.device)
        self.width = ctx.max_history
        optimizer = torch.optim.Adam(self.items.parameters(), lr=self.config["lr"])
        targets = prefix_targets(data.train)

        def epoch_batches(epoch: int):
            for chunk in shuffled_batches(targets.numel(), self.config["batch_size"], ctx.seed * 1000 + epoch):
                yield prefix_batch(data.train, targets[chunk], self.width, self.width)

        def loss(batch) -> Tensor:
            history, lengths, target = (t.to(ctx.device) for t in batch)
            return nn.functional.cross_entropy(self._all_scores(history, lengths), target)

        return train_with_early_stopping(self.items, optimizer, epoch_batches, loss, self.score, ctx)

    def _all_scores(self, history: Tensor, lengths: Tensor) -> Tensor:
        positions = torch.arange(history.size(1), device=history.device).unsqueeze(0)
        weights = (positions < lengths.unsqueeze(1)).float()
        if self.enabled("recency_weighting"):
            weights = weights * (positions + 1).float()  # later items count more
        state = (self.items(history) * weights.unsqueeze(2)).sum(1) / weights.sum(1, keepdim=True).clamp(min=1.0)
        scores = state @ self.items.weight.T
        scores[:, 0] = -1e4  # item 0 is padding, never a recommendation (finite, as validate requires)
        return scores

    @torch.no_grad()
    def score(self, batch: ScoreBatch) -> Tensor:
        self.items.eval()
        device = self.items.weight.device
        scores = self._all_scores(batch.history.to(device), batch.lengths.to(device)).cpu()
        return scores if batch.candidates is None else torch.gather(scores, 1, batch.candidates)

    def parameter_counts(self) -> tuple[int, int]:
        return module_parameter_counts(self.items)  # (trainable, total): the board's cost columns
'''

PYPROJECT_TEMPLATE = '''[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "{distribution}"
version = "0.1.0"
description = "{title}: a method for the llmrec benchmark"
requires-python = ">=3.11"
dependencies = ["llmrec-benchmark"]

# the suite finds the method through this entry point once the package is installed
[project.entry-points."llmrec_benchmark.methods"]
{name} = "{package}:{class_name}"

[tool.setuptools.packages.find]
where = ["src"]
'''


def names(name: str) -> dict[str, str]:
    if not NAME.match(name):
        raise BenchmarkError(f"new-method: '{name}' is not a method name; expected lowercase letters, digits and "
                             "hyphens, starting with a letter (e.g. my-rec)")
    package = name.replace("-", "_")
    class_name = "".join(part.capitalize() for part in name.split("-"))
    return {"name": name, "package": package, "class_name": class_name, "title": class_name,
            "distribution": f"llmrec-{name}"}


def _write(path: Path, text: str) -> Path:
    if path.exists():
        raise BenchmarkError(f"new-method: {path} already exists; choose another name or folder (nothing was written)")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def scaffold(name: str, methods_dir: Path, plugin_dir: Path | None = None) -> tuple[list[Path], str]:
    """Write the package; returns (files written, what to do next)."""
    values = names(name)
    if plugin_dir is None:
        module = _write(methods_dir / values["package"] / "__init__.py", METHOD_TEMPLATE.format(**values))
        nxt = (f"add  \"{name}\": \"llmrec_methods.{values['package']}:{values['class_name']}\",  to BUILTIN_METHODS in "
               f"{methods_dir / '__init__.py'} and \"llmrec_methods.{values['package']}\" to the packages in "
               f"pyproject.toml, then: python -m benchmark validate {name}")
        return [module], nxt
    if plugin_dir.exists() and any(plugin_dir.iterdir()):
        raise BenchmarkError(f"new-method: {plugin_dir} is not empty; expected a new or empty folder (nothing was written)")
    files = [_write(plugin_dir / "pyproject.toml", PYPROJECT_TEMPLATE.format(**values)),
             _write(plugin_dir / "src" / values["package"] / "__init__.py", METHOD_TEMPLATE.format(**values))]
    return files, f"pip install -e {plugin_dir} && python -m benchmark validate {name}"
