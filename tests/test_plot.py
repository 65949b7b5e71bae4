"""`electra-cli plot`: two real runs overlaid (PNG files checked byte by byte), fine-tuning results joined to
their run, and a damaged, unfinished, resumed metrics.jsonl read without failing."""

from __future__ import annotations

import json
import shutil
import struct
import sys

from electra_cli.watching.plot import FIGURES, read_metrics
from tests.conftest import pretrain_args, run_cli

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(path) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk, after checking the signature."""
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR", path
    assert data.endswith(b"IEND\xaeB`\x82"), path  # complete, not cut
    return struct.unpack(">II", data[16:24])


def test_plot_two_runs_overlaid_with_an_index_naming_both(tiny_shards, tiny_pretrained, tmp_path):
    mlm = tmp_path / "mlm-run"
    result = run_cli(*pretrain_args(tiny_shards, mlm, 30, "--set", "model.objective=mlm", "--set",
                                    "train.eval_every=15"))
    assert result.exit_code == 0, result.output
    finetuned = tmp_path / "ft"
    finetuned.mkdir()  # the layout `finetune` writes into metrics.json (the fields the report reads)
    (finetuned / "metrics.json").write_text(json.dumps({
        "task": "word-family", "metric": "accuracy", "median": 0.8125, "seeds": [{"seed": 1, "accuracy": 0.8125}],
        "model": str(tiny_pretrained / "final" / "discriminator"), "test": {"accuracy": 0.75}}))
    report = tmp_path / "report"
    result = run_cli("plot", tiny_pretrained, mlm, "--out", report, "--finetune", finetuned)
    assert result.exit_code == 0, result.output
    assert f"open {report / 'index.html'}" in result.output
    for spec in FIGURES:  # the MLM run has no discriminator, the ELECTRA run does: every figure is drawn
        width, height = png_size(report / f"{spec.name}.png")
        assert (width, height) == (1200, 420) and (report / f"{spec.name}.png").stat().st_size > 20_000, spec.name
    page = (report / "index.html").read_text()
    assert "<td>run</td>" in page and "<td>mlm-run</td>" in page  # both runs, by folder name
    assert str(tiny_pretrained) in page and str(mlm) in page
    assert "electra-tiny (electra, 2 layers x 64" in page and "electra-tiny (mlm, 2 layers x 64" in page
    assert "100 / 100" in page and "30 / 30" in page and page.count("finished") >= 2
    assert "(validation at step 100)" in page and "(validation at step 30)" in page  # final health from validation
    assert "<td>word-family</td><td>accuracy (median)</td><td>0.8125 (test 0.7500)</td>" in page
    for spec in FIGURES:
        assert f'<img src="{spec.name}.png"' in page
    assert not (report / "finetune.png").exists()  # a metrics.json without curves draws no fine-tuning figure
    assert "http" not in page.replace("http-equiv", "")  # self-contained: nothing fetched from elsewhere

    # plotting again replaces the report as a whole (an index.html marks the folder as ours)
    result = run_cli("plot", mlm, "--out", report)
    assert result.exit_code == 0, result.output
    assert "<td>run</td>" not in (report / "index.html").read_text()
    assert not (report / "disc_auc.png").exists()  # an MLM run alone has no discriminator figures


def test_plot_reads_a_damaged_unfinished_resumed_metrics_file(tiny_pretrained, tmp_path):
    run = tmp_path / "going"
    run.mkdir()
    shutil.copy(tiny_pretrained / "config.toml", run / "config.toml")
    lines = (tiny_pretrained / "metrics.jsonl").read_text().splitlines()
    train = [json.loads(line) for line in lines if '"validation"' not in line]
    resumed = dict(train[3], loss=99.0, elapsed_s=0.25)  # a resumed attempt's step 40, its clock from 0 again
    damaged = [lines[0], "not json at all", json.dumps(train[1]), "[1, 2]", json.dumps({"no_step": 1}),
               json.dumps(train[2]), json.dumps({"step": 35, "loss": "high", "disc_loss": None}),  # odd values
               json.dumps(train[3]), json.dumps(train[4]), json.dumps(resumed),
               '{"loss": 3.1, "st']  # the last line cut mid-write: the run is still going
    (run / "metrics.jsonl").write_text("\n".join(damaged) + "\n\xff\xfe\n")
    records, validation, bad, wall = read_metrics(run / "metrics.jsonl")
    assert bad == [2, 4, 5, 11, 12]
    assert [r["step"] for r in records] == [10, 20, 30, 35, 40] and records[-1]["loss"] == 99.0
    assert wall == train[4]["elapsed_s"] + 0.25 and validation == []

    report = tmp_path / "report"
    result = run_cli("plot", run, "--out", report)
    assert result.exit_code == 0, result.output
    assert "5 line(s) are not records and were skipped (line 2, 4, 5, 11, 12)" in result.output
    page = (report / "index.html").read_text()
    assert "40 / 100" in page and "not finished (last record" in page and "5 bad line(s)" in page
    assert "(training at step 40)" in page  # no validation record yet: health from the last training window
    assert png_size(report / "disc_loss_ratio.png") == (1200, 420)


def test_plot_refuses_what_it_cannot_plot(tiny_pretrained, tmp_path, monkeypatch):
    result = run_cli("plot", tmp_path / "nowhere", "--out", tmp_path / "r1")
    assert result.exit_code == 2 and "nowhere: not a folder" in result.output
    result = run_cli("plot", tiny_pretrained / "final", "--out", tmp_path / "r1")
    assert result.exit_code == 2 and "no metrics.jsonl (not a pretrain run folder)" in result.output
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    result = run_cli("plot", tiny_pretrained, "--out", busy)
    assert result.exit_code == 2 and "pass --overwrite" in result.output and (busy / "notes.txt").exists()
    for name in ("matplotlib", "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, name, None)
    result = run_cli("plot", tiny_pretrained, "--out", tmp_path / "r2")
    assert result.exit_code == 2 and "pip install 'electra-cli[plot]'" in result.output
    assert not (tmp_path / "r2").exists()


def test_plot_draws_the_fine_tuning_curves_of_a_search(tiny_pretrained, tmp_path):
    """A real `finetune` search (2 rates x 2 seeds, validation after each epoch) given with --finetune: one figure
    of its validation curves beside the run's, named in index.html."""
    from tests.conftest import write_family_task

    train, val = write_family_task(tmp_path / "task", n_train=120, n_val=40)
    finetuned = tmp_path / "ft"
    result = run_cli("finetune", "--model", tiny_pretrained / "final" / "discriminator", "--train", train,
                     "--validation", val, "--out", finetuned, "--lr", "1e-4,1e-3", "--epochs", "2", "--seeds", "1,2")
    assert result.exit_code == 0, result.output
    runs = json.loads((finetuned / "metrics.json").read_text())["runs"]
    assert len(runs) == 4 and all(len(r["curve"]) == 2 for r in runs)
    report = tmp_path / "report"
    result = run_cli("plot", tiny_pretrained, "--out", report, "--finetune", finetuned)
    assert result.exit_code == 0, result.output
    assert png_size(report / "finetune.png") == (1200, 420) and (report / "finetune.png").stat().st_size > 20_000
    page = (report / "index.html").read_text()
    assert '<img src="finetune.png" alt="fine-tuning: validation after each epoch, per setting and seed against epoch">' in page
