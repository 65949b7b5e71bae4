"""The demo in its smallest configuration: every artifact and the summary's numbers present and sane."""

import json

import pytest

from tests.conftest import run_cli


def test_demo_smallest_configuration(tmp_path):
    out = tmp_path / "demo"
    result = run_cli("demo", "--out", out, "--corpus-bytes", "400000", "--steps", "30", "--finetune-epochs", "1")
    assert result.exit_code == 0, result.output
    assert "electra-cli demo" in result.output and "fine-tuned: returns-value" in result.output
    assert result.output.count("corpus read") == 1  # vocab and shard read the same corpus: one summary
    closing = result.output[result.output.index("Did it work?"):]  # the last lines, in plain words
    assert "ran end to end" in closing and "Verdict: pretraining" in closing and "lr 1e-3" in closing
    assert closing.count("from random weights") >= 2 and "always answering 'original'" in closing
    summary = json.loads((out / "demo-summary.json").read_text())
    assert 0.35 < summary["corpus_mb"] < 0.5 and summary["documents"] > 100
    assert summary["vocab_size"] > 1000 and summary["shards"] >= 2 and summary["train_examples"] > 100
    assert summary["pretrain_steps"] == 30
    health = summary["health"]
    assert 0 < health["disc_loss"] < 1 and 0 < health["disc_entropy"] < 0.7 and isinstance(health["on_plateau"], bool)
    assert list(summary["tasks"]) == ["stdlib-package", "returns-value"]
    for name, task in summary["tasks"].items():
        for key in ("pretrained", "random_init", "test_pretrained", "test_random_init", "majority_class"):
            assert 0 <= task[key] <= 1, (name, key)
        assert task["train_examples"] > 50, name
    assert 0 <= summary["predict_accuracy"] <= 1
    test_rows = (out / "data" / "stdlib-package-test.jsonl").read_text().splitlines()
    assert summary["predict_rows"] == len(test_rows) > 10
    for path in summary["outputs"].values():
        assert (tmp_path / path).exists() or __import__("pathlib").Path(path).exists(), path
    card = (out / "run" / "final" / "discriminator" / "README.md").read_text()
    assert "## Fine-tuning results" in card and "returns-value (validation, demo)" in card
    assert card.index("## Health") < card.index("## Fine-tuning results") < card.index("## Recipe")
    report = out / "report" / "index.html"  # the plot report: the run's curves and the comparison the card holds
    page = report.read_text()
    assert "<td>run</td>" in page and "stdlib-package (validation, demo)" in page and '<img src="disc_loss_ratio.png"' in page
    assert summary["outputs"]["report"] == str(report) and str(report) in closing
    assert (out / "report" / "disc_loss_ratio.png").read_bytes()[:4] == b"\x89PNG"
    for folder in ("finetuned", "finetuned-random-init", "finetuned-returns-value", "finetuned-returns-value-random-init"):
        assert (out / folder / "metrics.json").is_file(), folder
        assert summary["outputs"][folder] == str(out / folder) and str(out / folder) in closing, folder
    # the pretraining corpus never contains a test docstring of either task
    flat = " ".join((out / "data" / "corpus.txt").read_text().split())
    assert len({json.loads(r)["label"] for r in test_rows}) >= 6
    returns_rows = [json.loads(r) for r in (out / "data" / "returns-value-test.jsonl").read_text().splitlines()]
    assert {r["label"] for r in returns_rows} == {"returns", "no-return"}
    test_texts = [json.loads(r)["text"] for r in test_rows[:50]] + [r["text"] for r in returns_rows[:50]]
    assert not any(t[:200] in flat for t in test_texts if len(t) > 100)


def test_returns_label_reads_the_function_body_not_nested_ones():
    import ast

    from electra_cli.demo import returns_label

    source = '''
def a():
    return 1
def b():
    def inner():
        return 2
    return None
def c():
    yield 3
def d():
    if x:
        return
    print(x)
class E:
    pass
'''
    nodes = {n.name: n for n in ast.walk(ast.parse(source)) if hasattr(n, "name")}
    assert [returns_label(nodes[k]) for k in "abcd"] == ["returns", "no-return", "returns", "no-return"]
    assert returns_label(nodes["E"]) is None


def test_finetune_results_replace_earlier_ones_in_the_model_card(tmp_path):
    from electra_cli.watching.card import add_finetune_results

    card = tmp_path / "README.md"
    card.write_text("---\nlibrary_name: transformers\n---\n\n# ELECTRA\n\n## Health\n\nok\n\n## Recipe\n\n```toml\n```\n")
    add_finetune_results(card, [{"task": "a", "metric": "accuracy", "pretrained": 0.5, "random_init": 0.4, "seeds": "1"}])
    add_finetune_results(card, [{"task": "b", "metric": "accuracy", "pretrained": 0.7, "random_init": None, "seeds": "1,2,3"}])
    text = card.read_text()
    assert text.count("## Fine-tuning results") == 1 and "| b | accuracy | 0.7000 | n/a | 1,2,3 |" in text
    assert "| a |" not in text and text.index("## Health") < text.index("## Fine-tuning") < text.index("## Recipe")


def test_closing_lines_give_an_honest_verdict_per_task():
    from electra_cli.demo import closing_lines, noise_margin

    def task(pretrained, random_init, n=400, seeds=None):
        return {"pretrained": pretrained, "random_init": random_init, "majority_class": 0.3, "validation_examples": n,
                "seed_scores": seeds or {}}

    summary = {"vocab_size": 8000, "train_examples": 100, "pretrain_steps": 10, "predict_rows": 5,
               "predict_accuracy": 0.5, "outputs": {"vocab": "v"}, "output_notes": {"vocab": "the vocabulary"},
               "finetune_settings": {"lr": 1e-3, "batch_size": 16, "epochs": 5.0, "seeds": "1"},
               "health": {"disc_loss": 0.37, "disc_entropy": 0.405, "disc_loss_ratio": 0.92, "disc_auc": 0.68,
                          "on_plateau": True, "verdict": "stuck on the plateau"},
               "tasks": {"a": task(0.60, 0.45), "b": task(0.50, 0.48), "c": task(0.40, 0.55)}}
    text = "\n".join(closing_lines(summary))
    assert 0.06 < noise_margin(task(0.5, 0.5)) < 0.08  # 2 x sqrt(2 x 0.25 / 400)
    assert noise_margin(task(0.5, 0.5, seeds={"pretrained": [0.4, 0.6]})) == pytest.approx(0.2)  # the seeds' spread wins
    assert "a (a labelled task): validation accuracy 0.600" in text and ": pretraining helped." in text
    assert "no difference beyond noise" in text and "pretraining made it worse" in text
    assert "Verdict: pretraining helped beyond noise on a, not on b, c." in text
    assert "stuck on that plateau" in text and "ranks a replaced word above an original one 68%" in text
    assert "One fine-tuning seed" in text and text.rstrip().endswith("v  the vocabulary")
    summary["tasks"] = {"b": task(0.50, 0.48)}
    assert "Verdict: pretraining did not help beyond noise." in "\n".join(closing_lines(summary))
