"""Extractive question answering: fine-tune once per seed, evaluate with the official metrics, keep one model.

The model is HF's `AutoModelForQuestionAnswering` (ElectraForQuestionAnswering for ELECTRA: a start/end linear
head on every token), so the output folder loads in `pipeline("question-answering")`. The optimizer, schedule,
layer-wise lr decay and lr by size are fine-tuning's own (`finetuning.steps.make_optimizer`, `search.default_lr`); the
reference's QA settings on top: 2 epochs, questions up to 64 tokens, windows 128 tokens apart, 20-best decoding,
answers up to 30 tokens. For data where questions may have no answer (SQuAD 2.0) the null-score threshold that
maximises validation F1 is stored in `qa_config.json` beside the model, and `electra-cli predict` applies it.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from electra_cli.core.atomic import atomic_dir, check_output_dir
from electra_cli.core.console import console, count_progress, log, quiet_transformers
from electra_cli.core.precision import resolve_precision
from electra_cli.finetuning import search
from electra_cli.finetuning.config import SEARCHABLE, describe_seeds
from electra_cli.finetuning.search import default_lr, describe_search
from electra_cli.finetuning.steps import (
    full_precision,
    make_optimizer,
    padded_inputs,
    record_max_seq_len,
    training_step,
)
from electra_cli.qa import metrics as qa_metrics
from electra_cli.qa.data import (
    Features,
    QAData,
    build_features,
    detect_language,
    looks_like_qa,
    read_qa_file,
)
from electra_cli.qa.decode import Answer, apply_threshold, decode
from electra_cli.watching.trackers import open_trackers

QA_CONFIG_FILE = "qa_config.json"
METRICS_FILE = "metrics.json"
QA_DEFAULTS = {"max_seq_len": 384, "epochs": 2.0}  # over FinetuneConfig's when no recipe is given (the reference: 2 epochs)

def qa_defaults_apply(task_type: str | None, train: Path | None, recipe: str | None) -> bool:
    """Whether the CLI should put QA_DEFAULTS under the user's settings: a QA run without a recipe (a recipe
    says its own max_seq_len and epochs); a QA preset passes task_type "question-answering"."""
    if recipe:
        return False
    if task_type == "question-answering":
        return True
    return task_type is None and looks_like_qa(train)


@dataclass
class QAInputs:
    """What a run reads once and every seed shares: the checked files, their windows, and the settings they imply."""

    train: QAData
    validation: QAData
    test: QAData | None
    train_features: Features
    validation_features: Features
    test_features: Features | None
    null_answers: bool
    language: str


def finetune_qa(cfg, model_dir: Path, train_file: Path, validation_file: Path, out: Path,
                test_file: Path | None = None, overwrite: bool = False, task_name: str = "",
                report_to=None) -> dict:
    """Fine-tune `model_dir` for extractive QA for every setting of the search x every seed (one setting unless a
    field lists several: `--lr 1e-4,3e-4`); the setting with the best validation median F1 wins and its median (or
    best) seed's model is kept in `out`, the only model the test split is scored with."""
    from transformers import AutoConfig, AutoTokenizer

    model_dir, out = Path(model_dir), Path(out)
    check_output_dir(out, METRICS_FILE, overwrite, "fine-tuned model")
    base_config = AutoConfig.from_pretrained(model_dir)
    fit_max_seq_len(cfg, getattr(base_config, "max_position_embeddings", cfg.max_seq_len))
    if not cfg.lr:  # QA keeps the paper's rate by size (the built-in 2-rate search would double its cost)
        cfg = dataclasses.replace(cfg, lr=default_lr(base_config.hidden_size))
    settings = search.expand(cfg, base_config.hidden_size, base_config.num_hidden_layers, SEARCHABLE)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    inputs = load_inputs(cfg, tokenizer, train_file, validation_file, test_file)
    answerable = ("some questions without an answer (SQuAD 2.0-style)" if inputs.null_answers
                  else "every question answerable")
    console.print(
        f"finetune (question answering): {len(inputs.train.examples):,} train questions in "
        f"{len(inputs.train_features):,} windows, {len(inputs.validation.examples):,} validation questions; "
        f"{answerable}, language {inputs.language}, {describe_search(cfg, settings)}, {describe_seeds(cfg.seeds)}",
        soft_wrap=True, highlight=False,
    )
    runs, medians, best = [], [], None
    with atomic_dir(out) as tmp, open_trackers(report_to, tmp, out.name, asdict(cfg), final_dir=out) as trackers:
        store = tmp / ".runs"
        for setting in settings:
            own = []
            for seed in cfg.seeds:
                with quiet_transformers():
                    result = train_qa_seed(setting.cfg, model_dir, tokenizer, inputs, setting.lr, setting.decay, seed,
                                           store / f"setting-{setting.index}" / f"seed-{seed}")
                own.append(result | {"setting": setting.index})
                trackers.log({setting_tag(setting, seed): {"validation": result["validation"]}},
                             step=len(runs) + len(own))  # one point per run, one axis across runs
                console.print(f"{setting.label()}, seed {seed}: " + ", ".join(
                    f"{k} {v:.4g}" for k, v in result["validation"].items() if not k.endswith("total")), highlight=False)
            runs += own
            medians.append(search.aggregate(own, "f1"))
            best = search.keep_if_best(store, medians, setting.index, best)
        chosen_runs = [r for r in runs if r["setting"] == best]
        kept = chosen_runs[search.kept_run(chosen_runs, "f1", cfg.keep)]
        search.move_kept(store, tmp, best, kept["seed"])
        chosen = settings[best]
        summary = {
            "task": task_name or str(train_file),
            "task_type": "question-answering",
            "metric": "f1",
            "median": medians[best]["median"],
            "mean": medians[best]["mean"],
            "seeds": [{"seed": r["seed"], **r["validation"]} for r in chosen_runs],
            "kept_seed": kept["seed"],
            "labels": None,
            "model": str(model_dir),
            "train_examples": len(inputs.train.examples),
            "validation_examples": len(inputs.validation.examples),
            "train_windows": len(inputs.train_features),
            "skipped": {reason: len(where) for reason, where in inputs.train.problems.items()},
            "language": inputs.language,
            "null_answers": inputs.null_answers,
            "null_threshold": kept["threshold"],
            "config": asdict(chosen.cfg) | {"lr": chosen.lr, "layer_decay": chosen.decay, "language": inputs.language,
                                            "null_answers": inputs.null_answers},
            **search.summary_fields(settings, medians, runs, best),
            "seconds": round(sum(r["seconds"] for r in runs), 1),
        }
        if inputs.test is not None:  # scored once: the kept model of the chosen setting, as saved
            summary["test"] = score_test(tmp, chosen.cfg, inputs, kept["threshold"])
        (tmp / METRICS_FILE).write_text(json.dumps(summary, indent=2) + "\n")
    log.info("wrote %s: %s, %s, median F1 %.2f over %d seed(s), kept seed %d", out, summary["task"], chosen.label(),
             summary["median"], len(chosen_runs), summary["kept_seed"])
    return summary


