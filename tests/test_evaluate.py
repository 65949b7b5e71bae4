"""`electra-cli evaluate` end to end (tiny model, few rows, 1 epoch): a three-task suite over two seeds with a
missing and a failing task, the report's figures against the runs' own metrics, resuming, a changed setting, CLUE's
submission zip for both versions, `--compare`; `--seeds` as a count; `score` on GLUE's metrics; the registry."""

import json
import statistics
import zipfile

import pytest

from tests.conftest import run_cli
from tests.published import write_hfl_chinese_electra_small
from tests.test_zh_presets import TNEWS, jsonl, lines, write_chnsenticorp, write_tnews

WORDS = ("the", "cat", "dog", "sat", "ran", "on", "a", "mat", "big", "small", "was", "is", "not", "very", "red")
SMALL = ["--epochs", "1", "--batch-size", "4", "--max-seq-len", "32"]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return write_hfl_chinese_electra_small(tmp_path_factory.mktemp("eval-model"), words=WORDS)[0]


def sentences(n, seed):
    rng = __import__("random").Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 7))) for _ in range(n)]


def write_cola(root, n=8):
    """CoLA as GLUE distributes it: headerless TSV (source, label, original mark, sentence)."""
    for split, seed in (("train", 0), ("dev", 1)):
        rows = [f"gj04\t{i % 2}\t{'' if i % 2 else '*'}\t{s}" for i, s in enumerate(sentences(n, seed))]
        lines(root / "CoLA" / f"{split}.tsv", rows)


def write_stsb(root, n=8):
    """STS-B as GLUE distributes it: a header, ten columns, the score last."""
    header = "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore"
    for split, seed in (("train", 2), ("dev", 3)):
        a, b = sentences(n, seed), sentences(n, seed + 10)
        rows = [f"{i}\tmain-captions\tMSRvid\t2012test\t{i:04d}\tnone\tnone\t{a[i]}\t{b[i]}\t{i % 6:.3f}" for i in range(n)]
        lines(root / "STS-B" / f"{split}.tsv", [header] + rows)


def write_tnews_both_versions(root):
    """tnews_public/ as CLUE 1.1 ships it: test.json (1.1, ids 0..) beside test1.0.json (1.0, other ids)."""
    write_tnews(root)
    jsonl(root / "tnews_public" / "test1.0.json", [{"id": 100 + i, "sentence": s, "keywords": ""}
                                                   for i, (s, _, _) in enumerate(TNEWS + TNEWS)])


def zip_ids(path, name):
    with zipfile.ZipFile(path) as archive:
        assert archive.namelist() == [name]
        return [json.loads(line)["id"] for line in archive.read(name).decode("utf-8").splitlines()]


def test_a_suite_reports_its_runs_resumes_and_reruns_a_changed_task(model, tmp_path):
    data, out = tmp_path / "data", tmp_path / "eval"
    write_cola(data)
    write_stsb(data)
    write_tnews_both_versions(data)
    write_chnsenticorp(data)
    train = data / "chnsenticorp" / "train.tsv"
    train.write_text(train.read_text(encoding="utf-8") + "7\t一个坏标签\n", encoding="utf-8")  # fails: 7 is no label
    args = ["evaluate", "--model", model, "--tasks", "glue-cola,glue-stsb,tnews,chnsenticorp,msra", "--data-dir",
            data, "--out", out, "--seeds", "2", *SMALL]
    result = run_cli(*args)
    assert result.exit_code == 1, result.output
    assert "chnsenticorp failed" in result.output and "1 task(s) failed (chnsenticorp)" in result.output
    assert "evaluate [1/8]: glue-cola, seed 1" in result.output and "ETA" in result.output
    assert f"wrote {out / 'report.md'}" in result.output
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["missing"] == ["msra"] and list(report["failed"]) == ["chnsenticorp"]
    assert "train.tsv" in report["failed"]["chnsenticorp"] and "\n" not in report["failed"]["chnsenticorp"]
    assert list(report["tasks"]) == ["glue-cola", "glue-stsb", "tnews"]
    for task, entry in report["tasks"].items():
        runs = [json.loads((out / task / f"seed-{s}.json").read_text())["metrics"] for s in (1, 2)]
        values = [100 * r["seeds"][0][r["metric"]] for r in runs]  # each run's own validation figure
        assert [s["seed"] for s in entry["seeds"]] == [1, 2] and entry["metric"] == runs[0]["metric"]
        assert entry["mean"] == pytest.approx(statistics.fmean(values), abs=1e-3)
        assert entry["std"] == pytest.approx(statistics.stdev(values), abs=1e-3)
        assert entry["max"] == pytest.approx(max(values), abs=1e-3)
        kept = entry["folder"]
        assert (out / kept / "config.json").is_file() and len(list((out / task).glob("seed-*/"))) == 1
    assert report["tasks"]["glue-cola"]["metric"] == "mcc" and report["tasks"]["glue-stsb"]["metric"] == "pearson"
    assert report["average"]["value"] == pytest.approx(statistics.fmean(e["mean"] for e in report["tasks"].values()),
                                                       abs=1e-3)
    assert report["tasks"]["tnews"]["test"] == {"submission": "tnews11_predict.json", "clue_version": "1.1"}
    assert zip_ids(out / "clue_submission.zip", "tnews11_predict.json") == [0, 1, 2]  # test.json's ids
    md = (out / "report.md").read_text(encoding="utf-8")
    cola = report["tasks"]["glue-cola"]
    assert f"| glue-cola | mcc | {cola['mean']:.2f} ± {cola['std']:.2f} | {cola['mean']:.2f} ({cola['max']:.2f}) |" in md
    assert "Missing (no files under --data-dir): msra" in md and "Failed: chnsenticorp" in md

    records = {p: p.stat().st_mtime_ns for p in out.glob("*/seed-*.json")}
    again = run_cli(*args)  # resumes: only the failed task is tried again
    assert again.exit_code == 1 and "0 run(s) to do" not in again.output, again.output
    assert "2 run(s) to do, 6 kept from before" in again.output
    assert {p: p.stat().st_mtime_ns for p in out.glob("*/seed-*.json")} == records
    assert json.loads((out / "report.json").read_text(encoding="utf-8")) == report

    older = run_cli("evaluate", "--model", model, "--tasks", "tnews", "--data-dir", data, "--out", out, "--seeds",
                    "1", "--clue-version", "1.0", *SMALL)
    assert older.exit_code == 0, older.output
    assert "tnews: settings changed (clue_version 1.1 -> 1.0): running it again" in older.output
    assert "1 run(s) to do, 0 kept from before" in older.output
    assert zip_ids(out / "clue_submission.zip", "tnews10_predict.json") == [100 + i for i in range(6)]  # test1.0.json


