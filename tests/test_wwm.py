"""Whole-word masking (issue 19): words masked whole, the masked share, `##` and Chinese boundaries, the shards'
word column (byte-identical across workers, readable by datasets), exact resume, and the refusals."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from electra_cli.pretraining.model import masked_slots, whole_word_positions
from electra_cli.pretraining.words import word_piece_table
from electra_cli.shards.read import ShardSet
from electra_cli.vocab.wordpiece import OUR_SPECIAL_IDS
from tests.conftest import pretrain_args, run_cli
from tests.published import GOOGLE_SPECIAL_IDS, write_hfl_chinese_electra_small

PAD, CLS, SEP = OUR_SPECIAL_IDS["pad"], OUR_SPECIAL_IDS["cls"], OUR_SPECIAL_IDS["sep"]
ZH_WORDS = ("中国 人民 生活 我们 国家 时间 工作 方法 经理 明天 北京 关系 问题 学习 电脑 数据 模型 文件 系统 程序 大家 "
            "现在 可以 这个 很 的 和 在 去 用 说 看 新 大 开会 美国 上海 银行 手机 语言 文字").split()


def greedy_reference(lengths: list[int], order: list[int], n_mask: int) -> set[int]:
    """Google's BERT-wwm rule, sequentially: words in `order`, each taken when it fits in what is left."""
    taken, covered = set(), 0
    for w in order:
        if 0 < lengths[w] <= n_mask - covered:
            taken.add(w)
            covered += lengths[w]
    return taken


def random_words_batch(rows: int, seq_len: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, list[list[int]]]:
    """[CLS] A [SEP] B [SEP] rows of random length whose words are 1-4 tokens (Chinese-like), padded."""
    rng = random.Random(seed)
    ids = torch.full((rows, seq_len), PAD)
    continues = torch.zeros((rows, seq_len), dtype=torch.bool)
    words_of_row = []
    for i in range(rows):
        n = rng.randint(6, seq_len)
        body_len = n - 3
        lengths = []
        while sum(lengths) < body_len:
            lengths.append(min(rng.choice([1, 1, 2, 2, 2, 3, 4]), body_len - sum(lengths)))
        flags = [f for length in lengths for f in [0] + [1] * (length - 1)]
        cut = body_len // 2
        row = [CLS] + [rng.randint(5, 99) for _ in range(cut)] + [SEP] + [rng.randint(5, 99) for _ in range(body_len - cut)] + [SEP]
        flag_row = [0] + flags[:cut] + [0] + flags[cut:] + [0]  # a word cut by [SEP] becomes two words
        ids[i, :n] = torch.tensor(row)
        continues[i, :n] = torch.tensor(flag_row, dtype=torch.bool)
        words_of_row.append(n)
    return ids, continues, words_of_row


def words_of(ids_row: torch.Tensor, continues_row: torch.Tensor) -> list[list[int]]:
    """Positions of each word of a row (the definition the masking uses: a flag right after a special is ignored)."""
    words, previous_real = [], False
    for j, (token, flag) in enumerate(zip(ids_row.tolist(), continues_row.tolist())):
        real = token not in (PAD, CLS, SEP)
        if real and flag and previous_real:
            words[-1].append(j)
        elif real:
            words.append([j])
        previous_real = real
    return words


def test_every_chosen_word_is_masked_whole_and_the_share_is_mask_prob():
    seq_len, rows = 128, 512
    ids, continues, _ = random_words_batch(rows, seq_len, seed=0)
    slots = masked_slots(seq_len)
    masked = real = exact = 0
    for seed in range(4):
        generator = torch.Generator().manual_seed(seed)
        positions, valid = whole_word_positions(ids, continues, slots, generator=generator)
        assert positions.shape == valid.shape == (rows, slots)  # static shapes whatever the words
        order = torch.rand(rows, seq_len + 1, generator=torch.Generator().manual_seed(seed)).argsort(dim=1)
        for i in range(rows):
            chosen = set(positions[i][valid[i]].tolist())
            assert len(chosen) == int(valid[i].sum())  # distinct positions
            words = words_of(ids[i], continues[i])
            n_real = sum(map(len, words))
            n_mask = min(slots, max(1, round(0.15 * n_real)))
            hit = [w for w in words if chosen & set(w)]
            assert all(set(w) <= chosen for w in hit)  # no word half-masked
            assert sum(map(len, hit)) == len(chosen) <= n_mask  # never over the count
            # the same words as the sequential rule over the same random order of words
            reference = greedy_reference([len(w) for w in words] + [0] * (seq_len + 1 - len(words)),
                                         order[i].tolist(), n_mask)
            exact += {k for k, w in enumerate(words) if set(w) <= chosen} == reference
            masked += len(chosen)
            real += n_real
    assert exact / (4 * rows) >= 0.99  # the vectorized passes are the sequential rule, but for rare rows
    assert abs(masked / real - 0.15) < 0.005


