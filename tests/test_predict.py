"""`electra-cli predict`: atomic output, refusals with hints, ids and kept columns."""

import csv
import json
import random

import pytest

from tests.conftest import family_example, run_cli, write_family_task


@pytest.fixture(scope="module")
def classifier(tiny_pretrained, tmp_path_factory):
    """A fine-tuned folder of the word-family task (1 epoch: predictions need not be good, only well formed)."""
    tmp = tmp_path_factory.mktemp("classifier")
    train, val = write_family_task(tmp / "data", n_train=80, n_val=20)
    result = run_cli("finetune", "--model", tiny_pretrained / "final" / "discriminator", "--train", train,
                     "--validation", val, "--out", tmp / "model", "--epochs", "1", "--batch-size", "16",
                     "--lr", "1e-3")
    assert result.exit_code == 0, result.output
    return tmp / "model"


def write_jsonl(path, n, bad_row=None):
    rng = random.Random(0)
    lines = [json.dumps({"text": family_example(rng)[0]}) for _ in range(n)]
    if bad_row is not None:
        lines[bad_row - 1] = '{"text": "cut off'
    path.write_text("\n".join(lines) + "\n")
    return path


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_a_failed_run_leaves_the_previous_output_as_it_was(classifier, tmp_path):
    out = tmp_path / "predictions.jsonl"
    result = run_cli("predict", "--model", classifier, write_jsonl(tmp_path / "good.jsonl", 150), "--out", out)
    assert result.exit_code == 0, result.output
    before = out.read_bytes()
    assert len(before.splitlines()) == 150
    bad = write_jsonl(tmp_path / "bad.jsonl", 150, bad_row=101)  # fails after a full batch of 64 was written
    result = run_cli("predict", "--model", classifier, bad, "--out", out, "--overwrite")
    assert result.exit_code == 3 and "bad.jsonl:101" in result.output
    assert out.read_bytes() == before and leftovers(tmp_path) == []


def test_a_wrong_column_leaves_nothing(classifier, tmp_path):
    out = tmp_path / "predictions.jsonl"
    result = run_cli("predict", "--model", classifier, write_jsonl(tmp_path / "in.jsonl", 10), "--out", out,
                     "--text-field", "review")
    assert result.exit_code == 3 and "no field 'review'" in result.output
    assert not out.exists() and leftovers(tmp_path) == []


def test_refuses_an_existing_output_without_overwrite(classifier, tmp_path):
    data = write_jsonl(tmp_path / "in.jsonl", 5)
    out = tmp_path / "predictions.jsonl"
    out.write_text("keep me\n")
    result = run_cli("predict", "--model", classifier, data, "--out", out)
    assert result.exit_code == 2 and "--overwrite" in result.output and out.read_text() == "keep me\n"
    assert run_cli("predict", "--model", classifier, data, "--out", out, "--overwrite").exit_code == 0
    assert len(out.read_text().splitlines()) == 5


def test_refuses_pretraining_folders_with_a_hint(tiny_pretrained, tmp_path):
    data = write_jsonl(tmp_path / "in.jsonl", 5)
    for folder in ("discriminator", "generator"):  # ElectraForPreTraining, ElectraForMaskedLM: no trained head
        result = run_cli("predict", "--model", tiny_pretrained / "final" / folder, data, "--out", tmp_path / "p.jsonl")
        assert result.exit_code == 2 and "no fine-tuned head" in result.output and "electra-cli finetune" in result.output
        assert "Traceback" not in result.output and not (tmp_path / "p.jsonl").exists()
    result = run_cli("predict", "--model", tiny_pretrained, data)  # the run folder itself
    assert result.exit_code == 2 and "pretrain run folder" in result.output
    assert str(tiny_pretrained / "final" / "discriminator") in result.output.replace("\n", "")
    train, val = write_family_task(tmp_path / "task", n_train=10, n_val=5)
    result = run_cli("finetune", "--model", tiny_pretrained, "--train", train, "--validation", val, "--out", tmp_path / "ft")
    assert result.exit_code == 2 and "--model " + str(tiny_pretrained / "final" / "discriminator") in result.output.replace("\n", "")


def test_ids_and_kept_columns(classifier, tmp_path):
    rng = random.Random(5)
    data = tmp_path / "in.csv"
    with open(data, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["doc", "text", "label"])
        for i in range(70):
            text, label = family_example(rng)
            writer.writerow([f"doc-{i}", text, label])
    out = tmp_path / "p.jsonl"
    assert run_cli("predict", "--model", classifier, data, "--out", out).exit_code == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == list(range(70)) and set(rows[0]) == {"id", "label", "score"}
    assert {r["label"] for r in rows} <= {"animal", "place"}

    result = run_cli("predict", "--model", classifier, data, "--out", out, "--overwrite", "--id-field", "doc",
                     "--keep-fields")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    texts = [r["text"] for r in csv.DictReader(open(data))]
    assert [r["id"] for r in rows] == [f"doc-{i}" for i in range(70)] and [r["text"] for r in rows] == texts
    assert set(rows[0]) == {"id", "text", "input_label", "label", "score"}  # the input's label kept beside ours

    result = run_cli("predict", "--model", classifier, data, "--out", tmp_path / "q.jsonl", "--id-field", "nope")
    assert result.exit_code == 3 and "in.csv:2: no field 'nope'" in result.output
