"""How `--help` reads: Typer's screens told the way most command lines tell them.

Typer prints a type beside every parameter (`--overwrite <bool>`, `--set <list[str]>`) and wraps required
arguments in braces in the usage line (`{corpus}...`). Here a flag shows no value, an argument or option shows
its metavar (CORPUS..., N, KEY=VALUE) and nothing else, and the usage line reads `vocab [OPTIONS] CORPUS...`.
"""

from __future__ import annotations

from typer.core import TyperCommand, TyperGroup


class _PlainHelp:
    def get_params(self, ctx):
        params = super().get_params(ctx)
        for param in params:
            if getattr(param, "is_flag", False) and param.metavar is None:
                param.metavar = ""  # a flag takes no value: nothing to show (Typer would print <bool>)
            elif param.param_type_name == "argument" and param.metavar:
                param.display_type_rich = _no_type  # the metavar names it; Typer would add <type> after it
        return params

    def collect_usage_pieces(self, ctx) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if param.param_type_name == "argument":
                name = param.metavar or param.name.upper()
                pieces.append(name if param.required else f"[{name}]")
        return pieces


def _no_type(ctx) -> None:
    return None


class Command(_PlainHelp, TyperCommand):
    """Every electra-cli command: `@app.command(cls=Command)`."""


class Group(_PlainHelp, TyperGroup):
    """The electra-cli app itself: `typer.Typer(cls=Group)`."""

    def collect_usage_pieces(self, ctx) -> list[str]:
        return [*super().collect_usage_pieces(ctx), self.subcommand_metavar]
