"""`electra-cli demo`: the whole pipeline on an embedded corpus, in about ten minutes on a laptop CPU.

The corpus needs no download: the docstrings of the Python source files already installed (standard library
first, then site-packages), read with `ast` from the source text, never by importing modules. Two labelled tasks
come from the same source: which standard-library package a docstring belongs to (topic), and whether the
function a docstring documents returns a value (what the sentence says). Test docstrings are kept out of the
pretraining corpus.
"""

from __future__ import annotations

import ast
import hashlib
import json
import math
import sysconfig
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from rich.markup import escape
from rich.table import Table

from electra_cli.core.console import console

TASK_PACKAGES = ("asyncio", "concurrent", "email", "http", "importlib", "json", "logging", "multiprocessing",
                 "tkinter", "unittest", "urllib", "xml")
MIN_DOC_CHARS = 40  # shorter docstrings ("Return x.") carry no signal for the task
TASK_TEXT_CHARS = 400  # the task sees the start of a docstring
CORPUS_VERSION = 2  # bump when extraction changes, so cached corpora are rebuilt
SPLITS = ("train", "validation", "test")
FINETUNE_LR, FINETUNE_BATCH = 1e-3, 16  # tiny models need them (bench/plateau.md); the closing lines say so


@dataclass
class Task:
    """A labelled task: JSONL files of {"text", "label"} per split."""

    name: str
    train: Path
    validation: Path
    test: Path
    sizes: dict


@dataclass
class DemoData:
    corpus: Path  # pretraining text (blank-line separated documents)
    corpus_bytes: int
    documents: int
    tasks: list[Task]  # the stdlib-package task first (the demo's), then returns-value

    def to_json(self) -> dict:
        return json.loads(json.dumps(asdict(self), default=str))

    @classmethod
    def from_json(cls, d: dict) -> DemoData:
        tasks = [Task(t["name"], *(Path(t[s]) for s in SPLITS), t["sizes"]) for t in d["tasks"]]
        return cls(Path(d["corpus"]), d["corpus_bytes"], d["documents"], tasks)


def source_roots() -> list[Path]:
    paths = sysconfig.get_paths()
    return [Path(paths["stdlib"]), Path(paths["purelib"])]


