"""The path most users take (issue 36): continue a published Chinese ELECTRA on a domain corpus. The recipe a
published start takes, the length it was trained at, epochs as steps, [UNK] on a domain corpus, the help texts."""

from __future__ import annotations

import json
import math
import random
import tomllib

import pytest
from transformers import AutoTokenizer

from electra_cli.shards import write
from tests.conftest import TINY, run_cli
from tests.published import COMMON_CJK, write_hfl_chinese_electra_small

RARE = ["鑫", "龘", "😀"]  # characters the fixture's vocabulary lacks: [UNK] in the shards
SMALL_RUN = ["--set", "data.max_seq_len=32", "--set", "train.log_every=1", "--set", "train.eval_every=0",
             "--set", "train.eval_batches=1"]


def flat(output: str) -> str:
    """Help and log text with its wrapping (and the help screen's frame) undone."""
    return " ".join(output.replace("│", " ").split())


def write_zh_corpus(path, docs: int = 120, seed: int = 0):
    """Documents of sentences of common characters, some ending in a character the vocabulary lacks."""
    rng = random.Random(seed)
    text = []
    for _ in range(docs):
        sentences = ["".join(rng.choice(COMMON_CJK) for _ in range(rng.randint(6, 18))) + rng.choice(RARE + [""] * 5)
                     + "，" + "".join(rng.choice(COMMON_CJK) for _ in range(rng.randint(3, 9))) + "。"
                     for _ in range(rng.randint(2, 5))]
        text.append("\n".join(sentences))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n\n".join(text) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def hfl(tmp_path_factory):
    """hfl/chinese-electra-180g-small-style folders (128 positions) and shards of 32 tokens made with their vocab."""
    tmp = tmp_path_factory.mktemp("hfl")
    disc, gen = write_hfl_chinese_electra_small(tmp / "hub")
    corpus = write_zh_corpus(tmp / "zh.txt")
    result = run_cli("shard", corpus, "--vocab", disc, "--out", tmp / "shards", "--max-seq-len", "32", "--workers", "1",
                     "--validation-fraction", "0.05")
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp / "shards" / "manifest.json").read_text())
    return {"disc": disc, "gen": gen, "corpus": corpus, "shards": tmp / "shards", "tmp": tmp, "output": result.output,
            "manifest": manifest, "rows": manifest["splits"]["train"]["rows"]}


def read_config(run) -> dict:
    return tomllib.loads((run / "config.toml").read_text())


def test_published_weights_without_a_recipe_take_the_continue_recipe_of_their_size(hfl, tmp_path):
    run = tmp_path / "run"
    result = run_cli("pretrain", "--shards", hfl["shards"], "--out", run, "--init-discriminator", hfl["disc"],
                     "--init-generator", hfl["gen"], "--epochs", "1", *SMALL_RUN)
    assert result.exit_code == 0, result.output
    out = flat(result.output)
    assert ("starting from published weights without --recipe: electra-continue-small, lr 0.0001, 1,000 warmup "
            "steps, train.epochs 1 (--recipe NAME for another)") in out
    config = read_config(run)
    assert config["run"]["recipe"] == "electra-continue-small" and config["optim"]["lr"] == 1e-4
    # --epochs 1: one pass over the shards' training examples at the recipe's global batch of 128
    steps = math.ceil(hfl["rows"] / 128)
    assert config["train"]["steps"] == steps and config["train"]["epochs"] == 1
    assert f"{steps:,} steps of 128 x 32 tokens (train.epochs 1: {steps * 128 / hfl['rows']:,.2f} passes over " \
           f"{hfl['rows']:,} training examples), global batch 128 = 1 process(es) x 128" in out
    # the length the published model takes, and what continuing at 32 means
    assert "takes up to 128 positions (max_position_embeddings) and does not record the length" in out
    assert "HFL's Chinese ELECTRA: 512" in out
    assert "this run continues at 32 tokens: positions 32 to 127 keep their published weights" in out
    assert "shard --max-seq-len 128, --set data.max_seq_len=128" in out


def test_a_from_scratch_recipe_with_published_weights_says_what_that_means(hfl, tmp_path):
    run = tmp_path / "run"
    result = run_cli("pretrain", "--shards", hfl["shards"], "--out", run, "--recipe", "electra-tiny",
                     "--init-discriminator", hfl["disc"], "--init-generator", hfl["gen"], "--max-steps", "1",
                     "--mixed-precision", "no", *SMALL_RUN)
    assert result.exit_code == 0, result.output
    out = flat(result.output)
    assert ("--recipe electra-tiny is a from-scratch schedule (lr 0.0002, 200 warmup steps, 1 steps): the published "
            "weights continue at that rate and length; electra-continue-small is the recipe for continuing them "
            "(lr 0.0001, 1,000 warmup steps, 25,000 steps)") in out
    assert "--mixed-precision is now --precision" in out  # the old name still works, and says the new one
    assert read_config(run)["train"]["mixed_precision"] == "no"
    # the model card of our own export records the length: a run continued from it says so
    result = run_cli("pretrain", "--shards", hfl["shards"], "--out", tmp_path / "again", "--init-from",
                     run / "final", "--max-steps", "1", "--precision", "fp32", *SMALL_RUN)
    assert result.exit_code == 0, result.output
    assert "was trained at 32 tokens (its model card), positions up to 128; this run continues at 32" in flat(result.output)
    assert read_config(tmp_path / "again")["train"]["mixed_precision"] == "no"


