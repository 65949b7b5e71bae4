"""Tiny imitations of published model folders, as users download them from the Hub, for tests.

Real folders this imitates (layout and file set, not size): google/electra-small-discriminator and
google/electra-small-generator, hfl/chinese-electra-180g-small-discriminator (and -generator), bert-base-uncased
(loaded as BertForMaskedLM), and a non-WordPiece tokenizer folder (ALBERT-like Unigram, RoBERTa-like byte BPE).
The zoo (`ZOO`, `write_zoo_folder`) adds bert-base-chinese, hfl/chinese-roberta-wwm-ext, bert-base-cased, a
sentence-transformers export (BertModel, tokenizer.json only, padding and truncation on), a cl-tohoku Japanese BERT
(BertJapaneseTokenizer: refused) and a bare ElectraModel folder.
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
    # HF's converter lists the specials as added tokens (at their vocab ids), so they are never split
    tok.add_special_tokens([t for t in (PAD, UNK, CLS, SEP, MASK) if t in ids])
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
    max_position: int = 128,
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
    Each folder has config.json (vocab_size = len(vocab), pad_token_id 0, type_vocab_size 2, `max_position`,
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
                  max_position_embeddings=max_position, type_vocab_size=2, pad_token_id=0)
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


# ---- the zoo: one builder per published layout, with the real file set, config keys and tokenizer settings ------

# bert-base-chinese / hfl's Chinese BERTs carry Google's original pooler settings in config.json
BERT_POOLER_KEYS = {"directionality": "bidi", "pooler_fc_size": 768, "pooler_num_attention_heads": 12,
                    "pooler_num_fc_layers": 3, "pooler_size_per_head": 128, "pooler_type": "first_token_transform"}
# the padding and truncation a sentence-transformers export leaves switched on in its tokenizer.json
ST_PADDING = {"strategy": {"Fixed": 128}, "direction": "Right", "pad_to_multiple_of": None, "pad_id": 0,
              "pad_type_id": 0, "pad_token": PAD}
ST_TRUNCATION = {"direction": "Right", "max_length": 128, "strategy": "LongestFirst", "stride": 0}


def _edit_json(path: Path, **changes) -> None:
    """Set (or, with value None under key `_drop`, remove) top-level keys of a JSON file."""
    data = json.loads(path.read_text(encoding="utf-8"))
    for key in changes.pop("_drop", ()):
        data.pop(key, None)
    data.update(changes)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")


def write_bert_encoder(folder: Path, vocab: list[str], *, kind: Literal["bert", "electra"] = "bert", layers: int = 2,
                       hidden: int = 64, embedding: int = 32, heads: int = 2, seed: int = 0) -> Path:
    """A bare encoder folder (BertModel or ElectraModel, `save_pretrained`): config.json naming the class and
    model.safetensors whose keys have no `bert.`/`electra.` prefix (embeddings.*, encoder.*, BertModel's pooler.*,
    ElectraModel's embeddings_project.* when the embedding size differs). No tokenizer files."""
    from transformers import BertConfig, BertModel, ElectraConfig, ElectraModel

    torch.manual_seed(seed)
    common = dict(vocab_size=len(vocab), hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                  intermediate_size=4 * hidden, max_position_embeddings=128, type_vocab_size=2, pad_token_id=0)
    if kind == "bert":
        model = BertModel(BertConfig(**common)).eval()
    else:
        model = ElectraModel(ElectraConfig(embedding_size=embedding, **common)).eval()
    model.config.architectures = [type(model).__name__]
    _save_model(model, Path(folder), "safetensors")
    return Path(folder)


def write_google_electra_small_hub(folder: Path, words=(), **kwargs) -> tuple[Path, Path]:
    """google/electra-small-{discriminator,generator} as the Hub serves them today: vocab.txt + tokenizer.json
    (HF's conversion: uncased BertNormalizer, BertPreTokenizer, WordPiece, [CLS]/[SEP] template) +
    tokenizer_config.json `{"do_lower_case": true, "model_max_length": 512}`, pytorch_model.bin."""
    return write_google_electra_small(folder, words, tokenizer_json=True, **kwargs)


def write_bert_base_chinese(folder: Path, *, roberta_wwm: bool = False, seed: int = 0) -> Path:
    """bert-base-chinese (roberta_wwm=False) or hfl/chinese-roberta-wwm-ext (True): BertForMaskedLM with the
    weights of BertForPreTraining (cls.predictions, cls.seq_relationship, bert.pooler) in pytorch_model.bin,
    Google's Chinese vocab.txt, tokenizer.json, and config.json with the original pooler keys.
    bert-base-chinese's tokenizer_config.json is `{"do_lower_case": false}` (its tokenizer.json agrees); HFL's is
    `{"init_inputs": []}` (do_lower_case then defaults to true) with special_tokens_map.json and an empty
    added_tokens.json beside it."""
    vocab = google_vocab(["the", "city", "river"], chinese=True)
    lower = roberta_wwm
    folder = write_bert_mlm(folder, vocab, pretraining_heads=True, tokenizer_json=True, do_lower_case=lower,
                            special_tokens_map=roberta_wwm, seed=seed)
    extra = dict(BERT_POOLER_KEYS, output_past=True) if roberta_wwm else BERT_POOLER_KEYS
    _edit_json(folder / "config.json", **extra)
    if roberta_wwm:
        (folder / "tokenizer_config.json").write_text(json.dumps({"init_inputs": []}), encoding="utf-8")
        (folder / "added_tokens.json").write_text("{}", encoding="utf-8")
    else:
        (folder / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": False}), encoding="utf-8")
    return folder


def write_bert_base_cased(folder: Path, words=(), seed: int = 0) -> Path:
    """bert-base-cased: cased Google vocab, tokenizer_config.json `{"do_lower_case": false}`, tokenizer.json
    (no lowercasing, no accent stripping), BertForMaskedLM over BertForPreTraining's weights, model.safetensors."""
    vocab = google_vocab(list(words) + ["Paris", "Zürich"], cased=True)
    folder = write_bert_mlm(folder, vocab, weights="safetensors", pretraining_heads=True, tokenizer_json=True,
                            do_lower_case=False, seed=seed)
    (folder / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": False}), encoding="utf-8")
    return folder


def write_sentence_transformers(folder: Path, words=(), seed: int = 0) -> Path:
    """A sentence-transformers export of a BERT (all-MiniLM-style): BertModel in model.safetensors, modules.json
    (Transformer + 1_Pooling), 1_Pooling/config.json, sentence_bert_config.json, config_sentence_transformers.json,
    special_tokens_map.json, tokenizer_config.json naming BertTokenizer, and tokenizer.json with padding to 128
    and truncation at 128 switched on; no vocab.txt."""
    folder = Path(folder)
    vocab = google_vocab(words)
    write_bert_encoder(folder, vocab, kind="bert", seed=seed)
    tok = wordpiece_tokenizer_json(vocab)
    tok.save(str(folder / "tokenizer.json"))
    _edit_json(folder / "tokenizer.json", padding=ST_PADDING, truncation=ST_TRUNCATION)
    specials = {"unk_token": UNK, "sep_token": SEP, "pad_token": PAD, "cls_token": CLS, "mask_token": MASK}
    (folder / "special_tokens_map.json").write_text(json.dumps(specials), encoding="utf-8")
    tok_cfg = {"clean_up_tokenization_spaces": True, "do_basic_tokenize": True, "do_lower_case": True,
               "model_max_length": 512, "never_split": None, "strip_accents": None, "tokenize_chinese_chars": True,
               "tokenizer_class": "BertTokenizer", **specials}
    (folder / "tokenizer_config.json").write_text(json.dumps(tok_cfg, indent=2), encoding="utf-8")
    (folder / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}], indent=2))
    (folder / "1_Pooling").mkdir()
    (folder / "1_Pooling" / "config.json").write_text(json.dumps({
        "word_embedding_dimension": 64, "pooling_mode_cls_token": False, "pooling_mode_mean_tokens": True,
        "pooling_mode_max_tokens": False, "pooling_mode_mean_sqrt_len_tokens": False}, indent=2))
    (folder / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 128, "do_lower_case": False}))
    (folder / "config_sentence_transformers.json").write_text(json.dumps({"__version__": {
        "sentence_transformers": "2.0.0", "transformers": "4.6.1", "pytorch": "1.8.1"}}))
    return folder


