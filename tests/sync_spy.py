"""Counts every host sync our code makes (`.item()`, `.tolist()`, `bool(tensor)`) by the training step it happens in.

Used in-process by tests/test_speed.py, and inside each rank of a multi-process run by tests/test_distributed.py
(through a sitecustomize.py that calls `install()`).
"""

from __future__ import annotations

import sys

import torch

SPIED = ("item", "tolist", "__bool__")


def install(calls: list, patch=setattr) -> None:
    """Append (step, name, "file:line") to `calls` for each sync made from electra_cli code. The step is counted
    by LambdaLR.step, which runs once when created and then once per training step (the checks of step s see
    s + 1). `patch` is setattr, or pytest's monkeypatch.setattr to undo it after the test."""
    step = {"now": 0}
    real_step = torch.optim.lr_scheduler.LambdaLR.step

    def counting_step(self, *args, **kwargs):
        step["now"] += 1
        return real_step(self, *args, **kwargs)

    def spy(name, original):
        def wrapper(self, *args, **kwargs):
            frame = sys._getframe(1)
            if "electra_cli" in frame.f_code.co_filename:
                calls.append((step["now"], name, f"{frame.f_code.co_filename}:{frame.f_lineno}"))
            return original(self, *args, **kwargs)

        return wrapper

    for name in SPIED:
        patch(torch.Tensor, name, spy(name, getattr(torch.Tensor, name)))
    patch(torch.optim.lr_scheduler.LambdaLR, "step", counting_step)


def steps_with_sync(calls: list, last_step: int) -> set[int]:
    """The training steps (1-based) in which the loop, the model or the data code made a host sync."""
    loop_files = ("pretraining/train.py", "pretraining/model.py", "shards/read.py")
    in_loop = [c for c in calls if any(f in c[2] for f in loop_files)]
    return {s - 1 for s, _, _ in in_loop if 1 < s <= last_step + 1}
