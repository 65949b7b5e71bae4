"""`--mixed-precision auto`: bf16 only where the GPU has bf16 tensor cores, fp16 (with loss scaling) below."""

import pytest
import torch

from electra_cli.core.precision import device_peak_flops, resolve_precision


@pytest.mark.parametrize(("capability", "name", "expected"), [
    ((7, 0), "Tesla V100-SXM2-32GB", "fp16"),
    ((7, 5), "Tesla T4", "fp16"),
    ((8, 0), "NVIDIA A100-SXM4-80GB", "bf16"),
    ((9, 0), "NVIDIA H100 80GB HBM3", "bf16"),
])
def test_auto_follows_the_compute_capability_not_emulated_bf16(monkeypatch, capability, name, expected):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)  # true on V100/T4 too: emulation
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a, **k: capability)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a, **k: name)
    assert resolve_precision("auto") == expected
    assert resolve_precision("bf16") == "bf16"  # asked for explicitly: the user's call
    assert device_peak_flops(torch.device("cuda")) is not None


def test_cpu_runs_in_fp32(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_precision("auto") == "no" and resolve_precision("bf16") == "no"
    assert device_peak_flops(torch.device("cpu")) is None


def test_finetune_and_bench_use_the_same_rule():
    import inspect

    from electra_cli import bench
    from electra_cli.finetuning import train as finetune

    for module in (bench, finetune):
        source = inspect.getsource(module)
        assert "resolve_precision" in source and "is_bf16_supported" not in source, module.__name__
