"""The collapse check: a fine-tuned model that answers (nearly) the same thing whatever the input.

"My fine-tuned ELECTRA predicts one class" is the commonest complaint about ELECTRA fine-tuning; a model in that
state can still score the majority share, so a headline accuracy alone hides it. The check reads a run's
validation predictions and says so plainly, with causes and what to try.

Thresholds, and why:
- Classification (and token tags): collapsed when the most-predicted class takes at least
  max(0.5, (1 + g) / 2) of the predictions, g being the largest share of any class among the gold labels. A model
  that learned nothing answers one class almost always (share near 1); one that learned the task predicts its top
  class near g. The midpoint between the two is as far from either, and "most" means at least half. On a balanced
  16-class task (g = 0.06) that is 0.53, on 12 classes with g = 0.27 0.63, on a 50/50 pair 0.75, on 90/10 0.95
  (the 90/10 majority answered everywhere is caught; a model that answers it 90% of the time is not).
- Regression: collapsed when the predictions' standard deviation is under 0.1 x the gold labels'. A least-squares
  fit's predictions spread as |r| x the labels' spread, so below 0.1 the output barely depends on the input.
- Entity tagging (BIO/IOB2/BIOES): collapsed when the model finds fewer than a tenth as many entities as the gold
  holds, or none of them right (entity F1 0). Token shares hide it there: `O` is 93% of People's Daily's tags.
- Fewer than MIN_EXAMPLES validation examples, or gold labels of a single class (or constant): no verdict.
"""

from __future__ import annotations

import statistics
from collections import Counter

MIN_EXAMPLES = 20
REGRESSION_SPREAD = 0.1
ENTITY_SHARE = 0.1  # entity tagging: finding under a tenth of the gold's entities is answering O

CAUSES = ("a learning rate that does not suit the model (too low for a small model, too high for a large one); "
          "too few epochs or steps; a starting model that learned little in pretraining (a discriminator on the "
          "plateau); strongly imbalanced labels")
ADVICE = ("search the learning rate (--lr 1e-4,3e-4,1e-3); train longer (--epochs 10); for models of hidden size "
          "768 and up, lower rates (--lr 2e-5,5e-5,1e-4); with imbalanced labels, --set class_weights=balanced; "
          "several seeds (--seeds 1,2,3) to see whether it is the seed")


def classification_collapse(gold: list, predicted: list, names: dict | None = None) -> dict:
    """The check for class ids (or token tags): shares, the threshold and the verdict (`collapsed` is None when
    there is too little to tell)."""
    check = {"kind": "classification", "examples": len(gold)}
    if len(gold) < MIN_EXAMPLES or len(set(gold)) < 2:
        return check | {"collapsed": None, "reason": "too few examples or a single gold class"}
    top, count = Counter(predicted).most_common(1)[0]
    gold_share = Counter(gold).most_common(1)[0][1] / len(gold)
    threshold = max(0.5, (1 + gold_share) / 2)
    share = count / len(predicted)
    label = names.get(top, top) if names else top
    return check | {"collapsed": share >= threshold, "top_label": label, "top_share": round(share, 4),
                    "gold_top_share": round(gold_share, 4), "threshold": round(threshold, 4),
                    "predicted_classes": len(set(predicted)), "gold_classes": len(set(gold))}


def regression_collapse(gold: list[float], predicted: list[float]) -> dict:
    check = {"kind": "regression", "examples": len(gold)}
    if len(gold) < MIN_EXAMPLES or statistics.pstdev(gold) == 0:
        return check | {"collapsed": None, "reason": "too few examples or constant gold values"}
    ratio = statistics.pstdev(predicted) / statistics.pstdev(gold)
    return check | {"collapsed": ratio < REGRESSION_SPREAD, "spread_ratio": round(ratio, 4),
                    "threshold": REGRESSION_SPREAD}


def describe(check: dict) -> str:
    """A short cell for the results table: "-", "ok" or what collapsed."""
    if check.get("collapsed") is None:
        return "-"
    if not check["collapsed"]:
        return "ok"
    if check["kind"] == "regression":
        return f"COLLAPSED (spread {check['spread_ratio']:.2f} x gold)"
    if check["kind"] == "entities":
        return f"COLLAPSED ({check['predicted_entities']} entities found, gold {check['gold_entities']})"
    return f"COLLAPSED ({check['top_share']:.0%} {check['top_label']!s})"


def verdict(checks: list[dict], kept_seed: int | None = None, kept_collapsed: bool = False) -> dict:
    """The chosen setting's verdict over its seeds, in plain words, for metrics.json and the closing warning."""
    fired = [c for c in checks if c.get("collapsed")]
    result = {"collapsed_seeds": len(fired), "seeds": len(checks), "kept_seed_collapsed": kept_collapsed}
    if not fired:
        return result | {"collapsed": False}
    first = fired[0]
    if first["kind"] == "entities":
        what = (f"it finds {first['predicted_entities']} entities ({first['right_entities']} right) where the "
                f"validation set has {first['gold_entities']} (entity F1 {first['entity_f1']:.2f})")
    elif first["kind"] == "regression":
        what = (f"its predictions are nearly constant (spread {first['spread_ratio']:.2f} x the gold values', "
                f"under {REGRESSION_SPREAD})")
    else:
        what = (f"it answers {first['top_label']!s} for {first['top_share']:.0%} of the validation examples while "
                f"the commonest gold label is {first['gold_top_share']:.0%} of them")
    kept = f"; the kept model (seed {kept_seed}) is one of them" if kept_collapsed and len(checks) > 1 else ""
    message = (f"the fine-tuned model collapsed in {len(fired)} of {len(checks)} seed(s): {what}{kept}. Likely causes: "
               f"{CAUSES}. Try: {ADVICE}.")
    return result | {"collapsed": True, "message": message, "causes": CAUSES, "advice": ADVICE}


def entity_collapse(entities: dict, entity_f1: float, examples: int) -> dict:
    """The check for entity tagging (entities.entity_scores' counts): collapsed when the model finds fewer than
    a tenth as many entities as the gold holds (it answers `O` nearly everywhere, and its token accuracy is then
    the `O` share) or when none of those it finds is right (entity F1 0). No verdict under MIN_EXAMPLES gold
    entities."""
    check = {"kind": "entities", "examples": examples, "gold_entities": entities["gold"],
             "predicted_entities": entities["predicted"], "right_entities": entities["right"]}
    if entities["gold"] < MIN_EXAMPLES:
        return check | {"collapsed": None, "reason": "too few gold entities"}
    collapsed = entities["predicted"] < ENTITY_SHARE * entities["gold"] or entities["right"] == 0
    return check | {"collapsed": collapsed, "entity_f1": round(entity_f1, 4), "threshold": ENTITY_SHARE}
