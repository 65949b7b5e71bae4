"""The fine-tuning search (settings x seeds), per-epoch validation, best-epoch selection, the collapse check and
class weights, end to end through `electra-cli finetune` on a tiny pretrained model."""

import csv
import json
import math
import random
import re
import statistics

import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from electra_cli.finetuning import collapse, metrics
from tests.conftest import family_example, run_cli, write_family_task


def disc(run):
    return run / "final" / "discriminator"


@pytest.fixture(scope="module")
def family(tmp_path_factory):
    folder = tmp_path_factory.mktemp("family")
    train, val = write_family_task(folder, n_train=240, n_val=80)
    test = folder / "test.jsonl"
    rng = random.Random(7)
    test.write_text("".join(json.dumps(dict(zip(("text", "label"), family_example(rng)))) + "\n" for _ in range(50)))
    return train, val, test


def read_metrics(out):
    return json.loads((out / "metrics.json").read_text())


def kept_accuracy(out, val):
    """Accuracy of the model saved in `out` on the validation file, predicted afresh from the folder."""
    tokenizer = AutoTokenizer.from_pretrained(out)
    model = AutoModelForSequenceClassification.from_pretrained(out).eval()
    rows = [json.loads(line) for line in val.read_text().splitlines()]
    with torch.no_grad():
        batch = tokenizer([r["text"] for r in rows], padding=True, return_tensors="pt")
        ids = model(**batch).logits.argmax(-1).tolist()
    return metrics.accuracy([r["label"] for r in rows], [model.config.id2label[i] for i in ids])


def test_search_picks_the_clearly_better_rate_and_scores_test_once(tiny_pretrained, family, tmp_path, monkeypatch):
    """lr 1e-5 cannot learn the word-family task in 6 epochs; 1e-3 does: the search must choose 1e-3, keep its
    median seed's model, write every setting x seed with its curve, and score the test split once."""
    from electra_cli.finetuning import train as finetune_module

    train, val, test = family
    scored = []
    original = finetune_module.predict_examples

    def counting(model, examples, *args, **kwargs):
        scored.append(examples.path)
        return original(model, examples, *args, **kwargs)

    monkeypatch.setattr(finetune_module, "predict_examples", counting)
    monkeypatch.setenv("ELECTRA_CLI_PROGRESS_SECONDS", "0")  # without a terminal: the bar as a line per update
    out = tmp_path / "search"
    result = run_cli("finetune", "--model", disc(tiny_pretrained), "--train", train, "--validation", val, "--test", test,
                     "--out", out, "--lr", "1e-5,1e-3", "--epochs", "6", "--batch-size", "16", "--seeds", "1,2,3")
    assert result.exit_code == 0, result.output
    summary = read_metrics(out)
    assert [s["lr"] for s in summary["settings"]] == [1e-5, 1e-3] and summary["search"]["lr"] == [1e-5, 1e-3]
    assert summary["chosen_setting"] == 1 and summary["config"]["lr"] == 1e-3
    low, high = (s["median"] for s in summary["settings"])
    assert high > low + 0.3, summary["settings"]  # measured 1.0 against 0.54
    # the top-level fields describe the chosen setting
    chosen = [r for r in summary["runs"] if r["setting"] == 1]
    assert [s["seed"] for s in summary["seeds"]] == [1, 2, 3] == [r["seed"] for r in chosen]
    assert summary["median"] == statistics.median(r["accuracy"] for r in chosen) == high
    assert {s["accuracy"] for s in summary["seeds"]} == {r["accuracy"] for r in chosen}
    kept = next(r for r in chosen if r["seed"] == summary["kept_seed"])
    assert kept["accuracy"] == summary["median"]
    assert math.isclose(kept_accuracy(out, val), summary["median"])  # the folder holds that seed's model
    # every setting x seed, with a validation point per epoch (15 steps each) and macro-F1 beside accuracy
    assert len(summary["runs"]) == 6
    for run in summary["runs"]:
        assert [(p["step"], p["epoch"]) for p in run["curve"]] == [(15 * e, e) for e in range(1, 7)]
        assert run["accuracy"] == run["curve"][-1]["accuracy"] and "macro_f1" in run
    # the table: every run, the medians, the chosen setting marked
    assert "chosen: setting 2" in result.output and "macro-f1" in result.output and "* 2: lr 1e-3" in result.output
    # the progress bar: setting, seed, epoch, the last validation figure
    assert re.search(r"finetune: setting 2/2 \(lr 1e-3\), seed 3 \d+/90 .*epoch 6/6, validation accuracy "
                     r"\d\.\d{3} \(epoch 5\)", result.output), result.output[-3000:]
    # test: scored once, with the kept model, after the search
    assert scored.count(test) == 1 and scored[-1] == test
    assert set(summary["test"]) == {"accuracy", "macro_f1"}
    assert len((out / "test_predictions.jsonl").read_text().splitlines()) == 50
    assert not (out / ".runs").exists()


