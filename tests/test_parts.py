"""`shard --part I/N` + `merge`: the merged folder is the one-machine folder byte for byte; every refusal."""

import gzip
import hashlib
import io
import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from electra_cli.shards import write
from electra_cli.shards.merge import summed
from electra_cli.shards.parts import Part
from electra_cli.text import corpus as corpus_module
from electra_cli.text.corpus import Corpus, CorpusOptions
from tests.conftest import WORDS, flip_byte, make_sentences, run_cli, write_text_corpus
from tests.published import google_vocab, write_wordpiece_tokenizer
from tests.test_packing import write_fixed_corpus, write_fixed_vocab

SETTINGS = ("--max-seq-len", "48", "--rows-per-shard", "90", "--validation-fraction", "0.03", "--workers", "1")
CHUNK_BYTES = 2048  # the unit of work; small so that a tiny corpus makes ~40 of them


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    """Two corpus files, a vocab, and the one-machine shards (at the depth the merged ones are written to)."""
    tmp = tmp_path_factory.mktemp("parts")
    write_text_corpus(tmp / "corpus" / "b.txt", docs=160, seed=3)
    write_text_corpus(tmp / "corpus" / "a.txt", docs=140, seed=4)
    result = run_cli("vocab", tmp / "corpus", "--out", tmp / "vocab", "--vocab-size", "300")
    assert result.exit_code == 0, result.output
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(write, "CHUNK_BYTES", CHUNK_BYTES)
        result = run_cli("shard", tmp / "corpus", "--vocab", tmp / "vocab", "--out", tmp / "one" / "shards", *SETTINGS)
    assert result.exit_code == 0, result.output
    return tmp


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch):
    monkeypatch.setattr(write, "CHUNK_BYTES", CHUNK_BYTES)


def files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.name != "provenance.json"}


def shard_part(job: Path, where: Path, part: str, *extra: str):
    return run_cli("shard", job / "corpus", "--vocab", job / "vocab", "--out", where, *SETTINGS, "--part", part, *extra)


def make_parts(job: Path, where: Path, n: int, *extra: str) -> list[Path]:
    folders = []
    for i in range(1, n + 1):
        result = shard_part(job, where / f"part-{i}", f"{i}/{n}", *extra)
        assert result.exit_code == 0, result.output
        folders.append(where / f"part-{i}")
    return folders


@pytest.mark.parametrize("n", [1, 2, 3, 8])
def test_merged_parts_equal_the_one_machine_shards(job, tmp_path, n):
    one = files(job / "one" / "shards")
    manifest = json.loads(one["manifest.json"])
    assert len(manifest["splits"]["train"]["shards"]) > 2 and manifest["splits"]["validation"]["rows"] > 0
    parts = make_parts(job, tmp_path / "parts", n)
    units = json.loads((parts[0] / "part.json").read_text())["units"]
    assert units > 20  # enough chunks that every part gets several
    for k, order in enumerate((parts, parts[::-1])):  # any order on the command line
        out = job / f"merged-{n}-{k}" / "shards"  # beside one/shards: the same relative vocab path
        result = run_cli("merge", *order, "--out", out)
        assert result.exit_code == 0, result.output
        assert files(out) == one
        assert json.loads((out / "provenance.json").read_text())["parts"] == n
    assert run_cli("verify", out).exit_code == 0


