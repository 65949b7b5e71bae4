"""The GPU check: one call, inside ~8 minutes on one H100, that prints what README's Speed section needs.

    python bench/gpu.py --out gpu-check               # on a GPU: bf16 (fp16 before Ampere)
    python bench/gpu.py --dry-run --out /tmp/check    # anywhere: tiny shapes, a few steps, about a minute on a CPU

Each part runs in a fresh process with its own time limit, so a part that fails, crashes (an out-of-memory, a
compiler error) or overruns is reported and the rest still run. Parts run in order of what matters most, the
torch.compile ones last so that a slow compile cannot starve the others; the time limits of the parts together
stay inside --budget.

    device          the GPU, torch, the precision `auto` picks, the dense peak behind MFU, missing dependencies
    small, base     `electra-cli bench`'s step, eager: ours vs the naive HF step, steps/s, tokens/s, MFU, memory
    data            docstrings of the installed Python sources (as the demo reads them) -> vocab -> shards, and
                    a randomly initialised classifier folder with that vocabulary (nothing is downloaded)
    predict         `predict` (the whole call: load, tokenize, run, write) vs transformers' pipeline (warmed)
    pretrain        `electra-cli pretrain` for 200 steps on those shards: its last progress line and health
    small-compile,  as small and base, our model under torch.compile (the naive step stays eager: a second
    base-compile    measurement of it, which shows the run-to-run spread)

Writes OUT/gpu-check.json (every figure) and OUT/gpu-check.log (every part's output); prints the table last.
Exits 1 when a part did not finish. Runs the code of the checkout it sits in, installed or not.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PARTS = ("device", "small", "base", "data", "predict", "pretrain", "small-compile", "base-compile")
NEEDS = {"predict": "data", "pretrain": "data"}
MIN_PART_S = 10  # a part is not started with less of the budget left than this
TINY_MODEL = ["model.layers=1", "model.hidden=32", "model.embedding=32", "model.heads=2", "model.intermediate=64"]


def make_plan(dry_run: bool) -> dict:
    """What each part measures: the real sizes on a GPU, tiny ones for the dry run (same code paths)."""
    if dry_run:
        step = {"precision": "auto", "vocab": 1000, "micro_batch": 2, "steps": 2, "compile_backend": "eager",
                "overrides": [*TINY_MODEL, "data.max_seq_len=32"]}
        return {
            "dry_run": True, "budget_s": 300,
            "limits_s": dict.fromkeys(PARTS, 90),
            "small": step | {"recipe": "electra-small"},
            "base": step | {"recipe": "electra-base"},
            "data": {"corpus_bytes": 150_000, "vocab_size": 1000, "seq_len": 32, "validation_fraction": 0.05,
                     "workers": 1, "classifier_recipe": "electra-small", "classifier_overrides": TINY_MODEL,
                     "rows": 300},
            "predict": {"batch_size": 64},
            "pretrain": {"recipe": "electra-small", "steps": 6,
                         "sets": [*TINY_MODEL, "data.max_seq_len=32", "train.batch_size=4", "optim.warmup_steps=2",
                                  "train.log_every=2", "train.eval_every=3", "train.eval_batches=1",
                                  "train.save_every=6"]},
        }
    step = {"precision": "auto", "vocab": 30522, "compile_backend": "inductor", "overrides": []}
    return {
        "dry_run": False, "budget_s": 470,
        # seconds, each also capped by what is left of the budget; typical runs take about half of these
        "limits_s": {"device": 60, "small": 90, "base": 120, "data": 150, "predict": 120, "pretrain": 150,
                     "small-compile": 180, "base-compile": 240},
        "small": step | {"recipe": "electra-small", "micro_batch": 0, "steps": 100},  # the recipe's batch: 128 x 128
        "base": step | {"recipe": "electra-base", "micro_batch": 64, "steps": 40},  # 64 x 512
        "data": {"corpus_bytes": 4_000_000, "vocab_size": 8000, "seq_len": 128, "validation_fraction": 0.05,
                 "workers": min(8, os.cpu_count() or 1), "classifier_recipe": "electra-small",
                 "classifier_overrides": [], "rows": 40_000},
        "predict": {"batch_size": 64},  # predict's default, and the pipeline's (its own default, 1, is no contest)
        # a short warmup so that 200 steps can leave the plateau; the recipe's own lr
        "pretrain": {"recipe": "electra-small", "steps": 200,
                     "sets": ["optim.warmup_steps=20", "train.log_every=50", "train.eval_every=100",
                              "train.eval_batches=4", "train.save_every=200"]},
    }


# ---- the parts, each run in its own process ------------------------------------------------------------------


def part_device(plan: dict, work: Path) -> dict:
    import importlib.metadata

    import torch
    import transformers
    from packaging.requirements import Requirement

    from electra_cli.core.precision import device_peak_flops, resolve_precision

    try:
        import tomllib
    except ModuleNotFoundError:  # Python < 3.11
        import tomli as tomllib
    missing = []
    for spec in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]:
        requirement = Requirement(spec)
        if requirement.marker is None or requirement.marker.evaluate():
            try:
                importlib.metadata.version(requirement.name)
            except importlib.metadata.PackageNotFoundError:
                missing.append(requirement.name)
    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    return {
        "name": torch.cuda.get_device_name(device) if cuda else "CPU",
        "capability": ".".join(map(str, torch.cuda.get_device_capability())) if cuda else None,
        "memory_gb": torch.cuda.get_device_properties(device).total_memory / 1e9 if cuda else None,
        "precision": resolve_precision("auto"), "peak_flops": device_peak_flops(device),
        "torch": torch.__version__, "cuda": torch.version.cuda, "transformers": transformers.__version__,
        "python": sys.version.split()[0], "missing_dependencies": missing,
    }


def part_step(settings: dict, compile_model: bool) -> dict:
    from electra_cli.bench import run_bench

    return run_bench(compile_model=compile_model, **settings)


def docstring_corpus(path: Path, target_bytes: int) -> tuple[int, list[str]]:
    """Write docstrings of the installed Python sources (the demo's reader: parsed, never imported; test files
    skipped), blank-line separated, until `target_bytes`; returns (documents, their lines)."""
    from electra_cli.demo import as_document, docstrings, source_roots

    written, documents, lines = 0, 0, []
    with open(path, "w", encoding="utf-8") as out:
        for root in source_roots():
            for source in sorted(root.rglob("*.py")):
                if written >= target_bytes:
                    return documents, lines
                if "test" in source.parts or "tests" in source.parts or source.name.startswith("test_"):
                    continue
                for doc, _ in docstrings(source):
                    text = as_document(doc)
                    out.write(text + "\n\n")
                    written += len(text.encode()) + 2
                    documents += 1
                    lines.extend(text.splitlines())
    return documents, lines


def part_data(plan: dict, work: Path) -> dict:
    import torch
    from transformers import ElectraForSequenceClassification

    from electra_cli.pretraining.checkpoint import copy_tokenizer
    from electra_cli.pretraining.model import hf_configs
    from electra_cli.pretraining.recipe import load_pretrain_config
    from electra_cli.shards.write import ShardSettings, shard_corpus
    from electra_cli.text.corpus import CorpusOptions
    from electra_cli.vocab.train import VocabSettings, build_vocab

    s = plan["data"]
    corpus = work / "corpus.txt"
    documents, lines = docstring_corpus(corpus, s["corpus_bytes"])
    if not lines:
        raise RuntimeError("no docstrings found in the installed Python sources")
    vocab = build_vocab([str(corpus)], work / "vocab", VocabSettings(vocab_size=s["vocab_size"]),
                        CorpusOptions(), overwrite=True)
    manifest = shard_corpus([str(corpus)], work / "vocab", work / "shards",
                            ShardSettings(max_seq_len=s["seq_len"], validation_fraction=s["validation_fraction"],
                                          workers=s["workers"]), CorpusOptions(summary=False), overwrite=True)
    # a randomly initialised classifier of the recipe's discriminator: predict's speed does not depend on training
    cfg = load_pretrain_config(s["classifier_recipe"], s["classifier_overrides"])
    config, _ = hf_configs(cfg.model, vocab["vocab_size"])
    config.num_labels = 2
    config.id2label, config.label2id = {0: "negative", 1: "positive"}, {"negative": 0, "positive": 1}
    torch.manual_seed(0)
    ElectraForSequenceClassification(config).save_pretrained(work / "classifier")
    copy_tokenizer(work / "vocab", work / "classifier")
    with open(work / "rows.jsonl", "w", encoding="utf-8") as out:  # short rows: docstring lines, cycled to `rows`
        out.writelines(json.dumps({"text": lines[i % len(lines)]}) + "\n" for i in range(s["rows"]))
    return {"corpus_mb": corpus.stat().st_size / 1e6, "documents": documents, "vocab_size": vocab["vocab_size"],
            "train_examples": manifest["splits"]["train"]["rows"],
            "validation_examples": manifest["splits"]["validation"]["rows"], "seq_len": s["seq_len"],
            "classifier_recipe": s["classifier_recipe"], "rows": s["rows"]}


def part_predict(plan: dict, work: Path) -> dict:
    """Ours: the whole `predict` call in a process that has not touched the GPU yet (load, tokenize, run, write).
    The pipeline: built and warmed first, then timed on the same rows alone: the comparison favours it."""
    import torch
    from transformers import pipeline

    from electra_cli.serving.predict import predict

    batch = plan["predict"]["batch_size"]
    rows, folder = work / "rows.jsonl", work / "classifier"
    texts = [json.loads(line)["text"] for line in rows.read_text(encoding="utf-8").splitlines()]
    cuda = torch.cuda.is_available()

    start = time.perf_counter()
    count = predict(folder, rows, work / "predictions.jsonl", overwrite=True)
    ours_s = time.perf_counter() - start
    ours = [json.loads(line)["label"] for line in (work / "predictions.jsonl").read_text().splitlines()]

    pipe = pipeline("text-classification", model=str(folder), device="cuda" if cuda else "cpu")
    pipe(texts[: 2 * batch], batch_size=batch, truncation=True)  # warm-up
    if cuda:
        torch.cuda.synchronize()
    start = time.perf_counter()
    theirs = [r["label"] for r in pipe(texts, batch_size=batch, truncation=True)]
    if cuda:
        torch.cuda.synchronize()
    pipeline_s = time.perf_counter() - start
    if count != len(texts) or len(ours) != len(texts):
        raise RuntimeError(f"predict wrote {len(ours)} rows (returned {count}) for {len(texts)} inputs")
    return {"rows": len(texts), "batch_size": batch, "ours_s": ours_s, "pipeline_s": pipeline_s,
            "ours_rows_per_s": len(texts) / ours_s, "pipeline_rows_per_s": len(texts) / pipeline_s,
            "ratio": pipeline_s / ours_s,
            # a random classifier's scores sit near 0.5, so precision alone can flip a few labels
            "labels_agree": sum(a == b for a, b in zip(ours, theirs)) / len(texts)}


def part_pretrain(plan: dict, work: Path) -> dict:
    """`electra-cli pretrain` as a user runs it, then its last progress line and health from RUN/metrics.jsonl."""
    from electra_cli.pretraining.recipe import load_pretrain_config
    from electra_cli.pretraining.train import progress_line
    from electra_cli.watching.health import health_report

    s = plan["pretrain"]
    run = work / "run"
    sets = [arg for value in s["sets"] for arg in ("--set", value)]
    command = [sys.executable, "-m", "electra_cli", "pretrain", "--shards", str(work / "shards"), "--out", str(run),
               "--recipe", s["recipe"], "--max-steps", str(s["steps"]), "--overwrite", *sets]
    start = time.perf_counter()
    subprocess.run(command, check=True)
    seconds = time.perf_counter() - start
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    train = [r for r in records if "validation" not in r]
    evals = [r["validation"] for r in records if "validation" in r]
    if not train:
        raise RuntimeError(f"{run / 'metrics.jsonl'}: no training record")
    cfg = load_pretrain_config(s["recipe"], s["sets"])
    last_eval = evals[-1] if evals else None
    health = health_report(last_eval or train[-1], cfg.model.objective, cfg.optim.warmup_steps, train[-1]["step"])
    return {"recipe": s["recipe"], "steps": train[-1]["step"], "command_s": seconds,
            "tokens_per_s": train[-1].get("tokens_per_s"), "mfu": train[-1].get("mfu"),
            "line": progress_line(train[-1], last_eval), "health": health}


def run_part_here(name: str, plan: dict, work: Path) -> dict:
    if name == "device":
        return part_device(plan, work)
    if name in ("small", "base", "small-compile", "base-compile"):
        return part_step(plan[name.removesuffix("-compile")], compile_model=name.endswith("-compile"))
    return {"data": part_data, "predict": part_predict, "pretrain": part_pretrain}[name](plan, work)


def child_main(name: str, plan_file: Path) -> int:
    """In the part's own process: run it, write its figures (or its error) beside the plan."""
    plan = json.loads(plan_file.read_text())
    work = plan_file.parent
    result_file = work / f"{name}.result.json"
    try:
        result = {"status": "ok", **run_part_here(name, plan, work)}
    except BaseException as err:  # noqa: BLE001 - reported to the parent, which goes on with the next part
        import traceback

        traceback.print_exc()
        message = str(err).strip().splitlines()[0] if str(err).strip() else ""
        if isinstance(err, subprocess.CalledProcessError):
            message = f"exit code {err.returncode}; its output is in the log"
        result = {"status": "failed", "error": f"{type(err).__name__}: {message}"[:300]}
    result_file.write_text(json.dumps(result, default=str))
    return 0 if result["status"] == "ok" else 1


