"""Starting a run from published weights: HF model folders as users download them, or a run's own exports.

The discriminator may start from an ELECTRA discriminator (ElectraForPreTraining), from a masked LM
(ElectraForMaskedLM, BertForMaskedLM: the paper's two-stage training) or from a bare encoder (BertModel,
ElectraModel: sentence-transformers exports and many domain BERTs, whose keys carry no `bert.`/`electra.` prefix);
the encoder is mapped by name (`bert.*`, `embeddings.*`, `encoder.*` -> `electra.*`) while the replaced-token
head starts fresh (the load report names it). The generator starts from an ELECTRA
generator (ElectraForMaskedLM). A model not given is built from the recipe's rules around the other's sizes.
A TF1 checkpoint folder (google-research/electra's and HFL's releases) given to `--init-from` is both sources at
once, read through tf_checkpoint/tf_electra as the HF folders `convert --from-tf` would write.

Every load says how many tensors it took and names those it did not; a load that leaves any encoder tensor
behind is refused, since silently re-initialised weights are the classic failure of ELECTRA conversions.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import torch

from electra_cli.core.atomic import sha256_file
from electra_cli.core.console import log
from electra_cli.core.errors import DataError, UsageError
from electra_cli.pretraining import tf_electra
from electra_cli.pretraining.tf_checkpoint import Bundle, find_checkpoint

WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")
DISCRIMINATOR_KINDS = {"ElectraForPreTraining": "electra", "ElectraForMaskedLM": "electra-mlm",
                       "BertForMaskedLM": "bert-mlm", "BertForPreTraining": "bert-mlm", "BertModel": "encoder",
                       "ElectraModel": "encoder"}
ENCODER_PARTS = ("embeddings.", "embeddings_project.", "encoder.")  # what the discriminator's `electra.` holds
# What the model code here builds; a published config that differs cannot be started from exactly (refused).
EXPECTED = {"type_vocab_size": 2, "tie_word_embeddings": True}
# Config values that change the function, carried into the model (ModelConfig field -> transformers' default).
FUNCTION_FIELDS = {"hidden_act": "gelu", "layer_norm_eps": 1e-12, "position_embedding_type": "absolute"}
SIZE_FIELDS = ("layers", "hidden", "embedding", "heads", "intermediate", "max_position", "generator_hidden_size",
               "generator_heads", "generator_intermediate")


@dataclass
class Source:
    """One published folder and the role it plays."""

    role: str  # "discriminator" or "generator"
    folder: Path
    config: dict  # its config.json
    kind: str  # "electra" (discriminator), "electra-mlm", "bert-mlm", "encoder" (BertModel, ElectraModel)
    checkpoint: Path | None = None  # a TF1 checkpoint prefix the weights come from (config inferred), else HF files

    @property
    def architecture(self) -> str:
        return (self.config.get("architectures") or ["?"])[0]

    def record(self) -> str:
        """Where the run started, for config.toml and the model card: folder, architecture, files' sha256."""
        names = ("config.json", *WEIGHT_FILES, "vocab.txt")
        if self.checkpoint is not None:
            data = sorted(p.name for p in self.folder.glob(f"{self.checkpoint.name}.data-*"))
            names = (f"{self.checkpoint.name}.index", *data, "vocab.txt")
        files = [f for f in names if (self.folder / f).is_file()]
        hashes = ", ".join(f"{f} sha256 {sha256_file(self.folder / f)[:16]}" for f in files)
        return f"{self.role}: {self.folder.resolve()} ({self.architecture}; {hashes})"