def write_bert_japanese(folder: Path, seed: int = 0) -> Path:
    """cl-tohoku/bert-base-japanese: BertForMaskedLM, vocab.txt, config.json naming `tokenizer_class`
    BertJapaneseTokenizer, tokenizer_config.json `{"do_lower_case": false, "word_tokenizer_type": "mecab",
    "subword_tokenizer_type": "wordpiece"}` (MeCab word splitting: not BERT's basic tokenizer)."""
    vocab = google_vocab(["the", "city"], chinese=True)
    folder = write_bert_mlm(folder, vocab, do_lower_case=False, seed=seed)
    _edit_json(folder / "config.json", tokenizer_class="BertJapaneseTokenizer")
    (folder / "tokenizer_config.json").write_text(json.dumps(
        {"do_lower_case": False, "word_tokenizer_type": "mecab", "subword_tokenizer_type": "wordpiece"}))
    return folder


def write_electra_model(folder: Path, words=(), seed: int = 0) -> Path:
    """A bare ElectraModel folder (an encoder exported without heads): Google's uncased vocab.txt and minimal
    tokenizer_config.json, config.json naming ElectraModel, model.safetensors with unprefixed keys."""
    vocab = google_vocab(words)
    folder = write_bert_encoder(folder, vocab, kind="electra", seed=seed)
    write_wordpiece_tokenizer(folder, vocab)
    return folder