# ---- the parent: run each part in its own process, bounded in time ---------------------------------------------


def run_part(name: str, plan_file: Path, log_file: Path, limit_s: float) -> dict:
    """Run one part in a fresh process (its own session: a timeout kills its children too); never raises."""
    result_file = plan_file.parent / f"{name}.result.json"
    result_file.unlink(missing_ok=True)
    env = os.environ | {"PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
                        "PYTHONUNBUFFERED": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    start = time.monotonic()
    with open(log_file, "a", encoding="utf-8") as log:
        log.write(f"\n===== {name} (limit {limit_s:.0f} s) =====\n")
        log.flush()
        process = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--part", name,
                                    "--plan", str(plan_file)], stdout=log, stderr=subprocess.STDOUT, env=env,
                                   cwd=ROOT, start_new_session=True)
        try:
            code = process.wait(timeout=limit_s)
        except subprocess.TimeoutExpired:
            code = None
        finally:
            if process.poll() is None:  # over its limit, or this run was interrupted: stop the part and its children
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    seconds = time.monotonic() - start
    if code is None:
        return {"status": "timed out", "seconds": seconds, "error": f"stopped at its {limit_s:.0f} s limit"}
    if result_file.is_file():
        return json.loads(result_file.read_text()) | {"seconds": seconds}
    return {"status": "failed", "seconds": seconds, "error": f"the process died (exit code {code}); see the log"}