def test_best_epoch_keeps_the_best_state_and_last_keeps_the_last(tiny_pretrained, family, tmp_path):
    """Validation labels swapped (animal <-> place): the more the model learns the task, the worse it scores, so the
    best validation point is an early one and the last is near 0; each `select` must keep its own state."""
    from electra_cli.finetuning.config import load_finetune_config
    from electra_cli.tasks.dispatch import finetune

    train, val, _ = family
    swapped = tmp_path / "swapped.jsonl"
    rows = [json.loads(line) for line in val.read_text().splitlines()]
    swapped.write_text("".join(json.dumps({"text": r["text"], "label": {"animal": "place", "place": "animal"}[
        r["label"]]}) + "\n" for r in rows))
    kept = {}
    for select in ("best-epoch", "last"):
        out = tmp_path / select
        points = []
        cfg = load_finetune_config(None, ["lr=1e-3", "epochs=4", "batch_size=16", "eval_every=5", f"select={select}"])
        summary = finetune(cfg, disc(tiny_pretrained), train, swapped, out,
                           on_validation=lambda seed, setting, epoch, step, scores: points.append((step, epoch, scores)))
        run = summary["runs"][0]
        curve = [p["accuracy"] for p in run["curve"]]
        assert [p["step"] for p in run["curve"]] == list(range(5, 60, 5)) + [60] == [s for s, _, _ in points]
        assert [e for _, e, _ in points] == [p["epoch"] for p in run["curve"]] and points[2][1] == 1.0
        assert [s["accuracy"] for _, _, s in points] == curve  # the hook sees what metrics.json records
        kept[select] = (curve, run, kept_accuracy(out, swapped))
    curve, best_run, best_saved = kept["best-epoch"]
    assert max(curve) > curve[-1] + 0.3, curve  # measured: 0.54 early, 0.0 at the end
    assert best_run["accuracy"] == max(curve) and best_run["step"] == 5 * (curve.index(max(curve)) + 1)
    assert math.isclose(best_saved, max(curve))
    last_curve, last_run, last_saved = kept["last"]
    assert last_curve == curve  # the same training; only the kept state differs
    assert last_run["accuracy"] == curve[-1] and math.isclose(last_saved, curve[-1])


def test_collapse_check_fires_on_a_collapsed_run_and_stays_quiet_on_a_healthy_one(tiny_pretrained, family, tmp_path):
    train, val, _ = family
    collapsed = run_cli("finetune", "--model", disc(tiny_pretrained), "--train", train, "--validation", val,
                        "--out", tmp_path / "bad", "--lr", "0.5", "--epochs", "1", "--batch-size", "16")
    assert collapsed.exit_code == 0, collapsed.output  # a warning, not a failure
    summary = read_metrics(tmp_path / "bad")
    check = summary["runs"][0]["collapse"]
    assert check["collapsed"] is True and check["top_share"] >= check["threshold"], check
    assert summary["collapse"]["collapsed"] is True and "--lr 1e-4,3e-4,1e-3" in summary["collapse"]["advice"]
    flat = " ".join(collapsed.output.split())
    assert "collapsed in 1 of 1 seed(s)" in flat and "Likely causes" in flat and "COLLAPSED" in flat
    healthy = run_cli("finetune", "--model", disc(tiny_pretrained), "--train", train, "--validation", val,
                      "--out", tmp_path / "good", "--lr", "1e-3", "--epochs", "6", "--batch-size", "16")
    assert healthy.exit_code == 0, healthy.output
    summary = read_metrics(tmp_path / "good")
    assert summary["runs"][0]["collapse"]["collapsed"] is False and summary["collapse"]["collapsed"] is False
    assert "collapsed in" not in healthy.output and "COLLAPSED" not in healthy.output


