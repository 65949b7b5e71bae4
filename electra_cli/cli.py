"""The command line: one thin function per command, nothing but argument parsing and a call."""

from __future__ import annotations

import functools
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape

from electra_cli import __version__
from electra_cli.core.config import bundled_recipes
from electra_cli.core.console import console, log, setup_logging
from electra_cli.core.errors import (
    EXIT_INTERRUPTED,
    EXIT_TERMINATED,
    ElectraCliError,
    UsageError,
)
from electra_cli.helpstyle import Command, Group

# Help style: every command opens with a one-line example; value options name their value with a metavar (N, DIR,
# KEY=VALUE), flags none; defaults show as [default: x], or [default: (from the recipe)] where a recipe decides.
FROM_RECIPE = "from the recipe"
app = typer.Typer(
    name="electra-cli",
    help="Train your own ELECTRA: corpus -> vocab -> shards -> pretrained model -> fine-tuned classifier.\n\n"
    "Start with: electra-cli demo (the whole pipeline on an embedded corpus, on a CPU)",
    cls=Group,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
_state = {"debug": False}


def handle_errors(command):
    """Turn our typed errors into a one-line message and an exit code; a traceback only with --debug."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except ElectraCliError as err:
            stopped = err.exit_code in (EXIT_INTERRUPTED, EXIT_TERMINATED)  # a clean stop after saving, not a failure
            prefix = "[yellow]stopped:[/]" if stopped else "[bold red]error:[/]"
            console.print(f"{prefix} {escape(str(err))}", highlight=False, soft_wrap=True)
            raise typer.Exit(err.exit_code) from None
        except KeyboardInterrupt:
            console.print("[yellow]interrupted[/]")
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except (typer.Exit, typer.Abort):
            raise
        except OSError as err:  # disk full, permissions, a vanished file: the environment, not a bug
            if _state["debug"]:
                raise
            where = f"{err.filename}: " if err.filename else ""
            console.print(f"[bold red]error:[/] {escape(where + (err.strerror or str(err)))}", soft_wrap=True)
            raise typer.Exit(1) from None
        except Exception as err:  # noqa: BLE001 - the last line of defence: one line unless --debug
            if _state["debug"]:
                raise
            console.print(
                f"[bold red]unexpected error:[/] {type(err).__name__}: {escape(str(err))} (rerun with --debug for a traceback)",
                soft_wrap=True,
            )
            raise typer.Exit(1) from None

    return wrapper


def _version(value: bool) -> None:
    if value:
        print(f"electra-cli {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks and library logs.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    _state["debug"] = debug
    setup_logging(debug)


# Options shared by the commands that read corpora.
TextField = Annotated[str, typer.Option("--text-field", metavar="NAME", help="JSONL field / Parquet column with the text.")]
Strict = Annotated[bool, typer.Option("--strict", help="Fail on the first bad file or record instead of skipping it.")]
MaxBytes = Annotated[
    Optional[int],
    typer.Option("--max-bytes", metavar="N", show_default="all",
                 help="Read only this many bytes of text (a prefix of a huge corpus)."),
]
Overwrite = Annotated[bool, typer.Option("--overwrite", help="Replace an existing output folder.")]
ClueVersion = Annotated[str, typer.Option("--clue-version", metavar="V", help="CLUE's test sets: 1.1 (test.json, "
                        "tnews11_predict.json, cluewsc11_predict.json) or 1.0 (test1.0.json, tnews10_/cluewsc10_predict.json).")]
ReportTo = Annotated[
    Optional[list[str]],
    typer.Option("--report-to", metavar="NAME[,NAME]", show_default="none",
                 help="Also log to tensorboard (OUT/tensorboard/) and/or wandb; comma-separated or repeated."),
]
Corpus = Annotated[list[str], typer.Argument(metavar="CORPUS...", help="Files, folders (recursive), globs, or '-' for stdin.")]


@app.command(cls=Command)
@handle_errors
def vocab(
    corpus: Corpus,
    out: Annotated[Path, typer.Option("--out", "-o", metavar="DIR", help="Vocab folder to write.")],
    vocab_size: Annotated[int, typer.Option(metavar="N", help="Tokens in the vocabulary, specials included.")] = 30522,
    min_frequency: Annotated[int, typer.Option(metavar="N", help="Minimum count for a merge to enter the vocabulary.")] = 2,
    cased: Annotated[
        bool, typer.Option("--cased/--uncased", help="Keep case and accents, or lowercase and strip accents.")
    ] = False,
    limit_alphabet: Annotated[
        int, typer.Option(metavar="N", help="Most single characters to keep; the default keeps those of CJK corpora.")
    ] = 6000,
    extend: Annotated[
        Optional[Path],
        typer.Option("--extend", metavar="DIR", help="Extend this published folder's vocabulary instead of training "
                     "one: every published token keeps its id; casing and Chinese handling are the folder's."),
    ] = None,
    add: Annotated[
        Optional[int], typer.Option(metavar="N", help="With --extend: most tokens to add ([UNK] characters, then "
                                    "frequent many-piece words), in the [unused] slots first, then appended."),
    ] = None,
    max_bytes: MaxBytes = None,
    text_field: TextField = "text",
    strict: Strict = False,
    overwrite: Overwrite = False,
) -> None:
    """Train a WordPiece vocabulary and write a tokenizer folder (loadable by transformers' AutoTokenizer), or
    extend a published one for a domain corpus (--extend DIR --add N).

    Example: electra-cli vocab corpus/ --out vocab/ --vocab-size 8000
    """
    from electra_cli.text.corpus import CorpusOptions

    options = CorpusOptions(text_field=text_field, strict=strict, max_bytes=max_bytes)
    if extend is not None or add is not None:
        from electra_cli.vocab.extend import ExtendSettings, extend_vocab

        if extend is None or add is None:
            raise UsageError("--extend DIR and --add N go together (extend a published vocabulary by N tokens)")
        if cased or vocab_size != 30522 or limit_alphabet != 6000:
            raise UsageError("--cased, --vocab-size and --limit-alphabet train a vocabulary; with --extend the size "
                             "is the published one's + --add, the casing the published folder's")
        extend_vocab(corpus, extend, out, ExtendSettings(add=add, min_frequency=min_frequency), options, overwrite)
        return
    from electra_cli.vocab.train import VocabSettings, build_vocab

    settings = VocabSettings(
        vocab_size=vocab_size, min_frequency=min_frequency, lowercase=not cased, limit_alphabet=limit_alphabet
    )
    build_vocab(corpus, out, settings, options, overwrite=overwrite)


@app.command(cls=Command)
@handle_errors
def shard(
    corpus: Corpus,
    vocab: Annotated[Path, typer.Option("--vocab", metavar="DIR", help="Vocab folder from `electra-cli vocab`, or an HF model folder with a WordPiece tokenizer (e.g. google/electra-small-discriminator).")],
    out: Annotated[Path, typer.Option("--out", "-o", metavar="DIR", help="Shards folder to write.")],
    max_seq_len: Annotated[int, typer.Option(metavar="N", help="Tokens per example, specials included (8..65535).")] = 128,
    validation_fraction: Annotated[
        float, typer.Option(metavar="X", help="Share of documents (by text hash) for validation; at least one document.")
    ] = 0.005,
    seed: Annotated[int, typer.Option(metavar="N", help="Seed for the packing randomness.")] = 12345,
    workers: Annotated[
        Optional[int], typer.Option(metavar="N", show_default="all cores", help="Tokenizing processes.")
    ] = None,
    rows_per_shard: Annotated[int, typer.Option(metavar="N", help="Examples per Arrow file.")] = 100_000,
    split_sentences: Annotated[
        bool,
        typer.Option("--split-sentences/--no-split-sentences",
                     help="Split lines into sentences before packing (for a paragraph or document per line)."),
    ] = True,
    overflow: Annotated[
        str,
        typer.Option(metavar="MODE", help="The sentence that overshoots an example's target: 'carry' starts the next "
                     "example with the part that does not fit (no token lost); 'truncate' drops it, as the reference."),
    ] = "carry",
    segment: Annotated[
        str,
        typer.Option(metavar="NAME", help="Word segmenter for Chinese text: 'rjieba' stores word boundaries for "
                     "whole-word masking (model.masking = \"whole-word\"); 'none' (WordPiece text needs none)."),
    ] = "none",
    user_dict: Annotated[
        Optional[Path],
        typer.Option(metavar="FILE", help="jieba user dictionary of domain words for --segment rjieba: a word per "
                     "line, optionally followed by a frequency and a part-of-speech tag."),
    ] = None,
    max_bytes: MaxBytes = None,
    text_field: TextField = "text",
    strict: Strict = False,
    part: Annotated[
        Optional[str],
        typer.Option("--part", metavar="I/N", show_default="the whole job",
                     help="Build only part I of N (a job array's task) into --out, a part folder for `electra-cli merge`; "
                     "a part already finished is skipped."),
    ] = None,
    overwrite: Overwrite = False,
) -> None:
    """Tokenize and pack corpora into Arrow shards of ELECTRA examples ([CLS] A [SEP] B [SEP]) + a manifest.

    Example: electra-cli shard corpus/ --vocab vocab/ --out shards/ --max-seq-len 128
    """
    from electra_cli.shards.write import ShardSettings, shard_corpus
    from electra_cli.text.corpus import CorpusOptions

    settings = ShardSettings(
        max_seq_len=max_seq_len,
        validation_fraction=validation_fraction,
        seed=seed,
        rows_per_shard=rows_per_shard,
        split_sentences=split_sentences,
        overflow=overflow,
        segment=segment,
        user_dict=str(user_dict or ""),
        **({"workers": workers} if workers is not None else {}),
    )
    options = CorpusOptions(text_field=text_field, strict=strict, max_bytes=max_bytes)
    if part is None:
        shard_corpus(corpus, vocab, out, settings, options, overwrite=overwrite)
        return
    from electra_cli.shards.parts import Part, shard_part

    shard_part(corpus, vocab, out, Part.parse(part), settings, options, overwrite=overwrite)


@app.command(cls=Command)
@handle_errors
def merge(
    parts: Annotated[list[Path], typer.Argument(metavar="PART_DIR...", help="Part folders from `electra-cli shard --part I/N`, in any order.")],
    out: Annotated[Path, typer.Option("--out", "-o", metavar="DIR", help="Shards folder to write.")],
    overwrite: Overwrite = False,
) -> None:
    """Join the parts of a shard job into one shards folder, byte for byte what one machine writes.

    Example: electra-cli merge parts/part-* --out shards/
    """
    from electra_cli.shards.merge import merge_parts

    merge_parts(parts, out, overwrite=overwrite)


@app.command(cls=Command)
@handle_errors
def verify(shards: Annotated[Path, typer.Argument(metavar="SHARDS", help="Shards folder with a manifest.json.")]) -> None:
    """Recompute every shard's sha256, row and token counts against the manifest, and check every row (exit 3
    naming the shard and the row).

    Example: electra-cli verify shards/

    Each row must have at least 2 tokens, start with [CLS], end with [SEP],
    hold at most two [SEP] and no [PAD] (the special ids are the
    vocabulary's, as the manifest records them).
    """
    from electra_cli.shards.write import verify_shards

    result = verify_shards(shards)
    console.print(f"[green]ok:[/] {result['shards']} shards, {result['rows']:,} rows match {escape(str(shards))}/manifest.json",
                  soft_wrap=True)


@app.command(cls=Command)
@handle_errors
def inspect(
    folder: Annotated[Path, typer.Argument(metavar="DIR", help="A published HF folder, or a vocab, shards, run, "
                                           "checkpoint or fine-tuned folder of ours.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON (for scripts).")] = False,
) -> None:
    """Say what a folder is and what it can be used for: architecture and sizes, vocabulary and casing, tokenizer
    settings sharding ignores, and for each of shard --vocab, --init-discriminator, --init-generator, finetune
    --model and predict --model: yes, or why not.

    Example: electra-cli inspect ~/models/electra-small-discriminator
    """
    from electra_cli.serving.inspect import inspect_folder, render, to_json

    report = inspect_folder(folder)
    if as_json:
        print(to_json(report))
    else:
        for line in render(report):
            console.print(escape(line), highlight=False, soft_wrap=True)


def _recipes_epilog(kind: str) -> str:
    """The bundled recipes with their purposes, read from the recipe files, for the end of a --help screen."""
    recipes = bundled_recipes(kind)
    width = max(map(len, recipes))
    return "Bundled recipes (--recipe NAME):\n\n" + "\n\n".join(
        f"[bold]{name}[/]{' ' * (width - len(name))}  {escape(purpose)}" for name, purpose in recipes.items())


@app.command(cls=Command, context_settings={"allow_extra_args": False}, epilog=_recipes_epilog("pretrain"))
@handle_errors
def pretrain(
    shards: Annotated[Path, typer.Option("--shards", metavar="DIR", help="Shards folder from `electra-cli shard`.")],
    out: Annotated[Path, typer.Option("--out", "-o", metavar="DIR", help="Run folder: config, metrics, checkpoints, final models.")],
    recipe: Annotated[
        Optional[str],
        typer.Option("--recipe", metavar="RECIPE",
                     show_default="electra-small; with --init-*: electra-continue-small or -base by the model's size; "
                     "a resumed run: its own",
                     help="A recipe file or a bundled name (listed below)."),
    ] = None,
    set_: Annotated[
        Optional[list[str]],
        typer.Option("--set", metavar="KEY=VALUE", help="Override a recipe field (repeatable), e.g. --set optim.lr=1e-3."),
    ] = None,
    resume: Annotated[
        Optional[str], typer.Option("--resume", metavar="auto|DIR", help="'auto': the newest complete checkpoint in OUT (or start fresh); or a checkpoint folder.")
    ] = None,
    vocab: Annotated[
        Optional[Path],
        typer.Option("--vocab", metavar="DIR", show_default="the one recorded in the shards manifest", help="Vocab folder."),
    ] = None,
    max_steps: Annotated[
        Optional[int], typer.Option("--max-steps", metavar="N", show_default=FROM_RECIPE, help="Same as --set train.steps=N.")
    ] = None,
    epochs: Annotated[
        Optional[float],
        typer.Option("--epochs", metavar="N", show_default="the recipe's steps",
                     help="Passes over the shards' training examples: sets the steps to N x examples / train.batch_size "
                     "(same as --set train.epochs=N)."),
    ] = None,
    precision: Annotated[
        Optional[str],
        typer.Option("--precision", metavar="MODE", show_default=FROM_RECIPE,
                     help="auto, fp32, bf16 or fp16 (auto: bf16 or fp16 on a GPU, fp32 on a CPU)."),
    ] = None,
    mixed_precision: Annotated[
        Optional[str], typer.Option("--mixed-precision", metavar="MODE", hidden=True, help="Old name of --precision.")
    ] = None,
    compile_: Annotated[
        bool, typer.Option("--compile", show_default=FROM_RECIPE, help="torch.compile the model (eager fallback).")
    ] = False,
    save_every: Annotated[
        Optional[int], typer.Option("--save-every", metavar="N", show_default=FROM_RECIPE, help="Steps between checkpoints.")
    ] = None,
    keep_last: Annotated[
        Optional[int], typer.Option("--keep-last", metavar="N", show_default=FROM_RECIPE, help="Complete checkpoints to keep (>= 2).")
    ] = None,
    log_every: Annotated[
        Optional[int], typer.Option("--log-every", metavar="N", show_default=FROM_RECIPE, help="Steps between metrics lines.")
    ] = None,
    num_processes: Annotated[
        int, typer.Option("--num-processes", metavar="N", help="Launch N processes (DDP) for you; same as accelerate launch. "
                          "With --num-machines: the total over all machines.")
    ] = 1,
    num_machines: Annotated[
        int, typer.Option("--num-machines", metavar="N", help="Machines in the run; start the same command on each, "
                          "with its own --machine-rank (see examples/slurm/pretrain.sbatch).")
    ] = 1,
    machine_rank: Annotated[
        int, typer.Option("--machine-rank", metavar="R", help="This machine's rank, 0..N-1; 0 is the head machine.")
    ] = 0,
    main_process_ip: Annotated[
        str, typer.Option("--main-process-ip", metavar="ADDR", help="The head machine's address, as every machine reaches it.")
    ] = "127.0.0.1",
    main_process_port: Annotated[
        int, typer.Option("--main-process-port", metavar="PORT", help="A free port on the head machine, the same everywhere.")
    ] = 29500,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Start over in a run folder that has checkpoints.")] = False,
    init_from: Annotated[
        Optional[Path],
        typer.Option("--init-from", metavar="DIR", help="Start from published weights: DIR holds discriminator/ "
                     "and/or generator/ HF folders (a run's final/, or what `convert` writes)."),
    ] = None,
    init_discriminator: Annotated[
        Optional[Path],
        typer.Option("--init-discriminator", metavar="DIR", help="Start the discriminator from an HF folder: an "
                     "ELECTRA discriminator, or a masked LM (ELECTRA or BERT: two-stage)."),
    ] = None,
    init_generator: Annotated[
        Optional[Path],
        typer.Option("--init-generator", metavar="DIR", help="Start the generator from an HF ELECTRA generator folder."),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", help="Print the whole resolved config (it is in OUT/config.toml either way).")] = False,
    report_to: ReportTo = None,
) -> None:
    """Pretrain ELECTRA (generator + discriminator) on shards; resumable checkpoints and HF exports.

    Example: electra-cli pretrain --shards shards/ --recipe electra-tiny --out runs/tiny

    train.batch_size is global: the sequences of one optimizer step over all
    processes on all machines together; each process takes batch_size /
    processes (4 machines x 8 GPUs at 128: 4 per GPU). To give each GPU more,
    raise --set train.batch_size (with --epochs the steps fall to match; raise
    optim.lr with care); train.micro_batch_size caps one forward pass.
    """
    from electra_cli.pretraining.train import Machines, launch_processes, run_config
    from electra_cli.pretraining.train import pretrain as run_pretrain

    machines = Machines(num_machines, machine_rank, main_process_ip, main_process_port)
    if (num_processes > 1 or num_machines > 1) and "WORLD_SIZE" not in os.environ:
        argv = sys.argv[1:]
        for option in ("--num-processes", "--num-machines", "--machine-rank", "--main-process-ip", "--main-process-port"):
            argv = _argv_without(argv, option)
        raise typer.Exit(launch_processes(num_processes, argv, machines))
    if mixed_precision is not None:
        log.warning("--mixed-precision is now --precision (the old name still works)")
    precision = precision or mixed_precision
    flags = {"train.steps": max_steps, "train.epochs": epochs, "train.save_every": save_every,
             "train.mixed_precision": {"fp32": "no"}.get(precision, precision),
             "train.keep_last": keep_last, "train.log_every": log_every, "train.compile": True if compile_ else None}
    overrides = [f"{k}={v}" for k, v in flags.items() if v is not None] + list(set_ or [])
    inits = {"init.from_dir": init_from, "init.discriminator": init_discriminator, "init.generator": init_generator}
    overrides += [f"{k}={json.dumps(str(v))}" for k, v in inits.items() if v is not None]
    cfg = run_config(out, resume, recipe, overrides)
    run_pretrain(cfg, shards, out, resume=resume, vocab_dir=vocab, overwrite=overwrite, verbose=verbose,
                 report_to=report_to)


@app.command(cls=Command)
@handle_errors
def finetune(
    model: Annotated[Path, typer.Option("--model", metavar="DIR", help="A pretrained folder (e.g. RUN/final/discriminator) or any HF ELECTRA/BERT folder.")],
    out: Annotated[Path, typer.Option("--out", "-o", metavar="DIR", help="Fine-tuned model folder to write.")],
    train: Annotated[Optional[Path], typer.Option("--train", metavar="FILE", help="Training file: CSV, TSV, JSONL or Parquet (CoNLL for tokens).")] = None,
    validation: Annotated[Optional[Path], typer.Option("--validation", metavar="FILE", help="Validation file, same format.")] = None,
    test: Annotated[Optional[Path], typer.Option("--test", metavar="FILE", help="Optional labelled test file.")] = None,
    task: Annotated[Optional[str], typer.Option("--task", metavar="NAME", help="A task read from --data-dir: glue-cola, -sst2, -mrpc, -qqp, -stsb, -mnli, -qnli, -rte; squad-v1, squad-v2, cmrc2018; Chinese: chnsenticorp, lcqmc, bq, xnli-zh, drcd, afqmc, tnews, iflytek, ocnli, cmnli, csl, cluewsc2020, cluener, msra, peoples-daily. The Chinese presets and cmrc2018 take HFL's configure_finetuning.py settings (weight decay 0.01, 3 epochs; QA 512 tokens, 2 epochs); GLUE and SQuAD keep the paper's weight decay 0 (the reference code's is 0.01).")] = None,
    data_dir: Annotated[Optional[Path], typer.Option("--data-dir", metavar="DIR", help="The --task's files as distributed: GLUE's layout (CoLA/, SST-2/, ...); a QA task's JSON files (SQuAD train-v2.0.json, dev-v2.0.json; CMRC 2018; DRCD); a Chinese task's folder (ChnSentiCorp, LCQMC, BQ and XNLI TSVs; CLUE's JSON lines; CLUENER's JSON; MSRA and People's Daily tag files).")] = None,
    recipe: Annotated[Optional[str], typer.Option("--recipe", metavar="RECIPE", show_default="built in: columns text and label, the paper's settings by model size", help="A recipe file or bundled name: electra-small, -base, -large; for QA electra-small-qa, -base-qa, -large-qa.")] = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", metavar="KEY=VALUE", help="Override a recipe field (repeatable), e.g. --set lr=1e-4; a comma list searches lr, layer_decay, weight_decay, epochs, warmup_ratio, batch_size (--set layer_decay=0.8,0.9); also select=best-epoch, eval_every=STEPS, class_weights=balanced.")] = None,
    task_type: Annotated[Optional[str], typer.Option("--task-type", metavar="TYPE", show_default=FROM_RECIPE, help="classification, regression, token-classification or question-answering (chosen for SQuAD-layout data).")] = None,
    text_field: Annotated[Optional[str], typer.Option("--text-field", metavar="NAME", show_default=FROM_RECIPE, help="Column with the text.")] = None,
    text_pair_field: Annotated[Optional[str], typer.Option("--text-pair-field", metavar="NAME", show_default=FROM_RECIPE, help="Column with the second text, for pairs.")] = None,
    label_field: Annotated[Optional[str], typer.Option("--label-field", metavar="NAME", show_default=FROM_RECIPE, help="Column with the label.")] = None,
    seeds: Annotated[Optional[str], typer.Option("--seeds", metavar="N|N,N,...", show_default="one run, seed 1", help="3: three seeds (1, 2, 3); a comma list: those seeds (7, for seed 7 alone). One run each, median reported.")] = None,
    epochs: Annotated[Optional[str], typer.Option("--epochs", metavar="N[,N...]", show_default=FROM_RECIPE, help="Training epochs; a comma list is a search (the GLUE presets: 10 for RTE and STS-B).")] = None,
    lr: Annotated[Optional[str], typer.Option("--lr", metavar="LR[,LR...]", show_default="a search over the paper's rate for the model's size and the next one up (3e-4,1e-3 up to hidden 256); QA: the paper's rate", help="Peak learning rate; a comma list is a search: every setting x seed is trained, the best validation median wins.")] = None,
    batch_size: Annotated[Optional[str], typer.Option("--batch-size", metavar="N[,N...]", show_default=FROM_RECIPE, help="Batch size; a comma list is a search.")] = None,
    max_seq_len: Annotated[Optional[int], typer.Option("--max-seq-len", metavar="N", show_default=FROM_RECIPE, help="Truncate inputs to this many tokens.")] = None,
    clue_version: ClueVersion = "1.1",
    report_to: ReportTo = None,
    strict: Annotated[bool, typer.Option("--strict", help="Question answering: stop at a bad answer_start (exit 3) instead of skipping the question.")] = False,
    overwrite: Overwrite = False,
) -> None:
    """Fine-tune a pretrained discriminator on labelled data (classification, regression, token tags, GLUE, QA).

    Example: electra-cli finetune --model runs/small/final/discriminator --train train.csv --validation dev.csv --out ft/ --lr 1e-4,3e-4,1e-3 --seeds 1,2,3
    """
    from electra_cli.finetuning.config import parse_seeds
    from electra_cli.tasks.dispatch import finetune as run_finetune
    from electra_cli.tasks.registry import run_task, task_config

    flags = {"task_type": task_type, "text_field": text_field, "text_pair_field": text_pair_field,
             "label_field": label_field, "max_seq_len": max_seq_len}
    overrides = [f"{k}={_toml_value(v)}" for k, v in flags.items() if v is not None]
    searches = {"epochs": epochs, "lr": lr, "batch_size": batch_size}  # "1e-4,3e-4": a search, as with --set
    overrides += [f"{k}={v}" for k, v in searches.items() if v is not None] + list(set_ or [])
    if seeds:
        overrides.append(f"seeds={parse_seeds(seeds)}")
    if strict:
        overrides.append("strict=true")
    cfg = task_config(task, recipe, overrides, task_type, train)
    if task:
        run_task(task, data_dir, cfg, model, out, epochs_set=epochs is not None, clue_version=clue_version,
                 overwrite=overwrite, report_to=report_to, test_file=test)
        return
    if train is None or validation is None:
        raise UsageError("give --train and --validation files, or --task NAME with --data-dir")
    run_finetune(cfg, model, train, validation, out, test_file=test, overwrite=overwrite, report_to=report_to)


@app.command(cls=Command)
@handle_errors
def evaluate(
    model: Annotated[Optional[Path], typer.Option("--model", metavar="DIR", help="The model to evaluate: a pretrained folder or any HF ELECTRA/BERT folder.")] = None,
    suite: Annotated[Optional[str], typer.Option("--suite", metavar="NAME", help="clue, hfl, chinese-ner or glue.")] = None,
    tasks: Annotated[Optional[str], typer.Option("--tasks", metavar="A,B,...", help="Any presets instead of a suite, e.g. tnews,msra,glue-rte.")] = None,
    data_dir: Annotated[Optional[Path], typer.Option("--data-dir", metavar="DIR", help="The folder holding the tasks' folders as distributed (tnews_public/, CoLA/, ...).")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", metavar="DIR", help="Report folder: report.json, report.md, one folder per task; rerun to resume.")] = None,
    seeds: Annotated[str, typer.Option("--seeds", metavar="N|N,N,...", help="3: three seeds (1, 2, 3); a comma list: those seeds (7, for seed 7 alone).")] = "3",
    clue_version: ClueVersion = "1.1",
    lr: Annotated[Optional[str], typer.Option("--lr", metavar="LR", show_default="the paper's rate by model size", help="Peak learning rate for every task.")] = None,
    epochs: Annotated[Optional[str], typer.Option("--epochs", metavar="N", show_default="each preset's", help="Training epochs for every task.")] = None,
    batch_size: Annotated[Optional[str], typer.Option("--batch-size", metavar="N", show_default="each preset's", help="Batch size for every task.")] = None,
    max_seq_len: Annotated[Optional[int], typer.Option("--max-seq-len", metavar="N", show_default="each preset's", help="Truncate inputs to this many tokens, every task.")] = None,
    compare: Annotated[Optional[tuple[Path, Path]], typer.Option("--compare", metavar="OUT_A OUT_B", help="Print two reports side by side instead (means, difference, beyond the seeds' spread or not).")] = None,
) -> None:
    """Fine-tune a model on a whole benchmark suite, several seeds per task, and write the report (resumable).

    Example: electra-cli evaluate --model chinese-electra-180g-small-discriminator --suite clue --data-dir clue/ --out eval/small --seeds 3
    """
    if compare:
        from electra_cli.tasks.report import compare as compare_reports

        print(compare_reports(*compare))
        return
    from electra_cli.finetuning.config import parse_seeds
    from electra_cli.tasks.evaluate import evaluate as run_evaluate

    for name, value in (("--model", model), ("--data-dir", data_dir), ("--out", out)):
        if value is None:
            raise UsageError(f"evaluate needs {name} (or --compare OUT_A OUT_B)")
    flags = {"lr": lr, "epochs": epochs, "batch_size": batch_size, "max_seq_len": max_seq_len}
    run_evaluate(model, data_dir, out, suite, tasks.split(",") if tasks else None, parse_seeds(seeds), flags,
                 clue_version)


@app.command(cls=Command)
@handle_errors
def predict(
    model: Annotated[Path, typer.Option("--model", metavar="DIR", help="A fine-tuned folder from `electra-cli finetune`.")],
    input_file: Annotated[Path, typer.Argument(metavar="FILE", help="CSV, TSV, JSONL or Parquet file to label.")],
    out: Annotated[Optional[Path], typer.Option("--out", "-o", metavar="FILE", show_default="stdout", help="JSONL file to write.")] = None,
    text_field: Annotated[str, typer.Option("--text-field", metavar="NAME", help="Column with the text.")] = "text",
    text_pair_field: Annotated[str, typer.Option("--text-pair-field", metavar="NAME", show_default="none", help="Column with the second text, for pairs.")] = "",
    batch_size: Annotated[int, typer.Option("--batch-size", metavar="N", help="Rows per forward pass.")] = 64,
    max_seq_len: Annotated[int, typer.Option("--max-seq-len", metavar="N", show_default="the fine-tuning length", help="Cut inputs at N tokens (QA: windows of N tokens).")] = 0,
    precision: Annotated[str, typer.Option("--precision", metavar="P", help="fp32 (as saved and validated), or bf16 / fp16 for speed on a GPU.")] = "fp32",
    id_field: Annotated[str, typer.Option("--id-field", metavar="NAME", show_default="the row's index from 0", help="Column whose value is each row's id.")] = "",
    keep_fields: Annotated[bool, typer.Option("--keep-fields", help="Copy the input's columns into each output row.")] = False,
    question_field: Annotated[str, typer.Option("--question-field", metavar="NAME", help="Question answering: column with the question.")] = "question",
    context_field: Annotated[str, typer.Option("--context-field", metavar="NAME", help="Question answering: column with the context.")] = "context",
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing output file.")] = False,
) -> None:
    """Label every row of a file with a fine-tuned model: one JSON line per row (id, label and score; tags per
    word for token classification; answer, score, start and end for question answering).

    Example: electra-cli predict --model ft/ test.csv --out predictions.jsonl
    """
    from electra_cli.serving.predict import predict as run_predict

    run_predict(model, input_file, out, text_field=text_field, text_pair_field=text_pair_field, batch_size=batch_size,
                max_seq_len=max_seq_len, id_field=id_field, keep_fields=keep_fields, overwrite=overwrite,
                question_field=question_field, context_field=context_field, precision=precision)


@app.command(cls=Command)
@handle_errors
def score(
    reference: Annotated[Path, typer.Argument(metavar="REFERENCE", help="The labelled file as distributed (a dev file; SQuAD-layout JSON for QA).")],
    predictions: Annotated[Path, typer.Argument(metavar="PREDICTIONS", help="The official format (a JSON object of question id to answer; CLUE's JSON lines) or predict's JSONL.")],
    task: Annotated[str, typer.Option("--task", metavar="NAME", help="Any preset: glue-cola, ..., glue-rte (predict's JSONL, ids = dev rows from 0), a Chinese preset (chnsenticorp, ..., cluener, msra, peoples-daily), cmrc2018, drcd, squad-v1 or squad-v2.")],
    json_: Annotated[bool, typer.Option("--json", help="Print one JSON object, the metric names as keys.")] = False,
) -> None:
    """Score predictions made anywhere with a benchmark's official metric (percentages); missing ones count as wrong.

    Example: electra-cli score --task cmrc2018 cmrc2018_dev.json predictions.json --json
    """
    import json as jsonlib

    from electra_cli.tasks.score import format_scores, score_files

    result = score_files(task, reference, predictions)
    print(jsonlib.dumps(result, ensure_ascii=False) if json_ else format_scores(task, result))


@app.command(cls=Command)
@handle_errors
def convert(
    out: Annotated[Path, typer.Option("--out", "-o", metavar="DIR", help="Folder to write.")],
    source: Annotated[Optional[Path], typer.Argument(metavar="[SOURCE]", help="A pretrain checkpoint (RUN/checkpoints/step-...) or an HF model folder.")] = None,
    from_tf: Annotated[
        Optional[Path],
        typer.Option("--from-tf", metavar="DIR", help="A TensorFlow 1 ELECTRA checkpoint folder (google-research/electra, "
                     "HFL: model.ckpt-N.index/.data-* beside vocab.txt): writes OUT/discriminator and OUT/generator."),
    ] = None,
    config: Annotated[
        Optional[Path],
        typer.Option("--config", metavar="JSON", help="With --from-tf: a BERT-style config JSON (for the number of "
                     "attention heads, which shapes do not tell); default: a JSON beside the checkpoint, else hidden / 64."),
    ] = None,
    sanity_text: Annotated[Optional[str], typer.Option("--sanity-text", metavar="TEXT", show_default="a sentence in the vocabulary's script: 中国的首都是北[MASK]。 for a Chinese one, else the capital of france is [MASK] .", help="A sentence with [MASK] for the generator's sanity check.")] = None,
    overwrite: Overwrite = False,
) -> None:
    """Convert a step checkpoint or a TF1 ELECTRA checkpoint to HF discriminator/generator folders, or HF .bin
    weights to safetensors.

    Example: electra-cli convert runs/small/checkpoints/step-00010000 --out exported/
    Example: electra-cli convert --from-tf electra_small/ --out electra-small-hf/
    """
    from electra_cli.serving.convert import convert as run_convert

    run_convert(source, out, sanity_text=sanity_text, overwrite=overwrite, from_tf=from_tf, config=config)


@app.command(cls=Command)
@handle_errors
def plot(
    runs: Annotated[list[Path], typer.Argument(metavar="RUN...", help="Pretrain run folders (each with metrics.jsonl); a run still going is fine.")],
    out: Annotated[Path, typer.Option("--out", "-o", metavar="DIR", help="Report folder: index.html and one PNG per metric.")],
    finetune: Annotated[
        Optional[list[Path]],
        typer.Option("--finetune", metavar="DIR", help="A fine-tuned folder (metrics.json) whose results join the table (repeatable); folders under RUN/finetune/ and ./ft/ (where the README's examples write) that were fine-tuned from a RUN are found by themselves."),
    ] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace a non-empty --out folder that holds no report.")] = False,
) -> None:
    """Plot runs' curves (losses, discriminator ratio, AUC, lr, ...) overlaid, with an index.html to compare them.

    Example: electra-cli plot runs/electra runs/mlm --out report/
    """
    from electra_cli.watching.plot import plot_runs

    plot_runs(runs, out, finetune=finetune, overwrite=overwrite)


@app.command(cls=Command)
@handle_errors
def demo(
    out: Annotated[Path, typer.Option("--out", "-o", metavar="DIR", help="Folder for everything the demo writes.")] = Path("demo-out"),
    minutes: Annotated[float, typer.Option("--minutes", metavar="N", help="Time budget of the whole demo; about 60% of it goes to pretraining (unused with --steps).")] = 8.0,
    corpus_bytes: Annotated[int, typer.Option("--corpus-bytes", metavar="N", help="Most bytes of docstrings to pretrain on.")] = 6_000_000,
    recipe: Annotated[str, typer.Option("--recipe", metavar="RECIPE", help="Pretraining recipe (electra-small on a GPU).")] = "electra-tiny",
    steps: Annotated[Optional[int], typer.Option("--steps", metavar="N", show_default="as many as fit in --minutes", help="Pretraining steps.")] = None,
    finetune_epochs: Annotated[float, typer.Option("--finetune-epochs", metavar="N", help="Fine-tuning epochs.")] = 5.0,
    seeds: Annotated[str, typer.Option("--seeds", metavar="N,N,...", help="Fine-tuning seeds.")] = "1",
) -> None:
    """Run the whole pipeline on an embedded corpus (Python docstrings), then compare with random initialisation.

    Example: electra-cli demo --minutes 8

    vocab, shard, pretrain, fine-tune (pretrained and randomly initialised), predict; ends with a summary table.
    """
    from electra_cli.demo import run_demo

    run_demo(out, minutes=minutes, corpus_bytes=corpus_bytes, recipe=recipe, steps=steps,
             finetune_epochs=finetune_epochs, seeds=seeds)


@app.command(cls=Command)
@handle_errors
def bench(
    recipe: Annotated[str, typer.Option("--recipe", metavar="RECIPE", help="Recipe whose model and batch to measure.")] = "electra-tiny",
    precision: Annotated[str, typer.Option("--precision", metavar="MODE", help="auto, no, bf16 or fp16.")] = "auto",
    micro_batch: Annotated[int, typer.Option("--micro-batch", metavar="N", show_default="the recipe's batch", help="Sequences per step.")] = 0,
    vocab: Annotated[int, typer.Option("--vocab", metavar="N", help="Vocabulary size of the measured model.")] = 30522,
    steps: Annotated[int, typer.Option("--steps", metavar="N", show_default="10 on CPU, 100 on GPU", help="Measured steps.")] = 0,
    compile_: Annotated[bool, typer.Option("--compile", help="torch.compile our model (static shapes).")] = False,
    compile_mode: Annotated[Optional[str], typer.Option("--compile-mode", metavar="MODE", help="torch.compile mode, e.g. max-autotune.")] = None,
    json_: Annotated[bool, typer.Option("--json", help="Print the figures as JSON on stdout.")] = False,
) -> None:
    """Measure our pretraining step against a naive HF-classes step: steps/s, seq/s, tokens/s, MFU, memory.

    Example: electra-cli bench --recipe electra-small --precision bf16
    """
    import json as jsonlib

    from electra_cli.bench import format_bench, run_bench

    result = run_bench(recipe, precision, micro_batch, vocab, steps, compile_, compile_mode)
    if json_:
        print(jsonlib.dumps(result, indent=2))
    else:
        console.print(format_bench(result), highlight=False)


def _toml_value(value) -> str:
    return f'"{value}"' if isinstance(value, str) else str(value)


def _argv_without(argv: list[str], option: str) -> list[str]:
    """argv minus `option VALUE` / `option=VALUE`, for re-launching ourselves under torch.distributed.run."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == option:
            skip = True
        elif not arg.startswith(option + "="):
            out.append(arg)
    return out


def main() -> None:
    """Console-script entry point."""
    app(prog_name="electra-cli")


if __name__ == "__main__":
    sys.exit(main())
