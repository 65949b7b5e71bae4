"""`finetune`, `predict` and `convert` end to end on a tiny pretrained model and generated labelled data."""

import csv
import json
import math
import shutil
import statistics

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from transformers import (
    AutoModelForSequenceClassification,
    ElectraForMaskedLM,
    ElectraForPreTraining,
    pipeline,
)

from electra_cli.finetuning import metrics
from electra_cli.finetuning.steps import layerwise_groups
from tests.conftest import family_example, run_cli, write_family_task

FAST = ("--epochs", "1", "--batch-size", "16", "--lr", "1e-3")  # one setting: no lr would be the built-in search
LEARN = ("--epochs", "20", "--lr", "1e-3", "--batch-size", "16")


def disc(run):
    return run / "final" / "discriminator"


@pytest.fixture(scope="module")
def family(tmp_path_factory):
    return write_family_task(tmp_path_factory.mktemp("family"), n_train=400, n_val=120)


@pytest.fixture(scope="module")
def finetuned(tiny_pretrained, family, tmp_path_factory):
    out = tmp_path_factory.mktemp("ft") / "model"
    train, val = family
    result = run_cli("finetune", "--model", disc(tiny_pretrained), "--train", train, "--validation", val,
                     "--out", out, *LEARN)
    assert result.exit_code == 0, result.output
    return out


def test_learns_the_word_family_task_well_above_majority(finetuned, family):
    summary = json.loads((finetuned / "metrics.json").read_text())
    labels = [json.loads(line)["label"] for line in family[1].read_text().splitlines()]
    majority = max(labels.count(x) for x in set(labels)) / len(labels)
    assert summary["median"] > majority + 0.2, summary  # measured ~0.97 against 0.5
    assert summary["labels"] == ["animal", "place"]


def test_output_loads_in_a_transformers_pipeline(finetuned):
    classifier = pipeline("text-classification", model=str(finetuned))
    text, label = family_example(__import__("random").Random(99))
    result = classifier(text)[0]
    assert result["label"] in ("animal", "place") and 0 <= result["score"] <= 1
    config = json.loads((finetuned / "config.json").read_text())
    assert set(config["id2label"].values()) == {"animal", "place"}
    rows = (finetuned / "validation_predictions.jsonl").read_text().splitlines()
    assert len(rows) == 120 and {"text", "label", "score", "gold"} <= json.loads(rows[0]).keys()


def test_predict_streams_one_row_per_input(finetuned, tmp_path):
    data = tmp_path / "unlabelled.jsonl"
    data.write_text("".join(json.dumps({"text": family_example(__import__("random").Random(i))[0]}) + "\n" for i in range(150)))
    out = tmp_path / "preds.jsonl"
    result = run_cli("predict", "--model", finetuned, data, "--out", out, "--batch-size", "32")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 150 and all(r["label"] in ("animal", "place") for r in rows)
    assert run_cli("predict", "--model", finetuned, tmp_path / "none.csv").exit_code == 2


@pytest.mark.parametrize("fmt", ["tsv", "parquet", "jsonl"])
def test_every_input_format(tiny_pretrained, tmp_path, fmt):
    rng = __import__("random").Random(1)
    rows = [family_example(rng) for _ in range(60)]
    train = tmp_path / f"train.{fmt}"
    if fmt == "tsv":
        train.write_text("text\tlabel\n" + "".join(f"{t}\t{l}\n" for t, l in rows))
    elif fmt == "parquet":
        pq.write_table(pa.table({"text": [t for t, _ in rows], "label": [l for _, l in rows]}), train)
    else:
        train.write_text("".join(json.dumps({"text": t, "label": l}) + "\n" for t, l in rows))
    result = run_cli("finetune", "--model", disc(tiny_pretrained), "--train", train, "--validation", train,
                     "--out", tmp_path / "out", *FAST)
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "out" / "metrics.json").read_text())["validation_examples"] == 60


