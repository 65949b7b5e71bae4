"""The fine-tuning results section of an exported model card (README.md): written by the demo after it
fine-tunes a pretrained folder, read back by `plot` for its results table.
"""

from __future__ import annotations

from pathlib import Path

from electra_cli.core.atomic import write_text_atomic

FINETUNE_HEADING = "## Fine-tuning results"


def add_finetune_results(card: Path, rows: list[dict]) -> None:
    """Put fine-tuning results into an exported model card, before its recipe (replacing earlier ones).

    rows: {"task", "metric", "pretrained", "random_init", "seeds"}; random_init may be None.
    """
    text = Path(card).read_text(encoding="utf-8")
    if FINETUNE_HEADING in text:  # drop the previous results section
        head, rest = text.split(FINETUNE_HEADING, 1)
        text = head + rest[rest.index("## "):] if "## " in rest else head
    table = [FINETUNE_HEADING, "", "| task | metric | this model | random initialisation | seeds |", "| --- | --- | --- | --- | --- |"]
    table += [f"| {r['task']} | {r['metric']} | {r['pretrained']:.4f} | {_fmt(r.get('random_init'))} | {r['seeds']} |"
              for r in rows]
    section = "\n".join(table) + "\n\n"
    marker = "## Recipe"
    text = text.replace(marker, section + marker, 1) if marker in text else text.rstrip("\n") + "\n\n" + section
    write_text_atomic(Path(card), text)


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.4f}"
