"""The demo in its smallest configuration: every artifact and the summary's numbers present and sane."""

import json

from tests.conftest import run_cli


def test_demo_smallest_configuration(tmp_path):
    out = tmp_path / "demo"
    result = run_cli("demo", "--out", out, "--corpus-bytes", "400000", "--steps", "30", "--finetune-epochs", "1")
    assert result.exit_code == 0, result.output
    assert "electra-cli demo" in result.output and "fine-tuned accuracy" in result.output
    summary = json.loads((out / "demo-summary.json").read_text())
    assert 0.35 < summary["corpus_mb"] < 0.5 and summary["documents"] > 100
    assert summary["vocab_size"] > 1000 and summary["shards"] >= 2 and summary["train_examples"] > 100
    assert summary["pretrain_steps"] == 30
    health = summary["health"]
    assert 0 < health["disc_loss"] < 1 and 0 < health["disc_entropy"] < 0.7 and isinstance(health["on_plateau"], bool)
    for key in ("finetune_pretrained", "finetune_random_init", "test_accuracy_pretrained", "majority_class"):
        assert 0 <= summary[key] <= 1, key
    test_rows = (out / "data" / "task-test.jsonl").read_text().splitlines()
    assert summary["predict_rows"] == len(test_rows) > 10
    for path in summary["outputs"].values():
        assert (tmp_path / path).exists() or __import__("pathlib").Path(path).exists(), path
    assert (out / "run" / "final" / "discriminator" / "README.md").is_file()
    assert (out / "finetuned" / "metrics.json").is_file() and (out / "finetuned-random-init" / "metrics.json").is_file()
    # the pretraining corpus never contains a test docstring
    corpus = (out / "data" / "corpus.txt").read_text()
    labels = {json.loads(r)["label"] for r in test_rows}
    assert len(labels) >= 6
    test_texts = [json.loads(r)["text"] for r in test_rows[:50]]
    flat = " ".join(corpus.split())
    assert not any(t[:200] in flat for t in test_texts if len(t) > 100)