def test_pairs_and_regression(tiny_pretrained, tmp_path):
    rng = __import__("random").Random(2)
    path = tmp_path / "pairs.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["a", "b", "score"])
        for _ in range(80):
            a, _ = family_example(rng)
            b, _ = family_example(rng)
            w.writerow([a, b, f"{sum(x in a.split() for x in b.split()) / 3:.3f}"])
    result = run_cli("finetune", "--model", disc(tiny_pretrained), "--train", path, "--validation", path,
                     "--out", tmp_path / "out", "--task-type", "regression", "--text-field", "a",
                     "--text-pair-field", "b", "--label-field", "score", *FAST)
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert summary["metric"] == "pearson" and set(summary["seeds"][0]) == {"seed", "pearson", "spearman"}
    config = json.loads((tmp_path / "out" / "config.json").read_text())
    assert config.get("problem_type") == "regression" and len(config.get("id2label", {0: 0})) == 1


def test_token_classification_jsonl_and_conll(tiny_pretrained, tmp_path):
    rng = __import__("random").Random(3)
    sentences = []
    for _ in range(60):
        text, _ = family_example(rng)
        words = text.split()
        sentences.append((words, ["ANIMAL" if w in "cat dog bird fish horse".split() else "O" for w in words]))
    jsonl = tmp_path / "tags.jsonl"
    jsonl.write_text("".join(json.dumps({"tokens": w, "tags": t}) + "\n" for w, t in sentences))
    conll = tmp_path / "tags.conll"
    conll.write_text("\n".join("\n".join(f"{w} {t}" for w, t in zip(ws, ts)) + "\n" for ws, ts in sentences))
    for path in (jsonl, conll):
        out = tmp_path / f"out-{path.suffix}"
        result = run_cli("finetune", "--model", disc(tiny_pretrained), "--train", path, "--validation", path,
                         "--out", out, "--task-type", "token-classification", "--epochs", "3", "--lr", "1e-3")
        assert result.exit_code == 0, result.output
        summary = json.loads((out / "metrics.json").read_text())
        assert summary["labels"] == ["ANIMAL", "O"] and summary["median"] > 0.6


def test_multi_seed_aggregation_keeps_the_median_seed(tiny_pretrained, family, tmp_path):
    train, val = family
    out = tmp_path / "seeds"
    result = run_cli("finetune", "--model", disc(tiny_pretrained), "--train", train, "--validation", val,
                     "--out", out, "--seeds", "1,2,3", *FAST)
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "metrics.json").read_text())
    scores = {s["seed"]: s["accuracy"] for s in summary["seeds"]}
    assert list(scores) == [1, 2, 3]
    assert summary["median"] == statistics.median(scores.values())
    assert math.isclose(summary["mean"], statistics.fmean(scores.values()))
    assert scores[summary["kept_seed"]] == summary["median"]
    kept = [json.loads(line)["label"] for line in (out / "validation_predictions.jsonl").read_text().splitlines()]
    gold = [json.loads(line)["label"] for line in val.read_text().splitlines()]
    assert math.isclose(metrics.accuracy(gold, kept), summary["median"])  # the kept model is that seed's


def write_glue(folder, rng):
    (folder / "CoLA").mkdir(parents=True)
    (folder / "STS-B").mkdir(parents=True)
    for split, n in (("train", 80), ("dev", 40)):
        with open(folder / "CoLA" / f"{split}.tsv", "w") as f:  # headerless: source, label, original, sentence
            for _ in range(n):
                text, label = family_example(rng)
                f.write(f"src\t{int(label == 'animal')}\t*\t{text}\n")
        with open(folder / "STS-B" / f"{split}.tsv", "w") as f:
            f.write("index\tgenre\tsentence1\tsentence2\tscore\n")
            for i in range(n):
                a, b = family_example(rng)[0], family_example(rng)[0]
                f.write(f"{i}\tmain\t{a}\t{b}\t{rng.uniform(0, 5):.2f}\n")


