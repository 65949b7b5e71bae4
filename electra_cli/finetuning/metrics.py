"""Task metrics (GLUE's official ones), from one tested place."""

from __future__ import annotations

import numpy as np


def accuracy(labels, predictions) -> float:
    return float(np.mean(np.asarray(labels) == np.asarray(predictions)))


def f1_binary(labels, predictions) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(labels, predictions, average="binary", zero_division=0))


def macro_f1(labels, predictions) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(labels, predictions, average="macro", zero_division=0))


def mcc(labels, predictions) -> float:
    from sklearn.metrics import matthews_corrcoef

    return float(matthews_corrcoef(labels, predictions))


def pearson(labels, predictions) -> float:
    from scipy.stats import pearsonr

    return float(pearsonr(labels, predictions)[0])


def spearman(labels, predictions) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(labels, predictions)[0])


# metric set name -> (its functions, the headline metric used to compare seeds)
METRIC_SETS = {
    "accuracy": ({"accuracy": accuracy, "macro_f1": macro_f1}, "accuracy"),
    "f1_accuracy": ({"f1": f1_binary, "accuracy": accuracy}, "f1"),
    "mcc": ({"mcc": mcc, "accuracy": accuracy}, "mcc"),
    "pearson_spearman": ({"pearson": pearson, "spearman": spearman}, "pearson"),
    # tagging with BIO/IOB2/BIOES tags: entity-level micro F1 (entities.entity_scores, over whole sentences) and
    # token accuracy as the second figure
    "entity": ({"accuracy": accuracy}, "entity_f1"),
}


def compute(metric_set: str, labels, predictions) -> dict:
    functions, _ = METRIC_SETS[metric_set]
    return {name: fn(labels, predictions) for name, fn in functions.items()}


def headline(metric_set: str) -> str:
    return METRIC_SETS[metric_set][1]
