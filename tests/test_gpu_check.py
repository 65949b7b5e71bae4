"""bench/gpu.py, the GPU check: its dry run (tiny shapes, a few steps, on the CPU) goes through every part, so the
script is known to work before a GPU ever sees it; a part that fails or overruns is reported and the rest go on."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "bench" / "gpu.py"
VERDICTS = {"off the plateau", "still learning", "stuck on the plateau"}


def load_script():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_script(*args: str) -> subprocess.CompletedProcess:
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, str(SCRIPT), *args], check=False, capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=900)


@pytest.mark.slow
def test_dry_run_goes_through_every_part_and_saves_the_figures(tmp_path):
    out = tmp_path / "out"
    result = run_script("--dry-run", "--out", str(out), "--work", str(tmp_path / "work"))
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    report = json.loads((out / "gpu-check.json").read_text())
    parts = report["parts"]
    assert list(parts) == list(load_script().PARTS)
    assert {name: r["status"] for name, r in parts.items()} == dict.fromkeys(parts, "ok")

    assert parts["device"]["name"] == "CPU" and parts["device"]["missing_dependencies"] == []
    for name in ("small", "base", "small-compile", "base-compile"):
        r = parts[name]
        assert r["recipe"] == f"electra-{name.split('-')[0]}" and r["compile"] == name.endswith("-compile")
        for who in ("ours", "naive"):
            assert r[who]["steps_per_s"] > 0
            assert r[who]["tokens_per_s"] == pytest.approx(r[who]["steps_per_s"] * r["batch"] * r["seq_len"])
        assert r["ratio"] == pytest.approx(r["ours"]["steps_per_s"] / r["naive"]["steps_per_s"])

    predict = parts["predict"]
    assert predict["rows"] == 300 and predict["ours_rows_per_s"] > 0 and predict["pipeline_rows_per_s"] > 0
    assert predict["labels_agree"] >= 0.95  # the same random classifier through predict and through the pipeline
    assert len((tmp_path / "work" / "predictions.jsonl").read_text().splitlines()) == 300

    pretrain = parts["pretrain"]
    assert pretrain["steps"] == 6 and pretrain["health"]["verdict"] in VERDICTS
    assert "disc" in pretrain["line"] and "tok/s" in pretrain["line"]
    assert (tmp_path / "work" / "run" / "final" / "discriminator" / "config.json").is_file()

    table = result.stdout[result.stdout.index("GPU check"):]
    for label in ("DRY RUN", "electra-small eager", "electra-base compile", "predict, 300 rows", "health:"):
        assert label in table
    log = (out / "gpu-check.log").read_text()
    assert all(f"===== {name} " in log for name in parts)


def test_a_part_that_overruns_is_stopped_and_reported_and_the_rest_go_on(tmp_path):
    out = tmp_path / "out"
    result = run_script("--dry-run", "--out", str(out), "--parts", "data,predict,device", "--limit", "data=0.5")
    assert result.returncode == 1
    parts = json.loads((out / "gpu-check.json").read_text())["parts"]
    assert parts["data"]["status"] == "timed out" and parts["data"]["seconds"] < 30
    assert parts["predict"] == {"status": "skipped", "seconds": 0, "error": "needs the data part"}
    assert parts["device"]["status"] == "ok"
    assert "predict: skipped: needs the data part" in result.stdout


def test_a_part_that_fails_is_reported_with_its_error(tmp_path):
    gpu = load_script()
    plan = gpu.make_plan(dry_run=True)
    plan["small"]["recipe"] = "no-such-recipe"
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(json.dumps(plan))
    result = gpu.run_part("small", plan_file, tmp_path / "log.txt", limit_s=120)
    assert result["status"] == "failed" and "no-such-recipe" in result["error"]
    assert "no-such-recipe" in (tmp_path / "log.txt").read_text()  # the traceback, for whoever reads the log


def test_bad_arguments_are_refused():
    result = run_script("--parts", "device,warp-drive")
    assert result.returncode == 2 and "warp-drive" in result.stderr
    result = run_script("--limit", "device=soon")
    assert result.returncode == 2 and "PART=SECONDS" in result.stderr


def test_the_gpu_plan_fits_one_device_call():
    """Every part has a limit and their budget leaves the 8-minute call room to start and report."""
    gpu = load_script()
    plan = gpu.make_plan(dry_run=False)
    assert set(plan["limits_s"]) == set(gpu.PARTS)
    assert plan["budget_s"] <= 8 * 60 - 10
    assert plan["small"]["recipe"] == "electra-small" and plan["base"]["recipe"] == "electra-base"
    assert plan["predict"] and plan["data"]["rows"] == 40_000 and plan["pretrain"]["steps"] == 200