def test_collapse_thresholds():
    spread = [0] * 25 + [1] * 25 + [2] * 25 + [3] * 25  # 4 balanced classes: threshold max(0.5, 0.625)
    assert collapse.classification_collapse(spread, [0] * 100)["collapsed"] is True
    assert collapse.classification_collapse(spread, [0] * 62 + [1] * 38)["collapsed"] is False
    assert collapse.classification_collapse(spread, [0] * 63 + [1] * 37)["collapsed"] is True
    skewed = [0] * 90 + [1] * 10  # a 90/10 task: answering the majority everywhere is collapse, 90% of it is not
    assert collapse.classification_collapse(skewed, [0] * 100)["collapsed"] is True
    assert collapse.classification_collapse(skewed, [0] * 90 + [1] * 10)["collapsed"] is False
    assert collapse.classification_collapse([0, 1] * 5, [0] * 10)["collapsed"] is None  # too few to tell
    gold = [float(i % 7) for i in range(50)]
    assert collapse.regression_collapse(gold, [3.0 + 0.01 * (i % 3) for i in range(50)])["collapsed"] is True
    assert collapse.regression_collapse(gold, [0.5 * g for g in gold])["collapsed"] is False


def test_regression_search_over_epochs_and_layer_decay(tiny_pretrained, tmp_path):
    rng = random.Random(2)
    path = tmp_path / "scores.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text", "score"])
        for _ in range(120):
            text, _ = family_example(rng)
            w.writerow([text, sum(word in ("cat", "dog", "bird", "fish", "horse") for word in text.split())])
    out = tmp_path / "reg"
    result = run_cli("finetune", "--model", disc(tiny_pretrained), "--train", path, "--validation", path, "--out", out,
                     "--task-type", "regression", "--label-field", "score", "--lr", "1e-3", "--epochs", "1,3",
                     "--batch-size", "16", "--set", "layer_decay=0.8,0.9")
    assert result.exit_code == 0, result.output
    summary = read_metrics(out)
    assert [(s["epochs"], s["layer_decay"]) for s in summary["settings"]] == [(1, 0.8), (3, 0.8), (1, 0.9), (3, 0.9)]
    best = max(range(4), key=lambda i: summary["settings"][i]["median"])
    assert summary["chosen_setting"] == best and summary["metric"] == "pearson"
    assert summary["median"] == summary["settings"][best]["median"] > 0.5  # the task is learnable
    assert (summary["config"]["epochs"], summary["config"]["layer_decay"]) == (
        summary["settings"][best]["epochs"], summary["settings"][best]["layer_decay"])
    assert [len(r["curve"]) for r in summary["runs"]] == [1, 3, 1, 3]
    assert all(r["collapse"]["kind"] == "regression" for r in summary["runs"])


