"""Which mixed precision a device can run fast, and its dense peak for MFU. Shared by pretrain, finetune and bench."""

from __future__ import annotations

import torch

from electra_cli.core.console import log

# Dense peak FLOP/s per device in the precision `auto` picks there (vendor datasheets, without sparsity):
# bf16 on compute capability >= 8.0, fp16 tensor cores on V100 (7.0) and T4 (7.5), which have no bf16 units.
PEAK_FLOPS = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12, "L4": 121e12, "A10": 125e12,
              "4090": 165e12, "3090": 71e12, "V100": 125e12, "T4": 65e12}
BF16_MIN_CAPABILITY = (8, 0)  # Ampere: the first bf16 tensor cores; `is_bf16_supported()` also counts emulation


def resolve_precision(requested: str) -> str:
    """'auto' -> bf16 on GPUs with bf16 tensor cores, fp16 (with loss scaling) on older GPUs, fp32 ("no") on CPU."""
    if requested != "auto":
        if requested in ("fp16", "bf16") and not torch.cuda.is_available():
            log.warning("mixed precision %s needs a GPU; training in fp32 on CPU", requested)
            return "no"
        return requested
    if not torch.cuda.is_available():
        return "no"
    return "bf16" if torch.cuda.get_device_capability() >= BF16_MIN_CAPABILITY else "fp16"


def device_peak_flops(device: torch.device) -> float | None:
    """The device's dense peak in the precision `auto` picks there; None on CPU or an unknown GPU."""
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((peak for key, peak in PEAK_FLOPS.items() if key in name), None)