def test_glue_layout_two_tasks_with_their_metrics(tiny_pretrained, tmp_path):
    glue = tmp_path / "glue"
    write_glue(glue, __import__("random").Random(4))
    for task, metric, keys in (("glue-cola", "mcc", {"mcc", "accuracy"}), ("glue-stsb", "pearson", {"pearson", "spearman"})):
        out = tmp_path / task
        result = run_cli("finetune", "--model", disc(tiny_pretrained), "--task", task, "--data-dir", glue,
                         "--out", out, "--epochs", "1", "--lr", "1e-3")
        assert result.exit_code == 0, result.output
        summary = json.loads((out / "metrics.json").read_text())
        assert summary["metric"] == metric and keys <= set(summary["seeds"][0])
        rows = [json.loads(line) for line in (out / "validation_predictions.jsonl").read_text().splitlines()]
        if task == "glue-cola":
            expected = metrics.mcc([r["gold"] for r in rows], [r["label"] for r in rows])
        else:
            expected = metrics.pearson([r["gold"] for r in rows], [r["score"] for r in rows])
        assert math.isclose(summary["median"], expected, abs_tol=1e-6) or (math.isnan(expected) and math.isnan(summary["median"]))
    stsb = json.loads((tmp_path / "glue-stsb" / "metrics.json").read_text())
    assert stsb["config"]["epochs"] == 1
    # the reference's double_unordered: STS-B trains on both sentence orders; validation keeps one
    assert (stsb["train_examples"], stsb["validation_examples"], stsb["config"]["double_unordered"]) == (160, 40, True)


def test_metrics_against_hand_computed_values():
    gold, pred = [1, 1, 1, 0, 0, 0, 1, 0], [1, 1, 0, 0, 0, 1, 1, 0]
    # TP=3 FP=1 FN=1 TN=3: accuracy 6/8, F1 = 2*3/(2*3+1+1) = 0.75, MCC = (9-1)/sqrt(4*4*4*4) = 0.5
    assert metrics.accuracy(gold, pred) == 0.75
    assert math.isclose(metrics.f1_binary(gold, pred), 0.75)
    assert math.isclose(metrics.mcc(gold, pred), 0.5)
    assert math.isclose(metrics.pearson([1, 2, 3, 4], [2, 4, 6, 8]), 1.0)
    assert math.isclose(metrics.spearman([1, 2, 3, 4], [1, 3, 2, 4]), 0.8)


def layer_lrs(model, groups) -> dict:
    """{"embeddings": lr, 0: lr, 1: lr, ..., "head": lr}, checking that every parameter of a part has one lr."""
    names = {id(p): n for n, p in model.named_parameters()}
    lrs: dict = {}
    for group in groups:
        for p in group["params"]:
            name = names[id(p)]
            if ".layer." in name:
                part = int(name.split(".layer.")[1].split(".")[0])
            else:
                part = "embeddings" if "embeddings" in name else "head"
            assert lrs.setdefault(part, group["lr"]) == group["lr"], name
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))
    return lrs


def test_layerwise_decay_groups_reference_and_contiguous(tiny_pretrained):
    model = AutoModelForSequenceClassification.from_pretrained(disc(tiny_pretrained), num_labels=2)
    assert model.config.num_hidden_layers == 2
    # google-research/electra's _get_layer_lrs: lr x d^(L+2-depth), embeddings depth 0, layer i depth i+1, head L+2
    reference = layer_lrs(model, layerwise_groups(model, 1e-3, 0.8, 0.0))
    assert reference.keys() == {"embeddings", 0, 1, "head"}
    for part, power in (("head", 0), (1, 2), (0, 3), ("embeddings", 4)):  # the top layer gets lr x d^2
        assert math.isclose(reference[part], 1e-3 * 0.8**power), (part, reference)
    contiguous = layer_lrs(model, layerwise_groups(model, 1e-3, 0.8, 0.0, style="contiguous"))
    for part, power in (("head", 0), (1, 1), (0, 2), ("embeddings", 3)):  # electra-cli's before: d^(L+1-depth)
        assert math.isclose(contiguous[part], 1e-3 * 0.8**power), (part, contiguous)


def test_schedule_shapes_at_a_few_steps():
    from electra_cli.core.schedule import lr_lambda

    reference = lr_lambda(10, 100, shape="reference")  # (1 - t/T) x min(1, t/W): the decay runs from step 0
    expected = {0: 0.0, 5: 0.95 * 0.5, 10: 0.9, 50: 0.5, 90: 0.1, 100: 0.0, 130: 0.0}
    assert {t: round(reference(t), 12) for t in expected} == expected
    assert lr_lambda(0, 100, shape="reference")(0) == 1.0  # no warmup: the decay alone
    default = lr_lambda(10, 100)  # pretraining's shape, unchanged: warmup to 1, then decay from W to T
    assert [default(t) for t in (0, 5, 10, 55, 100)] == [0.0, 0.5, 1.0, 0.5, 0.0]
    assert lr_lambda(10, 100, shape="warmup-then-decay")(55) == 0.5