def setting_tag(setting, seed: int) -> str:
    """A run's name for the trackers: `seed-1`, or `lr=1e-4/seed-1` in a search (the searched fields only)."""
    return f"{setting.tag()}/seed-{seed}" if setting.tag() else f"seed-{seed}"


def score_test(folder: Path, cfg, inputs: QAInputs, threshold: float | None) -> dict:
    """Score the model saved in `folder` on the test split at the validation threshold; writes its predictions."""
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForQuestionAnswering.from_pretrained(folder).to(device)
    answers = predict_answers(model, inputs.test.examples, inputs.test_features, cfg, tokenizer.pad_token_id or 0,
                              device, inputs.null_answers)
    write_answers(folder / "test_predictions.jsonl", inputs.test, answers, inputs.null_answers, threshold)
    return score_answers(inputs.test, answers, inputs.null_answers, inputs.language, threshold)[0]


def fit_max_seq_len(cfg, positions: int) -> None:
    """Warn about windows too short for QA, and shorten those longer than the model has positions for."""
    if cfg.max_seq_len < 256:
        log.warning("question answering with max_seq_len %d: contexts are cut into many short windows; the QA "
                    "default is 384 (--max-seq-len 384)", cfg.max_seq_len)
    if cfg.max_seq_len > positions:
        log.warning("max_seq_len %d is longer than the model's %d positions: windows of %d tokens instead",
                    cfg.max_seq_len, positions, positions)
        cfg.max_seq_len = positions


