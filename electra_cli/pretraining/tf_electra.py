"""google-research/electra's TF1 variable names -> the HF ELECTRA layout, and the HF configs the shapes imply.

One checkpoint holds both models (facts from google-research/electra's model/modeling.py and run_pretraining.py,
and transformers' own converter):
- the discriminator under `electra/` with its head under `discriminator_predictions/` (`dense`, then `dense_1`,
  HF's `dense_prediction`);
- the generator under `generator/`, sharing `electra/embeddings/` (unless it was trained with untied embeddings:
  then `generator/embeddings/`), with its head under `generator_predictions/` (`dense`, `LayerNorm`,
  `output_bias`, the output matrix being the word embeddings); a generator trained tied to the discriminator
  (untied_generator = False) has no `generator/` scope and reads the discriminator's encoder;
- `embeddings_project` under a model's scope where its hidden size differs from the embedding size;
- `kernel` is stored (in, out) where torch's Linear holds (out, in); `gamma`/`beta` are LayerNorm's weight/bias;
- optimizer slots (`.../adam_m`, `.../adam_v`) and `global_step` are not weights.
Shapes give every size but the number of attention heads: that comes from a BERT-style config JSON (given, or
found beside the checkpoint and matched by hidden size), else from ELECTRA's rule max(1, hidden // 64), which every
Google and HFL release follows.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from electra_cli.core.errors import DataError, UsageError
from electra_cli.pretraining.tf_checkpoint import Bundle

ROLES = {"discriminator": "ElectraForPreTraining", "generator": "ElectraForMaskedLM"}
HEADS = {"discriminator": "discriminator_predictions/", "generator": "generator_predictions/"}
# AdamWeightDecayOptimizer's slots (google-research/electra, bert), tf.train.AdamOptimizer's, and step counters
OPTIMIZER = ("/adam_m", "/adam_v", "/Adam", "/Adam_1")
NOT_WEIGHTS = ("global_step", "beta1_power", "beta2_power")
CONFIG_KEYS = ("num_attention_heads", "hidden_act", "hidden_dropout_prob", "attention_probs_dropout_prob",
               "initializer_range", "layer_norm_eps")


def is_optimizer_state(name: str) -> bool:
    return name in NOT_WEIGHTS or name.endswith(OPTIMIZER)


def scopes(names: set[str], role: str) -> tuple[str, str]:
    """(encoder scope, embeddings scope) of a model in the checkpoint."""
    if role == "discriminator":
        return "electra", "electra"
    encoder = "generator" if "generator/encoder/layer_0/attention/self/query/kernel" in names else "electra"
    embeddings = "generator" if "generator/embeddings/word_embeddings" in names else "electra"
    return encoder, embeddings


def roles_in(bundle: Bundle) -> list[str]:
    """The models the checkpoint holds (a model's encoder and head are both there)."""
    names = set(bundle.entries)
    if "electra/embeddings/word_embeddings" not in names:
        raise DataError(f"{bundle.index}: no electra/embeddings/word_embeddings: not an ELECTRA checkpoint "
                        f"(it holds e.g. {', '.join(sorted(names)[:3])})")
    found = [role for role in ROLES if any(n.startswith(HEADS[role]) for n in names)]
    if not found:
        raise DataError(f"{bundle.index}: has neither discriminator_predictions/ nor generator_predictions/ "
                        "(an ELECTRA pretraining checkpoint has both heads)")
    return found


def hf_name(tf_name: str, encoder: str, embeddings: str) -> tuple[str, bool] | None:
    """The HF name of one TF variable of a model whose encoder/embeddings live under the given scopes, and whether
    the array must be transposed; None for a name that is not this model's."""
    if tf_name.startswith(f"{embeddings}/embeddings/"):
        rest = tf_name[len(embeddings) + 1:]
    elif tf_name.startswith((f"{encoder}/embeddings_project/", f"{encoder}/encoder/")):
        rest = tf_name[len(encoder) + 1:]
    elif tf_name.startswith(("discriminator_predictions/", "generator_predictions/")):
        head, _, rest = tf_name.partition("/")
        if rest == "output_bias":
            return "generator_lm_head.bias", False
        rest = rest.replace("dense_1/", "dense_prediction/")
        return _leaf(f"{head}.{rest.replace('/', '.')}")
    else:
        return None
    if rest.startswith("embeddings/") and rest.endswith("_embeddings"):
        return f"electra.{rest.replace('/', '.')}.weight", False
    rest = re.sub(r"layer_(\d+)", r"layer.\1", rest)
    return _leaf(f"electra.{rest.replace('/', '.')}")


def _leaf(name: str) -> tuple[str, bool] | None:
    stem, _, leaf = name.rpartition(".")
    mapped = {"kernel": ("weight", True), "gamma": ("weight", False), "beta": ("bias", False), "bias": ("bias", False)}
    if leaf not in mapped:
        return None
    new_leaf, transpose = mapped[leaf]
    return f"{stem}.{new_leaf}", transpose


def _mapping(names: set[str], role: str) -> dict[str, tuple[str, bool]]:
    """{TF name: (HF name, transpose)} of one model's weights."""
    encoder, embeddings = scopes(names, role)
    other_head = HEADS["generator" if role == "discriminator" else "discriminator"]
    out = {}
    for name in names:
        if not is_optimizer_state(name) and not name.startswith(other_head):
            mapped = hf_name(name, encoder, embeddings)
            if mapped is not None:
                out[name] = mapped
    return out


def hf_weights(bundle: Bundle, role: str) -> dict[str, np.ndarray]:
    """{HF name: array} of one model, kernels transposed to torch's (out, in)."""
    state = {}
    for name, (key, transpose) in sorted(_mapping(set(bundle.entries), role).items()):
        array = bundle.read(name)
        state[key] = np.ascontiguousarray(array.T) if transpose else array
    if role == "generator" and "electra.embeddings.word_embeddings.weight" in state:
        state["generator_lm_head.weight"] = state["electra.embeddings.word_embeddings.weight"]  # tied output
    return state


def unused_weights(bundle: Bundle) -> list[str]:
    """The checkpoint's weights that neither model reads (optimizer state aside), to report, never to drop silently."""
    names = set(bundle.entries)
    used = set().union(*(_mapping(names, role) for role in roles_in(bundle)))
    return sorted(n for n in names if n not in used and not is_optimizer_state(n))


def _shape(bundle: Bundle, name: str, role: str) -> tuple[int, ...]:
    if name not in bundle.entries:
        raise DataError(f"{bundle.index}: no {name}: the {role} is incomplete")
    return bundle.shape(name)


def infer_configs(bundle: Bundle, folder: Path, vocab_tokens: list[str], given: Path | None = None) -> dict[str, dict]:
    """{role: HF ElectraConfig dict} from the checkpoint's shapes, with the heads (and activation, dropout) of a
    BERT-style config JSON that matches the model's hidden size: `given`, or any JSON in `folder`."""
    names = set(bundle.entries)
    jsons = _config_jsons(folder, given)
    configs = {}
    for role in roles_in(bundle):
        encoder, embeddings = scopes(names, role)
        words = _shape(bundle, f"{embeddings}/embeddings/word_embeddings", role)
        hidden = _shape(bundle, f"{encoder}/encoder/layer_0/attention/self/query/kernel", role)[1]
        layers = len({m.group(1) for n in names if (m := re.match(rf"{encoder}/encoder/layer_(\d+)/", n))})
        config = {
            "architectures": [ROLES[role]], "model_type": "electra",
            "vocab_size": words[0], "embedding_size": words[1], "hidden_size": hidden, "num_hidden_layers": layers,
            "num_attention_heads": max(1, hidden // 64),
            "intermediate_size": _shape(bundle, f"{encoder}/encoder/layer_0/intermediate/dense/kernel", role)[1],
            "max_position_embeddings": _shape(bundle, f"{embeddings}/embeddings/position_embeddings", role)[0],
            "type_vocab_size": _shape(bundle, f"{embeddings}/embeddings/token_type_embeddings", role)[0],
            "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
            "initializer_range": 0.02, "layer_norm_eps": 1e-12,
            "pad_token_id": vocab_tokens.index("[PAD]") if "[PAD]" in vocab_tokens else 0,
        }
        match = next((c for c in jsons.values() if c.get("hidden_size") == hidden), None)
        if match:
            config.update({k: match[k] for k in CONFIG_KEYS if k in match})
        if hidden % config["num_attention_heads"]:
            raise UsageError(f"{bundle.index}: the {role}'s hidden size {hidden} is not a multiple of "
                             f"{config['num_attention_heads']} attention heads")
        if vocab_tokens and len(vocab_tokens) != config["vocab_size"]:
            raise DataError(f"{folder / 'vocab.txt'} has {len(vocab_tokens)} tokens, the checkpoint's word "
                            f"embeddings {config['vocab_size']} rows")
        configs[role] = config
    if given is not None and not any(c.get("hidden_size") in {v["hidden_size"] for v in configs.values()}
                                     for c in jsons.values()):
        sizes = ", ".join(f"{role} {config['hidden_size']}" for role, config in configs.items())
        raise UsageError(f"--config {given}: its hidden_size matches no model in {bundle.prefix} ({sizes})")
    return configs


def _config_jsons(folder: Path, given: Path | None) -> dict[Path, dict]:
    """BERT-style config JSONs (those with a hidden_size): the given one, or those in the folder."""
    paths = [Path(given)] if given is not None else sorted(Path(folder).glob("*.json"))
    out = {}
    for path in paths:
        if not path.is_file():
            raise UsageError(f"--config {path}: no such file")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as err:
            raise DataError(f"{path}: invalid JSON ({err})") from None
        if isinstance(data, dict) and "hidden_size" in data:
            out[path] = data
    return out


def read_vocab(folder: Path) -> list[str]:
    """vocab.txt's tokens (line = id), or [] when the folder has none; each line stripped of its line end and
    surrounding blanks, as google-research's `load_vocab` reads it (a Windows `\\r\\n` file included)."""
    path = Path(folder) / "vocab.txt"
    if not path.is_file():
        return []
    tokens = [line.strip() for line in path.read_text(encoding="utf-8").split("\n")]
    return tokens[:-1] if tokens and tokens[-1] == "" else tokens