def write_mixed_corpus(folder: Path) -> Path:
    """Every kind of input a unit rule covers: plain text (runs of blank lines, a line of only U+3000, which is
    blank to the reader but not in bytes, an over-long line, invalid UTF-8), JSONL (bad records, blank lines), a
    Parquet file of several row groups, a gzip file (read whole), a binary and an empty file."""
    rng = random.Random(5)
    folder.mkdir(parents=True)
    blocks = []
    for i in range(90):
        block = "\n".join(make_sentences(rng, rng.randint(1, 6)))
        if i % 17 == 3:
            block += "\n\u3000\n" + " ".join(make_sentences(rng, 2))
        if i % 23 == 5:
            block += "\n" + "x" * 700
        blocks.append(block + "\n" * rng.randint(2, 4))
    (folder / "a.txt").write_bytes("".join(blocks).encode() + b"caf\xe9 au lait\n")
    records = []
    for i in range(120):
        record = {"text": " ".join(make_sentences(rng, rng.randint(1, 3)))} if i % 11 else {"other": i}
        records.append(json.dumps(record) + ("\n\n" if i % 7 == 0 else "\n"))
    (folder / "b.jsonl").write_text("".join(records) + "not json\n")
    texts = [" ".join(make_sentences(rng, rng.randint(1, 4))) for _ in range(150)]
    pq.write_table(pa.table({"text": texts, "id": list(range(150))}), folder / "c.parquet", row_group_size=20)
    (folder / "d.txt.gz").write_bytes(gzip.compress("\n\n".join(texts[:40]).encode()))
    (folder / "e.bin").write_bytes(b"\x00\x01 binary")
    (folder / "f.txt").write_bytes(b"")
    return folder


@pytest.mark.parametrize("unit_bytes", [97, 1000, 6000])
def test_units_split_the_corpus_into_shares_that_add_up_to_the_whole(tmp_path, unit_bytes):
    """Read as N parts' shares (N = 1, 2, 3, 5, 8), any corpus gives the documents of one whole reading, in order,
    each once, and counts that add up to the whole reading's (files, documents, bytes read, skips by reason)."""
    folder = write_mixed_corpus(tmp_path / "mixed")
    options = CorpusOptions(max_line_bytes=500)
    whole = Corpus([str(folder)], options)
    everything = list(whole.unit_documents(unit_bytes))
    assert [doc for _, doc in everything] == list(Corpus([str(folder)], options).documents())
    units = [unit for unit, _ in everything]
    assert units == sorted(units) and len(set(units)) > 5
    stats = whole.stats.to_dict()
    assert stats["skipped"].keys() >= {"binary", "empty_file", "invalid_json", "missing_field", "line_too_long"}
    assert stats["input_bytes"] > 0 and stats["files"] == 6
    count = whole.unit_count(unit_bytes)
    for n in (1, 2, 3, 5, 8):
        shares, counts = [], []
        for i in range(1, n + 1):
            corpus = Corpus([str(folder)], options)
            shares += corpus.unit_documents(unit_bytes, Part(i, n).units(count))
            counts.append(corpus.stats.to_dict())
        assert shares == everything, n
        assert summed(counts) == stats, n


class Recorded(io.FileIO):
    """A file whose reads are logged: (path, first byte, bytes)."""

    log: list = []

    def readinto(self, buffer):
        at = self.tell()
        n = super().readinto(buffer)
        Recorded.log.append((self.name, at, n or 0))
        return n

    def read(self, size=-1):
        at = self.tell()
        data = super().read(size)
        Recorded.log.append((self.name, at, len(data)))
        return data


def recording_open(path, mode="rb", buffering=-1):
    raw = Recorded(str(path), "r")
    return raw if buffering == 0 else io.BufferedReader(raw, buffering if buffering > 0 else io.DEFAULT_BUFFER_SIZE)