def load_inputs(cfg, tokenizer, train_file: Path, validation_file: Path, test_file: Path | None) -> QAInputs:
    """Read and check the files, report what was skipped, settle the no-answer mode and language, build windows."""
    train = read_qa_file(train_file, cfg, training=True)
    validation = read_qa_file(validation_file, cfg, training=False)
    test = read_qa_file(test_file, cfg, training=False) if test_file else None
    for data in (train, validation, test):
        if data is not None:
            report_problems(data)
    null_answers = cfg.null_answers
    if null_answers is None:
        null_answers = train.has_unanswerable or validation.has_unanswerable
    language = cfg.language if cfg.language != "auto" else detect_language(train.examples)
    settings = {"max_seq_len": cfg.max_seq_len, "doc_stride": cfg.doc_stride, "max_query_len": cfg.max_query_len}
    return QAInputs(train, validation, test, build_features(train.examples, tokenizer, **settings),
                    build_features(validation.examples, tokenizer, **settings),
                    build_features(test.examples, tokenizer, **settings) if test else None, null_answers, language)


def report_problems(data: QAData) -> None:
    """One warning per kind of problem: how many questions, and the first one."""
    for reason, where in data.problems.items():
        log.warning("%s: %d question(s) skipped or flagged: %s; first: %s", data.path, len(where), reason, where[0])


def train_qa_seed(cfg, model_dir, tokenizer, inputs: QAInputs, lr: float, decay: float, seed: int,
                  seed_dir: Path) -> dict:
    """Train one seed, evaluate on validation (searching the no-answer threshold), save the model in `seed_dir`."""
    from accelerate import Accelerator
    from accelerate.utils import set_seed
    from transformers import AutoModelForQuestionAnswering

    accelerator = Accelerator(mixed_precision=resolve_precision(cfg.mixed_precision), cpu=not torch.cuda.is_available())
    set_seed(seed)
    model = AutoModelForQuestionAnswering.from_pretrained(model_dir)
    train_features, null_answers, language = inputs.train_features, inputs.null_answers, inputs.language
    steps_per_epoch = math.ceil(len(train_features) / cfg.batch_size)
    total = max(1, math.ceil(steps_per_epoch * cfg.epochs))
    optimizer, scheduler = make_optimizer(model, cfg, lr, decay, total)
    model, optimizer = accelerator.prepare(model, optimizer)
    generator = torch.Generator().manual_seed(seed)
    pad_id = tokenizer.pad_token_id or 0
    started = time.time()
    model.train()
    step = 0
    with count_progress("finetune") as bar:
        task = bar.add_task(f"seed {seed}", total=total, status="")
        while step < total:
            order = torch.randperm(len(train_features), generator=generator).tolist()
            for start in range(0, len(order), cfg.batch_size):
                if step >= total:
                    break
                batch = collate(train_features, order[start : start + cfg.batch_size], pad_id, labels=True)
                batch = {k: v.to(accelerator.device) for k, v in batch.items()}
                loss = training_step(model, batch, optimizer, scheduler, accelerator, None)  # mean of start and end CE
                step += 1
                bar.update(task, advance=1, **({"status": f"loss {loss.item():.3f}"} if step % 20 == 0 else {}))
    model = accelerator.unwrap_model(model)
    with full_precision(model) as plain:  # as saved and as predict runs it; the threshold is chosen on these logits
        answers = predict_answers(plain, inputs.validation.examples, inputs.validation_features, cfg, pad_id,
                                  accelerator.device, null_answers)
    metrics, threshold = score_answers(inputs.validation, answers, null_answers, language)
    result = {"seed": seed, "validation": metrics, "threshold": threshold, "seconds": time.time() - started}
    seed_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(seed_dir, safe_serialization=True)
    tokenizer.save_pretrained(seed_dir)
    record_max_seq_len(seed_dir, cfg.max_seq_len)
    qa_settings = {"null_answers": null_answers, "null_threshold": threshold, "language": language,
                   "max_seq_len": cfg.max_seq_len, "doc_stride": cfg.doc_stride, "max_query_len": cfg.max_query_len,
                   "n_best": cfg.n_best, "max_answer_len": cfg.max_answer_len}
    (seed_dir / QA_CONFIG_FILE).write_text(json.dumps(qa_settings, indent=2) + "\n")
    write_answers(seed_dir / "validation_predictions.jsonl", inputs.validation, answers, null_answers, threshold)
    return result


