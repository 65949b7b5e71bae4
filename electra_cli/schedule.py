"""The learning-rate schedule pretraining and fine-tuning share: linear warmup, then linear decay to 0."""

from __future__ import annotations


def lr_lambda(warmup: int, total: int):
    """Linear warmup to 1 over `warmup` steps, then linear decay to 0 at `total`."""

    def factor(step: int) -> float:
        if warmup > 0 and step < warmup:
            return step / warmup
        return max(0.0, (total - step) / max(1, total - warmup))

    return factor