def test_adamw_without_bias_correction_against_a_hand_computed_step():
    from electra_cli.core.schedule import UncorrectedAdamW

    lr, wd, eps = 0.1, 0.01, 1e-6
    p = torch.nn.Parameter(torch.tensor([1.0, -2.0], dtype=torch.float64))
    optimizer = UncorrectedAdamW([{"params": [p], "weight_decay": wd}], lr=lr, eps=eps)
    p.grad = torch.tensor([0.5, -1.0], dtype=torch.float64)
    optimizer.step()
    # m = 0.1 g, v = 0.001 g^2, uncorrected: m / sqrt(v) = sqrt(10) sign(g) (torch's AdamW would step by sign(g))
    # step 1: 1 - 0.1 x (0.05 / (sqrt(0.00025) + eps) + 0.01 x 1), -2 - 0.1 x (-0.1 / (sqrt(0.001) + eps) - 0.02)
    first = [1 - 0.1 * (0.05 / (math.sqrt(0.00025) + eps) + 0.01), -2 - 0.1 * (-0.1 / (math.sqrt(0.001) + eps) - 0.02)]
    assert torch.allclose(p.detach(), torch.tensor(first, dtype=torch.float64), rtol=0, atol=1e-12)
    assert math.isclose(first[0], 1 - 0.1 * (math.sqrt(10) + 0.01), abs_tol=1e-4)  # eps aside
    p.grad = torch.tensor([0.25, 0.5], dtype=torch.float64)
    optimizer.step()
    # m = 0.9 x 0.05 + 0.1 x 0.25 = 0.07, v = 0.999 x 0.00025 + 0.001 x 0.0625; then m = 0.9 x -0.1 + 0.05 = -0.04,
    # v = 0.999 x 0.001 + 0.001 x 0.25
    m, v = [0.07, -0.04], [0.999 * 0.00025 + 0.0000625, 0.000999 + 0.00025]
    second = [x - 0.1 * (mi / (math.sqrt(vi) + eps) + 0.01 * x) for x, mi, vi in zip(first, m, v)]
    assert torch.allclose(p.detach(), torch.tensor(second, dtype=torch.float64), rtol=0, atol=1e-12)
    biased = torch.nn.Parameter(torch.tensor([1.0, -2.0], dtype=torch.float64))
    torch_adamw = torch.optim.AdamW([biased], lr=lr, eps=eps, weight_decay=0.0)
    biased.grad = torch.tensor([0.5, -1.0], dtype=torch.float64)
    torch_adamw.step()
    assert torch.allclose(biased.detach(), torch.tensor([0.9, -1.9], dtype=torch.float64), atol=1e-5)  # different


def test_optimizer_and_schedule_are_the_reference_by_default_and_hf_style_by_settings(tiny_pretrained):
    from electra_cli.core.schedule import UncorrectedAdamW
    from electra_cli.finetuning.config import FinetuneConfig, load_finetune_config
    from electra_cli.finetuning.steps import make_optimizer

    model = AutoModelForSequenceClassification.from_pretrained(disc(tiny_pretrained), num_labels=2)
    optimizer, scheduler = make_optimizer(model, FinetuneConfig(), 1e-3, 0.8, total=100)
    assert type(optimizer) is UncorrectedAdamW and optimizer.defaults["eps"] == 1e-6
    assert sorted(g["initial_lr"] for g in optimizer.param_groups)[-1] == 1e-3  # the head
    assert min(g["initial_lr"] for g in optimizer.param_groups) == pytest.approx(1e-3 * 0.8**4)  # embeddings
    assert scheduler.lr_lambdas[0](10) == pytest.approx(0.9)
    for name in ("electra-small", "electra-base", "electra-large"):  # the recipes say so too
        cfg = load_finetune_config(name, [])
        assert (cfg.schedule, cfg.adam_bias_correction, cfg.layer_decay_style, cfg.head) == (
            "reference", False, "reference", "reference")
    hf_style = load_finetune_config("electra-small", ["schedule=warmup-then-decay", "adam_bias_correction=true",
                                                      "layer_decay_style=contiguous", "head=hf"])
    optimizer, scheduler = make_optimizer(model, hf_style, 1e-3, 0.8, total=100)
    assert type(optimizer) is torch.optim.AdamW and scheduler.lr_lambdas[0](10) == 1.0
    assert min(g["initial_lr"] for g in optimizer.param_groups) == pytest.approx(1e-3 * 0.8**3)


