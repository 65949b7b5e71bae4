"""`electra-cli shard` end to end: packing rules, determinism across workers, the manifest, verify, readers."""

import json
import random
import shutil
from collections import Counter

import numpy as np
import pyarrow as pa
import pytest

from electra_cli.shards.write import CLS_ID, SEP_ID, pack_document, recorded_vocab_dir
from electra_cli.vocab.wordpiece import PAD_ID
from tests.conftest import (
    flip_byte,
    pretrain_args,
    run_cli,
    write_grammar_corpus,
    write_text_corpus,
)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("shard")
    corpus = write_text_corpus(tmp / "corpus.txt", docs=1500, seed=11)
    result = run_cli("vocab", corpus, "--out", tmp / "vocab", "--vocab-size", "400")
    assert result.exit_code == 0, result.output
    result = run_cli(
        "shard", corpus, "--vocab", tmp / "vocab", "--out", tmp / "shards", "--max-seq-len", "64",
        "--workers", "1", "--rows-per-shard", "700", "--validation-fraction", "0.02",
    )
    assert result.exit_code == 0, result.output
    return tmp


def read_rows(path):
    with pa.memory_map(str(path)) as source:
        table = pa.ipc.open_stream(source).read_all()
    return table, table.column("input_ids").to_pylist()


def all_rows(folder, split):
    manifest = json.loads((folder / "manifest.json").read_text())
    rows = []
    for shard in manifest["splits"][split]["shards"]:
        rows.extend(read_rows(folder / shard["file"])[1])
    return rows