def find_sources(from_dir: str, discriminator: str, generator: str) -> dict[str, Source]:
    """The folders to start from, by role; `--init-discriminator/--init-generator` win over `--init-from`'s."""
    folders: dict[str, Path] = {}
    sources: dict[str, Source] = {}
    if from_dir:
        base = Path(from_dir)
        if not base.is_dir():
            raise UsageError(f"--init-from {from_dir}: no such folder")
        folders = {role: base / role for role in ("discriminator", "generator") if (base / role).is_dir()}
        if not folders and find_checkpoint(base) is not None:
            sources = tf1_sources(base)
        elif not folders:
            hint = " (a run folder: use RUN/final)" if (base / "final").is_dir() else ""
            raise UsageError(f"--init-from {from_dir}: has neither discriminator/ nor generator/{hint}")
    for role, given in (("discriminator", discriminator), ("generator", generator)):
        if given:
            folders[role] = Path(given)
    return {**sources, **{role: read_source(role, folder) for role, folder in folders.items()}}


def tf1_sources(folder: Path) -> dict[str, Source]:
    """Both models of a TF1 ELECTRA checkpoint folder, their configs inferred from the shapes (and a config JSON
    beside the checkpoint, if any); the weights are read when loaded."""
    prefix = find_checkpoint(folder)
    tokens = tf_electra.read_vocab(folder)
    if not tokens:
        raise UsageError(f"--init-from {folder}: a TensorFlow checkpoint without vocab.txt beside it")
    configs = tf_electra.infer_configs(Bundle(prefix), folder, tokens)
    kinds = {"discriminator": "electra", "generator": "electra-mlm"}
    return {role: Source(role, folder, config, kinds[role], checkpoint=prefix) for role, config in configs.items()}


def read_source(role: str, folder: Path) -> Source:
    flag = f"--init-{role}"
    if not folder.is_dir():
        raise UsageError(f"{flag} {folder}: no such folder")
    path = folder / "config.json"
    if not path.is_file():
        raise UsageError(f"{flag} {folder}: not an HF model folder (no config.json)")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as err:
        raise DataError(f"{path}: invalid JSON ({err})") from None
    if not any((folder / f).is_file() for f in WEIGHT_FILES):
        raise UsageError(f"{flag} {folder}: no weights ({' or '.join(WEIGHT_FILES[::2])})")
    architecture = (config.get("architectures") or [""])[0]
    if role == "generator":
        if architecture != "ElectraForMaskedLM":
            raise UsageError(f"{flag} {folder}: is {architecture or config.get('model_type')}, not an ELECTRA generator "
                             "(ElectraForMaskedLM); a masked LM to start the discriminator from goes to --init-discriminator")
        kind = "electra-mlm"
    else:
        kind = DISCRIMINATOR_KINDS.get(architecture)
        if kind is None:
            raise UsageError(f"{flag} {folder}: is {architecture or config.get('model_type')}; expected "
                             f"{', '.join(DISCRIMINATOR_KINDS)}")
    problems = [f"{key} = {config.get(key, EXPECTED[key])!r} (expected {value!r})"
                for key, value in EXPECTED.items() if config.get(key, value) != value]
    if problems:
        raise UsageError(f"{folder}: config not supported: {'; '.join(problems)}")
    return Source(role, folder, config, kind)


