"""The fine-tuning recipe schema that classification, tagging and question answering share, and its loading.

ELECTRA's fine-tuning rules (Clark et al.) are its defaults; zeros mean "by the rules" (lr and layer decay by
model size). A list in a searchable field is a search (search.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from electra_cli.core import config as configlib
from electra_cli.core.errors import UsageError
from electra_cli.core.schedule import Shape
from electra_cli.finetuning import metrics as metriclib
from electra_cli.finetuning import search

TaskType = Literal["classification", "regression", "token-classification", "question-answering"]
# Fields whose value may be a list: a search over those values (`--lr 1e-4,3e-4`, `--set layer_decay=0.8,0.9`).
SEARCHABLE = ("lr", "layer_decay", "weight_decay", "epochs", "warmup_ratio", "batch_size")


def field_values(value) -> list:
    """A searchable field's values: a list as it is, one number as a list of one."""
    return list(value) if isinstance(value, (list, tuple)) else [value]


@dataclass
class FinetuneConfig:
    """A fine-tuning recipe; zeros mean "by the rules above"."""

    task_type: TaskType = "classification"  # or regression, token-classification, question-answering (SQuAD data: auto)
    text_field: str = "text"  # column with the text (first segment)
    text_pair_field: str = ""  # column with the second segment, for pair tasks
    label_field: str = "label"  # column with the label (a class name or a number for regression)
    tokens_field: str = "tokens"  # token classification: list of words (JSONL)
    tags_field: str = "tags"  # token classification: list of tags (JSONL)
    characters: bool | None = None  # tagging: every token one position, itself or [UNK] (CLUENER's CNerTokenizer); unset: when every training token is one character
    metric: str = ""  # accuracy, f1_accuracy, mcc, pearson_spearman or entity; "" = by task type (tagging with B-/I-/E-/S- tags: entity)
    max_seq_len: int = 128  # longer inputs are truncated
    # A list for lr, layer_decay, weight_decay, epochs, warmup_ratio or batch_size is a search (SEARCHABLE): every
    # combination is trained for every seed and the best validation median wins.
    lr: float | list[float] = 0.0  # 0: a search over auto_lrs (the paper's rate by size, and about 3x it)
    layer_decay: float | list[float] = 0.0  # 0: 0.8, or 0.9 for 24-layer models
    weight_decay: float | list[float] = 0.0
    epochs: float | list[float] = 3.0
    warmup_ratio: float | list[float] = 0.1
    schedule: Shape = "reference"  # reference: lr x (1 - t/T) x min(1, t/W); or warmup-then-decay
    adam_bias_correction: bool = False  # false: AdamW without bias correction, as the reference; true: torch's AdamW
    layer_decay_style: Literal["reference", "contiguous"] = "reference"  # d^(L+2-depth), top layer d^2; or d^(L+1-depth)
    head: Literal["reference", "hf"] = "reference"  # reference: dropout + one dense layer on [CLS]; hf: the HF class's head
    double_unordered: bool | None = None  # also train on each pair as (B, A); unset: on for GLUE MRPC and STS-B only
    batch_size: int | list[int] = 32
    eval_batch_size: int = 64
    seeds: list[int] = field(default_factory=lambda: [1])  # one run per seed (and setting); median, mean, each
    keep: Literal["median", "best"] = "median"  # which seed's model of the chosen setting is kept in OUT
    eval_every: int = 0  # validate every N optimizer steps; 0: after every epoch (and always at the end)
    select: Literal["last", "best-epoch"] = "last"  # a seed's model: its last state, or its best validation point
    class_weights: Literal["none", "balanced"] = "none"  # balanced: loss weight n / (classes x count) per class
    mixed_precision: Literal["auto", "no", "fp16", "bf16"] = "auto"
    # question answering (electra_cli/qa/train.py); without a recipe max_seq_len is 384 and epochs 2 for it (qa.train.QA_DEFAULTS)
    question_field: str = "question"  # HF squad rows (JSONL/Parquet): the question column
    context_field: str = "context"  # ... the context column
    answers_field: str = "answers"  # ... {text: [...], answer_start: [...]}
    id_field: str = "id"  # ... the question id (else the row number)
    doc_stride: int = 128  # tokens between the starts of consecutive context windows (the reference's meaning)
    max_query_len: int = 64  # questions are cut to this many tokens
    n_best: int = 20  # start and end candidates per window when decoding
    max_answer_len: int = 30  # longest answer, in tokens
    language: Literal["auto", "en", "zh"] = "auto"  # metrics: SQuAD's (en) or CMRC 2018's (zh); auto: from the data
    null_answers: bool | None = None  # questions may have no answer (SQuAD 2.0); unset: if the data has such questions
    strict: bool = False  # a bad answer_start stops the run (exit 3) instead of being skipped and counted

    def __post_init__(self) -> None:
        problems = []
        if any(not field_values(getattr(self, name)) for name in SEARCHABLE):
            raise UsageError(f"an empty list searches nothing: give at least one value ({', '.join(SEARCHABLE)})")
        if min(field_values(self.epochs)) <= 0 or min(field_values(self.batch_size)) < 1 or self.max_seq_len < 8:
            problems.append("epochs must be > 0, batch_size >= 1, max_seq_len >= 8")
        if isinstance(self.lr, list) and min(self.lr) <= 0:
            problems.append("a learning rate in a search must be > 0 (a single lr = 0 means the built-in search)")
        if self.eval_every < 0:
            problems.append("eval_every must be >= 0 (0: after every epoch)")
        if self.class_weights == "balanced" and self.task_type == "regression":
            problems.append("class_weights = 'balanced' is for classification, not regression")
        if not self.seeds:
            problems.append("give at least one seed")
        if self.doc_stride < 1 or self.max_query_len < 1 or self.n_best < 1 or self.max_answer_len < 1:
            problems.append("doc_stride, max_query_len, n_best and max_answer_len must be >= 1")
        if self.metric and self.metric not in metriclib.METRIC_SETS:
            problems.append(f"metric must be one of {', '.join(metriclib.METRIC_SETS)}")
        if self.metric == "entity" and self.task_type != "token-classification":
            problems.append("metric = 'entity' (entity F1) is for token-classification")
        if problems:
            raise UsageError("; ".join(problems))


def load_finetune_config(recipe: str | None, overrides: list[str]) -> FinetuneConfig:
    """defaults < recipe < overrides; a comma list for a searchable field (`lr=1e-4,3e-4`) is a search."""
    path = configlib.find_recipe(recipe, "finetune") if recipe else None
    return configlib.load_config(FinetuneConfig, path, search.search_overrides(overrides, SEARCHABLE))


def parse_seeds(text: str) -> list[int]:
    """`--seeds`: one number is a count (3: seeds 1, 2, 3), a comma list the seeds themselves (`7,` is seed 7)."""
    parts = [p.strip() for p in str(text).split(",")]
    try:
        numbers = [int(p) for p in parts if p]
    except ValueError:
        raise UsageError(f"--seeds {text}: give a count (3) or a comma list of seeds (1,2,3 or 7,)") from None
    if not numbers or (len(parts) == 1 and numbers[0] < 1):
        raise UsageError(f"--seeds {text}: give a count of at least 1, or a comma list of seeds")
    return list(range(1, numbers[0] + 1)) if len(parts) == 1 else list(dict.fromkeys(numbers))


def describe_seeds(seeds: list[int]) -> str:
    """The log's words for the seeds: '3 seeds (1, 2, 3)', '1 seed (7)'."""
    return f"{len(seeds)} seed{'s' if len(seeds) != 1 else ''} ({', '.join(map(str, seeds))})"
