"""`electra-cli inspect DIR`: what a folder is and what it can be used for, before a user commits hours to it.

It recognises a published HF model folder (architecture, sizes, its tokenizer as transformers builds it, the
settings sharding switches off), a TF1 release folder (vocab.txt + checkpoint), and our own folders: a vocab folder, a shards folder, a pretraining run, one of
its checkpoints, a fine-tuned model. For each role (`shard --vocab`, `pretrain --init-discriminator`,
`--init-generator`, `finetune --model`, `predict --model`) it says yes, or why not, by asking the same checks the
commands themselves run, so the answer cannot drift from what the command will do.
"""

from __future__ import annotations

import json
from pathlib import Path

from electra_cli.core.errors import ElectraCliError, UsageError
from electra_cli.pretraining.checkpoint import COMPLETE, complete_checkpoints
from electra_cli.pretraining.published import WEIGHT_FILES, read_source, tf1_sources
from electra_cli.pretraining.tf_checkpoint import find_checkpoint
from electra_cli.serving.predict import check_classifier_folder
from electra_cli.shards.write import MANIFEST as SHARDS_MANIFEST
from electra_cli.shards.write import load_manifest
from electra_cli.vocab.load import MANIFEST as VOCAB_MANIFEST
from electra_cli.vocab.load import load_vocab_manifest
from electra_cli.vocab.published import read_json

ROLES = ("shard --vocab", "pretrain --init-discriminator", "pretrain --init-generator", "finetune --model",
         "predict --model")
SIZE_KEYS = {"num_hidden_layers": "layers", "hidden_size": "hidden", "embedding_size": "embedding",
             "num_attention_heads": "heads", "intermediate_size": "intermediate",
             "max_position_embeddings": "max_position", "vocab_size": "vocab_size"}


def inspect_folder(folder: Path) -> dict:
    """A report on `folder`: {"folder", "kind", "summary", ...details, "roles": {role: {"ok", "why"}}}."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UsageError(f"{folder}: no such folder")
    if (folder / SHARDS_MANIFEST).is_file():
        return _shards(folder)
    if (folder / VOCAB_MANIFEST).is_file():
        return _vocab_folder(folder)
    if (folder / COMPLETE).is_file():
        return _report(folder, "checkpoint", "a pretraining checkpoint of ours",
                       {"pretrain --resume": _yes(f"pretrain --out RUN --resume {folder}")}, {})
    if (folder / "config.toml").is_file() or (folder / "checkpoints").is_dir():
        return _run(folder)
    if find_checkpoint(folder) is not None and not any((folder / f).is_file() for f in WEIGHT_FILES):
        return _tf1(folder)
    if (folder / "config.json").is_file():
        return _model(folder)
    raise UsageError(f"{folder}: not a folder electra-cli knows (no config.json, {VOCAB_MANIFEST}, {SHARDS_MANIFEST}, "
                     "config.toml, checkpoints/ or a TensorFlow checkpoint *.index)")


def _yes(how: str) -> dict:
    return {"ok": True, "why": how}


def _no(why: str) -> dict:
    return {"ok": False, "why": why}


def _check(check) -> dict:
    """Run one of the commands' own checks: yes, or its one-line reason."""
    try:
        how = check()
    except ElectraCliError as err:
        return _no(str(err))
    return _yes(how or "yes")


def _report(folder: Path, kind: str, summary: str, roles: dict, details: dict) -> dict:
    return {"folder": str(folder), "kind": kind, "summary": summary, **details, "roles": roles}


def _vocabulary(folder: Path) -> tuple[dict | None, dict]:
    """(the vocabulary's description or None, the `shard --vocab` role)."""
    try:
        manifest = load_vocab_manifest(folder)
    except ElectraCliError as err:
        return None, _no(str(err))
    tokenizer = manifest.get("tokenizer") or {"class": "electra-cli WordPiece", "lowercase": manifest.get("lowercase"),
                                              "strip_accents": manifest.get("lowercase"), "chinese_chars_split": True}
    described = {"size": manifest["vocab_size"], "sha256": manifest["vocab_sha256"],
                 "special_ids": manifest["special_ids"], "tokenizer": tokenizer,
                 "ignored": manifest.get("ignored", []), "extends": manifest.get("extends")}
    return described, _yes(f"shard CORPUS --vocab {folder} --out SHARDS")