def test_compare_prints_both_means_the_difference_and_the_spread(tmp_path):
    def report(folder, means, stds):
        tasks = {t: {"metric": "accuracy", "mean": m, "std": s, "median": m, "max": m, "seeds": [], "test": None,
                     "folder": f"{t}/seed-1"} for t, m, s in zip(("tnews", "afqmc"), means, stds)}
        folder.mkdir()
        (folder / "report.json").write_text(json.dumps({
            "suite": "clue", "model": str(folder), "tasks": tasks, "missing": [], "failed": {},
            "average": {"metric": "accuracy", "value": statistics.fmean(means)}}))
        return folder

    a = report(tmp_path / "published", (50.0, 70.0), (1.0, 0.5))
    b = report(tmp_path / "continued", (53.0, 70.5), (1.0, 0.5))
    result = run_cli("evaluate", "--compare", a, b)
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line for line in result.output.splitlines() if line.split()}
    assert "50.00 ± 1.00" in rows["afqmc"] or "53.00 ± 1.00" in rows["tnews"]
    assert rows["tnews"].rstrip().endswith("+3.00  yes")  # 3 > sqrt(1 + 1)
    assert rows["afqmc"].rstrip().endswith("+0.50  no")  # 0.5 < sqrt(0.25 + 0.25)
    missing = run_cli("evaluate", "--compare", a, tmp_path / "nothing")
    assert missing.exit_code == 2 and "report.json: no such file" in missing.output