def test_with_single_token_words_it_is_token_masking_in_count():
    ids, continues, _ = random_words_batch(64, 64, seed=1)
    continues[:] = False
    positions, valid = whole_word_positions(ids, continues, masked_slots(64))
    real = ((ids != PAD) & (ids != CLS) & (ids != SEP)).sum(dim=1)
    assert torch.equal(valid.sum(dim=1), torch.round(real.float() * 0.15).long().clamp(min=1, max=masked_slots(64)))


def test_wordpiece_boundaries_from_a_published_style_vocab(tmp_path):
    """A Google-layout vocab ([PAD] 0, specials at 100-103): `##` pieces continue their word; the masking keeps
    "play ##ing" together on the device, with no segmenter."""
    from transformers import AutoTokenizer

    disc, _ = write_hfl_chinese_electra_small(tmp_path / "hfl", words=("play", "##ing", "##ed", "un"))
    table = word_piece_table(disc)
    vocab = (disc / "vocab.txt").read_text(encoding="utf-8").splitlines()
    assert table.shape == (len(vocab),)
    assert [vocab[i] for i in torch.nonzero(table).flatten().tolist()] == [t for t in vocab if t.startswith("##") and len(t) > 2]
    assert not table[list(GOOGLE_SPECIAL_IDS.values())].any()
    tokenizer = AutoTokenizer.from_pretrained(disc)
    ids = torch.tensor([tokenizer("playing played un play " * 6)["input_ids"]])
    specials = {"pad": 0, "cls": 101, "sep": 102}
    continues = table[ids]
    for seed in range(30):
        positions, valid = whole_word_positions(ids, continues, masked_slots(ids.shape[1]),
                                                generator=torch.Generator().manual_seed(seed), specials=specials)
        chosen = set(positions[0][valid[0]].tolist())
        for j in chosen:  # a masked "play" takes its "##ing"/"##ed", a masked piece its "play"
            if j + 1 < ids.shape[1] and continues[0, j + 1]:
                assert j + 1 in chosen
            if continues[0, j]:
                assert j - 1 in chosen


def zh_rows(folder):
    import pyarrow as pa

    manifest = json.loads((folder / "manifest.json").read_text())
    rows = []
    for split in ("train", "validation"):
        for shard in manifest["splits"][split]["shards"]:
            table = pa.ipc.open_stream(pa.memory_map(str(folder / shard["file"]))).read_all()
            rows += list(zip(table.column("input_ids").to_pylist(), table.column("word_continues").to_pylist()))
    return manifest, rows


def segmented(vocab: list[str], rows) -> list[str]:
    """Rows as text with words joined by '+' pieces and separated by ' | '."""
    out = []
    for ids, flags in rows:
        words: list[str] = []
        for token, flag in zip(ids, flags):
            text = vocab[token]
            if flag:
                words[-1] += "+" + text
            else:
                words.append(text)
        out.append(" | ".join(words))
    return out


