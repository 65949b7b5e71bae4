"""What a fixed vocabulary loses on a corpus: the `[UNK]` tokens sharding makes, and the text behind them.

Counted per chunk into the chunk's packing counts (summable, so a cluster's parts merged give the one-machine
manifest), then split out of them for the manifest's `unknown` entry and the summary line.
"""

from __future__ import annotations

from collections import Counter

TOKENS = "unknown_tokens"  # the count of [UNK] tokens, among the chunk's packing counts
TEXT = "unknown_text:"  # prefix of the counts of each text an [UNK] stands for ("unknown_text:𠮷": 3)
TEXTS_PER_CHUNK = 1000  # the commonest texts kept per chunk: bounded memory, the same sums however work is split
TEXTS_SHOWN = 50  # in the manifest, commonest first


def count_unknown(tokenizer, unk_id: int, lines: list[str], ids: list[list[int]], counts: Counter) -> None:
    """Add the [UNK] tokens of `lines` (tokenized as `ids`) and the text behind each to `counts`. Only lines
    with an [UNK] are tokenized again, with character offsets: on a corpus the vocabulary covers, nearly none."""
    hit = [i for i, line_ids in enumerate(ids) if unk_id in line_ids]
    if not hit:
        return
    texts: Counter = Counter()
    for i, encoding in zip(hit, tokenizer.encode_batch([lines[i] for i in hit], add_special_tokens=False)):
        for token_id, (start, end) in zip(encoding.ids, encoding.offsets):
            if token_id == unk_id:
                texts[lines[i][start:end]] += 1
    counts[TOKENS] += sum(texts.values())
    kept = sorted(texts.items(), key=lambda item: (-item[1], item[0]))[:TEXTS_PER_CHUNK]
    counts.update({TEXT + text: n for text, n in kept})


def split_counts(counts: Counter | dict) -> tuple[dict, dict]:
    """(the packing counts without the [UNK] ones, the manifest's `unknown` entry)."""
    packing = {k: v for k, v in counts.items() if k != TOKENS and not k.startswith(TEXT)}
    texts = sorted(((k.removeprefix(TEXT), v) for k, v in counts.items() if k.startswith(TEXT)),
                   key=lambda item: (-item[1], item[0]))
    tokens = counts.get(TOKENS, 0)
    total = counts.get("input_tokens", 0)
    return packing, {"token": "[UNK]", "tokens": tokens, "share": round(tokens / total, 8) if total else 0.0,
                     "texts": [[text, n] for text, n in texts[:TEXTS_SHOWN]]}


def unknown_summary(unknown: dict, total_tokens: int) -> str:
    """The manifest's `unknown` entry in words, for the end of `shard` and `merge`."""
    if not unknown["tokens"]:
        return "no [UNK]: the vocabulary spells every character of the corpus"
    shown = ", ".join(f"{text!r} {n:,}" for text, n in unknown["texts"][:10])
    return (f"{unknown['tokens']:,} of {total_tokens:,} tokens are [UNK] ({unknown['share']:.3%}): text the "
            f"vocabulary cannot spell, which the model sees only as [UNK]; commonest: {shown} (manifest.json "
            "`unknown` lists more)")