def run_check(out: Path, dry_run: bool, parts: list[str], limits: dict[str, float], budget_s: float | None,
              work: Path) -> dict:
    plan = make_plan(dry_run)
    plan["limits_s"] |= limits
    budget_s = budget_s or plan["budget_s"]
    out.mkdir(parents=True, exist_ok=True)
    plan_file = work / "plan.json"
    plan_file.write_text(json.dumps(plan, indent=2))
    log_file = out / "gpu-check.log"
    log_file.write_text("")
    started = time.monotonic()
    results: dict[str, dict] = {}
    for name in parts:
        left = budget_s - (time.monotonic() - started)
        need = NEEDS.get(name)
        if need and results.get(need, {}).get("status") != "ok":
            results[name] = {"status": "skipped", "seconds": 0, "error": f"needs the {need} part"}
        elif left < MIN_PART_S:
            results[name] = {"status": "skipped", "seconds": 0, "error": f"the {budget_s:.0f} s budget is spent"}
        else:
            results[name] = run_part(name, plan_file, log_file, min(plan["limits_s"][name], left))
        r = results[name]
        print(f"gpu check: {name}: {r['status']} ({r['seconds']:.0f} s){': ' + r['error'] if 'error' in r else ''}",
              flush=True)
    report = {"dry_run": dry_run, "budget_s": budget_s, "seconds": time.monotonic() - started, "plan": plan,
              "parts": results}
    tmp = out / "gpu-check.json.tmp"
    tmp.write_text(json.dumps(report, indent=2, default=str) + "\n")
    tmp.replace(out / "gpu-check.json")
    return report