def _model(folder: Path) -> dict:
    config = read_json(folder / "config.json")
    architecture = (config.get("architectures") or [config.get("model_type") or "?"])[0]
    sizes = {short: config[key] for key, short in SIZE_KEYS.items() if key in config}
    vocab, shard_role = _vocabulary(folder)
    has_weights = any((folder / f).is_file() for f in WEIGHT_FILES)
    roles = {"shard --vocab": shard_role}
    for role in ("discriminator", "generator"):
        roles[f"pretrain --init-{role}"] = _check(lambda role=role: _init_role(role, folder, vocab, shard_role))
    try:
        head = check_classifier_folder(folder)
        roles["predict --model"] = _yes(f"predict --model {folder} (a fine-tuned {head} model)")
        fine_tuned = True
    except ElectraCliError as err:
        roles["predict --model"] = _no(str(err))
        fine_tuned = False
    if not has_weights:
        roles["finetune --model"] = _no(f"{folder}: no weights ({' or '.join(WEIGHT_FILES[::2])})")
    else:
        roles["finetune --model"] = _check(lambda: _finetune_role(folder))
    kind = "fine-tuned model" if fine_tuned else "model"
    summary = f"{architecture}" + (f", {sizes.get('layers')} layers, hidden {sizes.get('hidden')}" if sizes else "")
    return _report(folder, kind, summary, {r: roles[r] for r in ROLES}, {
        "architecture": architecture, "model_type": config.get("model_type"), "sizes": sizes, "vocab": vocab,
        "weights": [f for f in WEIGHT_FILES if (folder / f).is_file()]})


def _finetune_role(folder: Path) -> str:
    """finetune tokenizes with transformers' own tokenizer for the folder (whatever its class), so the question
    is only whether transformers can build it here (a MeCab tokenizer needs fugashi installed)."""
    from transformers import AutoTokenizer

    try:
        AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    except Exception as err:  # noqa: BLE001 - transformers raises many kinds; the reason is what matters
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise UsageError(f"{folder}: transformers cannot build its tokenizer ({first})") from None
    return f"finetune --model {folder} (its encoder; a fresh task head)"


def _init_role(role: str, folder: Path, vocab: dict | None, shard_role: dict) -> str:
    """pretrain's own checks: the folder as a source (read_source), and its vocabulary, which the shards must
    have been made with (a folder without tokenizer files leaves that to the shards)."""
    read_source(role, folder)
    if vocab is None and any((folder / f).is_file() for f in ("vocab.txt", "tokenizer.json")):
        raise UsageError(shard_role["why"])
    shards_hint = f"shards made with --vocab {folder}" if vocab else "shards made with its vocabulary"
    return f"pretrain --shards SHARDS --init-{role} {folder} (sizes from its config; {shards_hint})"


def _tf1(folder: Path) -> dict:
    """A TF1 release (google-research/electra's, HFL's): vocab.txt, a checkpoint, perhaps a config JSON. pretrain
    reads it as both models at once (`--init-from`); finetune and predict need HF folders (`convert --from-tf`)."""
    prefix = find_checkpoint(folder)
    vocab, shard_role = _vocabulary(folder)
    convert = f"a TensorFlow checkpoint: `convert --from-tf {folder} --out DIR` writes HF folders for this"
    roles = {role: _no(convert) for role in ROLES}
    roles["shard --vocab"] = shard_role
    roles["pretrain --init-from"] = _check(lambda: _tf1_init_role(folder))
    for role in ("discriminator", "generator"):
        roles[f"pretrain --init-{role}"] = _no(f"a TensorFlow checkpoint holds both models: use --init-from {folder}")
    sizes = {}
    try:
        config = tf1_sources(folder)["discriminator"].config
        sizes = {short: config[key] for key, short in SIZE_KEYS.items() if key in config}
    except (ElectraCliError, KeyError):  # the role above says why
        pass
    summary = (f"a TensorFlow 1 ELECTRA checkpoint ({prefix.name}), {sizes.get('layers')} layers, hidden "
               f"{sizes.get('hidden')}" if sizes else f"a TensorFlow 1 checkpoint ({prefix.name}), not ELECTRA's")
    return _report(folder, "tf1 checkpoint", summary, roles, {"checkpoint": prefix.name, "sizes": sizes, "vocab": vocab})


def _tf1_init_role(folder: Path) -> str:
    """pretrain's own reading of the folder (tf1_sources: shapes, config JSON, vocab.txt)."""
    sources = tf1_sources(folder)
    hidden = ", ".join(f"{role} hidden {s.config['hidden_size']}" for role, s in sources.items())
    return f"pretrain --shards SHARDS --init-from {folder} ({hidden}; shards made with --vocab {folder})"


def _vocab_folder(folder: Path) -> dict:
    vocab, shard_role = _vocabulary(folder)
    no_weights = _no(f"{folder}: a vocab folder holds no weights")
    roles = {role: no_weights for role in ROLES}
    roles["shard --vocab"] = shard_role
    summary = "a vocab folder of electra-cli"
    if vocab and vocab.get("extends"):
        summary = f"a published vocabulary extended by electra-cli ({extension_line(vocab['extends'])})"
    return _report(folder, "vocab", summary, roles, {"vocab": vocab})


