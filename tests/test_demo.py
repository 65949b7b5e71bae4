"""The demo in its smallest configuration: every artifact and the summary's numbers present and sane."""

import json

from tests.conftest import run_cli


def test_demo_smallest_configuration(tmp_path):
    out = tmp_path / "demo"
    result = run_cli("demo", "--out", out, "--corpus-bytes", "400000", "--steps", "30", "--finetune-epochs", "1")
    assert result.exit_code == 0, result.output
    assert "electra-cli demo" in result.output and "fine-tuned: returns-value" in result.output
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
    for folder in ("finetuned", "finetuned-random-init", "finetuned-returns-value", "finetuned-returns-value-random-init"):
        assert (out / folder / "metrics.json").is_file(), folder
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
    from electra_cli.export import add_finetune_results

    card = tmp_path / "README.md"
    card.write_text("---\nlibrary_name: transformers\n---\n\n# ELECTRA\n\n## Health\n\nok\n\n## Recipe\n\n```toml\n```\n")
    add_finetune_results(card, [{"task": "a", "metric": "accuracy", "pretrained": 0.5, "random_init": 0.4, "seeds": "1"}])
    add_finetune_results(card, [{"task": "b", "metric": "accuracy", "pretrained": 0.7, "random_init": None, "seeds": "1,2,3"}])
    text = card.read_text()
    assert text.count("## Fine-tuning results") == 1 and "| b | accuracy | 0.7000 | n/a | 1,2,3 |" in text
    assert "| a |" not in text and text.index("## Health") < text.index("## Fine-tuning") < text.index("## Recipe")