def test_manifest_and_rows_follow_the_contract(built):
    folder = built / "shards"
    manifest = json.loads((folder / "manifest.json").read_text())
    vocab = json.loads((built / "vocab" / "vocab.json").read_text())
    assert manifest["vocab"]["sha256"] == vocab["vocab_sha256"]
    assert manifest["max_seq_len"] == 64 and manifest["dtype"] == "uint16" and manifest["seed"] == 12345
    train = manifest["splits"]["train"]
    assert len(train["shards"]) == -(-train["rows"] // 700) >= 2
    assert [s["file"] for s in train["shards"]][:2] == ["train-00000.arrow", "train-00001.arrow"]
    assert manifest["splits"]["validation"]["rows"] > 0
    assert manifest["inputs"][0]["bytes"] > 0 and manifest["corpus"]["documents"] == 1500
    table, rows = read_rows(folder / "train-00000.arrow")
    assert table.schema.field("input_ids").type == pa.list_(pa.uint16())
    for row in all_rows(folder, "train") + all_rows(folder, "validation"):
        assert 3 <= len(row) <= 64
        assert row[0] == CLS_ID and row[-1] == SEP_ID
        seps = [i for i, t in enumerate(row) if t == SEP_ID]
        assert len(seps) in (1, 2) and PAD_ID not in row and CLS_ID not in row[1:]
        first_sep = seps[0]
        type_ids = [0] * (first_sep + 1) + [1] * (len(row) - first_sep - 1)  # derivable from the first [SEP]
        assert len(type_ids) == len(row)
    total_tokens = sum(len(r) for r in all_rows(folder, "train"))
    assert total_tokens == train["tokens"]


def test_no_token_lost_apart_from_truncation(built):
    manifest = json.loads((built / "shards" / "manifest.json").read_text())
    ex = manifest["examples"]
    rows = all_rows(built / "shards", "train") + all_rows(built / "shards", "validation")
    content = sum(len(r) - r.count(SEP_ID) - 1 for r in rows)
    assert content == ex["input_tokens"] - ex["truncated_tokens"]
    assert ex["examples"] == len(rows)


def test_packing_fractions_and_lengths_on_thousands_of_examples():
    rng = random.Random(0)
    counts = Counter()
    data_rng = random.Random(1)
    examples = []
    for _ in range(1500):
        doc = [[data_rng.randint(5, 99) for _ in range(data_rng.randint(3, 30))] for _ in range(data_rng.randint(1, 40))]
        examples.extend(pack_document(doc, 128, rng, counts))
    assert len(examples) > 4000
    assert all(len(e) <= 128 for e in examples)
    assert 0.035 < counts["short_target"] / counts["examples"] < 0.065
    assert 0.08 < counts["single_segment_drawn"] / counts["multi_sentence"] < 0.12
    # most examples reach the full target: total length close to max_seq_len
    full = sum(len(e) >= 120 for e in examples)
    assert full / len(examples) > 0.6  # the rest: short targets and document ends


def test_every_token_in_exactly_one_example():
    rng, counts = random.Random(3), Counter()
    sentences = [[1000 + 10 * s + i for i in range(7)] for s in range(50)]  # unique ids, 350 tokens
    rows = list(pack_document(sentences, 512, rng, counts))
    seen = [t for r in rows for t in r if t not in (CLS_ID, SEP_ID)]
    assert sorted(seen) == sorted(t for s in sentences for t in s)  # nothing lost, nothing duplicated
    long_line = [list(range(100, 400))]  # one 300-token line is cut into pieces, not truncated
    rows = list(pack_document(long_line, 64, random.Random(0), Counter()))
    assert sorted(t for r in rows for t in r if t > 99) == list(range(100, 400))


def test_short_document_gives_one_example():
    rows = list(pack_document([[7, 8, 9]], 128, random.Random(0), Counter()))
    assert rows == [[CLS_ID, 7, 8, 9, SEP_ID]]


def test_byte_identical_for_any_worker_count(built, tmp_path):
    corpus = built / "corpus.txt"
    outs = []
    for workers in ("1", "2"):
        out = tmp_path / f"w{workers}"
        result = run_cli(
            "shard", corpus, "--vocab", built / "vocab", "--out", out, "--max-seq-len", "64",
            "--workers", workers, "--rows-per-shard", "700", "--validation-fraction", "0.02",
        )
        assert result.exit_code == 0, result.output
        outs.append({p.name: p.read_bytes() for p in sorted(out.iterdir())})
    assert outs[0] == outs[1]
    reference = {p.name: p.read_bytes() for p in sorted((built / "shards").iterdir())}
    assert outs[0].keys() == reference.keys()
    for name in reference:  # same inputs and settings give the same bytes; the manifest differs only in where
        if name == "manifest.json":  # the vocab is as seen from the shards folder (another folder here)
            mine, theirs = json.loads(outs[0][name]), json.loads(reference[name])
            assert mine["vocab"].pop("relative_to_shards") != theirs["vocab"].pop("relative_to_shards")
            assert mine == theirs
            continue
        assert outs[0][name] == reference[name], name


def test_validation_split_is_stable_and_never_empty(tmp_path, built):
    corpus = tmp_path / "two.txt"
    corpus.write_text("first document line.\n\nsecond document line.\n")
    for run in ("a", "b"):
        assert run_cli("shard", corpus, "--vocab", built / "vocab", "--out", tmp_path / run, "--workers", "1").exit_code == 0
    a, b = (all_rows(tmp_path / r, "validation") for r in "ab")
    assert len(a) == 1 and a == b
    assert len(all_rows(tmp_path / "a", "train")) == 1


def test_verify_catches_a_flipped_byte(built, tmp_path):
    import shutil

    folder = tmp_path / "copy"
    shutil.copytree(built / "shards", folder)
    result = run_cli("verify", folder)
    assert result.exit_code == 0 and "ok" in result.output
    flip_byte(folder / "train-00001.arrow", 1 / 2, 0x01)
    result = run_cli("verify", folder)
    assert result.exit_code == 3 and "train-00001.arrow" in result.output
    assert run_cli("verify", tmp_path).exit_code == 2  # no manifest: no shards


def test_readable_by_datasets_and_memory_mapped_pyarrow(built):
    datasets = pytest.importorskip("datasets")
    path = built / "shards" / "train-00000.arrow"
    ds = datasets.Dataset.from_file(str(path))
    _, rows = read_rows(path)
    assert len(ds) == len(rows) and ds[5]["input_ids"] == rows[5]
    with pa.memory_map(str(path)) as source:
        reader = pa.ipc.open_stream(source)
        batch = reader.read_next_batch()
        ids = batch.column(0).values.to_numpy(zero_copy_only=True)  # uncompressed: zero-copy from the map
        assert ids.dtype == np.uint16


def test_refusals(built, tmp_path):
    corpus = built / "corpus.txt"
    result = run_cli("shard", corpus, "--vocab", tmp_path, "--out", tmp_path / "s")
    assert result.exit_code == 2 and "not a vocab folder" in result.output
    result = run_cli("shard", corpus, "--vocab", tmp_path / "nosuch", "--out", tmp_path / "s")
    assert result.exit_code == 2 and "nosuch: does not exist" in result.output
    for bad in ("7", "65536"):
        result = run_cli("shard", corpus, "--vocab", built / "vocab", "--out", tmp_path / "s", "--max-seq-len", bad)
        assert result.exit_code == 2 and "--max-seq-len" in result.output
    result = run_cli("shard", corpus, "--vocab", built / "vocab", "--out", built / "shards")
    assert result.exit_code == 2 and "--overwrite" in result.output


def test_bad_inputs_counted_as_in_vocab(built, tmp_path):
    from tests.test_corpus import write_bad_inputs

    write_bad_inputs(tmp_path / "bad")
    write_text_corpus(tmp_path / "bad" / "good.txt", docs=20)
    result = run_cli("shard", tmp_path / "bad", "--vocab", built / "vocab", "--out", tmp_path / "s", "--workers", "1")
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "s" / "manifest.json").read_text())
    assert manifest["corpus"]["skipped"]["binary"] == 1 and manifest["corpus"]["skipped"]["invalid_json"] == 1
    assert manifest["corpus"]["replaced"]["invalid_utf8"] == 1
    result = run_cli("shard", tmp_path / "bad", "--vocab", built / "vocab", "--out", tmp_path / "t", "--strict")
    assert result.exit_code == 3 and not (tmp_path / "t").exists()