def test_evaluate_refuses_what_it_cannot_run(model, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    none_found = run_cli("evaluate", "--model", model, "--suite", "glue", "--data-dir", empty, "--out", tmp_path / "o")
    assert none_found.exit_code == 2 and "none of the tasks' files are there" in none_found.output
    unknown = run_cli("evaluate", "--model", model, "--suite", "superglue", "--data-dir", empty, "--out", tmp_path / "o")
    assert unknown.exit_code == 2 and "clue, hfl, chinese-ner, glue" in unknown.output
    search = run_cli("evaluate", "--model", model, "--tasks", "tnews", "--data-dir", empty, "--out", tmp_path / "o",
                     "--lr", "1e-4,3e-4")
    assert search.exit_code == 2 and "one value per setting" in search.output


def test_seeds_is_a_count_or_a_list_in_finetune(model, tmp_path):
    from electra_cli.finetuning.config import parse_seeds

    assert parse_seeds("3") == [1, 2, 3] and parse_seeds("7,") == [7] and parse_seeds("1,2,3") == [1, 2, 3]
    for bad in ("0", "x", ",", "-2"):
        with pytest.raises(Exception, match="--seeds"):
            parse_seeds(bad)
    write_cola(tmp_path / "glue")
    result = run_cli("finetune", "--model", model, "--task", "glue-cola", "--data-dir", tmp_path / "glue", "--out",
                     tmp_path / "ft", "--seeds", "2", "--lr", "1e-3", *SMALL)
    assert result.exit_code == 0, result.output
    assert "2 seeds (1, 2)" in result.output
    assert [s["seed"] for s in json.loads((tmp_path / "ft" / "metrics.json").read_text())["seeds"]] == [1, 2]


def test_score_computes_glue_metrics_as_sklearn_and_scipy_do(tmp_path):
    from scipy.stats import pearsonr, spearmanr
    from sklearn.metrics import f1_score, matthews_corrcoef

    write_cola(tmp_path, n=12)
    write_stsb(tmp_path, n=12)
    dev = tmp_path / "CoLA" / "dev.tsv"
    gold = [line.split("\t")[1] for line in dev.read_text().splitlines()]
    predicted = ["1", "1", "0", "1", "0", "0", "1", "1", "1", "0", "1", "0"]
    jsonl(tmp_path / "cola.jsonl", [{"id": i, "label": p, "score": 0.9} for i, p in enumerate(predicted)])
    result = run_cli("score", "--task", "glue-cola", dev, tmp_path / "cola.jsonl", "--json")
    assert result.exit_code == 0, result.output
    scores = json.loads(result.output)
    assert scores["mcc"] == pytest.approx(100 * matthews_corrcoef(gold, predicted), abs=1e-3)
    assert scores["total"] == 12 and scores["missing"] == 0
    mrpc_f1 = 100 * f1_score([int(g) for g in gold], [int(p) for p in predicted])
    lines(tmp_path / "MRPC" / "dev.tsv", ["Quality\t#1 ID\t#2 ID\t#1 String\t#2 String"] +
          [f"{g}\t1\t2\ta\tb" for g in gold])
    mrpc = json.loads(run_cli("score", "--task", "glue-mrpc", tmp_path / "MRPC" / "dev.tsv", tmp_path / "cola.jsonl",
                              "--json").output)
    assert mrpc["f1"] == pytest.approx(mrpc_f1, abs=1e-3)
    stsb_dev = tmp_path / "STS-B" / "dev.tsv"
    gold_scores = [float(line.split("\t")[-1]) for line in stsb_dev.read_text().splitlines()[1:]]
    guesses = [(i * 7 % 5) / 2 for i in range(12)]
    jsonl(tmp_path / "stsb.jsonl", [{"id": i, "score": g} for i, g in enumerate(guesses)])
    stsb = json.loads(run_cli("score", "--task", "glue-stsb", stsb_dev, tmp_path / "stsb.jsonl", "--json").output)
    assert stsb["pearson"] == pytest.approx(100 * pearsonr(gold_scores, guesses)[0], abs=1e-3)
    assert stsb["spearman"] == pytest.approx(100 * spearmanr(gold_scores, guesses)[0], abs=1e-3)
    jsonl(tmp_path / "part.jsonl", [{"id": 0, "score": 1.0}])
    partial = run_cli("score", "--task", "glue-stsb", stsb_dev, tmp_path / "part.jsonl")
    assert partial.exit_code == 3 and "11 of 12 rows" in partial.output


def test_every_suite_task_is_a_preset_and_every_preset_is_scored():
    from electra_cli.tasks.registry import PRESETS, SUITES
    from electra_cli.tasks.score import SCORE_TASKS

    assert {t for tasks in SUITES.values() for t in tasks} <= set(PRESETS)
    assert set(SCORE_TASKS) == set(PRESETS)
    assert SUITES["hfl"] == ("cmrc2018", "drcd", "xnli-zh", "chnsenticorp", "lcqmc", "bq")
    assert len(SUITES["glue"]) == 8 and SUITES["chinese-ner"] == ("cluener", "msra", "peoples-daily")
    result = run_cli("finetune", "--model", "x", "--out", "y", "--task", "glue-wnli", "--data-dir", ".")
    assert result.exit_code == 2 and "glue-cola" in result.output and "peoples-daily" in result.output


@pytest.mark.parametrize("version, name, ids", [("1.1", "tnews11_predict.json", [0, 1, 2]),
                                                ("1.0", "tnews10_predict.json", [100 + i for i in range(6)])])
def test_clue_submission_names_follow_the_version(model, tmp_path, version, name, ids):
    """tnews_public/ with both test sets: each version predicts its own test file into its own name, and says so."""
    write_tnews_both_versions(tmp_path / "data")
    out = tmp_path / "ft"
    result = run_cli("finetune", "--model", model, "--task", "tnews", "--data-dir", tmp_path / "data", "--out", out,
                     "--clue-version", version, "--seeds", "1", *SMALL)
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["id"] for line in (out / name).read_text(encoding="utf-8").splitlines()] == ids
    assert len(list(out.glob("*_predict.json"))) == 1
    test_file = "test.json" if version == "1.1" else "test1.0.json"
    last = result.output.strip().splitlines()[-1]
    assert f"CLUE {version}'s submission file" in last and name in last and test_file in last
