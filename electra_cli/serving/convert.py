"""Conversions: a pretrain step checkpoint -> HF folders; a TF1 ELECTRA checkpoint (google-research/electra, HFL)
-> HF discriminator and generator folders; HF `.bin` weights -> safetensors; a sanity check.

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
from electra_cli.pretraining.tf_checkpoint import Bundle, find_checkpoint
from electra_cli.pretraining.tf_electra import hf_weights, infer_configs, read_vocab, unused_weights

# The generator's sanity sentence, in the script of the model's vocabulary (Chinese when CJK characters make up
# over a fifth of it: HFL's vocab.txt, Google's Chinese BERT's; English otherwise).
SANITY_TEXTS = {"en": "the capital of france is [MASK] .", "zh": "中国的首都是北[MASK]。"}
CJK_SHARE = 0.2


def convert(source: Path | None, out: Path, sanity_text: str | None = None, overwrite: bool = False,
            from_tf: Path | None = None, config: Path | None = None) -> dict:
    """Convert `source` (a step checkpoint folder or an HF model folder), or `from_tf` (a folder with a TF1
    ELECTRA checkpoint), into HF safetensors folder(s) at `out`."""
    if (source is None) == (from_tf is None):
        raise UsageError("give either SOURCE or --from-tf DIR")
    if config is not None and from_tf is None:
        raise UsageError("--config goes with --from-tf (the sizes of an HF folder are in its config.json)")
    source, out = Path(source or from_tf), Path(out)
    if not source.is_dir():
        raise UsageError(f"{source}: no such folder")
    check_output_dir(out, "config.json", overwrite, "model folder")
    if from_tf is not None:
        result = convert_tf(source, out, config)
        generator = out / "generator"
    elif (source / STATE_FILE).is_file() and (source / MODEL_FILE).is_file():
        result = convert_checkpoint(source, out)
        generator = out / "generator"
    elif (source / "config.json").is_file():
        result = convert_hf_folder(source, out)
        generator = out
    elif find_checkpoint(source) is not None:
        raise UsageError(f"{source}: holds a TensorFlow checkpoint: convert it with --from-tf {source}")
    else:
        raise UsageError(f"{source}: neither a pretrain checkpoint (state.json) nor an HF model folder (config.json)")
    result["sanity"] = sanity_check(generator, sanity_text) if generator.is_dir() else None
    if result["kind"] == "checkpoint":  # last: the line that names what was written
        log.info("wrote %s/discriminator and %s/generator: step %d of %s", out, out, result["step"], source)
    elif result["kind"] == "tf1":
        log.info("wrote %s from %s", " and ".join(f"{out}/{role}" for role in result["roles"]), result["checkpoint"])
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


def convert_tf(folder: Path, out: Path, config: Path | None = None) -> dict:
    """A folder with a TF1 ELECTRA checkpoint and its vocab.txt -> out/discriminator + out/generator (those the
    checkpoint holds), each loadable by transformers with its tokenizer. Every tensor of a model must land in
    it: a missing or misshapen one is an error, never a silently re-initialised weight."""
    import transformers

    prefix = find_checkpoint(folder)
    if prefix is None:
        raise UsageError(f"--from-tf {folder}: no TensorFlow checkpoint (*.index) in it")
    tokens = read_vocab(folder)
    if not tokens:
        raise UsageError(f"--from-tf {folder}: no vocab.txt beside the checkpoint (the tokenizer needs it)")
    bundle = Bundle(prefix)
    configs = infer_configs(bundle, folder, tokens, config)
    models = {}
    for role, settings in configs.items():
        model_class = getattr(transformers, settings["architectures"][0])
        model = model_class(transformers.ElectraConfig(**settings))
        state = {k: torch.from_numpy(v) for k, v in hf_weights(bundle, role).items()}
        try:
            missing, unexpected = model.load_state_dict(state, strict=False)
        except RuntimeError as err:  # a shape that does not fit the inferred config
            raise DataError(f"{bundle.index}: the {role}'s weights do not fit its config ({err})") from None
        missing = [m for m in missing if not is_tied_alias(model, m)]
        if missing or unexpected:
            raise DataError(f"{bundle.index}: the {role} does not map onto {model_class.__name__} "
                            f"(missing {missing[:3]}, unexpected {list(unexpected)[:3]})")
        models[role] = model
    unused = unused_weights(bundle)
    if unused:
        log.warning("%s: not converted (no place in ELECTRA's HF layout): %s", bundle.index, ", ".join(unused))
    with atomic_dir(out) as tmp:
        for role, model in models.items():
            model.save_pretrained(tmp / role, safe_serialization=True)
            write_tokenizer_files(folder, tmp / role, configs[role]["max_position_embeddings"])
    return {"kind": "tf1", "checkpoint": str(prefix), "roles": list(models), "unused": unused, "out": str(out)}


def write_tokenizer_files(folder: Path, target: Path, max_length: int) -> None:
    """The folder's tokenizer files; where it has only vocab.txt (Google's and HFL's zips), the
    tokenizer_config.json of the Hub's ELECTRA folders, lowercasing unless the folder's hparams say otherwise."""
    for name in TOKENIZER_FILES:
        if (folder / name).is_file():
            shutil.copy2(folder / name, target / name)
    if not (target / "tokenizer_config.json").is_file():
        lower = True
        for path in sorted(folder.glob("*.json")):
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except ValueError:
                continue
            if isinstance(data, dict) and isinstance(data.get("do_lower_case"), bool):
                lower = data["do_lower_case"]
        settings = {"do_lower_case": lower, "model_max_length": max_length}
        (target / "tokenizer_config.json").write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")


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


def sanity_text_for(vocab: dict[str, int]) -> str:
    """SANITY_TEXTS' Chinese sentence for a vocabulary of mostly CJK characters, else the English one."""
    cjk = sum(1 for token in vocab if len(token.removeprefix("##")) == 1 and "\u4e00" <= token[-1] <= "\u9fff")
    return SANITY_TEXTS["zh" if cjk > CJK_SHARE * len(vocab) else "en"]


@torch.no_grad()
def sanity_check(folder: Path, text: str | None, top_k: int = 5) -> list[list[tuple[str, float]]] | None:
    """The masked-LM's top predictions for each [MASK] in `text` (printed), or None when there is no MLM head.
    No `text`: a sentence in the vocabulary's script (`sanity_text_for`)."""
    from transformers import AutoConfig, AutoModelForMaskedLM, AutoTokenizer

    config = AutoConfig.from_pretrained(folder)
    if not any("MaskedLM" in a for a in (config.architectures or [])):
        return None
    tokenizer = AutoTokenizer.from_pretrained(folder)
    text = text or sanity_text_for(tokenizer.get_vocab())
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