def write_zoo_folder(base: Path, name: str, words=()) -> Path:
    """The zoo fixture `name` (a key of ZOO) under `base/name`; for a pair, its discriminator folder."""
    out = Path(base) / name
    if name == "electra-small":
        return write_google_electra_small_hub(out, words)[0]
    if name == "electra-small-generator":
        return write_google_electra_small_hub(out, words)[1]
    if name == "chinese-electra-180g-small":
        return write_hfl_chinese_electra_small(out, words)[0]
    if name == "chinese-electra-180g-small-generator":
        return write_hfl_chinese_electra_small(out, words)[1]
    builders = {"bert-base-chinese": lambda: write_bert_base_chinese(out),
                "chinese-roberta-wwm-ext": lambda: write_bert_base_chinese(out, roberta_wwm=True),
                "bert-base-cased": lambda: write_bert_base_cased(out, words),
                "sentence-transformers": lambda: write_sentence_transformers(out, words),
                "bert-base-japanese": lambda: write_bert_japanese(out),
                "electra-model": lambda: write_electra_model(out, words)}
    return builders[name]()


# name -> (what it imitates, accepted as a vocabulary)
ZOO = {
    "electra-small": ("google/electra-small-discriminator", True),
    "electra-small-generator": ("google/electra-small-generator", True),
    "chinese-electra-180g-small": ("hfl/chinese-electra-180g-small-discriminator", True),
    "chinese-electra-180g-small-generator": ("hfl/chinese-electra-180g-small-generator", True),
    "bert-base-chinese": ("bert-base-chinese", True),
    "chinese-roberta-wwm-ext": ("hfl/chinese-roberta-wwm-ext", True),
    "bert-base-cased": ("bert-base-cased", True),
    "sentence-transformers": ("sentence-transformers/all-MiniLM-L6-v2-style export", True),
    "electra-model": ("an ElectraModel export", True),
    "bert-base-japanese": ("cl-tohoku/bert-base-japanese", False),
}