def test_a_part_reads_only_its_units(job, tmp_path, monkeypatch):
    """Part I of 8 opens only the files its units touch and reads only its units' bytes: its run of CHUNK_BYTES
    cuts, plus the byte before its first cut, the lines up to the next blank line after its last (within one read
    buffer) and each touched file's first 8 KB (its format); the 8 parts together read the corpus about once."""
    monkeypatch.setattr(corpus_module, "open", recording_open, raising=False)
    monkeypatch.setattr(corpus_module, "READ_BUFFER", 1024)
    files_in_order = sorted((job / "corpus").iterdir())
    sizes = [f.stat().st_size for f in files_in_order]
    starts = dict(zip(map(str, files_in_order), [sum(sizes[:i]) for i in range(len(sizes))]))
    count = -(-sum(sizes) // CHUNK_BYTES)
    total_read = 0
    for i in range(1, 9):
        Recorded.log = []
        assert shard_part(job, tmp_path / f"p{i}", f"{i}/8").exit_code == 0
        mine = Part(i, 8).units(count)
        low, high = mine.start * CHUNK_BYTES - 1, mine.stop * CHUNK_BYTES + 1024 + 1024
        touched = {name for name, start in starts.items()
                   if start < mine.stop * CHUNK_BYTES and start + sizes[list(starts).index(name)] > low}
        assert {name for name, _, n in Recorded.log} <= touched
        for name, at, n in Recorded.log:
            first, last = starts[name] + at, starts[name] + at + n
            head = at + n <= corpus_module.SNIFF_BYTES
            assert head or low <= first and last <= high, (i, name, at, n, low, high)
        total_read += sum(n for _, _, n in Recorded.log)
    assert sum(sizes) <= total_read <= 1.05 * sum(sizes) + 8 * (corpus_module.SNIFF_BYTES + 2048)
    result = run_cli("merge", *[tmp_path / f"p{i}" for i in range(1, 9)], "--out", job / "merged-read" / "shards")
    assert result.exit_code == 0, result.output
    assert files(job / "merged-read" / "shards") == files(job / "one" / "shards")


def test_merge_writes_the_one_machine_manifest_with_a_published_vocab(job, tmp_path):
    """A published folder as --vocab: the merged manifest.json keeps the tokenizer record (class, casing, the
    settings sharding ignores) and is byte for byte one machine's."""
    vocab = tmp_path / "published"
    write_wordpiece_tokenizer(vocab, google_vocab(WORDS), tokenizer_json=True, special_tokens_map=True)
    args = (job / "corpus", "--vocab", vocab, *SETTINGS)
    assert run_cli("shard", *args, "--out", tmp_path / "one" / "shards").exit_code == 0
    for i in (1, 2):
        assert run_cli("shard", *args, "--out", tmp_path / f"p{i}", "--part", f"{i}/2").exit_code == 0
    result = run_cli("merge", tmp_path / "p1", tmp_path / "p2", "--out", tmp_path / "merged" / "shards")
    assert result.exit_code == 0, result.output
    one = files(tmp_path / "one" / "shards")
    assert "tokenizer" in json.loads(one["manifest.json"])["vocab"]
    assert files(tmp_path / "merged" / "shards") == one


# sha256 of the shards of test_packing's fixed corpus and vocabulary, cut into 4 KB units (format version 2)
UNIT_SHARDS = {
    "train-00000.arrow": "0f022c305ca5eefa0157d8f5f668616c8ea0e57d95807c0850387b68a7eda5f8",
    "train-00001.arrow": "0482edd336a14e0aef7a5f8d862b68c0d549f8faf433c9744be9e807b71ee52e",
    "train-00002.arrow": "6141663fd19e960b343b47aacb1f5a78c56b4bd87f23c2d9b86b73c2665a1b10",
    "train-00003.arrow": "9ac57002ebe795e3219ccee477d3066c93a870c3c0e3b8253d2c00c7583bd7c2",
    "validation-00000.arrow": "307d47fd543912de3279315530ddc1c8739680c673d54a2c018b7ca6fc761df8",
}


def test_unit_chunks_are_pinned(tmp_path, monkeypatch):
    """The shards' bytes under format version 2 (chunks by byte unit, seeded by unit): a corpus of several units,
    pinned by sha256, so that any change to the cutting, the naming or the seeding of chunks fails here. (A
    corpus of one unit, under CHUNK_BYTES, gives the bytes of format 1: tests/test_packing.py pins those.)"""
    monkeypatch.setattr(write, "CHUNK_BYTES", 4096)
    corpus, vocab = write_fixed_corpus(tmp_path / "corpus.txt"), write_fixed_vocab(tmp_path / "vocab")
    result = run_cli("shard", corpus, "--vocab", vocab, "--out", tmp_path / "s", "--max-seq-len", "32",
                     "--rows-per-shard", "300", "--validation-fraction", "0.05", "--workers", "1")
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "s" / "manifest.json").read_text())
    assert manifest["format_version"] == 2 and manifest["corpus"]["input_bytes"] > 8 * 4096
    digests = {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
               for p in sorted((tmp_path / "s").glob("*.arrow"))}
    assert digests == UNIT_SHARDS