def test_reference_head_is_saved_as_an_hf_head_with_the_same_logits():
    from transformers import ElectraConfig

    from electra_cli.finetuning.train import ClsHead

    config = ElectraConfig(vocab_size=50, hidden_size=16, embedding_size=8, num_hidden_layers=1, num_attention_heads=2,
                           intermediate_size=32, num_labels=3)
    torch.manual_seed(0)
    head = ClsHead(config).eval()
    features = torch.randn(6, 5, 16) * 4  # (B, T, H)
    hf_head = head.as_electra_head(config).eval()
    assert torch.allclose(head(features), hf_head(features), atol=1e-5)
    assert torch.allclose(head(features), features[:, 0] @ head.out.weight.T + head.out.bias, atol=1e-6)  # 1 layer
    config.num_labels = 9  # 2 x 9 > hidden 16: cannot be written as HF's head
    with pytest.raises(Exception, match="head=hf"):
        ClsHead(config)


def test_electra_recipe_output_has_the_one_layer_head_and_loads_in_a_pipeline(tiny_pretrained, family, tmp_path):
    train, val = family
    out = tmp_path / "recipe"
    result = run_cli("finetune", "--model", disc(tiny_pretrained), "--recipe", "electra-small", "--train", train,
                     "--validation", val, "--out", out, *FAST)
    assert result.exit_code == 0, result.output
    config = json.loads((out / "metrics.json").read_text())["config"]
    assert (config["schedule"], config["head"], config["layer_decay_style"], config["adam_bias_correction"]) == (
        "reference", "reference", "reference", False)
    head = AutoModelForSequenceClassification.from_pretrained(out).classifier  # HF's ElectraClassificationHead
    eye = torch.eye(2)
    assert torch.equal(head.out_proj.weight[:, :2], eye) and torch.equal(head.out_proj.weight[:, 2:4], -eye)
    assert not head.out_proj.weight[:, 4:].any() and not head.out_proj.bias.any()
    assert torch.equal(head.dense.weight[2:4], -head.dense.weight[:2]) and not head.dense.weight[4:].any()
    classifier = pipeline("text-classification", model=str(out))
    rows = [json.loads(line) for line in (out / "validation_predictions.jsonl").read_text().splitlines()[:8]]
    for row, got in zip(rows, classifier([r["text"] for r in rows])):
        assert got["label"] == row["label"] and math.isclose(got["score"], row["score"], abs_tol=1e-4)


def test_double_unordered_trains_both_orders_and_leaves_validation_alone(tiny_pretrained, tmp_path):
    from transformers import AutoTokenizer

    from electra_cli.finetuning.config import FinetuneConfig
    from electra_cli.finetuning.train import load_examples
    from electra_cli.tasks.glue import glue_setup

    rng = __import__("random").Random(5)
    path = tmp_path / "pairs.csv"
    pairs = [(family_example(rng)[0], family_example(rng)[0], str(i % 2)) for i in range(6)]
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows([("a", "b", "label"), *pairs])
    tokenizer = AutoTokenizer.from_pretrained(disc(tiny_pretrained))
    cfg = FinetuneConfig(text_field="a", text_pair_field="b")
    doubled = load_examples(path, cfg, tokenizer, None, double_unordered=True)
    assert len(doubled.input_ids) == 12 and doubled.labels == [p[2] for p in pairs] * 2
    for i, (a, b, _) in enumerate(pairs):
        assert doubled.input_ids[i] == tokenizer(a, b)["input_ids"]
        assert doubled.input_ids[6 + i] == tokenizer(b, a)["input_ids"]
    assert len(load_examples(path, cfg, tokenizer, None).input_ids) == 6
    glue = tmp_path / "glue"
    for folder in ("MRPC", "STS-B", "RTE"):
        (glue / folder).mkdir(parents=True)
        for split in ("train", "dev"):
            (glue / folder / f"{split}.tsv").write_text("x\n")
    for task, expected in (("glue-mrpc", True), ("glue-stsb", True), ("glue-rte", False)):
        cfg = FinetuneConfig()
        glue_setup(task, glue, cfg, epochs_set=False)
        assert cfg.double_unordered is expected, task
    cfg = FinetuneConfig(double_unordered=False)
    glue_setup("glue-mrpc", glue, cfg, epochs_set=False)
    assert cfg.double_unordered is False  # an explicit setting wins over the preset
    single = tmp_path / "single.csv"
    single.write_text("text,label\ncat dog,animal\n")
    result = run_cli("finetune", "--model", disc(tiny_pretrained), "--train", single, "--validation", single,
                     "--out", tmp_path / "x", "--set", "double_unordered=true")
    assert result.exit_code == 2 and "double_unordered needs pairs" in result.output