def test_default_is_a_small_built_in_search_and_recipes_stay_fixed(tiny_pretrained, tmp_path):
    from electra_cli.finetuning.config import (
        SEARCHABLE,
        FinetuneConfig,
        load_finetune_config,
    )
    from electra_cli.finetuning.search import expand

    settings = expand(FinetuneConfig(), hidden=64, layers=2, searchable=SEARCHABLE)
    assert [(s.lr, s.decay, s.cfg.epochs) for s in settings] == [(3e-4, 0.8, 3.0), (1e-3, 0.8, 3.0)]
    assert [s.lr for s in expand(FinetuneConfig(), 768, 12, SEARCHABLE)] == [1e-4, 3e-4]
    assert [s.decay for s in expand(FinetuneConfig(), 1024, 24, SEARCHABLE)] == [0.9, 0.9]
    recipe = load_finetune_config("electra-small", [])
    assert recipe.lr == 3e-4 and len(expand(recipe, 64, 2, SEARCHABLE)) == 1
    assert load_finetune_config(None, ["seeds=[1,2]", "lr=1e-4,3e-4"]).seeds == [1, 2]  # seeds: a list, not a search
    bad = run_cli("finetune", "--model", disc(tiny_pretrained), "--train", tmp_path / "x.csv", "--validation",
                  tmp_path / "x.csv", "--out", tmp_path / "o", "--lr", "1e-3,fast")
    assert bad.exit_code == 2 and "lr" in bad.output
    assert run_cli("finetune", "--model", disc(tiny_pretrained), "--train", tmp_path / "x.csv", "--validation",
                   tmp_path / "x.csv", "--out", tmp_path / "o", "--set", "class_weights=balanced",
                   "--task-type", "regression").exit_code == 2


def test_balanced_class_weights_raise_the_minority_class_recall(tiny_pretrained, tmp_path):
    from electra_cli.finetuning.train import class_weights

    assert class_weights([0, 0, 0, 1], 2).tolist() == pytest.approx([4 / 6, 2.0])
    assert class_weights([[0, -100, 0], [1, 0]], 2).tolist() == pytest.approx([4 / 6, 2.0])  # tokens: -100 skipped
    rng = random.Random(3)
    rows = []
    while len(rows) < 300:  # 85% animal
        text, label = family_example(rng)
        if label == "animal" or rng.random() < 0.18:
            rows.append({"text": text, "label": label})
    train = tmp_path / "train.jsonl"
    train.write_text("".join(json.dumps(r) + "\n" for r in rows))
    recall = {}
    for weights in ("none", "balanced"):
        out = tmp_path / weights
        result = run_cli("finetune", "--model", disc(tiny_pretrained), "--train", train, "--validation", train,
                         "--out", out, "--lr", "1e-3", "--epochs", "2", "--batch-size", "16",
                         "--set", f"class_weights={weights}")
        assert result.exit_code == 0, result.output
        predictions = [json.loads(line) for line in (out / "validation_predictions.jsonl").read_text().splitlines()]
        places = [p for p in predictions if p["gold"] == "place"]
        recall[weights] = sum(p["label"] == "place" for p in places) / len(places)
        assert read_metrics(out)["config"]["class_weights"] == weights
    assert recall["balanced"] > recall["none"] + 0.1, recall


def test_report_to_tensorboard_gets_every_validation_point_of_the_search(tiny_pretrained, family, tmp_path):
    """`finetune --report-to tensorboard`: each setting x seed's validation curve, as metrics.json has it, under
    OUT/tensorboard/ on one step axis that keeps counting across runs (W&B drops steps that go back)."""
    from tests.test_trackers import read_scalars

    train, val, _ = family
    out = tmp_path / "ft"
    result = run_cli("finetune", "--model", disc(tiny_pretrained), "--train", train, "--validation", val,
                     "--out", out, "--lr", "1e-5,1e-3", "--epochs", "2", "--seeds", "1,2", "--batch-size", "32",
                     "--report-to", "tensorboard")
    assert result.exit_code == 0, result.output
    runs = read_metrics(out)["runs"]
    scalars = read_scalars(out / "tensorboard")
    steps = []
    for run in runs:
        tag = f"lr={'1e-5' if run['setting'] == 0 else '1e-3'}/seed-{run['seed']}/validation/accuracy"
        assert [v for _, v in scalars[tag]] == pytest.approx([point["accuracy"] for point in run["curve"]])
        steps += [s for s, _ in scalars[tag]]
    assert steps == sorted(steps) and len(set(steps)) == len(steps) == sum(len(r["curve"]) for r in runs)
    assert f"tensorboard --logdir {out / 'tensorboard'}" in " ".join(result.output.split())  # not the temporary name
