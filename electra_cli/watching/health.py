"""The plateau verdict: where a discriminator stands against the loss of always answering "original".

One function judges it for the end of `pretrain`, the exported model card and `plot`, so they never disagree
(DESIGN.md, "Pretraining health").
"""

from __future__ import annotations

PLATEAU_RATIO = 0.9  # discriminator loss / entropy of the replaced fraction above this: not off the plateau
ABOVE_PLATEAU_RATIO = 1.1  # above this the discriminator has not even learned the base rate yet: still learning


def health_report(metrics: dict, objective: str, warmup_steps: int, step: int | None = None) -> dict:
    """Where the discriminator stands against the plateau (loss equal to the entropy of the replaced share).

    verdict: "off the plateau" (ratio <= 0.9: it detects replacements); "still learning" (above 1.1: not even
    at the base rate yet, or on the plateau during warmup); "stuck on the plateau" (on it after warmup).
    `objective` and `warmup_steps` are the run's (model.objective, optim.warmup_steps).
    """
    if objective != "electra" or "disc_loss" not in metrics:
        return {k: metrics[k] for k in ("gen_loss", "gen_acc") if k in metrics}
    ratio = metrics["disc_loss"] / max(metrics["disc_entropy"], 1e-9)
    warming_up = step is not None and step <= warmup_steps
    if ratio <= PLATEAU_RATIO:
        verdict = "off the plateau"
    elif ratio > ABOVE_PLATEAU_RATIO or warming_up:
        verdict = "still learning"
    else:
        verdict = "stuck on the plateau"
    return {
        "disc_loss": metrics["disc_loss"],
        "disc_entropy": metrics["disc_entropy"],
        "disc_loss_ratio": ratio,
        "disc_auc": metrics.get("disc_auc"),
        "disc_f1": metrics.get("disc_f1"),
        "gen_loss": metrics.get("gen_loss"),
        "gen_acc": metrics.get("gen_acc"),
        "on_plateau": ratio > PLATEAU_RATIO,
        "verdict": verdict,
    }