def docstrings(path: Path) -> list[tuple[str, ast.AST]]:
    """(docstring, node) for the module, classes and functions of one source file, parsed (never imported)."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (SyntaxError, UnicodeDecodeError, ValueError, OSError, RecursionError):
        return []
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node, clean=True)
            if doc and len(doc) >= MIN_DOC_CHARS:
                found.append((doc, node))
    return found


def returns_label(node: ast.AST) -> str | None:
    """For a function: "returns" if its own body returns (or yields) a value, else "no-return"; None otherwise."""
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return None
    stack = list(node.body)
    while stack:
        child = stack.pop()
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            continue  # a nested function's returns are not this function's
        if isinstance(child, (ast.Yield, ast.YieldFrom)):
            return "returns"
        if isinstance(child, ast.Return) and child.value is not None:
            if not (isinstance(child.value, ast.Constant) and child.value.value is None):
                return "returns"
        stack.extend(ast.iter_child_nodes(child))
    return "no-return"


def as_document(doc: str) -> str:
    """One document: its non-blank lines (a blank line would split it in two)."""
    return "\n".join(line.strip() for line in doc.splitlines() if line.strip())


def task_label(path: Path, stdlib: Path) -> str | None:
    try:
        top = path.relative_to(stdlib).parts[0]
    except ValueError:
        return None
    return top if top in TASK_PACKAGES else None


def split_of(text: str) -> str:
    """train / validation / test by a hash of the text: 70 / 15 / 15, stable everywhere."""
    h = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") / 2**64
    return "train" if h < 0.70 else "validation" if h < 0.85 else "test"


def build_demo_data(folder: Path, corpus_bytes: int) -> DemoData:
    """Extract (or reuse from `folder`) the demo corpus and the labelled tasks.

    Both tasks use the docstrings of the same stdlib packages with the same hash split, so the test docstrings
    of both are the ones held out of the corpus.
    """
    folder = Path(folder)
    meta_path = folder / "data.json"
    if meta_path.is_file():
        meta = json.loads(meta_path.read_text())
        if meta.get("version") == CORPUS_VERSION and meta.get("corpus_limit") == corpus_bytes:
            return DemoData.from_json(meta["data"])
    folder.mkdir(parents=True, exist_ok=True)
    stdlib = source_roots()[0]
    seen: set[str] = set()
    rows: dict[str, dict[str, list[dict]]] = {name: {s: [] for s in SPLITS} for name in ("stdlib-package", "returns-value")}
    written = documents = 0
    corpus = folder / "corpus.txt"
    tmp = corpus.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as out:
        for root in source_roots():
            for path in sorted(root.rglob("*.py")):
                if root != stdlib and written >= corpus_bytes:
                    break  # the stdlib is always read whole (the tasks need it); site-packages only to fill up
                if "test" in path.parts or "tests" in path.parts or path.name.startswith("test_"):
                    continue
                package = task_label(path, stdlib) if root == stdlib else None
                if package is None and written >= corpus_bytes:
                    continue  # the corpus is full: only the tasks' packages are still needed
                for doc, node in docstrings(path):
                    text = as_document(doc)
                    if text in seen:
                        continue
                    seen.add(text)
                    split = split_of(text)
                    if package:
                        task_text = " ".join(text.split())[:TASK_TEXT_CHARS]
                        rows["stdlib-package"][split].append({"text": task_text, "label": package})
                        if returns := returns_label(node):
                            rows["returns-value"][split].append({"text": task_text, "label": returns})
                        if split == "test":
                            continue  # never pretrain on the test docstrings
                    if written < corpus_bytes:
                        out.write(text + "\n\n")
                        written += len(text.encode()) + 2
                        documents += 1
    tmp.replace(corpus)
    tasks = []
    for name, splits in rows.items():
        paths = {}
        for split, task_rows in splits.items():
            paths[split] = folder / f"{name}-{split}.jsonl"
            paths[split].write_text("".join(json.dumps(r) + "\n" for r in task_rows), encoding="utf-8")
        tasks.append(Task(name, *(paths[s] for s in SPLITS), {s: len(r) for s, r in splits.items()}))
    data = DemoData(corpus, written, documents, tasks)
    meta = {"version": CORPUS_VERSION, "corpus_limit": corpus_bytes, "data": data.to_json()}
    meta_path.write_text(json.dumps(meta, indent=2))
    return data


def calibrate_steps(recipe: str, overrides: list[str], minutes: float) -> tuple[int, float]:
    """How many steps of `recipe` fit in `minutes` here: time a few real training steps on random batches."""
    import torch

    from electra_cli.bench import random_batch
    from electra_cli.pretraining.model import Electra, parameter_groups
    from electra_cli.pretraining.recipe import load_pretrain_config

    cfg = load_pretrain_config(recipe, overrides)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = Electra(cfg.model, 8000).to(device)
    optimizer = torch.optim.AdamW(parameter_groups(model, 0.01), lr=1e-4)
    seq, batch = cfg.data.max_seq_len, cfg.train.batch_size
    inputs = random_batch(batch, seq, 8000, device)
    timings = []
    for _ in range(4):
        start = time.perf_counter()
        model(**inputs)["loss"].backward()
        optimizer.step()
        optimizer.zero_grad()
        if device.type == "cuda":
            torch.cuda.synchronize()
        timings.append(time.perf_counter() - start)
    per_step = min(timings[1:]) * 1.15  # the real loop also reads batches, logs and checkpoints
    return max(20, int(minutes * 60 / per_step)), per_step


def run_demo(out: Path, minutes: float = 8.0, corpus_bytes: int = 6_000_000, recipe: str = "electra-tiny",
             steps: int | None = None, finetune_epochs: float = 5.0, seeds: str = "1", workers: int | None = None) -> dict:
    """vocab -> shard -> pretrain -> finetune (pretrained and random init) -> predict, then the summary table."""
    from transformers import ElectraConfig

    from electra_cli.finetuning.config import load_finetune_config
    from electra_cli.pretraining.recipe import load_pretrain_config
    from electra_cli.pretraining.train import pretrain
    from electra_cli.serving.predict import predict
    from electra_cli.shards.write import ShardSettings, shard_corpus
    from electra_cli.tasks.dispatch import finetune
    from electra_cli.text.corpus import CorpusOptions
    from electra_cli.vocab.train import VocabSettings, build_vocab
    from electra_cli.watching.card import add_finetune_results

    out = Path(out)
    started = time.time()
    stage_times = {}

    def stage(name: str):
        console.rule(f"[bold]demo: {name}")
        stage_times[name] = time.time()

    stage("corpus")
    data = build_demo_data(out / "data", corpus_bytes)
    console.print(f"{data.corpus_bytes / 1e6:.1f} MB of docstrings ({data.documents:,} documents); tasks: "
                  + "; ".join(f"{t.name} {t.sizes}" for t in data.tasks))

    stage("vocab")
    vocab_dir = out / "vocab"
    vocab = build_vocab([str(data.corpus)], vocab_dir, VocabSettings(vocab_size=8000), CorpusOptions(), overwrite=True)

    stage("shard")
    shards_dir = out / "shards"
    settings = ShardSettings(max_seq_len=128, validation_fraction=0.01, **({"workers": workers} if workers else {}))
    # the same corpus as the vocab stage: its summary is printed once, above
    manifest = shard_corpus([str(data.corpus)], vocab_dir, shards_dir, settings, CorpusOptions(summary=False),
                            overwrite=True)

    stage("pretrain")
    overrides = ["train.save_every=100000"]
    if steps is None:
        steps, per_step = calibrate_steps(recipe, overrides, minutes * 0.6)
        console.print(f"calibrated: {per_step * 1000:.0f} ms per step -> {steps} steps in {minutes * 0.6:.1f} min")
    cfg = load_pretrain_config(recipe, overrides + [f"train.steps={steps}"])
    cfg.train.eval_every = max(1, steps // 4)
    cfg.train.save_every = steps
    run_dir = out / "run"
    result = pretrain(cfg, shards_dir, run_dir, overwrite=True)

    stage("finetune")
    random_dir = out / "random-init"
    pretrained_dir = run_dir / "final" / "discriminator"
    save_random_init(ElectraConfig.from_pretrained(pretrained_dir), pretrained_dir, random_dir)
    # lr 1e-3, batch 16: what a 2-layer model needs to learn the task at all in a few epochs (bench/plateau.md);
    # one setting rather than `finetune`'s built-in search (two rates), to keep the demo short; the closing lines say so
    ft_overrides = [f"epochs={finetune_epochs}", f"seeds=[{seeds}]", "max_seq_len=128", f"lr={FINETUNE_LR}",
                    f"batch_size={FINETUNE_BATCH}"]
    tasks, finetuned = {}, {}
    for task in data.tasks:
        scores = {}
        suffix = "" if task is data.tasks[0] else f"-{task.name}"
        for name, model_dir in (("pretrained", pretrained_dir), ("random init", random_dir)):
            target = out / (f"finetuned{suffix}" if name == "pretrained" else f"finetuned{suffix}-random-init")
            finetuned[target.name] = f"{task.name}, fine-tuned from " + (
                "the pretrained model" if name == "pretrained" else "random weights")
            scores[name] = finetune(load_finetune_config(None, ft_overrides), model_dir, task.train, task.validation,
                                    target, test_file=task.test, overwrite=True, task_name=f"{task.name} ({name})")
        tasks[task.name] = {
            "pretrained": scores["pretrained"]["median"],
            "random_init": scores["random init"]["median"],
            "test_pretrained": scores["pretrained"].get("test", {}).get("accuracy"),
            "test_random_init": scores["random init"].get("test", {}).get("accuracy"),
            "majority_class": majority_share(task.train),
            "train_examples": task.sizes["train"],
            "validation_examples": task.sizes["validation"],
            "seed_scores": {k: [r[scores[k]["metric"]] for r in scores[k]["seeds"]] for k in scores},
            "collapsed": [k for k in scores if scores[k]["collapse"]["collapsed"]],  # finetune's collapse check
        }

    card_rows = [{"task": f"{name} (validation, demo)", "metric": "accuracy (median)", "pretrained": t["pretrained"],
                  "random_init": t["random_init"], "seeds": seeds} for name, t in tasks.items()]
    add_finetune_results(pretrained_dir / "README.md", card_rows)

    stage("predict")
    first = data.tasks[0]
    predictions = out / "test-predictions.jsonl"
    rows = predict(out / "finetuned", first.test, predictions, overwrite=True)
    gold = [json.loads(line)["label"] for line in first.test.read_text().splitlines()]
    predicted = [json.loads(line)["label"] for line in predictions.read_text().splitlines()]

    stage("report")
    report = write_report(run_dir, out / "report")
    summary = {
        "corpus_mb": data.corpus_bytes / 1e6,
        "documents": data.documents,
        "vocab_size": vocab["vocab_size"],
        "train_examples": manifest["splits"]["train"]["rows"],
        "shards": len(manifest["splits"]["train"]["shards"]) + len(manifest["splits"]["validation"]["shards"]),
        "pretrain_steps": result["step"],
        "health": result["health"],
        "validation": result["validation"],
        "tasks": tasks,
        "predict_task": first.name,
        "predict_accuracy": sum(g == p for g, p in zip(gold, predicted)) / max(1, len(gold)),
        "predict_rows": rows,
        "minutes": (time.time() - started) / 60,
        "finetune_settings": {"lr": FINETUNE_LR, "batch_size": FINETUNE_BATCH, "epochs": finetune_epochs,
                              "seeds": seeds},
        "outputs": {"data": str(out / "data"), "vocab": str(vocab_dir), "shards": str(shards_dir),
                    "run": str(run_dir), "pretrained": str(pretrained_dir), "random-init": str(random_dir),
                    **{name: str(out / name) for name in finetuned}, "predictions": str(predictions),
                    **({"report": str(report)} if report else {}), "summary": str(out / "demo-summary.json")},
        "output_notes": {
            "data": "the pretraining corpus (corpus.txt) and each task's train/validation/test files",
            "vocab": "the WordPiece vocabulary",
            "shards": "the packed training examples",
            "run": "pretraining: metrics.jsonl, checkpoints/, final/generator/",
            "pretrained": "the pretrained discriminator; its README.md records these results",
            "random-init": "the same architecture with random weights: the baseline",
            **finetuned,
            "predictions": f"predict's labels for the {first.name} test split",
            "report": "pretraining curves and the fine-tuning comparison (electra-cli plot): open it in a browser",
            "summary": "every figure above, as JSON",
        },
    }
    (out / "demo-summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    console.print(summary_table(summary))
    for line in closing_lines(summary):
        console.print(line, soft_wrap=True, highlight=False)
    return summary


def write_report(run_dir: Path, folder: Path) -> Path | None:
    """`electra-cli plot` of the run: its curves, health and the fine-tuning comparison its model card records.
    Returns the page, or None without matplotlib (an optional extra: the demo goes on without it)."""
    from electra_cli.watching.plot import plot_runs
    from electra_cli.watching.trackers import installed

    if not installed("matplotlib"):
        console.print("report skipped: matplotlib is not installed (pip install 'electra-cli[plot]')")
        return None
    return Path(plot_runs([run_dir], folder, overwrite=True)["index"])


def majority_share(path: Path) -> float:
    labels = [json.loads(line)["label"] for line in path.read_text().splitlines()]
    return max(labels.count(x) for x in set(labels)) / max(1, len(labels))


def save_random_init(config, tokenizer_dir: Path, folder: Path) -> None:
    """An ElectraForPreTraining of `config`, randomly initialised (seed 0), with the tokenizer files of
    `tokenizer_dir` (a vocab folder or an export): the baseline to beat."""
    import torch
    from transformers import ElectraForPreTraining

    from electra_cli.pretraining.checkpoint import copy_tokenizer

    torch.manual_seed(0)
    ElectraForPreTraining(config).save_pretrained(folder, safe_serialization=True)
    copy_tokenizer(tokenizer_dir, folder)


def summary_table(s: dict) -> Table:
    h = s["health"]
    table = Table(title="electra-cli demo", show_header=False)
    table.add_row("corpus", f"{s['corpus_mb']:.1f} MB of docstrings, {s['documents']:,} documents")
    table.add_row("vocabulary", f"{s['vocab_size']:,} WordPiece tokens")
    table.add_row("shards", f"{s['shards']} files, {s['train_examples']:,} training examples of 128 tokens")
    if "disc_loss" in h:
        verdict = h.get("verdict") or ("on the plateau" if h["on_plateau"] else "off the plateau")
        verdict = f"[{'green' if verdict == 'off the plateau' else 'red'}]{verdict}[/]"
        table.add_row("pretraining", f"{s['pretrain_steps']:,} steps; generator loss {h['gen_loss']:.3f}, "
                      f"discriminator loss {h['disc_loss']:.3f} vs plateau {h['disc_entropy']:.3f} "
                      f"(ratio {h['disc_loss_ratio']:.2f}, AUC {h.get('disc_auc') or float('nan'):.3f}): {verdict}")
    for name, t in s["tasks"].items():
        gain = t["pretrained"] - t["random_init"]
        table.add_row(f"fine-tuned: {name}",
                      f"validation {t['pretrained']:.3f} pretrained vs {t['random_init']:.3f} random init "
                      f"([{'green' if gain > 0 else 'red'}]{gain:+.3f}[/]); majority class {t['majority_class']:.3f}; "
                      f"{t['train_examples']:,} training examples"
                      + "".join(f"; [red]{name}: collapsed[/]" for name in t.get("collapsed", [])))
    table.add_row("test accuracy (predict)", f"{s['predict_task']}: {s['predict_accuracy']:.3f}")
    table.add_row("wall time", f"{s['minutes']:.1f} min")
    return table


TASK_MEANINGS = {
    "stdlib-package": "which of 12 standard-library packages a docstring comes from",
    "returns-value": "whether the function a docstring documents returns a value",
}


def noise_margin(t: dict) -> float:
    """The difference between the two accuracies that noise alone can make: about 2 standard errors of a
    difference of two accuracies on this validation set, or the seeds' spread when that is larger."""
    p = (t["pretrained"] + t["random_init"]) / 2
    sampling = 2 * math.sqrt(2 * p * (1 - p) / max(1, t["validation_examples"]))
    spreads = [max(v) - min(v) for v in t.get("seed_scores", {}).values() if len(v) > 1]
    return max([sampling, *spreads])


