"""Conversions: a pretrain step checkpoint -> HF folders; HF `.bin` weights -> safetensors; a sanity check.

The classic failure of ELECTRA conversions is silent gibberish (weights loaded under the wrong names are
re-initialised without an error). After converting, the generator's top predictions for a masked sentence are
printed, so a user sees at once whether the model says something sensible.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch

from electra_cli.core import config as configlib
from electra_cli.core.atomic import atomic_dir, check_output_dir
from electra_cli.core.console import console, log
from electra_cli.core.errors import DataError, UsageError
from electra_cli.pretraining.checkpoint import (
    MODEL_FILE,
    SHARDS_MANIFEST_COPY,
    STATE_FILE,
    TOKENIZER_FILES,
    TrainingState,
    is_loadable,
    is_tied_alias,
)

SANITY_TEXT = "the capital of france is [MASK] ."


def convert(source: Path, out: Path, sanity_text: str = SANITY_TEXT, overwrite: bool = False) -> dict:
    """Convert `source` (a step checkpoint folder or an HF model folder) into HF safetensors folder(s) at `out`."""
    source, out = Path(source), Path(out)
    if not source.is_dir():
        raise UsageError(f"{source}: no such folder")
    check_output_dir(out, "config.json", overwrite, "model folder")
    if (source / STATE_FILE).is_file() and (source / MODEL_FILE).is_file():
        result = convert_checkpoint(source, out)
        generator = out / "generator"
    elif (source / "config.json").is_file():
        result = convert_hf_folder(source, out)
        generator = out
    else:
        raise UsageError(f"{source}: neither a pretrain checkpoint (state.json) nor an HF model folder (config.json)")
    result["sanity"] = sanity_check(generator, sanity_text)
    if result["kind"] == "checkpoint":  # last: the line that names what was written
        log.info("wrote %s/discriminator and %s/generator: step %d of %s", out, out, result["step"], source)
    else:
        log.info("wrote %s: %s (%s) as safetensors", out, source, result["architecture"])
    return result


def convert_checkpoint(folder: Path, out: Path) -> dict:
    """A pretrain step folder -> out/discriminator + out/generator, exactly as the final export."""
    from safetensors.torch import load_model

    from electra_cli.pretraining.export import export_models
    from electra_cli.pretraining.model import Electra
    from electra_cli.pretraining.recipe import PretrainConfig

    problem = is_loadable(folder)
    if problem:
        raise DataError(f"{folder}: not a loadable checkpoint ({problem})")
    cfg = configlib.load_config(PretrainConfig, folder / "config.toml", [])
    state = TrainingState(**json.loads((folder / STATE_FILE).read_text()))
    manifest_path = folder / SHARDS_MANIFEST_COPY
    if not manifest_path.is_file() or not (folder / "vocab.txt").is_file():
        raise DataError(f"{folder}: checkpoint lacks its tokenizer or shards manifest (written by an older version)")
    manifest = json.loads(manifest_path.read_text())
    model = Electra(cfg.model, int(manifest["vocab"]["size"]), manifest["vocab"].get("special_ids"))
    load_model(model, str(folder / MODEL_FILE), strict=False)
    export_models(model, out, folder, cfg, state, health={}, manifest=manifest)
    return {"kind": "checkpoint", "step": state.step, "out": str(out)}


def convert_hf_folder(folder: Path, out: Path) -> dict:
    """An HF folder with `.bin` (or safetensors) weights -> the same model saved as safetensors."""
    import transformers

    config = transformers.AutoConfig.from_pretrained(folder)
    architecture = (config.architectures or ["AutoModel"])[0]
    model_class = getattr(transformers, architecture, None) or transformers.AutoModel
    weights = folder / "pytorch_model.bin"
    if weights.is_file():
        state_dict = torch.load(weights, map_location="cpu", weights_only=True)  # never unpickles code
        model = model_class.from_config(config) if model_class is transformers.AutoModel else model_class(config)
        missing, unexpected = model.load_state_dict(state_dict, strict=False)
        model.tie_weights()
        missing = [m for m in missing if not is_tied_alias(model, m)]
        if missing or unexpected:
            raise DataError(
                f"{weights}: weights do not fit {architecture} (missing {missing[:3]}, unexpected {list(unexpected)[:3]})"
            )
    else:
        model = model_class.from_pretrained(folder)
    with atomic_dir(out) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        for name in (*TOKENIZER_FILES, "README.md"):
            if (folder / name).is_file():
                shutil.copy2(folder / name, tmp / name)
    return {"kind": "hf", "architecture": architecture, "out": str(out)}


@torch.no_grad()
def sanity_check(folder: Path, text: str, top_k: int = 5) -> list[list[tuple[str, float]]] | None:
    """The masked-LM's top predictions for each [MASK] in `text` (printed), or None when there is no MLM head."""
    from transformers import AutoConfig, AutoModelForMaskedLM, AutoTokenizer

    config = AutoConfig.from_pretrained(folder)
    if not any("MaskedLM" in a for a in (config.architectures or [])):
        return None
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForMaskedLM.from_pretrained(folder).eval()
    encoded = tokenizer(text, return_tensors="pt")
    logits = model(**encoded).logits[0]
    positions = (encoded["input_ids"][0] == tokenizer.mask_token_id).nonzero().flatten().tolist()
    if not positions:
        raise UsageError(f"sanity text {text!r} has no {tokenizer.mask_token}")
    predictions = []
    for pos in positions:
        probs = torch.softmax(logits[pos].float(), -1)
        top = probs.topk(top_k)
        predictions.append([(tokenizer.convert_ids_to_tokens(int(i)), float(p)) for p, i in zip(top.values, top.indices)])
    shown = "; ".join(", ".join(f"{tok} {p:.2f}" for tok, p in preds) for preds in predictions)
    console.print(f"sanity check: {text!r} -> {shown}", soft_wrap=True, highlight=False)
    return predictions