def test_the_continue_recipe_follows_the_published_width():
    from electra_cli.pretraining.recipe import continue_recipe_for

    assert [continue_recipe_for(h) for h in (64, 256, 768, 1024)] == [
        "electra-continue-small", "electra-continue-small", "electra-continue-base", "electra-continue-base"]


def test_epochs_turn_the_example_count_into_steps(hfl, tmp_path):
    args = ["pretrain", "--shards", hfl["shards"], "--out", tmp_path / "run", "--recipe", "electra-tiny"]
    for override in TINY:
        args += ["--set", override]
    result = run_cli(*args, "--epochs", "0.2")
    assert result.exit_code == 0, result.output
    steps = math.ceil(0.2 * hfl["rows"] / 16)  # TINY's global batch is 16
    assert read_config(tmp_path / "run")["train"]["steps"] == steps
    assert f"{steps:,} steps of 16 x 32 tokens (train.epochs 0.2: {steps * 16 / hfl['rows']:,.2f} passes" in flat(result.output)
    assert max(json.loads(line).get("step", 0) for line in (tmp_path / "run" / "metrics.jsonl").open()) == steps
    # resumed with more epochs, the steps follow; resumed with --max-steps, the steps are given and epochs dropped
    longer = math.ceil(0.3 * hfl["rows"] / 16)
    result = run_cli(*args, "--epochs", "0.3", "--resume", "auto")
    assert result.exit_code == 0, result.output
    config = read_config(tmp_path / "run")
    assert config["train"]["steps"] == longer and config["run"]["changes"] == [f"step {steps}: train.epochs 0.2 -> 0.3"]
    result = run_cli(*args, "--max-steps", str(longer + 1), "--resume", "auto")
    assert result.exit_code == 0, result.output
    config = read_config(tmp_path / "run")
    assert (config["train"]["steps"], config["train"]["epochs"]) == (longer + 1, 0)
    both = run_cli(*args[:-2], "--out", tmp_path / "both", "--epochs", "1", "--max-steps", "5")
    assert both.exit_code == 2 and "--max-steps (train.steps) or --epochs (train.epochs)" in both.output


def test_shard_reports_unknown_tokens_as_transformers_counts_them(hfl):
    unknown = hfl["manifest"]["unknown"]
    tokenizer = AutoTokenizer.from_pretrained(hfl["disc"])
    lines = [line for line in hfl["corpus"].read_text(encoding="utf-8").splitlines() if line]
    ids = [i for line in lines for i in tokenizer(line, add_special_tokens=False)["input_ids"]]
    expected = sum(i == tokenizer.unk_token_id for i in ids)
    assert unknown["tokens"] == expected > 0
    assert unknown["share"] == round(expected / hfl["manifest"]["examples"]["input_tokens"], 8)
    assert {text for text, _ in unknown["texts"]} == {*RARE, "，", "。"}  # the fixture's vocab lacks CJK punctuation
    assert sum(n for _, n in unknown["texts"]) == expected
    assert "unknown_tokens" not in hfl["manifest"]["examples"]
    assert f"{expected:,} of {hfl['manifest']['examples']['input_tokens']:,} tokens are [UNK]" in flat(hfl["output"])


def test_merged_parts_count_unknown_tokens_as_one_machine(hfl, tmp_path, monkeypatch):
    monkeypatch.setattr(write, "CHUNK_BYTES", 1024)  # several chunks, so that each part has its own counts
    settings = ["--vocab", str(hfl["disc"]), "--max-seq-len", "32", "--workers", "1", "--validation-fraction", "0.05"]
    result = run_cli("shard", hfl["corpus"], "--out", tmp_path / "one" / "shards", *settings)
    assert result.exit_code == 0, result.output
    parts = []
    for i in (1, 2, 3):
        parts.append(tmp_path / "parts" / f"part-{i}")
        result = run_cli("shard", hfl["corpus"], "--out", parts[-1], *settings, "--part", f"{i}/3")
        assert result.exit_code == 0, result.output
    result = run_cli("merge", *parts, "--out", tmp_path / "merged" / "shards")
    assert result.exit_code == 0, result.output
    one = (tmp_path / "one" / "shards" / "manifest.json").read_text()
    assert (tmp_path / "merged" / "shards" / "manifest.json").read_text() == one
    assert json.loads(one)["unknown"]["tokens"] == hfl["manifest"]["unknown"]["tokens"]
    assert "tokens are [UNK]" in flat(result.output)


