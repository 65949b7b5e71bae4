"""What pretraining and fine-tuning share for optimisation: the learning-rate schedule shapes and the reference's
AdamW (no bias correction)."""

from __future__ import annotations

from typing import Literal

import torch

Shape = Literal["warmup-then-decay", "reference"]


def lr_lambda(warmup: int, total: int, shape: Shape = "warmup-then-decay"):
    """The lr factor at each step, for LambdaLR.

    warmup-then-decay: linear warmup to 1 over `warmup` steps, then linear decay to 0 at `total`.
    reference: google-research/electra's `create_optimizer`, (1 - step/total) x min(1, step/warmup): the decay runs
    from step 0 and multiplies the warmup, so the peak, at `warmup`, is 1 - warmup/total (0.9 with 10% warmup).
    """
    if shape not in ("warmup-then-decay", "reference"):
        raise ValueError(f"shape must be 'warmup-then-decay' or 'reference', not {shape!r}")

    def factor(step: int) -> float:
        if shape == "reference":
            warm = min(1.0, step / warmup) if warmup > 0 else 1.0
            return max(0.0, 1.0 - step / max(1, total)) * warm
        if warmup > 0 and step < warmup:
            return step / warmup
        return max(0.0, (total - step) / max(1, total - warmup))

    return factor


class UncorrectedAdamW(torch.optim.Optimizer):
    """AdamW as google-research/electra's AdamWeightDecayOptimizer: no bias correction, so each step moves a
    parameter by lr x (m / (sqrt(v) + eps) + weight_decay x param), with m and v the plain moving averages.

    torch.optim.AdamW always corrects the bias (dividing m by 1 - beta1^t and v by 1 - beta2^t). Without that,
    v starts near 0 and catches up over ~1 / (1 - beta2) = 1,000 steps, so the early steps are larger: by
    (1 - beta1^t) / sqrt(1 - beta2^t), 3.2x at step 1, 6.5x at step 10, 3.2x at step 100, 1.3x at step 1,000.
    Fine-tuning runs are that short, so the reference's published numbers include it.
    Weight decay is decoupled, as in AdamW; give it per parameter group (0 for LayerNorm and biases).
    """

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-6,
                 weight_decay: float = 0.0):
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                m, v = state["exp_avg"], state["exp_avg_sq"]
                m.lerp_(p.grad, 1 - beta1)  # m = beta1 m + (1 - beta1) g
                v.mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)  # v = beta2 v + (1 - beta2) g^2
                update = m / (v.sqrt() + group["eps"])
                if group["weight_decay"]:
                    update.add_(p, alpha=group["weight_decay"])
                p.add_(update, alpha=-group["lr"])
        return loss