def test_shards_find_their_vocab_from_any_working_directory(tiny_shards, tmp_path, monkeypatch):
    """`shard --vocab vocab` in one folder; `pretrain` from another folder, then after both folders moved."""
    project = tmp_path / "project"
    shutil.copytree(tiny_shards.parent / "vocab", project / "vocab")
    write_grammar_corpus(project / "corpus.txt", docs=100)
    monkeypatch.chdir(project)
    result = run_cli("shard", "corpus.txt", "--vocab", "vocab", "--out", "shards", "--max-seq-len", "32",
                     "--workers", "1")
    assert result.exit_code == 0, result.output
    manifest = json.loads((project / "shards" / "manifest.json").read_text())
    assert manifest["vocab"]["path"] == "vocab" and manifest["vocab"]["relative_to_shards"] == "../vocab"
    assert manifest["vocab"]["absolute"] == str((project / "vocab").resolve())

    monkeypatch.chdir(tmp_path)  # "vocab" (the path as given) is not here
    assert recorded_vocab_dir(project / "shards", manifest) == project / "vocab"
    result = run_cli(*pretrain_args(project / "shards", tmp_path / "run", 2))
    assert result.exit_code == 0, result.output

    moved = project.rename(tmp_path / "moved")  # the absolute path is gone; the relative one still holds
    assert recorded_vocab_dir(moved / "shards", manifest) == moved / "vocab"
    result = run_cli(*pretrain_args(moved / "shards", tmp_path / "run2", 2))
    assert result.exit_code == 0, result.output

    shutil.rmtree(moved / "vocab")
    assert recorded_vocab_dir(moved / "shards", manifest) is None
    result = run_cli(*pretrain_args(moved / "shards", tmp_path / "run3", 2))
    assert result.exit_code == 2 and "pass --vocab" in result.output


def test_a_segment_aims_at_half_the_target_as_the_reference():
    """The reference fills A up to (T - 3) // 2 (with a 50% rule at the boundary); a uniform cut point does not."""
    rng, counts, data_rng = random.Random(0), Counter(), random.Random(2)
    shares = []
    for _ in range(800):
        doc = [[data_rng.randint(5, 99) for _ in range(data_rng.randint(8, 16))] for _ in range(30)]
        for row in pack_document(doc, 128, rng, counts):
            seps = [i for i, t in enumerate(row) if t == SEP_ID]
            if len(seps) == 2 and len(row) >= 120:
                shares.append((seps[0] - 1) / (len(row) - 3))
    assert len(shares) > 1000
    assert 0.42 < np.median(shares) < 0.58  # balanced around one half
    assert np.mean([0.3 < s < 0.7 for s in shares]) > 0.9  # a uniform cut would put ~60% of A shares outside


@pytest.mark.parametrize("literal", ["[SEP]", "[PAD]", "[MASK]", "[CLS]", "[sep]"])
def test_special_token_strings_in_raw_text_stay_text(built, tmp_path, literal):
    """A literal "[SEP]" in the corpus never becomes the special id: no shifted segments, no hidden tokens."""
    corpus = tmp_path / "code.txt"
    corpus.write_text("\n\n".join(f"the city {literal} was built on the river {literal} in a year" for _ in range(40)))
    result = run_cli("shard", corpus, "--vocab", built / "vocab", "--out", tmp_path / "s", "--max-seq-len", "64",
                     "--workers", "1", "--validation-fraction", "0")
    assert result.exit_code == 0, result.output
    from electra_cli.vocab.wordpiece import MASK_ID

    for row in all_rows(tmp_path / "s", "train"):
        assert PAD_ID not in row and MASK_ID not in row and CLS_ID not in row[1:]
        assert row.count(SEP_ID) == 1 and row[-1] == SEP_ID  # one line per document: one segment, one [SEP]


