"""Every Chinese preset through the CLI on folders laid out exactly as distributed (tests/zh_data.py names the
sources), and on the folders CLUE's own download script makes; HFL's settings (configure_finetuning.py) in each
run (issue 32 real check and item 4, issue 36 item 7)."""

from __future__ import annotations

import json

import pytest

from tests import zh_data
from tests.conftest import run_cli
from tests.published import write_hfl_chinese_electra_small

SMALL = ["--epochs", "1", "--batch-size", "4", "--max-seq-len", "48", "--seeds", "1"]
QA_SMALL = ["--epochs", "1", "--batch-size", "2", "--max-seq-len", "64", "--set", "max_query_len=16", "--seeds", "1"]
QA = ("drcd", "cmrc2018")


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return write_hfl_chinese_electra_small(tmp_path_factory.mktemp("zh-model"))[0]


def finetune(model, task, data_dir, out, *extra):
    result = run_cli("finetune", "--model", model, "--task", task, "--data-dir", data_dir, "--out", out,
                     *(QA_SMALL if task in QA else SMALL), *extra)
    assert result.exit_code == 0, result.output
    return json.loads((out / "metrics.json").read_text(encoding="utf-8")), result.output


def check_submission(summary, out, folder):
    """The submission file predicts test.json (CLUE 1.1's test set where test1.0.json lies beside it), row by row."""
    rows = [json.loads(line) for line in (out / summary["submission"]).read_text(encoding="utf-8").splitlines()]
    test = [json.loads(line) for line in (folder / "test.json").read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == [t["id"] for t in test]


@pytest.mark.parametrize("task", list(zh_data.DISTRIBUTED))
def test_every_preset_runs_on_its_distributed_folder(task, model, tmp_path):
    root = tmp_path / "data"
    folder = zh_data.DISTRIBUTED[task](root)
    summary, _ = finetune(model, task, root, tmp_path / "ft")
    assert summary["task"] == task
    assert summary["config"]["weight_decay"] == 0.01  # HFL's configure_finetuning.py weight_decay_rate
    if task in QA:
        assert "average" in summary["seeds"][0]
        return
    if "submission" in summary:
        check_submission(summary, tmp_path / "ft", folder)
    if task in ("ocnli", "cmnli"):
        assert summary["preset"]["counts"]["dropped"]["dev"] == 1


def files_found(task, data_dir, model, workdir):
    """The training and dev files the preset reads from `data_dir` (what `finetune --task` reads; no training)."""
    from electra_cli.tasks.presets import split_file, zh_setup
    from electra_cli.finetuning.config import FinetuneConfig
    from electra_cli.tasks.squad import qa_setup

    if task == "cmrc2018":
        return qa_setup(task, data_dir, FinetuneConfig())
    zh_setup(task, data_dir, FinetuneConfig(), model, workdir, epochs_set=False)  # reads and checks every split
    return split_file(task, data_dir, "train"), split_file(task, data_dir, "dev")


@pytest.mark.parametrize("layout,task", [("clue", t) for t in zh_data.CLUE_SCRIPT] + [("hfl", t) for t in zh_data.HFL_LAYOUT])
def test_presets_find_the_folders_clues_download_script_and_hfls_run_finetuning_use(layout, task, model, tmp_path):
    """CLUE's download_clue_data.py (DATA/<task>/, cmnli nested) and HFL's run_finetuning.py layout
    (finetuning_data/<task>/): `--data-dir DATA` finds the task's files."""
    root = tmp_path / "data"
    folder = (zh_data.CLUE_SCRIPT if layout == "clue" else zh_data.HFL_LAYOUT)[task](root)
    train, dev = files_found(task, root, model, tmp_path)
    assert train.parent == dev.parent == folder and train.is_file()


@pytest.mark.parametrize("task", QA)
def test_chinese_qa_presets_take_hfls_length_and_epochs_unless_given(task, model, tmp_path):
    """HFL's configure_finetuning.py: a "qa" task runs at 512 tokens for 2 epochs (the tiny model has 128
    positions, so 512 is cut to them, which the log says); the user's flags win."""
    root = tmp_path / "data"
    zh_data.DISTRIBUTED[task](root)
    result = run_cli("finetune", "--model", model, "--task", task, "--data-dir", root, "--out", tmp_path / "ft",
                     "--set", "max_query_len=16", "--batch-size", "2")
    assert result.exit_code == 0, result.output
    assert "max_seq_len 512 is longer than the model's 128 positions" in " ".join(result.output.split())
    config = json.loads((tmp_path / "ft" / "metrics.json").read_text(encoding="utf-8"))["config"]
    assert (config["epochs"], config["weight_decay"]) == (2.0, 0.01)
    summary, output = finetune(model, task, root, tmp_path / "ft2", "--set", "weight_decay=0")
    assert (summary["config"]["epochs"], summary["config"]["max_seq_len"], summary["config"]["weight_decay"]) == (1.0, 64, 0)


def test_char_tag_files_keep_a_full_width_space_character(tmp_path):
    """People's Daily / MSRA lines whose character is U+3000 (`　 O`): the character stays in the sentence, its tag
    beside it, so the entities after it keep their offsets."""
    from electra_cli.tasks.presets import read_char_tags

    folder = zh_data.peoples_daily(tmp_path)
    rows = [row for _, row in read_char_tags(folder / "example.train", "train")]
    assert [r["text"] for r in rows] == [text for text, _ in zh_data.PD]
    last = rows[-1]
    assert last["tokens"][2] == "\u3000" and last["tags"][3:6] == ["B-PER", "I-PER", "I-PER"]
    assert "".join(last["tokens"][3:6]) == "王小明"
