"""`shard --part I/N` + `merge`: the merged folder is the one-machine folder byte for byte; every refusal."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from electra_cli.shards import write
from tests.conftest import flip_byte, run_cli, write_text_corpus

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


@pytest.mark.parametrize("n", [1, 2, 3, 5])
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


def test_slurm_shard_array_and_merge_scripts(job, tmp_path, monkeypatch):
    """The example scripts parse (bash -n), and run as SLURM would run them: `submit-shard.sh` submits the array
    and the merge with --dependency=afterok (a stub sbatch records the calls), each array task runs with SLURM's
    variables and a stub srun, and the merged folder equals the one-machine shards."""
    scripts = ["shard.sbatch", "merge.sbatch", "submit-shard.sh"]
    for script in scripts:
        subprocess.run(["bash", "-n", str(SBATCH / script)], check=True)
    stubs = tmp_path / "bin"
    stubs.mkdir()
    (stubs / "srun").write_text('#!/bin/bash\nexec "$@"\n')
    (stubs / "sbatch").write_text(
        '#!/bin/bash\necho "$*" >> "$SBATCH_LOG"\necho $((4000 + $(wc -l < "$SBATCH_LOG")))\n'
    )
    (stubs / "electra-cli").write_text(f'#!/bin/bash\nexec "{sys.executable}" -m electra_cli "$@"\n')
    for stub in stubs.iterdir():
        stub.chmod(0o755)
    monkeypatch.undo()  # the scripts run the real chunk size; so does the one-machine reference
    reference = tmp_path / "one" / "shards"  # beside work/shards: the same relative vocab path
    assert run_cli("shard", job / "corpus", "--vocab", job / "vocab", "--out", reference, *SETTINGS).exit_code == 0
    repo = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PATH": f"{stubs}:{os.environ['PATH']}", "PYTHONPATH": str(repo),
           "SBATCH_LOG": str(tmp_path / "sbatch.log"), "CORPUS": str(job / "corpus"), "VOCAB": str(job / "vocab"),
           "WORK": str(tmp_path / "work"), "SHARD_ARGS": " ".join(SETTINGS)}
    subprocess.run(["bash", str(SBATCH / "submit-shard.sh"), "3"], env=env, check=True, cwd=tmp_path)
    calls = (tmp_path / "sbatch.log").read_text().splitlines()
    assert calls[0].startswith("--parsable --array=1-3") and calls[0].endswith("shard.sbatch")
    assert "--dependency=afterok:4001" in calls[1] and calls[1].endswith("merge.sbatch")
    for task in (3, 1, 2):
        array = {"SLURM_ARRAY_TASK_ID": str(task), "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_COUNT": "3",
                 "SLURM_CPUS_PER_TASK": "1", "SLURM_ARRAY_JOB_ID": "4001"}
        subprocess.run(["bash", str(SBATCH / "shard.sbatch")], env={**env, **array}, check=True, cwd=tmp_path,
                       timeout=300)
    subprocess.run(["bash", str(SBATCH / "merge.sbatch")], env={**env, "PARTS": "3"}, check=True, cwd=tmp_path,
                   timeout=300)
    assert files(tmp_path / "work" / "shards") == files(reference)
