"""GradNorm-style dynamic loss weights for DELRec's two stage-1 tasks (Chen et al., ICML'18).

GradNorm wants every task's weighted gradient norm on the shared parameters to equal the mean
norm times the task's relative inverse training rate to the power alpha:
``w_i * G_i = mean(G) * (r_i / mean(r))^alpha`` with ``r_i = L_i(t) / L_i(0)``. A task whose loss
has fallen less than the others' gets a larger share, and no task's gradient drowns the other.
GradNorm reaches that target by gradient steps on the weights; here it is solved in closed form
at every step (the weights are a detached function of the current norms and loss ratios),
normalised so they sum to the number of tasks. DELRec's official ``MTL.py`` uses alpha 0.5.
"""

from __future__ import annotations

from torch import Tensor


class GradNormWeights:
    def __init__(self, tasks: int, alpha: float = 0.5):
        self.tasks, self.alpha = tasks, alpha
        self.initial: Tensor | None = None

    def __call__(self, losses: Tensor, grad_norms: Tensor) -> Tensor:
        """Weights ``[T]`` for the current (detached) task losses and gradient norms ``[T]``."""
        losses, grad_norms = losses.detach().float(), grad_norms.detach().float()
        if self.initial is None:
            self.initial = losses.clamp(min=1e-12)
        ratio = losses / self.initial
        inverse_rate = ratio / ratio.mean().clamp(min=1e-12)
        target = grad_norms.mean() * inverse_rate.pow(self.alpha)
        weights = target / grad_norms.clamp(min=1e-12)
        return weights * self.tasks / weights.sum().clamp(min=1e-12)