def test_chinese_boundaries_checked_by_hand_and_a_user_dictionary(tmp_path):
    """rjieba at shard time, with a published Chinese vocab (specials at 100-103); mixed text gets `##` too."""
    disc, _ = write_hfl_chinese_electra_small(tmp_path / "hfl", words=("play", "##ing"))
    text = tmp_path / "zh.txt"
    sentences = ["中国人民的生活", "经理说明天开会", "明天我们去北京", "美国和中国的关系", "我们用playing的方法"]
    text.write_text("\n\n".join(sentences) + "\n", encoding="utf-8")
    vocab = (disc / "vocab.txt").read_text(encoding="utf-8").splitlines()
    args = ["--vocab", disc, "--max-seq-len", "32", "--workers", "1", "--validation-fraction", "0", "--segment", "rjieba"]
    result = run_cli("shard", text, "--out", tmp_path / "s", *args)
    assert result.exit_code == 0, result.output
    manifest, rows = zh_rows(tmp_path / "s")
    assert sorted(segmented(vocab, rows)) == sorted([
        "[CLS] | 中+国 | 人+民 | 的 | 生+活 | [SEP]",
        "[CLS] | 经+理 | 说 | 明+天 | 开+会 | [SEP]",  # not 说明 | 天: jieba resolves the overlap
        "[CLS] | 明+天 | 我+们 | 去 | 北+京 | [SEP]",
        "[CLS] | 美+国 | 和 | 中+国 | 的 | 关+系 | [SEP]",
        "[CLS] | 我+们 | 用 | play+##ing | 的 | 方+法 | [SEP]",
    ])
    words = manifest["words"]
    assert words["column"] == "word_continues" and words["segmenter"] == "rjieba" and words["version"]
    assert words["user_dict"] is None

    user_dict = tmp_path / "domain.txt"
    user_dict.write_text("# domain words\n中国人民 n\n开会 20000\n", encoding="utf-8")  # frequency optional
    result = run_cli("shard", text, "--out", tmp_path / "u", *args, "--user-dict", user_dict)
    assert result.exit_code == 0, result.output
    manifest, rows = zh_rows(tmp_path / "u")
    assert "[CLS] | 中+国+人+民 | 的 | 生+活 | [SEP]" in segmented(vocab, rows)
    assert manifest["words"]["user_dict"]["entries"] == 2 and len(manifest["words"]["user_dict"]["sha256"]) == 64

    user_dict.write_text("中国人民 often n\n", encoding="utf-8")
    result = run_cli("shard", text, "--out", tmp_path / "bad", *args, "--user-dict", user_dict)
    assert result.exit_code == 3 and f"{user_dict}:1:" in result.output and "Traceback" not in result.output
    result = run_cli("shard", text, "--out", tmp_path / "bad", *args[:-2], "--user-dict", user_dict)
    assert result.exit_code == 2 and "--segment rjieba" in result.output
    result = run_cli("shard", text, "--out", tmp_path / "bad", *args[:-1], "thulac")
    assert result.exit_code == 2 and "--segment must be one of none, rjieba" in result.output