def test_paragraph_per_line_keeps_tokens_and_gives_two_segments(tmp_path, built):
    """A document on one line: split into sentences, packing keeps more tokens and makes A/B examples."""
    rng = random.Random(5)
    from tests.conftest import make_sentences

    corpus = tmp_path / "paragraphs.txt"
    paragraph = lambda: " ".join(make_sentences(rng, rng.randint(2, 6)))  # noqa: E731 - 20 to 90 tokens
    corpus.write_text("\n\n".join("\n".join(paragraph() for _ in range(8)) for _ in range(150)) + "\n")
    figures = {}
    for flag in ("--split-sentences", "--no-split-sentences"):
        out = tmp_path / flag
        result = run_cli("shard", corpus, "--vocab", built / "vocab", "--out", out, "--max-seq-len", "64",
                         "--workers", "1", flag, "--overflow", "truncate")  # what splitting saves the reference
        assert result.exit_code == 0, result.output
        manifest = json.loads((out / "manifest.json").read_text())
        ex = manifest["examples"]
        figures[flag] = ((ex["input_tokens"] - ex.get("truncated_tokens", 0)) / ex["input_tokens"],
                         1 - ex.get("single_segment", 0) / ex["examples"])
        assert manifest["packing"]["split_sentences"] is (flag == "--split-sentences")
    kept, two_segments = figures["--split-sentences"]
    kept_before, two_before = figures["--no-split-sentences"]
    assert kept > 0.9 > kept_before and two_segments > 0.7 > two_before, figures


def rewrite_shard(folder, name, rows, dtype=pa.uint16()):
    """Write `rows` as shard `name` and record its true bytes, sha256, rows and tokens in the manifest, so that
    only the row checks can object (as a shard written by a faulty tokenizer would look)."""
    from electra_cli.core.atomic import sha256_file

    path = folder / name
    table = pa.table({"input_ids": pa.array(rows, type=pa.list_(dtype))})
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    manifest = json.loads((folder / "manifest.json").read_text())
    for split in manifest["splits"].values():
        for shard in split["shards"]:
            if shard["file"] == name:
                shard.update(rows=len(rows), tokens=sum(map(len, rows)), bytes=path.stat().st_size,
                             sha256=sha256_file(path))
    (folder / "manifest.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize("bad,why", [
    ([CLS_ID, 7, 8, PAD_ID, PAD_ID, SEP_ID], "[PAD]"),  # what a padding tokenizer.json made of every row
    ([7, 8, SEP_ID], "does not start with [CLS]"),
    ([CLS_ID, 7, 8], "does not end with [SEP]"),
    ([CLS_ID, 7, SEP_ID, 8, SEP_ID, 9, SEP_ID], "more than two [SEP]"),
])
def test_verify_checks_every_row(built, tmp_path, bad, why):
    """Issue 24: rows that cannot be wrong silently; exit 3 naming the shard and the row."""
    folder = tmp_path / "copy"
    shutil.copytree(built / "shards", folder)
    rows = read_rows(folder / "train-00001.arrow")[1]
    rows[5] = bad
    rewrite_shard(folder, "train-00001.arrow", rows)
    result = run_cli("verify", folder)
    text = " ".join(result.output.split())
    assert result.exit_code == 3 and "train-00001.arrow: row 5:" in text and why in text, result.output


def test_the_writer_refuses_a_row_it_did_not_pack(tmp_path):
    """The shard writer checks every row before writing it: a [PAD] inside a row is exit 3 naming shard and row."""
    from electra_cli.core.errors import DataError
    from electra_cli.shards.write import ShardWriter

    specials = {"pad": 0, "unk": 100, "cls": 101, "sep": 102, "mask": 103}  # a published vocab's ids
    writer = ShardWriter(tmp_path, "train", pa.uint16(), rows_per_shard=2, specials=specials)
    rows = [[101, 7, 102], [101, 8, 102, 9, 102], [101, 7, 102], [101, 7, 0, 0, 102]]
    values = np.array([t for r in rows for t in r])
    offsets = np.cumsum([0] + [len(r) for r in rows])
    with pytest.raises(DataError, match=r"shard train-00001.arrow, row 1: \[PAD\] \(0\) inside the row") as err:
        writer.write(values, offsets)
    assert err.value.exit_code == 3
    ok = ShardWriter(tmp_path / "ok", "train", pa.uint16(), rows_per_shard=2, specials=specials)
    (tmp_path / "ok").mkdir()
    ok.write(values[:-5], offsets[:-1])
    assert [s["tokens"] for s in ok.close()] == [8, 3]
