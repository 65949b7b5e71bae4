"""Tiny imitations of published model folders, as users download them from the Hub, for tests.

Real folders this imitates (layout and file set, not size): google/electra-small-discriminator and
google/electra-small-generator, hfl/chinese-electra-180g-small-discriminator (and -generator), bert-base-uncased
(loaded as BertForMaskedLM), and a non-WordPiece tokenizer folder (ALBERT-like Unigram, RoBERTa-like byte BPE).
Everything is written into a folder the test owns (a tmp_path), with random weights from a seed, never downloaded.

What the published folders look like, and what these fixtures reproduce:
- `vocab.txt` in Google's BERT layout: `[PAD]`=0, `[unused..]` at 1-99, `[UNK]`=100, `[CLS]`=101, `[SEP]`=102,
  `[MASK]`=103 (not our own vocab's 0-4), then more `[unused..]`, single characters, `##` characters and words.
- `config.json` with `architectures` naming the head class, `model_type: electra` (or `bert`).
- weights as `pytorch_model.bin` (the older folders: a `torch.save` of the state dict, tied weights written twice)
  or `model.safetensors` (what `save_pretrained` writes today: tied weights written once).
- `tokenizer_config.json` as minimal as Google's: `{"do_lower_case": true, "model_max_length": 512}`, with no
  `tokenizer_class`, so `AutoTokenizer` finds the class through `config.json`'s `model_type`.
- often no `tokenizer.json` (only `vocab.txt`); `tokenizer_json=True` adds one built with the `tokenizers` library.

Typical use:

    disc, gen = write_electra_pair(tmp_path / "hub", google_vocab(WORDS), layout="separate", weights="bin")
    # disc == tmp_path / "hub" / "electra-small-discriminator"
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

import torch

PAD, UNK, CLS, SEP, MASK = "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"
# The ids of the special tokens in every Google/HFL BERT-family vocab.txt (ours put them at 0-4 instead).
GOOGLE_SPECIAL_IDS = {PAD: 0, UNK: 100, CLS: 101, SEP: 102, MASK: 103}

# Folder names as on the Hub, for layout="separate" (`<name>-discriminator`, `<name>-generator`).
GOOGLE_SMALL = "electra-small"
HFL_SMALL = "chinese-electra-180g-small"

PUNCTUATION = list("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
DIGITS = list("0123456789")
LOWER = list("abcdefghijklmnopqrstuvwxyz")
ACCENTED = list("àáäçèéêíñóöüß")  # Google's uncased vocab keeps some accented letters as single characters
# Common Chinese characters (so that everyday sentences such as "我的中文很好" are covered), added to a block of
# the CJK range in google_vocab(chinese=True).
COMMON_CJK = (
    "的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年得就那要下以生会自着去之过家学对可里后小么心多天"
    "而能好都然没日于起还发成事只作当想看文无开手十用主行方又如前所本见经头面公同三已老从动两长知民样现分将外但身"
    "些与高意进把法此实回二理美点月明其种声全工己话儿者向情部正名定女问力机给等几很业最间新什打便位因重被走电四第"
    "门相次东政海口使教西再平真听世气信北少关并内加化由却代军产入先山五太水万市眼体别处总才场师书比住员九笑性通目"
    "华报立马命张活难神数件安表原车白应路期叫死常提感金何更反合放做系计或司利受光王果亲界及今京务制解各任至清物台"
)


def google_vocab(
    words: list[str] | tuple[str, ...] = (),
    cased: bool = False,
    chinese: bool = False,
    extra_unused: int = 10,
    cjk: int = 300,
) -> list[str]:
    """Tokens of a vocab.txt in Google's BERT/ELECTRA layout (line number = id).

    Uncased (Google's ELECTRA and bert-base-uncased): `[PAD]`, `[unused0]`..`[unused98]` (ids 1-99), `[UNK]` 100,
    `[CLS]` 101, `[SEP]` 102, `[MASK]` 103, then `extra_unused` more `[unused99]`..., then single characters
    (punctuation incl. `[`, `]`, `.`, `,`; digits; letters; a few accented letters), the same characters with `##`,
    then `words`, lowercased, in order, skipping duplicates.
    `cased=True` (bert-base-cased's layout): `[unused1]`..`[unused99]` at 1-99, upper-case letters too, words kept.
    `chinese=True` (Google's Chinese BERT, which HFL's Chinese ELECTRA reuses): `[unused1]`..`[unused99]` at 1-99,
    `<S>` 104 and `<T>` 105 after `[MASK]` instead of more unused tokens, and `cjk` characters from U+4E00 plus
    COMMON_CJK, each also as `##` + character. Whatever the variant, the specials keep the ids in GOOGLE_SPECIAL_IDS.
    """
    first_unused = 1 if (cased or chinese) else 0
    tokens = [PAD] + [f"[unused{i}]" for i in range(first_unused, first_unused + 99)] + [UNK, CLS, SEP, MASK]
    if chinese:
        tokens += ["<S>", "<T>"]
    else:
        start = first_unused + 99
        tokens += [f"[unused{i}]" for i in range(start, start + extra_unused)]
    letters = LOWER + ACCENTED
    if cased:
        letters = letters + [c.upper() for c in LOWER] + [c.upper() for c in ACCENTED if c != "ß"]
    chars = PUNCTUATION + DIGITS + letters
    if chinese:
        chars = chars + [chr(0x4E00 + i) for i in range(cjk)] + list(COMMON_CJK)
    chars = list(dict.fromkeys(chars))
    pieces = [w if cased else w.lower() for w in words]
    tokens += chars + ["##" + c for c in chars] + pieces
    return list(dict.fromkeys(tokens))


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file's bytes (the vocab's identity downstream is the sha256 of its vocab.txt)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load_weights(folder: Path) -> dict[str, torch.Tensor]:
    """The state dict stored in a model folder, whichever format it has (model.safetensors or pytorch_model.bin).

    Note that a safetensors file written by save_pretrained stores a tied weight once (an ElectraForMaskedLM has no
    `generator_lm_head.weight` in it), while a pytorch_model.bin written by torch.save stores both copies.
    """
    folder = Path(folder)
    if (folder / "model.safetensors").exists():
        from safetensors.torch import load_file

        return load_file(folder / "model.safetensors")
    return torch.load(folder / "pytorch_model.bin", map_location="cpu", weights_only=True)


def write_vocab_txt(folder: Path, vocab: list[str]) -> Path:
    """vocab.txt: one token per line, id = line number, trailing newline (as Google's files end)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "vocab.txt"
    path.write_text("\n".join(vocab) + "\n", encoding="utf-8")
    return path


def wordpiece_tokenizer_json(
    vocab: list[str], do_lower_case: bool = True, strip_accents: bool | None = None,
    tokenize_chinese_chars: bool = True,
):
    """A `tokenizers.Tokenizer` equivalent to BERT's WordPiece tokenizer over `vocab`, with [CLS]/[SEP] at their
    ids in that vocab (101/102 in Google's layout) in a `[CLS] A [SEP] B [SEP]` template with type ids."""
    from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import WordPiece

    ids = {t: i for i, t in enumerate(vocab)}
    tok = Tokenizer(WordPiece(ids, unk_token=UNK, continuing_subword_prefix="##", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=tokenize_chinese_chars, strip_accents=strip_accents,
        lowercase=do_lower_case,
    )
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single=f"{CLS}:0 $A:0 {SEP}:0",
        pair=f"{CLS}:0 $A:0 {SEP}:0 $B:1 {SEP}:1",
        special_tokens=[(CLS, ids[CLS]), (SEP, ids[SEP])],
    )
    tok.decoder = decoders.WordPiece(prefix="##")
    return tok


def write_wordpiece_tokenizer(
    folder: Path,
    vocab: list[str],
    *,
    do_lower_case: bool = True,
    strip_accents: bool | None = None,
    tokenize_chinese_chars: bool = True,
    tokenizer_json: bool = False,
    tokenizer_config: bool = True,
    tokenizer_class: str | None = None,
    special_tokens_map: bool = False,
) -> None:
    """The tokenizer files of a published BERT-family folder: vocab.txt, and optionally the rest.

    tokenizer_config.json is Google's minimal `{"do_lower_case": ..., "model_max_length": 512}`; `strip_accents`
    and `tokenize_chinese_chars` are added only when they differ from BERT's defaults (None, True), and
    `tokenizer_class` only when given (Google's and bert-base-uncased's files have none). `tokenizer_config=False`
    leaves the file out altogether (vocab.txt + config.json still load with AutoTokenizer, via model_type).
    """
    folder = Path(folder)
    write_vocab_txt(folder, vocab)
    if tokenizer_config:
        cfg: dict = {"do_lower_case": do_lower_case}
        if strip_accents is not None:
            cfg["strip_accents"] = strip_accents
        if not tokenize_chinese_chars:
            cfg["tokenize_chinese_chars"] = False
        if tokenizer_class:
            cfg["tokenizer_class"] = tokenizer_class
        cfg["model_max_length"] = 512
        (folder / "tokenizer_config.json").write_text(json.dumps(cfg), encoding="utf-8")
    if special_tokens_map:
        specials = {"unk_token": UNK, "sep_token": SEP, "pad_token": PAD, "cls_token": CLS, "mask_token": MASK}
        (folder / "special_tokens_map.json").write_text(json.dumps(specials), encoding="utf-8")
    if tokenizer_json:
        wordpiece_tokenizer_json(vocab, do_lower_case, strip_accents, tokenize_chinese_chars).save(
            str(folder / "tokenizer.json"))


def _save_model(model: torch.nn.Module, folder: Path, weights: Literal["safetensors", "bin"]) -> None:
    """Config + weights. "bin" is a plain torch.save of the state dict and no safetensors file, as the Hub's older
    folders are (loadable with torch.load(weights_only=True)); "safetensors" is what save_pretrained writes."""
    folder.mkdir(parents=True, exist_ok=True)
    if weights == "safetensors":
        model.save_pretrained(folder)
    elif weights == "bin":
        model.config.save_pretrained(folder)
        torch.save(model.state_dict(), folder / "pytorch_model.bin")
    else:
        raise ValueError(f"weights must be 'safetensors' or 'bin', not {weights!r}")


def write_electra_pair(
    folder: Path,
    vocab: list[str],
    *,
    layers: int = 2,
    hidden: int = 64,
    embedding: int = 32,
    heads: int = 2,
    generator_hidden: int = 32,
    generator_heads: int | None = None,
    weights: Literal["safetensors", "bin"] = "safetensors",
    tokenizer_json: bool = False,
    do_lower_case: bool = True,
    strip_accents: bool | None = None,
    tokenize_chinese_chars: bool = True,
    tokenizer_config: bool = True,
    tokenizer_class: str | None = None,
    special_tokens_map: bool = False,
    tie_embeddings: bool = True,
    seed: int = 0,
    layout: Literal["pair", "separate"] = "pair",
    name: str = GOOGLE_SMALL,
) -> tuple[Path, Path]:
    """Write a discriminator folder (ElectraForPreTraining) and a generator folder (ElectraForMaskedLM).

    layout "pair": `folder/discriminator` + `folder/generator` (what a run's `final/` looks like); "separate":
    `folder/<name>-discriminator` + `folder/<name>-generator` (as users download them from the Hub).
    Each folder has config.json (vocab_size = len(vocab), pad_token_id 0, type_vocab_size 2, 128 positions,
    architectures naming the class), weights (see `_save_model`) and the tokenizer files of
    `write_wordpiece_tokenizer`. The generator has the same depth and embedding size and a smaller hidden size
    (`generator_heads` defaults to keeping the discriminator's head size).
    tie_embeddings=True: the generator's word, position and token-type embeddings and embedding LayerNorm are
    copies of the discriminator's, as in HF's conversion of the jointly trained reference models (the generator's
    output layer stays tied to its own word embeddings). False: independent random init (seed and seed + 1).
    Returns (discriminator folder, generator folder).
    """
    from transformers import ElectraConfig, ElectraForMaskedLM, ElectraForPreTraining

    folder = Path(folder)
    if layout == "pair":
        disc_dir, gen_dir = folder / "discriminator", folder / "generator"
    elif layout == "separate":
        disc_dir, gen_dir = folder / f"{name}-discriminator", folder / f"{name}-generator"
    else:
        raise ValueError(f"layout must be 'pair' or 'separate', not {layout!r}")
    if generator_heads is None:
        generator_heads = max(1, generator_hidden // (hidden // heads))

    common = dict(vocab_size=len(vocab), embedding_size=embedding, num_hidden_layers=layers,
                  max_position_embeddings=128, type_vocab_size=2, pad_token_id=0)
    disc_cfg = ElectraConfig(hidden_size=hidden, num_attention_heads=heads, intermediate_size=4 * hidden, **common)
    gen_cfg = ElectraConfig(hidden_size=generator_hidden, num_attention_heads=generator_heads,
                            intermediate_size=4 * generator_hidden, **common)
    disc_cfg.architectures = ["ElectraForPreTraining"]
    gen_cfg.architectures = ["ElectraForMaskedLM"]

    torch.manual_seed(seed)
    disc = ElectraForPreTraining(disc_cfg).eval()
    torch.manual_seed(seed + 1)
    gen = ElectraForMaskedLM(gen_cfg).eval()
    if tie_embeddings:
        # word/position/token-type embeddings + LayerNorm; generator_lm_head.weight is the same Parameter as the
        # word embeddings, so it follows.
        gen.electra.embeddings.load_state_dict(disc.electra.embeddings.state_dict())

    for model, out in ((disc, disc_dir), (gen, gen_dir)):
        _save_model(model, out, weights)
        write_wordpiece_tokenizer(
            out, vocab, do_lower_case=do_lower_case, strip_accents=strip_accents,
            tokenize_chinese_chars=tokenize_chinese_chars, tokenizer_json=tokenizer_json,
            tokenizer_config=tokenizer_config, tokenizer_class=tokenizer_class,
            special_tokens_map=special_tokens_map,
        )
    return disc_dir, gen_dir


def write_google_electra_small(folder: Path, words, **kwargs) -> tuple[Path, Path]:
    """google/electra-small-{discriminator,generator} as downloaded: separate folders, uncased Google vocab,
    pytorch_model.bin, minimal tokenizer_config.json, no tokenizer.json. Any write_electra_pair argument overrides."""
    kwargs = {"layout": "separate", "name": GOOGLE_SMALL, "weights": "bin", **kwargs}
    return write_electra_pair(folder, google_vocab(words), **kwargs)


def write_hfl_chinese_electra_small(folder: Path, words=(), **kwargs) -> tuple[Path, Path]:
    """hfl/chinese-electra-180g-small-{discriminator,generator} as downloaded: separate folders, Google's Chinese
    BERT vocab layout (CJK characters split one per token), pytorch_model.bin, no tokenizer.json."""
    kwargs = {"layout": "separate", "name": HFL_SMALL, "weights": "bin", **kwargs}
    return write_electra_pair(folder, google_vocab(words, chinese=True), **kwargs)


def write_bert_mlm(
    folder: Path,
    vocab: list[str],
    *,
    layers: int = 2,
    hidden: int = 64,
    heads: int = 2,
    weights: Literal["safetensors", "bin"] = "bin",
    pretraining_heads: bool = False,
    legacy_names: bool = False,
    tokenizer_json: bool = False,
    do_lower_case: bool = True,
    strip_accents: bool | None = None,
    tokenize_chinese_chars: bool = True,
    tokenizer_config: bool = True,
    tokenizer_class: str | None = None,
    special_tokens_map: bool = False,
    seed: int = 0,
) -> Path:
    """A bert-base-uncased-like folder: config.json with architectures ["BertForMaskedLM"], weights, tokenizer files.

    pretraining_heads=True stores BertForPreTraining's weights (pooler + next-sentence head too), as the real
    bert-base-uncased does: BertForMaskedLM then reports `bert.pooler.*` and `cls.seq_relationship.*` as
    unexpected keys. legacy_names=True (only with weights="bin") renames LayerNorm weight/bias to gamma/beta, the
    2018 names still in that file; transformers renames them back on load. Returns the folder.
    """
    from transformers import BertConfig, BertForMaskedLM, BertForPreTraining

    folder = Path(folder)
    cfg = BertConfig(vocab_size=len(vocab), hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                     intermediate_size=4 * hidden, max_position_embeddings=128, type_vocab_size=2, pad_token_id=0)
    torch.manual_seed(seed)
    model = (BertForPreTraining if pretraining_heads else BertForMaskedLM)(cfg).eval()
    model.config.architectures = ["BertForMaskedLM"]
    if legacy_names:
        if weights != "bin":
            raise ValueError("legacy_names needs weights='bin'")
        folder.mkdir(parents=True, exist_ok=True)
        model.config.save_pretrained(folder)
        state = {k.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta"): v
                 for k, v in model.state_dict().items()}
        torch.save(state, folder / "pytorch_model.bin")
    else:
        _save_model(model, folder, weights)
    write_wordpiece_tokenizer(
        folder, vocab, do_lower_case=do_lower_case, strip_accents=strip_accents,
        tokenize_chinese_chars=tokenize_chinese_chars, tokenizer_json=tokenizer_json,
        tokenizer_config=tokenizer_config, tokenizer_class=tokenizer_class, special_tokens_map=special_tokens_map,
    )
    return folder


def write_sentencepiece_like(
    folder: Path, kind: Literal["unigram", "bpe"] = "unigram", words=("the", "a", "city", "river"),
) -> Path:
    """A model folder whose tokenizer is not WordPiece, and which has no vocab.txt: config.json + tokenizer.json +
    tokenizer_config.json, no weights.

    "unigram": ALBERT-like (model_type albert; Unigram model, Metaspace `▁` pre-tokenizer, `<pad>` 0, `<unk>` 1,
    `[CLS]` 2, `[SEP]` 3, `[MASK]` 4). "bpe": RoBERTa-like (model_type roberta; byte-level BPE with vocab.json and
    merges.txt beside tokenizer.json, `<s>` 0, `<pad>` 1, `</s>` 2, `<unk>` 3, `<mask>` last).
    Both load with AutoTokenizer (no sentencepiece needed), so a refusal has to come from the code under test.
    """
    from tokenizers import (
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
    )

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if kind == "unigram":
        specials = ["<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]"]
        pieces = specials + ["▁"] + [f"▁{w}" for w in words] + LOWER + DIGITS + PUNCTUATION
        tok = Tokenizer(models.Unigram([(p, 0.0 if p in specials else -float(i)) for i, p in enumerate(pieces)],
                                       unk_id=1, byte_fallback=False))
        tok.normalizer = normalizers.Lowercase()
        tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
        tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
        tok.post_processor = processors.TemplateProcessing(
            single="[CLS]:0 $A:0 [SEP]:0", pair="[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1",
            special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
        config = {"architectures": ["AlbertForMaskedLM"], "model_type": "albert", "vocab_size": len(pieces),
                  "embedding_size": 32, "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
                  "intermediate_size": 256, "max_position_embeddings": 128, "pad_token_id": 0}
        tok_cfg = {"tokenizer_class": "AlbertTokenizer", "do_lower_case": True, "unk_token": "<unk>",
                   "pad_token": "<pad>", "cls_token": "[CLS]", "sep_token": "[SEP]", "mask_token": "[MASK]",
                   "model_max_length": 512}
    elif kind == "bpe":
        bytes_alphabet = pre_tokenizers.ByteLevel.alphabet()
        vocab = {t: i for i, t in enumerate(["<s>", "<pad>", "</s>", "<unk>"] + sorted(bytes_alphabet))}
        merges = []
        for w in words:  # merge each word left to right, e.g. Ġ c -> Ġc, Ġc i -> Ġci, ...
            sym = "Ġ" + w
            for j in range(2, len(sym) + 1):
                left, right = sym[: j - 1], sym[j - 1]
                merges.append((left, right))
                vocab.setdefault(left + right, len(vocab))
        merges = list(dict.fromkeys(merges))
        vocab["<mask>"] = len(vocab)
        tok = Tokenizer(models.BPE(vocab, merges, unk_token=None))
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
        tok.decoder = decoders.ByteLevel()
        tok.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
        (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
        (folder / "merges.txt").write_text(
            "#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges), encoding="utf-8")
        config = {"architectures": ["RobertaForMaskedLM"], "model_type": "roberta", "vocab_size": len(vocab),
                  "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 256,
                  "max_position_embeddings": 130, "pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2,
                  "type_vocab_size": 1}
        tok_cfg = {"tokenizer_class": "RobertaTokenizer", "model_max_length": 128}
    else:
        raise ValueError(f"kind must be 'unigram' or 'bpe', not {kind!r}")
    tok.save(str(folder / "tokenizer.json"))
    (folder / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    (folder / "tokenizer_config.json").write_text(json.dumps(tok_cfg), encoding="utf-8")
    return folder