def extension_line(extends: dict) -> str:
    """An extended vocabulary as `inspect` shows it: the published base + K added."""
    return (f"published base of {extends['vocab_size']} tokens + {extends['added']} added "
            f"({extends.get('filled_unused', 0)} in [unused] slots, {extends.get('appended', 0)} appended); "
            f"base {extends.get('folder')}, sha256 {str(extends.get('vocab_sha256'))[:12]}")


def _shards(folder: Path) -> dict:
    manifest = load_manifest(folder)
    splits = {name: {"rows": s["rows"], "tokens": s.get("tokens"), "shards": len(s["shards"])}
              for name, s in manifest["splits"].items()}
    vocab = manifest.get("vocab") or {}
    details = {"max_seq_len": manifest.get("max_seq_len"), "splits": splits,
               "vocab": {"size": vocab.get("size"), "sha256": vocab.get("sha256"),
                         "special_ids": vocab.get("special_ids"), "path": vocab.get("path"),
                         "tokenizer": vocab.get("tokenizer"), "ignored": vocab.get("ignored", [])},
               "words": manifest.get("words")}
    not_model = _no(f"{folder}: a shards folder holds no weights")
    roles = {role: not_model for role in ROLES}
    roles["shard --vocab"] = _no(f"{folder}: a shards folder, not a vocabulary (its vocabulary: {vocab.get('path')})")
    roles["pretrain --shards"] = _yes(f"pretrain --shards {folder} --out RUN")
    summary = (f"shards: {splits.get('train', {}).get('rows', 0):,} train + "
               f"{splits.get('validation', {}).get('rows', 0):,} validation rows of at most {manifest.get('max_seq_len')} tokens")
    return _report(folder, "shards", summary, roles, details)


def _run(folder: Path) -> dict:
    final = folder / "final"
    checkpoints = complete_checkpoints(folder / "checkpoints") if (folder / "checkpoints").is_dir() else []
    details = {"final": sorted(p.name for p in final.iterdir() if p.is_dir()) if final.is_dir() else [],
               "checkpoints": [p.name for p in checkpoints]}
    roles = {role: _no(f"{folder}: a run folder; use its models under {final}") for role in ROLES}
    roles["shard --vocab"] = _no(f"{folder}: a run folder, not a vocabulary")
    if (final / "discriminator").is_dir():
        roles["pretrain --init-discriminator"] = _yes(f"pretrain --init-from {final} (or --init-discriminator "
                                                      f"{final / 'discriminator'})")
        roles["finetune --model"] = _yes(f"finetune --model {final / 'discriminator'}")
    if (final / "generator").is_dir():
        roles["pretrain --init-generator"] = _yes(f"pretrain --init-generator {final / 'generator'}")
    if checkpoints:
        roles["pretrain --resume"] = _yes(f"pretrain --out {folder} --resume auto (from {checkpoints[-1].name})")
    summary = (f"a pretraining run: {'final models ' + ', '.join(details['final']) if details['final'] else 'no final models yet'}"
               f"; {len(checkpoints)} complete checkpoint(s)")
    return _report(folder, "run", summary, roles, details)


def render(report: dict) -> list[str]:
    """The report as lines for a terminal."""
    lines = [f"{report['folder']}: {report['kind']}: {report['summary']}"]
    if report.get("sizes"):
        lines.append("  sizes: " + ", ".join(f"{k} {v}" for k, v in report["sizes"].items()))
    vocab = report.get("vocab")
    if vocab:
        tok = vocab.get("tokenizer") or {}
        specials = ", ".join(f"{k} {v}" for k, v in (vocab.get("special_ids") or {}).items())
        lines.append(f"  vocabulary: {vocab.get('size')} tokens; special ids: {specials}")
        if vocab.get("extends"):
            lines.append(f"  extended: {extension_line(vocab['extends'])}")
        if tok:
            casing = "lowercased" if tok.get("lowercase") else "cased"
            accents = "accents stripped" if tok.get("strip_accents") else "accents kept"
            chinese = "Chinese characters split one per token" if tok.get("chinese_chars_split") else "Chinese characters not split"
            lines.append(f"  tokenizer: {tok.get('class')}: {casing}, {accents}, {chinese}")
        for note in vocab.get("ignored") or []:
            lines.append(f"  ignored for shards: {note}")
    for split, info in (report.get("splits") or {}).items():
        lines.append(f"  {split}: {info['rows']:,} rows, {info['tokens'] or 0:,} tokens in {info['shards']} shard(s)")
    for name in ("final", "checkpoints"):
        if report.get(name):
            lines.append(f"  {name}: {', '.join(report[name])}")
    lines.append("  can be used for:")
    for role, verdict in report["roles"].items():
        mark = "yes" if verdict["ok"] else "no "
        lines.append(f"    {mark} {role}: {verdict['why']}")
    return lines


def to_json(report: dict) -> str:
    return json.dumps(report, indent=2, ensure_ascii=False)
