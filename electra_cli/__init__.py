"""electra-cli: train your own ELECTRA from a raw corpus to a fine-tuned classifier.

Each stage is also a Python function, imported on first use so that `import electra_cli` (and so
`electra-cli --help`) stays light: nothing here imports torch until a stage is called for.

    from electra_cli import build_vocab, shard_corpus, pretrain, finetune, predict
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> the module that defines it (the stage functions, then the settings they take)
_PUBLIC = {
    "build_vocab": "electra_cli.vocab.train",
    "shard_corpus": "electra_cli.shards.write",
    "pretrain": "electra_cli.pretraining.train",
    "finetune": "electra_cli.tasks.dispatch",  # classification, regression, tagging or question answering
    "predict": "electra_cli.serving.predict",
    "CorpusOptions": "electra_cli.text.corpus",
    "VocabSettings": "electra_cli.vocab.train",
    "ShardSettings": "electra_cli.shards.write",
    "PretrainConfig": "electra_cli.pretraining.recipe",
    "load_pretrain_config": "electra_cli.pretraining.recipe",
    "FinetuneConfig": "electra_cli.finetuning.config",
}
__all__ = list(_PUBLIC)


def __getattr__(name: str):
    if name not in _PUBLIC:
        raise AttributeError(f"module 'electra_cli' has no attribute {name!r}")
    value = getattr(importlib.import_module(_PUBLIC[name]), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