def collate(features: Features, indices, pad_id: int, labels: bool = False) -> dict:
    """A padded batch of windows (padded to the longest in the batch), with answer positions for training."""
    batch = padded_inputs(features.input_ids, features.token_type_ids, indices, pad_id)
    if labels:
        batch["start_positions"] = torch.tensor([features.start_positions[i] for i in indices])
        batch["end_positions"] = torch.tensor([features.end_positions[i] for i in indices])
    return batch


@torch.no_grad()
def window_logits(model, features: Features, batch_size: int, pad_id: int, device) -> tuple[list, list]:
    """Start and end logits of every window, each (T,) without padding, in window order; windows run longest
    first in batches of neighbours, so a batch of short windows stays short."""
    was_training = model.training
    model.eval()
    starts, ends = [None] * len(features), [None] * len(features)
    order = sorted(range(len(features)), key=lambda i: -len(features.input_ids[i]))
    for begin in range(0, len(order), batch_size):
        indices = order[begin : begin + batch_size]
        batch = collate(features, indices, pad_id)
        output = model(**{k: v.to(device) for k, v in batch.items()})
        start_logits, end_logits = output.start_logits.float().cpu().numpy(), output.end_logits.float().cpu().numpy()
        for row, i in enumerate(indices):
            n = len(features.input_ids[i])
            starts[i] = start_logits[row, :n]
            ends[i] = end_logits[row, :n]
    model.train(was_training)
    return starts, ends


def predict_answers(model, examples, features: Features, cfg, pad_id: int, device,
                    null_answers: bool) -> list[Answer]:
    starts, ends = window_logits(model, features, cfg.eval_batch_size, pad_id, device)
    return decode(examples, features, starts, ends, cfg.n_best, cfg.max_answer_len, null_answers)


def score_answers(data: QAData, answers: list[Answer], null_answers: bool, language: str,
                  threshold: float | None = None) -> tuple[dict, float]:
    """The official figures and the no-answer threshold: searched here (best F1) unless given (a test file)."""
    golds = {ex.qid: ex.answers for ex in data.examples}
    spans = {ex.qid: a.text for ex, a in zip(data.examples, answers)}
    if not null_answers:
        return qa_metrics.evaluate(golds, spans, language), 0.0
    diffs = {ex.qid: a.null_diff for ex, a in zip(data.examples, answers)}
    if threshold is None:
        threshold = qa_metrics.evaluate(golds, spans, language, diffs)["best_f1_thresh"]
        if not math.isfinite(threshold):  # a question with no possible span (null_diff inf) decided it
            threshold = math.copysign(1e9, threshold)
    return qa_metrics.evaluate(golds, spans, language, diffs, threshold), threshold


def write_answers(path: Path, data: QAData, answers: list[Answer], null_answers: bool, threshold: float) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for ex, answer in zip(data.examples, answers):
            text = apply_threshold(answer, null_answers, threshold)
            score = answer.probability if text else answer.null_probability
            row = {"id": ex.qid, "answer": text, "score": round(score, 6), "start": answer.start if text else None,
                   "end": answer.end if text else None, "gold": ex.answers}
            if null_answers:
                row["null_diff"] = round(answer.null_diff, 4) if math.isfinite(answer.null_diff) else None
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
