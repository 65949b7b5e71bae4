"""Fine-tuning and evaluation: sequence classification, regression and token classification.

ELECTRA's fine-tuning rules (Clark et al.): layer-wise learning-rate decay (0.8; 0.9 for large), lr by model
size (3e-4 small, 1e-4 base, 5e-5 large), no weight decay, 3 epochs (10 for RTE and STS-B), 10% warmup,
batch 32; several seeds, reporting the median. And as google-research/electra fine-tunes, since the published
numbers came from it (bench/faithful.md): one dense layer on [CLS] after dropout, AdamW without bias correction,
its layer-decay exponent (the top layer gets lr x d^2), its schedule (the decay runs from step 0, through the
warmup), and MRPC and STS-B trained on both sentence orders; each one setting away from HF-style fine-tuning.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from electra_cli.core.atomic import atomic_dir, check_output_dir
from electra_cli.core.console import console, count_progress, log, quiet_transformers
from electra_cli.core.errors import DataError, UsageError
from electra_cli.core.precision import resolve_precision
from electra_cli.finetuning import collapse as collapse_lib
from electra_cli.finetuning import metrics as metriclib
from electra_cli.finetuning import search, tagging
from electra_cli.finetuning.entities import entity_records, entity_scores, is_entity_tagset
from electra_cli.finetuning.config import (
    SEARCHABLE,
    FinetuneConfig,
    describe_seeds,
    field_values,
)
from electra_cli.finetuning.search import describe_search
from electra_cli.finetuning.steps import (
    FOLDER_CONFIG_FILE,
    full_precision,
    make_optimizer,
    padded_inputs,
    record_max_seq_len,
    training_step,
)
from electra_cli.text.tables import read_records, require_field
from electra_cli.watching.trackers import open_trackers, parse_report_to

METRICS_FILE = "metrics.json"


# ---- data ----------------------------------------------------------------------------------------------


@dataclass
class Examples:
    """Tokenized examples of one file: features per example and labels (ids, floats or per-token ids).

    Tagging: the features are windows (`tagging.Window`, several for a sentence longer than the model), and
    `sentences` holds each sentence's words, gold tags (None where unlabelled) and id, which scores and prediction
    files read, one tag per word."""

    path: Path
    input_ids: list[list[int]]
    token_type_ids: list[list[int]]
    labels: list
    texts: list[str]
    sentences: list[tuple[list[str], list[str] | None, object]] | None = None
    windows: list[tagging.Window] | None = None


def load_examples(path: Path, cfg: FinetuneConfig, tokenizer, label2id: dict | None, header: bool = True,
                  double_unordered: bool = False) -> Examples:
    """Read and tokenize a labelled file; label2id None means "learn the labels from this file"; double_unordered
    adds every pair again as (B, A) (for training files only, as the reference)."""
    texts, pairs, labels, where = [], [], [], []
    if cfg.task_type == "token-classification":
        return _load_token_examples(path, cfg, tokenizer, label2id)
    for location, record in read_records(path, header=header):
        text = require_field(record, cfg.text_field, location)
        pair = require_field(record, cfg.text_pair_field, location) if cfg.text_pair_field else None
        label = require_field(record, cfg.label_field, location)
        texts.append(str(text))
        pairs.append(str(pair) if pair is not None else None)
        labels.append(label)
        where.append(location)
    if not texts:
        raise DataError(f"{path}: no examples")
    if cfg.task_type == "regression":
        values = []
        for label, location in zip(labels, where):
            try:
                values.append(float(label))
            except (TypeError, ValueError):
                raise DataError(f"{location}: label {label!r} is not a number (task type regression)") from None
        labels = values
    else:
        labels = [str(label) for label in labels]
        if label2id is not None:
            for label, location in zip(labels, where):
                if label not in label2id:
                    raise DataError(f"{location}: label {label!r} is not in the training set ({', '.join(label2id)})")
    if double_unordered:
        if not cfg.text_pair_field:
            raise UsageError("double_unordered needs pairs: set text_pair_field (or use --set double_unordered=false)")
        texts, pairs, labels = texts + pairs, pairs + texts, labels + labels
    encoded = tokenizer(texts, pairs if cfg.text_pair_field else None, truncation=True, max_length=cfg.max_seq_len)
    types = encoded.get("token_type_ids") or [[0] * len(ids) for ids in encoded["input_ids"]]
    return Examples(path, encoded["input_ids"], types, labels, texts)


def looks_like_tags(path: Path | None, cfg: FinetuneConfig) -> bool:
    """Whether a file's first row holds token and tag lists (`cfg.tokens_field`, `cfg.tags_field`) and no text
    column: tagging data, whatever the default task type says (as QA's layout is recognised)."""
    if path is None or not Path(path).is_file() or Path(path).suffix.lower() not in (".jsonl", ".ndjson", ".json", ".parquet"):
        return False
    try:
        _, first = next(iter(read_records(path)))
    except (StopIteration, DataError, UnicodeError, ValueError):
        return False
    return (isinstance(first.get(cfg.tokens_field), list) and isinstance(first.get(cfg.tags_field), list)
            and cfg.text_field not in first)


def read_tagged(path: Path, cfg: FinetuneConfig) -> list[tuple[list[str], list[str], str, object]]:
    """(words, tags, location, id) per sentence: JSONL with token and tag lists (and an optional `id`), or
    CoNLL-style text (one `token ... tag` per line, blank between; a line `  TAG` is a space character's)."""
    sentences = []
    if Path(path).suffix.lower() in (".jsonl", ".json", ".ndjson"):
        for location, record in read_records(path):
            tokens = require_field(record, cfg.tokens_field, location)
            tags = require_field(record, cfg.tags_field, location)
            if not isinstance(tokens, list) or not isinstance(tags, list) or len(tokens) != len(tags):
                raise DataError(f"{location}: {cfg.tokens_field!r} and {cfg.tags_field!r} must be lists of equal length")
            sentences.append(([str(t) for t in tokens], [str(t) for t in tags], location, record.get("id")))
        return sentences
    tokens, tags = [], []
    with open(path, encoding="utf-8", errors="replace") as f:
        for lineno, line in enumerate(f, 1):
            token, tag = tagging.conll_line(line)
            if tag is None or line.startswith("-DOCSTART-"):
                if tokens:
                    sentences.append((tokens, tags, f"{path}:{lineno}", None))
                tokens, tags = [], []
                continue
            if token is None:
                raise DataError(f"{path}:{lineno}: expected 'token ... tag' (CoNLL format)")
            tokens.append(token)
            tags.append(tag)
    if tokens:
        sentences.append((tokens, tags, f"{path}:end", None))
    return sentences


def _load_token_examples(path: Path, cfg: FinetuneConfig, tokenizer, label2id: dict | None) -> Examples:
    """Tagged sentences as windows labelled at each word's first piece (tagging.py); `cfg.characters` None is
    decided here, from the (training) file: every token one character."""
    sentences = read_tagged(path, cfg)
    if not sentences:
        raise DataError(f"{path}: no examples")
    if label2id is not None:
        for _, tags, location, _ in sentences:
            unknown = sorted(set(tags) - set(label2id))
            if unknown:
                raise DataError(f"{location}: tag {unknown[0]!r} is not in the training set")
    if cfg.characters is None:
        cfg.characters = tagging.single_characters([s[0] for s in sentences])
    windows = tagging.windows(tokenizer, [s[0] for s in sentences], cfg.max_seq_len, cfg.characters)
    labels = [[-100 if word is None else sentences[w.sentence][1][word] for word in w.first_of] for w in windows]
    joiner = "" if cfg.characters else " "
    return Examples(path, [w.input_ids for w in windows], [[0] * len(w.input_ids) for w in windows], labels,
                    [joiner.join(s[0]) for s in sentences], [(s[0], s[1], s[3]) for s in sentences], windows)


def label_maps(train: Examples, cfg: FinetuneConfig) -> tuple[dict, dict] | tuple[None, None]:
    if cfg.task_type == "regression":
        return None, None
    if cfg.task_type == "token-classification":
        names = {tag for _, tags, _ in train.sentences for tag in tags}
    else:
        names = set(train.labels)
    ordered = sorted(names, key=lambda n: (0, float(n)) if _is_number(n) else (1, n))
    label2id = {name: i for i, name in enumerate(ordered)}
    return {i: name for name, i in label2id.items()}, label2id


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def encode_labels(examples: Examples, cfg: FinetuneConfig, label2id: dict | None) -> list:
    if cfg.task_type == "regression":
        return examples.labels
    if cfg.task_type == "token-classification":
        return [[label2id[t] if t != -100 else -100 for t in row] for row in examples.labels]
    return [label2id[label] for label in examples.labels]


def evaluation_gold(examples: Examples, cfg: FinetuneConfig, label2id: dict | None) -> list:
    """The gold answers predictions are scored against: per tagged sentence, one tag id per word (every word,
    windows merged); otherwise the labels as trained on."""
    if cfg.task_type == "token-classification":
        return [[label2id[t] for t in tags] for _, tags, _ in examples.sentences]
    return encode_labels(examples, cfg, label2id)


def collate(examples: Examples, labels: list | None, indices: Sequence[int], pad_id: int, cfg: FinetuneConfig) -> dict:
    """A padded batch of examples, with their labels when given."""
    batch = padded_inputs(examples.input_ids, examples.token_type_ids, indices, pad_id)
    width = batch["input_ids"].shape[1]
    if labels is not None:
        if cfg.task_type == "token-classification":
            lab = torch.full((len(indices), width), -100, dtype=torch.long)
            for row, i in enumerate(indices):
                lab[row, : len(labels[i])] = torch.tensor(labels[i])
            batch["labels"] = lab
        else:
            dtype = torch.float if cfg.task_type == "regression" else torch.long
            batch["labels"] = torch.tensor([labels[i] for i in indices], dtype=dtype)
    return batch


# ---- optimisation ----------------------------------------------------------------------------------------


class ClsHead(torch.nn.Module):
    """The reference's classification (and regression) head: dropout on the [CLS] vector, then one dense layer;
    no pooler, no activation. HF's ElectraClassificationHead has two layers (dense, gelu, dropout, out_proj), so
    this one trains in its place and `as_electra_head` writes it back as an ElectraClassificationHead that computes
    the same logits, which keeps the saved folder loadable by `pipeline()` without remote code."""

    def __init__(self, config):
        super().__init__()
        if 2 * config.num_labels > config.hidden_size:
            raise UsageError(f"head = 'reference' needs hidden size >= 2 x labels ({config.hidden_size} < "
                             f"2 x {config.num_labels}) to be saved as HF's head; use --set head=hf")
        dropout = config.classifier_dropout if config.classifier_dropout is not None else config.hidden_dropout_prob
        self.dropout = torch.nn.Dropout(dropout)
        self.out = torch.nn.Linear(config.hidden_size, config.num_labels)
        torch.nn.init.xavier_uniform_(self.out.weight)  # tf.layers.dense's default (glorot uniform), as the reference
        torch.nn.init.zeros_(self.out.bias)

    def forward(self, features: torch.Tensor) -> torch.Tensor:  # (B, T, H) -> (B, labels)
        return self.out(self.dropout(features[:, 0]))

    def as_electra_head(self, config) -> torch.nn.Module:
        """An ElectraClassificationHead that computes this head's logits exactly (dropout aside): since
        gelu(z) - gelu(-z) = z for every z, dense = [W; -W; 0] and out_proj = [I, -I, 0] give W x + b. Fine-tuning
        the saved folder further with HF trains it as HF's two-layer head from that start."""
        from transformers.models.electra.modeling_electra import (
            ElectraClassificationHead,
        )

        weight, bias = self.out.weight, self.out.bias  # (k, H), (k,)
        k = weight.shape[0]
        head = ElectraClassificationHead(config).to(weight.device, weight.dtype)
        eye = torch.eye(k, device=weight.device, dtype=weight.dtype)
        with torch.no_grad():
            for tensor in (head.dense.weight, head.dense.bias, head.out_proj.weight, head.out_proj.bias):
                tensor.zero_()
            head.dense.weight[:k], head.dense.weight[k : 2 * k] = weight, -weight
            head.dense.bias[:k], head.dense.bias[k : 2 * k] = bias, -bias
            head.out_proj.weight[:, :k], head.out_proj.weight[:, k : 2 * k] = eye, -eye
        return head


# ---- the stage -------------------------------------------------------------------------------------------

# Called after every validation: (seed, setting values, epoch, optimizer step, metrics); e.g. to send the curve to
# TensorBoard or W&B. The same points are in metrics.json ("runs"[i]["curve"]).
ValidationHook = Callable[[int, dict, float, int, dict], None]


def finetune(
    cfg: FinetuneConfig,
    model_dir: Path,
    train_file: Path,
    validation_file: Path,
    out: Path,
    test_file: Path | None = None,
    header: bool = True,
    overwrite: bool = False,
    task_name: str = "",
    on_validation: ValidationHook | None = None,
    report_to: Iterable[str] | str | None = None,
) -> dict:
    """Fine-tune `model_dir` for every setting of the search x every seed; the setting with the best validation
    median wins and its median (or best) seed's model is kept in `out`; returns the metrics. `report_to`: trackers
    (tensorboard, wandb) that also get every validation point, under OUT/tensorboard/."""
    from transformers import AutoConfig, AutoTokenizer

    parse_report_to(report_to)  # a missing tracker package stops the run before any work
    model_dir, out = Path(model_dir), Path(out)
    check_output_dir(out, METRICS_FILE, overwrite, "fine-tuned model")
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    train = load_examples(train_file, cfg, tokenizer, None, header, double_unordered=bool(cfg.double_unordered))
    id2label, label2id = label_maps(train, cfg)
    validation = load_examples(validation_file, cfg, tokenizer, label2id, header)
    test = load_examples(test_file, cfg, tokenizer, label2id, header) if test_file else None
    base_config = AutoConfig.from_pretrained(model_dir)
    settings = search.expand(cfg, base_config.hidden_size, base_config.num_hidden_layers, SEARCHABLE)
    metric_set = cfg.metric or default_metric(cfg, id2label)
    key = metriclib.headline(metric_set)
    console.print(
        f"finetune: {len(train.labels):,} train / {len(validation.labels):,} validation examples, "
        f"{len(id2label) if id2label else 'regression'} labels, {describe_search(cfg, settings)}, "
        f"{describe_seeds(cfg.seeds)}; {used_columns(cfg)}" + (f"; labels {label_list(id2label)}" if id2label else ""),
        soft_wrap=True, highlight=False,
    )
    started = time.time()
    runs, summaries, best = [], [], None
    with atomic_dir(out) as tmp, open_trackers(report_to, tmp, out.name, asdict(cfg), final_dir=out) as trackers:
        hook = validation_to_trackers(trackers, settings, on_validation)
        store = tmp / ".runs"
        for setting in settings:
            own = []
            for seed in cfg.seeds:
                with quiet_transformers():  # the load report of the new head, a table nobody needs
                    result = train_one_seed(setting.cfg, model_dir, tokenizer, train, validation, id2label, label2id,
                                            setting.lr, setting.decay, metric_set, seed,
                                            store / f"setting-{setting.index}" / f"seed-{seed}", setting=setting,
                                            settings=len(settings), on_validation=hook)
                own.append(result | {"setting": setting.index})
                console.print(f"{setting.label()}, seed {seed}: " + ", ".join(
                    f"{k} {v:.4f}" for k, v in result["validation"].items()) + f" (epoch {result['epoch']:g}); "
                    f"collapse check: {collapse_lib.describe(result['collapse'])}", highlight=False, soft_wrap=True)
            summary = search.aggregate(own, key) | {"collapsed": sum(bool(r["collapse"].get("collapsed")) for r in own)}
            summaries.append(summary)
            runs += own
            best = search.keep_if_best(store, summaries, setting.index, best)
        chosen_runs = [r for r in runs if r["setting"] == best]
        kept = chosen_runs[search.kept_run(chosen_runs, key, cfg.keep)]
        search.move_kept(store, tmp, best, kept["seed"])
        chosen = settings[best]
        verdict = collapse_lib.verdict([r["collapse"] for r in chosen_runs], kept_seed=kept["seed"],
                                       kept_collapsed=bool(kept["collapse"].get("collapsed")))
        summary = {
            "task": task_name or str(train_file),
            "task_type": cfg.task_type,
            "metric": key,
            "median": summaries[best]["median"],
            "mean": summaries[best]["mean"],
            "seeds": [{"seed": r["seed"], **r["validation"]} for r in chosen_runs],
            "kept_seed": kept["seed"],
            "labels": list(label2id) if label2id else None,
            "model": str(model_dir),
            "train_examples": len(train.labels),
            "validation_examples": len(validation.labels),
            "config": asdict(chosen.cfg) | {"lr": chosen.lr, "layer_decay": chosen.decay, "metric": metric_set,
                                            "double_unordered": bool(cfg.double_unordered)},
            "collapse": verdict,
            **({"per_type": kept["per_type"]} if "per_type" in kept else {}),
            "search": {name: field_values(getattr(cfg, name)) if name != "lr" or cfg.lr else search.auto_lrs(
                base_config.hidden_size) for name in SEARCHABLE},
            **search.summary_fields(settings, summaries, runs, best),
            "seconds": round(time.time() - started, 1),
        }
        if test is not None:  # scored once: the chosen setting's kept model, as saved
            summary["test"] = score_saved_model(tmp, test, cfg, metric_set, label2id, id2label, tokenizer)
        (tmp / METRICS_FILE).write_text(json.dumps(summary, indent=2) + "\n")
    console.print(search.results_table(settings, runs, summaries, best, key, cfg.select))
    if verdict["collapsed"]:
        log.warning("%s", verdict["message"])
    log.info("wrote %s: %s, %s median %s %.4f over %d seed(s), kept seed %d", out, summary["task"],
             chosen.label(), key, summary["median"], len(chosen_runs), summary["kept_seed"])
    return summary


def default_metric(cfg: FinetuneConfig, id2label: dict | None) -> str:
    """The metric set a run is judged by when none is given: entity F1 for BIO/IOB2/BIOES tagging (what everyone
    reports for NER), Pearson/Spearman for regression, accuracy otherwise."""
    if cfg.task_type == "token-classification" and is_entity_tagset(id2label.values()):
        return "entity"
    return {"regression": "pearson_spearman"}.get(cfg.task_type, "accuracy")


def validation_to_trackers(trackers, settings: list, then: ValidationHook | None) -> ValidationHook | None:
    """The validation hook that also sends each point to the trackers as `[<setting>/]seed-<n>/validation/<metric>`,
    on one step axis that keeps counting across settings and seeds (W&B drops a step that goes back)."""
    if not trackers:
        return then
    searched = list(settings[0].searched)  # the fields that vary across settings
    position = {"run": None, "offset": 0, "step": 0}

    def hook(seed: int, setting: dict, epoch: float, step: int, scores: dict) -> None:
        run = (tuple(sorted(setting.items())), seed)
        if run != position["run"]:  # a new setting x seed continues the axis where the last one ended
            position.update(run=run, offset=position["offset"] + position["step"])
        position["step"] = step
        name = search.tag({field: setting[field] for field in searched})
        prefix = f"{name}/seed-{seed}" if name else f"seed-{seed}"
        trackers.log({prefix: {"validation": scores | {"epoch": epoch}}}, step=position["offset"] + step)
        if then is not None:
            then(seed, setting, epoch, step, scores)

    return hook


def used_columns(cfg: FinetuneConfig) -> str:
    """The columns a run reads, for its summary line (a wrong column is the commonest first-run mistake)."""
    if cfg.task_type == "token-classification":
        return f"columns tokens={cfg.tokens_field!r}, tags={cfg.tags_field!r} (JSONL; CoNLL: first and last)"
    pair = f", pair={cfg.text_pair_field!r}" if cfg.text_pair_field else ""
    return f"columns text={cfg.text_field!r}{pair}, label={cfg.label_field!r}"


def label_list(id2label: dict, most: int = 12) -> str:
    names = [str(id2label[i]) for i in sorted(id2label)]
    return ", ".join(names[:most]) + (f", ... ({len(names)} in all)" if len(names) > most else "")


def train_one_seed(cfg, model_dir, tokenizer, train, validation, id2label, label2id, lr, decay, metric_set,
                   seed, seed_dir: Path, setting=None, settings: int = 1,
                   on_validation: ValidationHook | None = None) -> dict:
    """One run: train, validate after every epoch (or every `eval_every` steps), keep the last or the best state,
    save it to `seed_dir` with its validation predictions; returns its metrics, curve and collapse check."""
    from accelerate import Accelerator
    from accelerate.utils import set_seed
    from transformers import (
        AutoModelForSequenceClassification,
        AutoModelForTokenClassification,
        ElectraForSequenceClassification,
    )

    accelerator = Accelerator(mixed_precision=resolve_precision(cfg.mixed_precision), cpu=not torch.cuda.is_available())
    set_seed(seed)
    kwargs = {"num_labels": 1, "problem_type": "regression"} if cfg.task_type == "regression" else {
        "num_labels": len(id2label), "id2label": id2label, "label2id": label2id}
    if cfg.task_type == "classification":
        kwargs["problem_type"] = "single_label_classification"
    model_class = AutoModelForTokenClassification if cfg.task_type == "token-classification" else AutoModelForSequenceClassification
    model = model_class.from_pretrained(model_dir, **kwargs)
    reference_head = cfg.head == "reference" and isinstance(model, ElectraForSequenceClassification)
    if reference_head:
        model.classifier = ClsHead(model.config)
    elif cfg.head == "reference" and cfg.task_type != "token-classification" and seed == cfg.seeds[0]:
        log.warning("head = 'reference' is for ELECTRA models; %s keeps its own head", type(model).__name__)
    labels = encode_labels(train, cfg, label2id)
    gold = evaluation_gold(validation, cfg, label2id)
    weights = class_weights(labels, len(id2label)).to(accelerator.device) if cfg.class_weights == "balanced" else None
    steps_per_epoch = math.ceil(len(train.input_ids) / cfg.batch_size)
    total = max(1, math.ceil(steps_per_epoch * cfg.epochs))
    checks = validation_steps(total, steps_per_epoch, cfg.eval_every)
    optimizer, scheduler = make_optimizer(model, cfg, lr, decay, total)
    model, optimizer = accelerator.prepare(model, optimizer)
    generator = torch.Generator().manual_seed(seed)
    pad_id = tokenizer.pad_token_id or 0
    key = metriclib.headline(metric_set)
    point_of = setting.values() if setting is not None else {"lr": lr, "layer_decay": decay}  # for the hook
    where = f"setting {setting.index + 1}/{settings} ({setting.label()}), " if setting is not None and settings > 1 else ""
    started = time.time()
    model.train()
    step, curve, best, last = 0, [], None, None
    with count_progress("finetune") as bar:
        task = bar.add_task(f"{where}seed {seed}", total=total, status="")
        while step < total:
            order = torch.randperm(len(train.input_ids), generator=generator).tolist()
            for start in range(0, len(order), cfg.batch_size):
                if step >= total:
                    break
                batch = collate(train, labels, order[start : start + cfg.batch_size], pad_id, cfg)
                loss = training_step(model, {k: v.to(accelerator.device) for k, v in batch.items()}, optimizer,
                                     scheduler, accelerator, weights)
                step += 1
                epoch = step / steps_per_epoch
                status = f"epoch {math.ceil(epoch - 1e-9)}/{search.number(cfg.epochs)}"
                if step in checks:  # in fp32, as the model is saved and predict runs it
                    with full_precision(accelerator.unwrap_model(model)) as plain:
                        predictions = predict_examples(plain, validation, cfg, pad_id, accelerator.device)
                    scores = score(metric_set, cfg, gold, predictions, id2label)
                    last = {"step": step, "epoch": round(epoch, 3), **scores}
                    curve.append(last)
                    if on_validation is not None:
                        on_validation(seed, point_of, last["epoch"], step, scores)
                    if cfg.select == "best-epoch" and (best is None or search.rank(scores[key]) > search.rank(best[0][key])):
                        state = {k: v.detach().to("cpu", copy=True) for k, v in accelerator.unwrap_model(model).state_dict().items()}
                        best = (last, state, predictions)  # the best state so far, on the CPU
                    if cfg.select != "best-epoch":
                        best = (last, None, predictions)
                if last is not None:
                    status += f", validation {key} {last[key]:.3f} (epoch {last['epoch']:g})"
                if step % 20 == 0 or step in checks:
                    status += f", loss {loss.item():.3f}"
                    bar.update(task, advance=1, status=status)
                else:
                    bar.update(task, advance=1)
    unwrapped = accelerator.unwrap_model(model)
    point, state, predictions = best
    if state is not None:
        unwrapped.load_state_dict(state)
    if reference_head:  # saved as HF's head, with the same logits
        unwrapped.classifier = unwrapped.classifier.as_electra_head(unwrapped.config)
    validation_scores = {k: v for k, v in point.items() if k not in ("step", "epoch")}
    result = {"seed": seed, "validation": validation_scores, "epoch": point["epoch"], "step": point["step"],
              "curve": curve, "collapse": collapse_check(cfg, gold, predictions, id2label, metric_set),
              "seconds": round(time.time() - started, 1)}
    if metric_set == "entity":  # per type, at the kept point
        result["per_type"] = entity_scores(*tag_names(gold, predictions, id2label))["per_type"]
    seed_dir.mkdir(parents=True, exist_ok=True)
    unwrapped.save_pretrained(seed_dir, safe_serialization=True)
    tokenizer.save_pretrained(seed_dir)
    record_max_seq_len(seed_dir, cfg.max_seq_len)  # predict and pipeline() truncate as training did
    folder_config = {"task_type": cfg.task_type, "max_seq_len": cfg.max_seq_len}
    if cfg.task_type == "token-classification":  # predict reads rows as training did
        folder_config["characters"] = bool(cfg.characters)
    (seed_dir / FOLDER_CONFIG_FILE).write_text(json.dumps(folder_config, indent=2) + "\n")
    write_predictions(seed_dir / "validation_predictions.jsonl", validation, predictions, cfg, id2label)
    return result


def validation_steps(total: int, steps_per_epoch: int, eval_every: int) -> set[int]:
    """The optimizer steps after which validation runs: every epoch's end (or every `eval_every` steps) and the
    last step."""
    every = eval_every or steps_per_epoch
    return set(range(every, total, every)) | {total}


def class_weights(labels: list, classes: int) -> torch.Tensor:
    """n / (classes x count) per class (sklearn's "balanced"), counted over the training labels (-100 skipped)."""
    flat = [x for row in labels for x in (row if isinstance(row, list) else [row]) if x != -100]
    counts = torch.bincount(torch.tensor(flat), minlength=classes).float()
    return torch.where(counts > 0, len(flat) / (classes * counts.clamp(min=1)), torch.zeros_like(counts))


def collapse_check(cfg: FinetuneConfig, gold: list, logits: list, id2label: dict | None,
                   metric_set: str = "") -> dict:
    if cfg.task_type == "regression":
        return collapse_lib.regression_collapse(gold, [float(x[0]) for x in logits])
    if cfg.task_type == "token-classification" and metric_set == "entity":
        scores = entity_scores(*tag_names(gold, logits, id2label))
        return collapse_lib.entity_collapse(scores["entities"], scores["entity_f1"], len(gold))
    if cfg.task_type == "token-classification":
        return collapse_lib.classification_collapse(*token_labels(gold, logits), id2label)
    return collapse_lib.classification_collapse(gold, [int(x.argmax()) for x in logits], id2label)


def score_saved_model(folder: Path, examples: Examples, cfg: FinetuneConfig, metric_set: str, label2id, id2label,
                      tokenizer) -> dict:
    """Metrics of the model saved in `folder` on `examples` (the test split), with its predictions written there."""
    from transformers import (
        AutoModelForSequenceClassification,
        AutoModelForTokenClassification,
    )

    model_class = AutoModelForTokenClassification if cfg.task_type == "token-classification" else AutoModelForSequenceClassification
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = model_class.from_pretrained(folder).to(device)
    predictions = predict_examples(model, examples, cfg, tokenizer.pad_token_id or 0, device)
    write_predictions(folder / "test_predictions.jsonl", examples, predictions, cfg, id2label)
    gold = evaluation_gold(examples, cfg, label2id)
    scores = score(metric_set, cfg, gold, predictions, id2label)
    if metric_set == "entity":
        scores["per_type"] = entity_scores(*tag_names(gold, predictions, id2label))["per_type"]
    return scores


@torch.no_grad()
def predict_examples(model, examples: Examples, cfg: FinetuneConfig, pad_id: int, device) -> list:
    """Logits per example; for tagging, (words, labels) per sentence, every word read from its best window."""
    model.eval()
    outputs = []
    for start in range(0, len(examples.input_ids), cfg.eval_batch_size):
        indices = list(range(start, min(start + cfg.eval_batch_size, len(examples.input_ids))))
        batch = collate(examples, None, indices, pad_id, cfg)
        logits = model(**{k: v.to(device) for k, v in batch.items()}).logits.float().cpu()
        for row, i in enumerate(indices):
            n = len(examples.input_ids[i])
            outputs.append(logits[row, :n] if cfg.task_type == "token-classification" else logits[row])
    model.train()
    if examples.windows is not None:
        return tagging.word_logits(examples.windows, outputs, [len(words) for words, _, _ in examples.sentences])
    return outputs


def score(metric_set: str, cfg: FinetuneConfig, gold: list, logits: list, id2label: dict | None = None) -> dict:
    if cfg.task_type == "regression":
        return metriclib.compute(metric_set, gold, [float(x[0]) for x in logits])
    if cfg.task_type == "token-classification":
        scores = metriclib.compute(metric_set, *token_labels(gold, logits))
        if metric_set == "entity":  # the headline first
            entity = entity_scores(*tag_names(gold, logits, id2label))
            scores = {k: entity[k] for k in ("entity_f1", "entity_precision", "entity_recall")} | scores
        return scores
    return metriclib.compute(metric_set, gold, [int(x.argmax()) for x in logits])


def token_labels(gold: list, logits: list) -> tuple[list[int], list[int]]:
    """Gold and predicted tag ids of every word, flattened (-100, if any, skipped)."""
    pairs = [(g, int(p)) for row, lg in zip(gold, logits) for g, p in zip(row, lg.argmax(-1)) if g != -100]
    return [g for g, _ in pairs], [p for _, p in pairs]


def tag_names(gold: list, logits: list, id2label: dict) -> tuple[list[list[str]], list[list[str]]]:
    """Gold and predicted tags per sentence, as names (what entity spans are read from)."""
    return ([[id2label[int(g)] for g in row] for row in gold],
            [[id2label[int(p)] for p in lg.argmax(-1)] for lg in logits])


def write_predictions(path: Path, examples: Examples, logits: list, cfg: FinetuneConfig, id2label: dict | None) -> None:
    with open(path, "w", encoding="utf-8") as f:
        if cfg.task_type == "token-classification":  # one tag per word, the gold beside, the entities found
            for (words, gold, key), text, lg in zip(examples.sentences, examples.texts, logits):
                tags = [id2label[int(i)] for i in lg.argmax(-1)]
                row = {"id": key} if key is not None else {}
                row |= {"text": text, "tokens": words, "tags": tags, "gold": gold,
                        "entities": entity_records(words, tags, bool(cfg.characters))}
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
            return
        for text, gold, lg in zip(examples.texts, examples.labels, logits):
            if cfg.task_type == "regression":
                row = {"text": text, "score": float(lg[0]), "gold": gold}
            else:
                probs = torch.softmax(lg, -1)
                row = {"text": text, "label": id2label[int(probs.argmax())], "score": float(probs.max()), "gold": gold}
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