def test_help_lists_every_bundled_recipe_and_names_what_trips_users():
    from electra_cli.core.config import RECIPES_DIR

    pretrain = flat(run_cli("pretrain", "--help").output)
    for path in sorted((RECIPES_DIR / "pretrain").glob("*.toml")):
        first = path.read_text().splitlines()[0]
        assert first.startswith(f"# {path.stem}: "), f"{path}: the first line says the recipe's purpose"
        assert flat(f"{path.stem} {first.split(': ', 1)[1]}") in pretrain
    assert "train.batch_size is global: the sequences of one optimizer step over all processes on all machines" \
        in pretrain and "4 machines x 8 GPUs at 128: 4 per GPU" in pretrain
    assert "--precision" in pretrain and "--mixed-precision" not in pretrain and "--epochs" in pretrain
    verify = flat(run_cli("verify", "--help").output)
    assert "start with [CLS], end with [SEP], hold at most two [SEP] and no [PAD]" in verify
    finetune = flat(run_cli("finetune", "--help").output)
    assert all(layout in finetune for layout in ("GLUE's layout", "CMRC 2018", "CLUE's JSON lines", "People's Daily"))
    assert "[default: (one run, seed 1)]" in finetune
    assert "./ft/" in flat(run_cli("plot", "--help").output)


def test_convert_checks_a_chinese_generator_with_a_chinese_sentence(hfl, tmp_path):
    from electra_cli.serving.convert import SANITY_TEXTS, sanity_text_for
    from tests.published import google_vocab

    assert sanity_text_for({t: i for i, t in enumerate(google_vocab(["city"]))}) == SANITY_TEXTS["en"]
    result = run_cli("convert", hfl["gen"], "--out", tmp_path / "gen")
    assert result.exit_code == 0, result.output
    assert f"sanity check: '{SANITY_TEXTS['zh']}' ->" in result.output


def readme_commands(marker: str) -> list[list[str]]:
    """The commands of the README's bash block after `marker`, continuation lines joined, comments left out."""
    import shlex
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    block = readme.split(marker, 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    lines = [line for line in block.replace("\\\n", " ").splitlines() if line.strip() and not line.startswith("#")]
    return [shlex.split(line) for line in lines]


def test_the_readme_usual_path_runs_as_written(tmp_path, monkeypatch):
    """README "The usual path": shard in parts + merge, continue HFL's pair at 512 with whole words for one epoch,
    evaluate three of HFL's tasks for the run and the baseline, compare them, plot; on tiny folders with the real
    layouts."""
    pytest.importorskip("rjieba")
    from tests.test_zh_presets import WRITERS

    write_hfl_chinese_electra_small(tmp_path, max_position=512)
    write_zh_corpus(tmp_path / "legal" / "a.txt", docs=80, seed=1)
    (tmp_path / "legal-words.txt").write_text("中国人民\n国家法律 100 n\n", encoding="utf-8")
    for task in ("chnsenticorp", "tnews", "peoples-daily"):
        WRITERS[task](tmp_path / "data")
    monkeypatch.chdir(tmp_path)
    commands = readme_commands("(`tests/test_continue.py` runs these commands as written, on tiny folders of the same layout):")
    assert [c[1] for c in commands] == ["shard", "shard", "merge", "pretrain"] + ["evaluate"] * 3 + ["plot"]
    outputs = []
    for command in commands:
        assert command[0] == "electra-cli"
        result = run_cli(*command[1:])
        assert result.exit_code == 0, f"{' '.join(command)}\n{result.output}"
        outputs.append(flat(result.output))
    assert "tokens are [UNK]" in outputs[2]  # merge says what the vocabulary cannot spell
    assert "without --recipe: electra-continue-small" in outputs[3] and "train.epochs 1:" in outputs[3]
    config = read_config(tmp_path / "runs" / "legal")
    assert (config["model"]["masking"], config["data"]["max_seq_len"]) == ("whole-word", 512)
    manifest = json.loads((tmp_path / "shards" / "manifest.json").read_text())
    assert manifest["words"]["user_dict"]["entries"] == 2 and manifest["max_seq_len"] == 512
    for name in ("legal", "published"):  # the continued run and the baseline, each a report of the three tasks
        report = json.loads((tmp_path / "eval" / name / "report.json").read_text())
        assert sorted(report["tasks"]) == ["chnsenticorp", "peoples-daily", "tnews"] and not report["failed"]
        assert [len(t["seeds"]) for t in report["tasks"].values()] == [3, 3, 3]
    assert report["tasks"]["peoples-daily"]["metric"] == "entity_f1"
    for task in ("chnsenticorp", "tnews", "peoples-daily"):
        assert task in outputs[6]  # --compare: a line per task
    assert (tmp_path / "report" / "index.html").is_file()
    # the cluster block repeats the one-machine flags through SHARD_ARGS and PRETRAIN_ARGS
    cluster = " ".join(" ".join(c) for c in readme_commands("fewer by the same factor:"))
    for flag in ("--max-seq-len 512 --segment rjieba --user-dict", "--epochs 1 --set data.max_seq_len=512 --set "
                 "model.masking=whole-word", "RECIPE=electra-continue-small", "submit-shard.sh", "pretrain.sbatch"):
        assert flag in cluster