def write_zh_corpus(path, docs: int, seed: int = 0):
    rng = random.Random(seed)
    blocks = []
    for _ in range(docs):
        lines = ["".join(rng.choice(ZH_WORDS) for _ in range(rng.randint(5, 14))) + "。" for _ in range(rng.randint(2, 6))]
        blocks.append("\n".join(lines))
    path.write_text("\n\n".join(blocks) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def zh(tmp_path_factory):
    """A Chinese corpus, its vocab, and shards with (seg) and without (plain) word boundaries."""
    tmp = tmp_path_factory.mktemp("zh")
    corpus = write_zh_corpus(tmp / "zh.txt", docs=500)
    assert run_cli("vocab", corpus, "--out", tmp / "vocab", "--vocab-size", "300").exit_code == 0
    for name, extra in (("seg", ["--segment", "rjieba"]), ("plain", [])):
        result = run_cli("shard", corpus, "--vocab", tmp / "vocab", "--out", tmp / name, "--max-seq-len", "32",
                         "--workers", "1", "--validation-fraction", "0.05", "--rows-per-shard", "400", *extra)
        assert result.exit_code == 0, result.output
    return tmp


def test_segmented_shards_are_byte_identical_with_1_and_2_workers(zh, tmp_path):
    result = run_cli("shard", zh / "zh.txt", "--vocab", zh / "vocab", "--out", tmp_path / "two", "--max-seq-len", "32",
                     "--workers", "2", "--validation-fraction", "0.05", "--rows-per-shard", "400", "--segment", "rjieba")
    assert result.exit_code == 0, result.output
    one = json.loads((zh / "seg" / "manifest.json").read_text())
    two = json.loads((tmp_path / "two" / "manifest.json").read_text())
    assert len(one["splits"]["train"]["shards"]) >= 2
    for split in ("train", "validation"):
        for shard in one["splits"][split]["shards"]:
            assert (zh / "seg" / shard["file"]).read_bytes() == (tmp_path / "two" / shard["file"]).read_bytes()
    assert one["splits"] == two["splits"] and one["words"] == two["words"]
    # the word column rides along: the token ids are those of the same shards without it
    import datasets
    import pyarrow as pa

    for shard in one["splits"]["train"]["shards"]:
        seg = pa.ipc.open_stream(pa.memory_map(str(zh / "seg" / shard["file"]))).read_all()
        plain = pa.ipc.open_stream(pa.memory_map(str(zh / "plain" / shard["file"]))).read_all()
        assert seg.column("input_ids").equals(plain.column("input_ids"))
        assert [len(x) for x in seg.column("word_continues").to_pylist()] == [len(x) for x in seg.column("input_ids").to_pylist()]
    ds = datasets.Dataset.from_file(str(zh / "seg" / "train-00000.arrow"))
    assert ds.column_names == ["input_ids", "word_continues"] and len(ds) == one["splits"]["train"]["shards"][0]["rows"]
    assert json.loads((zh / "plain" / "manifest.json").read_text())["words"] is None


def test_masked_share_on_segmented_shards(zh):
    shards = ShardSet(zh / "seg", "train", words=True)
    batch = shards.batch(np.arange(min(len(shards), 400)), 32)
    ids, continues = batch["input_ids"], batch["word_continues"]
    assert continues.dtype == torch.bool and continues.any()
    masked = real = 0
    for seed in range(10):
        positions, valid = whole_word_positions(ids, continues, masked_slots(32),
                                                generator=torch.Generator().manual_seed(seed))
        for i in range(len(ids)):
            chosen = set(positions[i][valid[i]].tolist())
            for word in words_of(ids[i], continues[i]):
                assert set(word) <= chosen or not set(word) & chosen
        masked += int(valid.sum())
        real += int(((ids != PAD) & (ids != CLS) & (ids != SEP)).sum())
    # short rows (at most 29 real tokens) with 2-character words: the skip rule leaves some rows a token short
    assert 0.13 < masked / real <= 0.15 + 0.005
    # shards without the column still load, and their batches carry none
    assert "word_continues" not in ShardSet(zh / "plain", "train", words=True).batch(np.arange(4), 32)


def test_exact_resume_with_whole_word_masking(zh, tmp_path):
    straight, split = tmp_path / "straight", tmp_path / "split"
    wwm = ["--set", "model.masking=whole-word", "--set", "train.save_every=10"]
    result = run_cli(*pretrain_args(zh / "seg", straight, 20, *wwm))
    assert result.exit_code == 0, result.output
    result = run_cli(*pretrain_args(zh / "seg", split, 20, *wwm, "--set", "train.stop_at=10"))
    assert result.exit_code == 0, result.output
    result = run_cli("pretrain", "--shards", zh / "seg", "--out", split, "--resume", "auto")
    assert result.exit_code == 0, result.output
    a = load_file(straight / "final" / "discriminator" / "model.safetensors")
    b = load_file(split / "final" / "discriminator" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    card = (straight / "final" / "discriminator" / "README.md").read_text()
    assert "- masking: whole-word (mask_prob 0.15; words from the segmenter rjieba" in card
    # whole-word masking differs from token masking (same seed, same data)
    token = tmp_path / "token"
    assert run_cli(*pretrain_args(zh / "seg", token, 20, "--set", "train.save_every=10")).exit_code == 0
    c = load_file(token / "final" / "discriminator" / "model.safetensors")
    assert not all(torch.equal(a[k], c[k]) for k in a)
    assert "- masking: token (mask_prob 0.15)" in (token / "final" / "discriminator" / "README.md").read_text()


def test_chinese_shards_without_boundaries_are_refused_english_ones_use_wordpieces(zh, tiny_shards, tmp_path):
    import shutil

    old = tmp_path / "old"  # shards from before word boundaries: no `words` key in the manifest at all
    shutil.copytree(zh / "plain", old)
    manifest = json.loads((old / "manifest.json").read_text())
    del manifest["words"]
    (old / "manifest.json").write_text(json.dumps(manifest))
    assert run_cli(*pretrain_args(old, tmp_path / "token", 2)).exit_code == 0  # they still load
    result = run_cli(*pretrain_args(old, tmp_path / "zh", 2, "--set", "model.masking=whole-word"))
    assert result.exit_code == 2 and "Traceback" not in result.output
    message = " ".join(result.output.split())
    assert "re-shard with `electra-cli shard ... --segment rjieba`" in message and "Chinese characters" in message
    assert not (tmp_path / "zh" / "checkpoints").exists()
    # English (WordPiece) shards need no column: the ## pieces are the boundaries
    result = run_cli(*pretrain_args(tiny_shards, tmp_path / "en", 4, "--set", "model.masking=whole-word"))
    assert result.exit_code == 0, result.output
    card = (tmp_path / "en" / "final" / "discriminator" / "README.md").read_text()
    assert "- masking: whole-word (mask_prob 0.15; words from the vocabulary's ## pieces)" in card


def test_without_rjieba_installed_segment_is_a_clear_error(zh, tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "rjieba", None)  # as if not installed: `import rjieba` raises ImportError
    result = run_cli("shard", zh / "zh.txt", "--vocab", zh / "vocab", "--out", tmp_path / "s", "--segment", "rjieba")
    assert result.exit_code == 2 and "pip install 'electra-cli[chinese]'" in result.output
    assert not (tmp_path / "s").exists()