# ---- the table --------------------------------------------------------------------------------------------------


def _figure(value, spec: str, missing: str = "n/a") -> str:
    return missing if value is None else format(value, spec)


def format_report(report: dict) -> str:
    """The table printed last: what README's Speed section takes, one line per figure."""
    parts = report["parts"]
    device = parts.get("device", {})
    lines = ["", "=" * 100]
    title = "GPU check" + (" -- DRY RUN: tiny shapes and a few steps, the figures mean nothing" if report["dry_run"]
                           else "")
    lines.append(title)
    if device.get("status") == "ok":
        peak = device["peak_flops"]
        lines.append(f"device: {device['name']}" + (f" (sm {device['capability']}, {device['memory_gb']:.0f} GB)"
                                                    if device["capability"] else "")
                     + f"; torch {device['torch']} (CUDA {device['cuda']}), transformers {device['transformers']}; "
                     f"precision {device['precision']}; "
                     + (f"MFU against {peak / 1e12:.0f} TFLOP/s (dense datasheet peak)" if peak
                        else "no peak known: no MFU"))
        if device["missing_dependencies"]:
            lines.append(f"MISSING dependencies: {', '.join(device['missing_dependencies'])}")
    lines.append("")
    lines.append(f"{'pretraining step':34s} {'steps/s':>8s} {'tokens/s':>12s} {'MFU':>6s} {'peak GB':>8s}  ours/naive")
    for name in ("small", "base", "small-compile", "base-compile"):
        r = parts.get(name)
        if r is None:
            continue
        label = f"electra-{name.split('-')[0]} {'compile' if name.endswith('compile') else 'eager'}"
        if r["status"] != "ok":
            lines.append(f"{label:34s} {r['status']}: {r.get('error', '')}")
            continue
        shape = f"{r['batch']}x{r['seq_len']}"
        for who in ("ours", "naive"):
            x = r[who]
            ratio = f"  {r['ratio']:.2f}x" if who == "ours" else ""
            lines.append(f"{f'{label} {shape} {who}':34s} {x['steps_per_s']:8.2f} {x['tokens_per_s']:12,.0f} "
                         f"{_figure(x['mfu'], '6.1%'):>6s} {_figure(x['peak_memory_gb'], '8.1f'):>8s}{ratio}")
    r = parts.get("predict")
    if r is not None:
        if r["status"] == "ok":
            lines.append(f"\npredict, {r['rows']:,} rows, batch {r['batch_size']}: ours {r['ours_rows_per_s']:,.0f} "
                         f"rows/s (whole call, {r['ours_s']:.1f} s) vs pipeline {r['pipeline_rows_per_s']:,.0f} rows/s "
                         f"(warmed, {r['pipeline_s']:.1f} s): {r['ratio']:.2f}x; labels agree {r['labels_agree']:.1%}")
        else:
            lines.append(f"\npredict: {r['status']}: {r.get('error', '')}")
    r = parts.get("pretrain")
    if r is not None:
        if r["status"] == "ok":
            verdict = r["health"].get("verdict", "no verdict (not the electra objective)")
            lines.append(f"\npretrain {r['recipe']}, {r['steps']} steps ({r['command_s']:.0f} s, the whole command): "
                         f"{r['line']}")
            lines.append(f"health: {verdict}")
        else:
            lines.append(f"\npretrain: {r['status']}: {r.get('error', '')}")
    lines.append("")
    lines.append("parts: " + ", ".join(f"{name} {r['status']} {r['seconds']:.0f} s" for name, r in parts.items())
                 + f"; total {report['seconds']:.0f} s of a {report['budget_s']:.0f} s budget")
    return "\n".join(lines)