def test_parts_with_several_workers_and_a_different_order(job, tmp_path):
    parts = make_parts(job, tmp_path / "parts", 3, "--workers", "2")
    out = job / "merged-workers" / "shards"
    result = run_cli("merge", parts[1], parts[2], parts[0], "--out", out)
    assert result.exit_code == 0, result.output
    assert files(out) == files(job / "one" / "shards")


def test_a_finished_part_is_skipped_on_rerun(job, tmp_path, caplog):
    [folder] = make_parts(job, tmp_path, 1)
    before = (folder / "part.json").stat().st_mtime_ns, (folder / "units.arrow").read_bytes()
    result = shard_part(job, folder, "1/1")
    assert result.exit_code == 0, result.output
    assert "already complete" in caplog.text
    assert ((folder / "part.json").stat().st_mtime_ns, (folder / "units.arrow").read_bytes()) == before
    other = run_cli("shard", job / "corpus", "--vocab", job / "vocab", "--out", folder, "--max-seq-len", "32",
                    "--part", "1/1")
    assert other.exit_code == 2 and "another shard job" in other.output


def test_merge_refusals(job, tmp_path, monkeypatch):
    monkeypatch.setenv("ELECTRA_CLI_PROGRESS_SECONDS", "-1")  # a slow machine's progress line is not a second error
    parts = make_parts(job, tmp_path / "p", 3)
    out = tmp_path / "m" / "shards"

    def refused(*folders, code):
        result = run_cli("merge", *folders, "--out", out)
        assert result.exit_code == code, result.output
        assert not out.exists()
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error:"), result.output
        return result.output

    assert "missing part 2/3" in refused(parts[0], parts[2], code=2)
    assert "given twice" in refused(parts[0], parts[1], parts[2], parts[1], code=2)
    assert "not a finished part" in refused(parts[0], parts[1], tmp_path, code=2)

    other_settings = tmp_path / "seed"
    assert shard_part(job, other_settings, "2/3", "--seed", "7").exit_code == 0
    assert "settings differs" in refused(parts[0], other_settings, parts[2], code=2)

    other_n = tmp_path / "n4"
    assert shard_part(job, other_n, "2/4").exit_code == 0
    assert "number of parts" in refused(parts[0], other_n, parts[2], code=2)

    other_vocab = tmp_path / "vocab2"
    assert run_cli("vocab", job / "corpus", "--out", other_vocab, "--vocab-size", "280", "--cased").exit_code == 0
    assert (other_vocab / "vocab.txt").read_bytes() != (job / "vocab" / "vocab.txt").read_bytes()  # truly another
    assert run_cli("shard", job / "corpus", "--vocab", other_vocab, "--out", tmp_path / "v", *SETTINGS,
                   "--part", "2/3").exit_code == 0
    assert "vocabulary" in refused(parts[0], tmp_path / "v", parts[2], code=2)

    damaged = tmp_path / "damaged"
    shutil.copytree(parts[1], damaged)
    flip_byte(damaged / "units.arrow", 0.6, 0x01)
    assert "damaged part" in refused(parts[0], damaged, parts[2], code=3)