def source_sizes(sources: dict[str, Source], recipe) -> dict:
    """ModelConfig sizes (and FUNCTION_FIELDS: activation, LayerNorm epsilon, position embeddings) the sources fix;
    sizes of a model not given follow the recipe's rules."""
    disc, gen = sources.get("discriminator"), sources.get("generator")
    sizes: dict = {}
    if disc is not None:
        c = disc.config
        sizes.update(layers=c["num_hidden_layers"], hidden=c["hidden_size"], heads=c["num_attention_heads"],
                     embedding=c.get("embedding_size", c["hidden_size"]), intermediate=c["intermediate_size"],
                     max_position=c["max_position_embeddings"], **function_fields(c))
    if gen is not None:
        c = gen.config
        sizes.update(generator_hidden_size=c["hidden_size"], generator_heads=c["num_attention_heads"],
                     generator_intermediate=c["intermediate_size"])
        same = dict(layers=c["num_hidden_layers"], embedding=c.get("embedding_size", c["hidden_size"]),
                    max_position=c["max_position_embeddings"], **function_fields(c))
        if disc is None:  # the discriminator is built around the generator: hidden = generator hidden / multiplier
            hidden = round(c["hidden_size"] / recipe.generator_multiplier)
            sizes.update(same, hidden=hidden, heads=max(1, hidden // 64), intermediate=4 * hidden)
        else:
            clash = [f"{k} {sizes[k]} vs {v}" for k, v in same.items() if sizes[k] != v]
            if clash:
                raise UsageError(f"{disc.folder} and {gen.folder} do not fit one ELECTRA (the discriminator and the "
                                 f"generator share depth, embedding, positions and their function): {'; '.join(clash)}")
    return sizes


def function_fields(config: dict) -> dict:
    """A published config's FUNCTION_FIELDS, transformers' defaults where it says nothing (as transformers reads it)."""
    return {key: config.get(key, default) for key, default in FUNCTION_FIELDS.items()}


# What the publishers' own records say (their READMEs), for folders that record no length themselves.
KNOWN_LENGTHS = "HFL's Chinese ELECTRA: 512; Google's ELECTRA-Small: 128, -Base and -Large: 512"


def length_note(sources: dict[str, Source], max_seq_len: int) -> str:
    """One line: the length the published model was trained at (its model card's record, where it has one, else
    its max_position_embeddings and what the publishers say), and what continuing at `max_seq_len` means."""
    source = sources.get("discriminator") or sources["generator"]
    positions = int(source.config["max_position_embeddings"])
    card = source.folder / "README.md"
    found = re.search(r"max_seq_len: (\d+)", card.read_text(encoding="utf-8", errors="replace")) if card.is_file() else None
    if found:
        trained = int(found.group(1))
        text = f"{source.folder} was trained at {trained} tokens (its model card), positions up to {positions}"
    else:
        trained = positions
        text = (f"{source.folder} takes up to {positions} positions (max_position_embeddings) and does not record the "
                f"length it was trained at ({KNOWN_LENGTHS})")
    if max_seq_len >= trained:
        return f"{text}; this run continues at {max_seq_len}"
    return (f"{text}; this run continues at {max_seq_len} tokens: positions {max_seq_len} to {trained - 1} keep their "
            f"published weights without seeing your domain, so fine-tune at up to {max_seq_len} tokens, or continue at "
            f"{trained} (shard --max-seq-len {trained}, --set data.max_seq_len={trained})")


def vocab_size_of(sources: dict[str, Source]) -> int:
    sizes = {s.config["vocab_size"] for s in sources.values()}
    if len(sizes) > 1:
        raise UsageError(f"the init folders have different vocabulary sizes ({', '.join(map(str, sorted(sizes)))})")
    return sizes.pop()


def apply_sources(cfg, sources: dict[str, Source], explicit: dict[str, object]) -> None:
    """Take the sizes from the sources into `cfg.model` (the recipe's are ignored, with one line); an explicit
    `--set model.<size>` that contradicts a source is a usage error naming both values."""
    sizes = source_sizes(sources, cfg.model)
    clash = [f"model.{k}: --set says {explicit[f'model.{k}']}, {', '.join(str(s.folder) for s in sources.values())} "
             f"has {v}" for k, v in sizes.items() if f"model.{k}" in explicit and explicit[f"model.{k}"] != v]
    if clash:
        raise UsageError("; ".join(clash))
    for key, value in sizes.items():
        setattr(cfg.model, key, value)
    if sizes.get("generator_hidden_size") and cfg.model.hidden:
        cfg.model.generator_multiplier = min(1.0, sizes["generator_hidden_size"] / cfg.model.hidden)
    if "discriminator" in sources:
        cfg.model.dropout = float(sources["discriminator"].config.get("hidden_dropout_prob", cfg.model.dropout))
    cfg.init.sources = [s.record() for s in sources.values()]
    shown = ", ".join(f"{k} {v}" for k, v in sizes.items() if k in ("layers", "hidden", "embedding", "heads")
                      or FUNCTION_FIELDS.get(k, v) != v)  # an activation or epsilon of its own: said
    log.info("model sizes from the init folders (%s); the recipe's [model] sizes are ignored", shown)


# ---- loading ---------------------------------------------------------------------------------------------


def read_state_dict(folder: Path) -> dict[str, torch.Tensor]:
    """A folder's weights, safetensors or (the Hub's older folders) pytorch_model.bin, sharded or not.
    `.bin` files load with weights_only: nothing in a model folder runs code."""
    from safetensors.torch import load_file

    for name in WEIGHT_FILES:
        path = folder / name
        if not path.is_file():
            continue
        if name.endswith(".index.json"):
            shards = sorted(set(json.loads(path.read_text())["weight_map"].values()))
            files = [folder / s for s in shards]
        else:
            files = [path]
        state: dict[str, torch.Tensor] = {}
        for file in files:
            try:
                part = load_file(str(file)) if file.suffix == ".safetensors" else torch.load(
                    file, map_location="cpu", weights_only=True)
            except Exception as err:  # noqa: BLE001 - a damaged file: say which
                raise DataError(f"{file}: unreadable weights ({type(err).__name__}: {err})") from None
            state.update(part)
        return {_modern_name(k): v for k, v in state.items()}
    raise UsageError(f"{folder}: no weights")


def read_weights(source: Source) -> dict[str, torch.Tensor]:
    """A source's weights under HF names: its folder's files, or its TF1 checkpoint's tensors mapped."""
    if source.checkpoint is None:
        return read_state_dict(source.folder)
    weights = tf_electra.hf_weights(Bundle(source.checkpoint), source.role)
    return {name: torch.from_numpy(array) for name, array in weights.items()}


def _modern_name(key: str) -> str:
    """Old BERT checkpoints name LayerNorm parameters gamma/beta."""
    return key.replace("LayerNorm.gamma", "LayerNorm.weight").replace("LayerNorm.beta", "LayerNorm.bias")


def mapped_state(source: Source, state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], list[str]]:
    """The source's tensors under the names of the model it starts ({name: tensor}, unused source names).

    A discriminator or generator of ELECTRA keeps its names; otherwise the encoder (embeddings, their projection,
    the layers) moves under `electra.`, whether the folder prefixed it with `bert.`/`electra.` (heads on top) or
    not (a bare BertModel/ElectraModel), and the rest (pooler, MLM and NSP heads) is reported unused."""
    if source.role == "generator" or source.kind == "electra":
        return state, []
    mapped, unused = {}, []
    for key, value in state.items():
        body = key.split(".", 1)[1] if key.startswith(("bert.", "electra.")) else key
        if body.startswith(ENCODER_PARTS):
            mapped["electra." + body] = value
        else:
            unused.append(key)
    return mapped, unused


def load_sources(model, sources: dict[str, Source], growth=None) -> list[str]:
    """Load the sources into `model` (an Electra), generator first so that with tied embeddings the
    discriminator's copy wins; returns the report lines (also logged). Refuses a load that misses the encoder.
    `growth` (pretraining/grow.py): the shards' vocabulary extends the sources', whose rows it grows."""
    from electra_cli.pretraining.checkpoint import is_tied_alias

    report = []
    states = {}
    for role in ("generator", "discriminator"):
        source = sources.get(role)
        target = getattr(model, role)
        if source is None or target is None:
            continue
        state, unused = mapped_state(source, read_weights(source))
        if growth is not None and growth.grow(state):
            report.append(f"{role}: {growth.describe()}")
        states[role] = state
        try:
            missing, unexpected = target.load_state_dict(state, strict=False)
        except RuntimeError as err:  # shapes that do not fit
            raise UsageError(f"{source.folder}: weights do not fit the {role} ({str(err).splitlines()[1:2]})") from None
        missing = [m for m in missing if not is_tied_alias(target, m)]
        encoder = [m for m in missing if m.startswith(("electra.embeddings", "electra.encoder", "electra.embeddings_project"))]
        if encoder:
            raise UsageError(f"{source.folder}: the {role}'s encoder did not load ({len(encoder)} tensors missing, e.g. "
                             f"{', '.join(encoder[:3])}); refusing to train silently re-initialised weights")
        loaded = len(state) - len(unexpected)
        line = f"{role}: loaded {loaded} tensors from {source.folder} ({source.architecture})"
        if missing:
            line += f"; starting fresh: {', '.join(missing)}"
        if unexpected or unused:
            line += f"; not used: {', '.join(sorted([*unexpected, *unused]))}"
        report.append(line)
    report += share_embeddings(model, states)
    for line in report:
        log.info("%s", line)
    return report


def share_embeddings(model, states: dict[str, dict[str, torch.Tensor]]) -> list[str]:
    """Published pairs were trained with shared embeddings, and HF writes a copy into each folder. Equal copies:
    tied (model.embedding_sharing "tied", the default). Different copies: "tied" keeps the discriminator's for
    both; "none" keeps each model's own; "gdes" keeps the generator's and starts the discriminator's delta at the
    difference, so both models start exactly from their own copy.

    A discriminator alone under "gdes": the discriminator reads the generator's embeddings plus a delta, so the
    published word embeddings would otherwise be replaced by the fresh generator's. The generator starts from the
    discriminator's copy instead and the delta at zero: the discriminator starts exactly from its folder (what
    "loaded" promises), and the generator from embeddings that already mean something."""
    if model.discriminator is None:
        return []
    key = "electra.embeddings.word_embeddings.weight"
    gen, disc = states.get("generator", {}).get(key), states.get("discriminator", {}).get(key)
    sharing = model.cfg.embedding_sharing
    if sharing == "gdes" and disc is not None and gen is None:
        target = model.generator.electra.embeddings.word_embeddings.weight
        if target.shape != disc.shape:
            raise UsageError(f"embedding_sharing = gdes: the discriminator's word embeddings {tuple(disc.shape)} do "
                             f"not fit the generator's {tuple(target.shape)}")
        with torch.no_grad():
            target.copy_(disc.to(target.dtype))
            model.gdes_delta.zero_()
        return ["embeddings: gdes: the generator starts from the discriminator's published word embeddings, the "
                "delta at zero, so the discriminator starts exactly from its folder"]
    if gen is None or disc is None or gen.shape != disc.shape:
        return []
    if sharing == "gdes":
        with torch.no_grad():
            model.gdes_delta.copy_(disc.to(model.gdes_delta.dtype) - gen.to(model.gdes_delta.dtype))
        return ["embeddings: gdes: the generator's copy plus a delta that starts at the discriminator's difference"]
    if torch.equal(gen, disc):
        return [f"embeddings: equal in both folders; {'tied' if sharing == 'tied' else 'kept separate (model.embedding_sharing = none)'}"]
    if sharing == "tied":
        line = ("embeddings: the two folders' copies differ; model.embedding_sharing = tied uses the discriminator's "
                "for both (--set model.embedding_sharing=none keeps each model's own)")
        log.warning("%s", line)
        return [line]
    return ["embeddings: the two folders' copies differ; each model keeps its own (model.embedding_sharing = none)"]


def source_vocab_sha(source: Source) -> str | None:
    """The sha256 that identifies the source's vocabulary (as `load_vocab_manifest` computes it), if it has one."""
    from electra_cli.vocab.load import load_vocab_manifest

    if not any((source.folder / f).is_file() for f in ("vocab.txt", "tokenizer.json")):
        return None
    return load_vocab_manifest(source.folder)["vocab_sha256"]