def test_bad_inputs_are_clear_errors(tiny_pretrained, family, tmp_path):
    train, val = family
    model = disc(tiny_pretrained)
    missing = tmp_path / "missing.csv"
    missing.write_text("body,label\nhello,animal\n")
    result = run_cli("finetune", "--model", model, "--train", missing, "--validation", val, "--out", tmp_path / "a")
    assert result.exit_code == 3 and "missing.csv:2: no field 'text'" in result.output
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    result = run_cli("finetune", "--model", model, "--train", empty, "--validation", val, "--out", tmp_path / "b")
    assert result.exit_code == 3 and "empty.csv: no examples" in result.output
    unseen = tmp_path / "unseen.jsonl"
    unseen.write_text(json.dumps({"text": "cat dog", "label": "vehicle"}) + "\n")
    result = run_cli("finetune", "--model", model, "--train", train, "--validation", unseen, "--out", tmp_path / "c")
    assert result.exit_code == 3 and "'vehicle' is not in the training set" in result.output
    result = run_cli("finetune", "--model", tmp_path, "--train", train, "--validation", val, "--out", tmp_path / "d")
    assert result.exit_code == 2 and "not a model folder" in result.output
    result = run_cli("finetune", "--model", model, "--out", tmp_path / "e")
    assert result.exit_code == 2
    assert not any((tmp_path / x).exists() for x in "abcde")


def test_convert_checkpoint_round_trip_and_sanity(tiny_pretrained, tmp_path):
    step = tiny_pretrained / "checkpoints" / "step-00000100"
    result = run_cli("convert", step, "--out", tmp_path / "hf", "--sanity-text", "the big [MASK] sees a dog .")
    assert result.exit_code == 0, result.output
    assert "sanity check" in result.output
    ids = torch.tensor([[2, 10, 11, 12, 3, 13, 14, 3]])
    with torch.no_grad():
        for role, cls in (("discriminator", ElectraForPreTraining), ("generator", ElectraForMaskedLM)):
            a = cls.from_pretrained(tiny_pretrained / "final" / role).eval()(input_ids=ids).logits
            b = cls.from_pretrained(tmp_path / "hf" / role).eval()(input_ids=ids).logits
            assert torch.equal(a, b), role


def test_convert_bin_to_safetensors(tiny_pretrained, tmp_path):
    src = tmp_path / "bin-model"
    shutil.copytree(tiny_pretrained / "final" / "generator", src)
    model = ElectraForMaskedLM.from_pretrained(src).eval()
    torch.save(model.state_dict(), src / "pytorch_model.bin")
    (src / "model.safetensors").unlink()
    result = run_cli("convert", src, "--out", tmp_path / "st")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "st" / "model.safetensors").is_file() and not (tmp_path / "st" / "pytorch_model.bin").exists()
    ids = torch.tensor([[2, 10, 4, 12, 3]])
    with torch.no_grad():
        converted = ElectraForMaskedLM.from_pretrained(tmp_path / "st").eval()
        assert torch.allclose(model(input_ids=ids).logits, converted(input_ids=ids).logits)
    assert run_cli("convert", tmp_path / "nothing", "--out", tmp_path / "x").exit_code == 2