def parse_limits(values: list[str]) -> dict[str, float]:
    limits = {}
    for value in values:
        name, _, seconds = value.partition("=")
        if name not in PARTS or not seconds.replace(".", "", 1).isdigit():
            raise ValueError(f"--limit {value}: expected PART=SECONDS with PART one of {', '.join(PARTS)}")
        limits[name] = float(seconds)
    return limits


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("gpu-check"), help="folder for gpu-check.json and .log")
    parser.add_argument("--dry-run", action="store_true", help="tiny shapes and a few steps (runs on a CPU)")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated subset of {','.join(PARTS)}")
    parser.add_argument("--limit", action="append", default=[], metavar="PART=SECONDS", help="one part's time limit")
    parser.add_argument("--budget", type=float, default=None, help="seconds for all parts (470 on a GPU)")
    parser.add_argument("--work", type=Path, default=None,
                        help="scratch folder, kept afterwards (default: a temporary one)")
    parser.add_argument("--part", help=argparse.SUPPRESS)  # internal: run one part in this process
    parser.add_argument("--plan", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.part:
        if args.part not in PARTS or args.plan is None:
            parser.error(f"--part must be one of {', '.join(PARTS)}, with --plan")
        return child_main(args.part, args.plan)
    parts = [p for p in args.parts.split(",") if p]
    if unknown := [p for p in parts if p not in PARTS]:
        parser.error(f"--parts: unknown {', '.join(unknown)}; choose from {', '.join(PARTS)}")
    try:
        limits = parse_limits(args.limit)
    except ValueError as err:
        parser.error(str(err))
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        report = run_check(args.out, args.dry_run, parts, limits, args.budget, work.resolve())
    print(format_report(report), flush=True)
    print(f"figures: {args.out / 'gpu-check.json'}; each part's output: {args.out / 'gpu-check.log'}")
    return 0 if all(r["status"] == "ok" for r in report["parts"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
