"""The WordPiece tokenizer we build (BERT normalizer and pre-tokenizer, `##` pieces) and our special tokens.

Our vocab folders put the specials at ids 0-4; published folders do not (Google's and HFL's: 0 and 100-103), so
later stages look ids up by role (`special_ids`) and only our own writer relies on OUR_SPECIAL_IDS.
"""

from __future__ import annotations

from tokenizers import (
    Tokenizer,
    decoders,
    models,
    normalizers,
    pre_tokenizers,
    processors,
)

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]  # ids 0..4, fixed by DESIGN.md
SPECIAL_ROLES = ("pad", "unk", "cls", "sep", "mask")  # the keys of `special_ids`, in SPECIAL_TOKENS' order
PAD_ID, UNK_ID, CLS_ID, SEP_ID, MASK_ID = range(5)
OUR_SPECIAL_IDS = dict(zip(SPECIAL_ROLES, range(len(SPECIAL_TOKENS))))


def new_tokenizer(
    lowercase: bool, vocab: dict[str, int] | None = None, unk: str = "[UNK]", strip_accents: bool | None = None,
    chinese_chars: bool = True,
) -> Tokenizer:
    """A BERT-style WordPiece tokenizer: untrained, or over `vocab` (a published folder's vocab.txt).
    strip_accents None follows lowercase, as in BERT."""
    tokenizer = Tokenizer(models.WordPiece(vocab=vocab, unk_token=unk, continuing_subword_prefix="##"))
    tokenizer.normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=chinese_chars, lowercase=lowercase,
        strip_accents=lowercase if strip_accents is None else strip_accents,
    )
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece(prefix="##")
    return tokenizer


def add_post_processor(tokenizer: Tokenizer) -> None:
    """`[CLS] A [SEP]` and `[CLS] A [SEP] B [SEP]` with type ids 0 for A and 1 for B."""
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS]:0 $A:0 [SEP]:0",
        pair="[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1",
        special_tokens=[("[CLS]", CLS_ID), ("[SEP]", SEP_ID)],
    )