def test_same_names_and_sizes_other_text_is_refused(job, tmp_path):
    """Inputs are recorded by path and size; a part made after the text changed (same size) is still caught, by
    the files' modification times (no part reads the whole corpus, so no part can digest it)."""
    corpus = tmp_path / "corpus"
    shutil.copytree(job / "corpus", corpus)
    args = (corpus, "--vocab", job / "vocab", *SETTINGS)
    assert run_cli("shard", *args, "--out", tmp_path / "p1", "--part", "1/2").exit_code == 0
    text = (corpus / "a.txt").read_text()
    (corpus / "a.txt").write_text(text.replace("the", "eht", 1))  # same size
    assert run_cli("shard", *args, "--out", tmp_path / "p2", "--part", "2/2").exit_code == 0
    result = run_cli("merge", tmp_path / "p1", tmp_path / "p2", "--out", tmp_path / "m")
    assert result.exit_code == 2 and "modification time" in result.output, result.output


SBATCH = Path(__file__).resolve().parents[1] / "examples" / "slurm"


def slurm_stubs(folder: Path, real: bool = True) -> Path:
    """Stand-ins for `sbatch` (records its calls, prints a job id), `srun` (records the CPUs it would give and its
    command, then runs it) and `electra-cli` (this checkout's, or one that only records its arguments)."""
    folder.mkdir()
    (folder / "srun").write_text('#!/bin/bash\necho "cpus=${SRUN_CPUS_PER_TASK:-unset} $*" >> "$SRUN_LOG"\nexec "$@"\n')
    (folder / "sbatch").write_text(
        '#!/bin/bash\necho "$*" >> "$SBATCH_LOG"\necho $((4000 + $(wc -l < "$SBATCH_LOG")))\n'
    )
    cli = f'exec "{sys.executable}" -m electra_cli "$@"' if real else "exit 0"
    (folder / "electra-cli").write_text(f"#!/bin/bash\n{cli}\n")
    for stub in folder.iterdir():
        stub.chmod(0o755)
    return folder


def array_task(task: int, first: int, last: int, cpus: int = 1) -> dict:
    """The variables SLURM sets in one task of `sbatch --array=FIRST-LAST`."""
    return {"SLURM_ARRAY_TASK_ID": str(task), "SLURM_ARRAY_TASK_MIN": str(first), "SLURM_ARRAY_TASK_MAX": str(last),
            "SLURM_ARRAY_TASK_COUNT": str(last - first + 1), "SLURM_CPUS_PER_TASK": str(cpus),
            "SLURM_ARRAY_JOB_ID": "4001", "SLURM_JOB_ID": str(4100 + task)}


