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


def long_and_short_rows(validation, tokenizer_dir, length):
    """The validation file's rows, and how many are longer than `length` tokens (specials included)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    rows = [json.loads(line) for line in validation.read_text().splitlines()]
    return rows, sum(len(tokenizer(r["text"])["input_ids"]) > length for r in rows)


def assert_same_predictions(predicted, kept, tolerance=1e-5):
    assert len(predicted) == len(kept)
    for ours, theirs in zip(predicted, kept):
        assert ours["label"] == theirs["label"] and abs(ours["score"] - theirs["score"]) < tolerance, (ours, theirs)


def test_predict_cuts_inputs_where_fine_tuning_did(tiny_pretrained, tmp_path):
    """finetune at 8 tokens: the folder records it, and predict (and transformers' pipeline) give exactly the
    validation predictions of the run, also for rows longer than 8 tokens (cut at 512 they would differ)."""
    from transformers import pipeline

    train, val = write_family_task(tmp_path / "data", n_train=80, n_val=40)
    out = tmp_path / "model"
    result = run_cli("finetune", "--model", tiny_pretrained / "final" / "discriminator", "--train", train,
                     "--validation", val, "--out", out, "--epochs", "2", "--batch-size", "16", "--lr", "1e-3",
                     "--max-seq-len", "8")
    assert result.exit_code == 0, result.output
    rows, longer = long_and_short_rows(val, out, 8)
    assert longer >= 20  # most rows are cut: the comparison is about them
    kept = [json.loads(line) for line in (out / "validation_predictions.jsonl").read_text().splitlines()]

    predictions = tmp_path / "p.jsonl"
    result = run_cli("predict", "--model", out, val, "--out", predictions)
    assert result.exit_code == 0, result.output
    assert_same_predictions([json.loads(line) for line in predictions.read_text().splitlines()], kept)
    assert json.loads((out / "tokenizer_config.json").read_text())["model_max_length"] == 8
    assert json.loads((out / "finetune_config.json").read_text()) == {"task_type": "classification", "max_seq_len": 8}
    # transformers reads the recorded length too
    piped = pipeline("text-classification", model=str(out))([r["text"] for r in rows], truncation=True)
    assert_same_predictions(piped, kept)
    # --max-seq-len overrides it: uncut, the long rows' scores move
    result = run_cli("predict", "--model", out, val, "--out", predictions, "--overwrite", "--max-seq-len", "64")
    assert result.exit_code == 0, result.output
    uncut = [json.loads(line) for line in predictions.read_text().splitlines()]
    assert sum(abs(u["score"] - k["score"]) > 1e-4 for u, k in zip(uncut, kept)) >= longer // 2
    result = run_cli("predict", "--model", out, val, "--max-seq-len", "100000")
    assert result.exit_code == 2 and "positions" in result.output


def test_validation_figures_are_the_saved_models_under_mixed_precision(tiny_pretrained, tmp_path, monkeypatch,
                                                                      fresh_accelerator_state):
    """Trained under bf16 autocast (as on a GPU; CPU autocast here), validation is still the fp32 model that is
    saved: predict gives its validation predictions exactly, and the reported accuracy is predict's."""
    import electra_cli.finetuning.train as finetune_train

    monkeypatch.setattr(finetune_train, "resolve_precision", lambda requested: "bf16")
    train, val = write_family_task(tmp_path / "data", n_train=80, n_val=40)
    out = tmp_path / "model"
    result = run_cli("finetune", "--model", tiny_pretrained / "final" / "discriminator", "--train", train,
                     "--validation", val, "--out", out, "--epochs", "2", "--batch-size", "16", "--lr", "1e-3")
    assert result.exit_code == 0, result.output
    kept = [json.loads(line) for line in (out / "validation_predictions.jsonl").read_text().splitlines()]
    predictions = tmp_path / "p.jsonl"
    assert run_cli("predict", "--model", out, val, "--out", predictions).exit_code == 0
    predicted = [json.loads(line) for line in predictions.read_text().splitlines()]
    assert_same_predictions(predicted, kept)
    gold = [json.loads(line)["label"] for line in val.read_text().splitlines()]
    accuracy = sum(p["label"] == g for p, g in zip(predicted, gold)) / len(gold)
    assert json.loads((out / "metrics.json").read_text())["median"] == pytest.approx(accuracy)


def test_output_order_and_every_row_with_more_rows_than_a_chunk(classifier, tmp_path, monkeypatch):
    """Rows are sorted by length inside a chunk for speed; the output keeps the input's order across chunks, and
    equals the row-by-row result."""
    import electra_cli.serving.predict as serving

    monkeypatch.setattr(serving, "CHUNK_ROWS", 16)
    rng = random.Random(3)
    texts = [" ".join(family_example(rng)[0].split()[: rng.randint(1, 12)]) for _ in range(70)]
    data = tmp_path / "in.jsonl"
    data.write_text("".join(json.dumps({"doc": f"d{i}", "text": t}) + "\n" for i, t in enumerate(texts)))
    out = tmp_path / "p.jsonl"
    result = run_cli("predict", "--model", classifier, data, "--out", out, "--batch-size", "5", "--id-field", "doc")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == [f"d{i}" for i in range(70)]
    one = tmp_path / "one.jsonl"
    assert run_cli("predict", "--model", classifier, data, "--out", one, "--batch-size", "1").exit_code == 0
    assert_same_predictions(rows, [json.loads(line) for line in one.read_text().splitlines()])