def closing_lines(s: dict) -> list[str]:
    """The demo's last words, in plain language: did it work, what the figures mean, what the comparison shows,
    why fine-tuning ran with these settings, and where everything is."""
    h, ft = s["health"], s["finetune_settings"]
    lines = ["", "[bold]Did it work?[/]",
             f"Yes, the pipeline ran end to end: a vocabulary of {s['vocab_size']:,} tokens, {s['train_examples']:,} "
             f"training examples, {s['pretrain_steps']:,} pretraining steps, {2 * len(s['tasks'])} fine-tuning runs "
             f"(each task from the pretrained model and from random weights), {s['predict_rows']:,} test rows labelled "
             f"(accuracy {s['predict_accuracy']:.3f})."]
    if "disc_loss" in h:
        auc = h.get("disc_auc")
        ranks = f" and ranks a replaced word above an original one {auc:.0%} of the time (50% is guessing)" if auc else ""
        compared = ("better than always answering 'original'" if h["disc_loss_ratio"] < 1
                    else "worse than always answering 'original', as early in training")
        verdict = h.get("verdict") or ("stuck on the plateau" if h["on_plateau"] else "off the plateau")
        state = {
            "off the plateau": "so it is off that plateau: it spots some replacements (which alone does not make it useful)",
            "still learning": "so it is still learning: not yet even at the plateau's level",
            "stuck on the plateau": "so it is stuck on that plateau: it has not learned to spot replacements yet",
        }[verdict]
        lines.append(
            f"Pretraining: the discriminator learns to tell which words the generator replaced. Having learned nothing, "
            f"it would answer 'original' everywhere for a loss of {h['disc_entropy']:.3f} (the plateau). It ended at "
            f"{h['disc_loss']:.3f}, {h['disc_loss_ratio']:.2f} times that ({compared}){ranks}; {state}.")
    seed_words = ("seeds " if "," in str(ft["seeds"]) else "seed ") + str(ft["seeds"])
    helped = []
    for name, t in s["tasks"].items():
        gain, margin = t["pretrained"] - t["random_init"], noise_margin(t)
        if gain > margin:
            verdict = "pretraining helped"
            helped.append(name)
        elif gain < -margin:
            verdict = "pretraining made it worse"
        else:
            verdict = "no difference beyond noise"
        lines.append(
            f"{name} ({TASK_MEANINGS.get(name, 'a labelled task')}): validation accuracy {t['pretrained']:.3f} "
            f"fine-tuned from the pretrained model vs {t['random_init']:.3f} from random weights ({gain:+.3f}; "
            f"always guessing the commonest label scores {t['majority_class']:.3f}). Differences under {margin:.3f} "
            f"are noise here ({t['validation_examples']:,} validation examples, {seed_words}): {verdict}.")
    others = [name for name in s["tasks"] if name not in helped]
    if not others:
        lines.append("Verdict: pretraining helped on every task, beyond noise.")
    elif helped:
        lines.append(f"Verdict: pretraining helped beyond noise on {', '.join(helped)}, not on {', '.join(others)}.")
    else:
        lines.append(
            "Verdict: pretraining did not help beyond noise. At a few CPU-minutes that is expected: ELECTRA from "
            "scratch on a tiny model does not beat random weights yet (README 'Pretraining health', bench/plateau.md); "
            "the pipeline works, the model is a smoke test. For a useful model: more --minutes, --recipe "
            "electra-small on a GPU, or fine-tune published ELECTRA weights (finetune --model takes any HF folder).")
    if "," not in str(ft["seeds"]):
        lines.append("One fine-tuning seed: seed-to-seed swings can exceed that noise; --seeds 1,2,3 reports medians.")
    lr = f"{ft['lr']:.0e}".replace("e-0", "e-")
    epochs = f"{ft['epochs']:g} epoch" + ("" if ft["epochs"] == 1 else "s")
    lines.append(
        f"Fine-tuning ran at one setting, lr {lr}, batch {ft['batch_size']}, {epochs}, to keep the demo short. "
        "`finetune` without --lr searches two rates for a model this size, the paper's 3e-4 and 1e-3 (two runs per "
        "seed, the better validation median kept, a table of both printed); on stdlib-package 1e-3 wins (0.81 vs "
        "0.76 at 3 epochs over 3 seeds, bench/finetune.md); the paper's 3e-4 alone is --recipe electra-small. Each "
        "run checks its predictions for collapse (one class answered everywhere).")
    lines.append("[bold]Outputs:[/]")
    width = max(map(len, s["outputs"].values()))
    lines += [f"  {escape(path.ljust(width))}  {escape(s['output_notes'].get(name, ''))}"
              for name, path in s["outputs"].items()]
    return lines