def test_slurm_shard_array_rerun_and_merge_scripts(job, tmp_path, monkeypatch):
    """The example scripts parse (bash -n), and run as SLURM would run them: `submit-shard.sh` submits the array
    and the merge with --dependency=afterok, both with PARTS; each array task runs with SLURM's variables and
    builds part I of N; a rerun of one index (`sbatch --array=2`: an array of one task) builds part 2 of 3 again,
    not the whole corpus; srun gets the task's CPUs (SRUN_CPUS_PER_TASK); the merged folder equals one machine."""
    for script in ["shard.sbatch", "merge.sbatch", "submit-shard.sh", "pretrain.sbatch"]:
        subprocess.run(["bash", "-n", str(SBATCH / script)], check=True)
    stubs = slurm_stubs(tmp_path / "bin")
    monkeypatch.undo()  # the scripts run the real chunk size; so does the one-machine reference
    reference = tmp_path / "one" / "shards"  # beside work/shards: the same relative vocab path
    assert run_cli("shard", job / "corpus", "--vocab", job / "vocab", "--out", reference, *SETTINGS).exit_code == 0
    repo = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PATH": f"{stubs}:{os.environ['PATH']}", "PYTHONPATH": str(repo),
           "SBATCH_LOG": str(tmp_path / "sbatch.log"), "SRUN_LOG": str(tmp_path / "srun.log"),
           "CORPUS": str(job / "corpus"), "VOCAB": str(job / "vocab"), "WORK": str(tmp_path / "work"),
           "SHARD_ARGS": " ".join(SETTINGS)}
    env.pop("PARTS", None)
    subprocess.run(["bash", str(SBATCH / "submit-shard.sh"), "3"], env=env, check=True, cwd=tmp_path)
    calls = (tmp_path / "sbatch.log").read_text().splitlines()
    assert calls[0].startswith("--parsable --array=1-3 --export=ALL,PARTS=3") and calls[0].endswith("shard.sbatch")
    assert "--dependency=afterok:4001" in calls[1] and "PARTS=3" in calls[1] and calls[1].endswith("merge.sbatch")
    env["PARTS"] = "3"  # what sbatch --export=ALL,PARTS=3 gives every task
    for task in (3, 1, 2):
        subprocess.run(["bash", str(SBATCH / "shard.sbatch")], env={**env, **array_task(task, 1, 3)}, check=True,
                       cwd=tmp_path, timeout=300)
    shutil.rmtree(tmp_path / "work" / "parts" / "part-2-of-3")  # task 2 failed: rerun it alone
    subprocess.run(["bash", str(SBATCH / "shard.sbatch")], env={**env, **array_task(2, 2, 2)}, check=True,
                   cwd=tmp_path, timeout=300)
    runs = (tmp_path / "srun.log").read_text().splitlines()
    assert [line.split("--part ")[1].split()[0] for line in runs] == ["3/3", "1/3", "2/3", "2/3"]
    assert all(line.startswith("cpus=1 ") and "--workers 1" in line for line in runs)
    subprocess.run(["bash", str(SBATCH / "merge.sbatch")], env={**env, "SLURM_CPUS_PER_TASK": "2"}, check=True,
                   cwd=tmp_path, timeout=300)
    assert files(tmp_path / "work" / "shards") == files(reference)
    assert (tmp_path / "srun.log").read_text().splitlines()[-1].startswith("cpus=2 ")


def test_slurm_array_from_0_and_missing_parts(tmp_path):
    """An array that starts at 0 (ARRAY_START=0) maps tasks 0..N-1 to parts 1..N, a rerun of one of its tasks too;
    srun gets all 16 CPUs of the task; a task without PARTS, or an index outside the parts, is refused with one
    line (exit 2) before anything runs."""
    stubs = slurm_stubs(tmp_path / "bin", real=False)
    env = {**os.environ, "PATH": f"{stubs}:{os.environ['PATH']}", "SRUN_LOG": str(tmp_path / "srun.log"),
           "CORPUS": "corpus", "VOCAB": "vocab", "WORK": str(tmp_path / "work"), "PARTS": "3", "ARRAY_START": "0"}

    def task(extra: dict, *, code: int = 0) -> str:
        result = subprocess.run(["bash", str(SBATCH / "shard.sbatch")], env={**env, **extra}, capture_output=True,
                                text=True, cwd=tmp_path, timeout=60)
        assert result.returncode == code, result.stderr
        return result.stderr

    for t in (0, 1, 2):
        task(array_task(t, 0, 2, cpus=16))
    task(array_task(1, 1, 1, cpus=16))  # rerun of index 1 alone
    runs = (tmp_path / "srun.log").read_text().splitlines()
    assert [line.split("--part ")[1].split()[0] for line in runs] == ["1/3", "2/3", "3/3", "2/3"]
    assert all(line.startswith("cpus=16 ") and "--workers 16" in line and "part-" in line for line in runs)
    del env["PARTS"]
    message = task(array_task(2, 2, 2), code=2)
    assert len(message.strip().splitlines()) == 1 and "PARTS" in message
    env.update(PARTS="3", ARRAY_START="1")
    message = task(array_task(0, 0, 2), code=2)
    assert len(message.strip().splitlines()) == 1 and "ARRAY_START=0" in message
    assert len((tmp_path / "srun.log").read_text().splitlines()) == 4  # the refused tasks started nothing
