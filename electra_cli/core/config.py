"""Recipes: TOML -> nested dataclasses, `--set a.b=value` overrides, and the resolved config saved as TOML.

Precedence: dataclass defaults < recipe TOML < `--set`. Unknown keys fail and list the valid ones; every
problem found is reported in one error.
"""

from __future__ import annotations

import dataclasses
import sys
import types
import typing
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import tomli_w

from electra_cli.core.errors import UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib
if TYPE_CHECKING:
    from importlib.resources.abc import Traversable  # a Path, or a file inside a zip

T = TypeVar("T")
RECIPES_DIR = Path(__file__).resolve().parents[2] / "recipes"  # a checkout that is on sys.path, not installed


def recipes_dir() -> Traversable:
    """The bundled recipes, read as package data (`electra_cli.recipes`) so that a wheel, an sdist, an editable
    install and a zip all work; a Traversable, not always a Path, so use joinpath/iterdir/read_text on it."""
    try:
        return files("electra_cli.recipes")
    except ModuleNotFoundError:  # running from a checkout without installing it
        return RECIPES_DIR


def find_recipe(name_or_path: str, kind: str) -> Traversable:
    """A recipe file, given its path or a bundled name such as `electra-small` (kind: pretrain/finetune)."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    bundled = recipes_dir().joinpath(kind)
    wanted = bundled.joinpath(f"{name_or_path.removesuffix('.toml')}.toml")
    if wanted.is_file():
        return wanted
    names = sorted(p.name.removesuffix(".toml") for p in bundled.iterdir() if p.name.endswith(".toml"))
    raise UsageError(f"recipe {name_or_path!r} not found: not a file, and bundled {kind} recipes are {', '.join(names)}")


def bundled_recipes(kind: str) -> dict[str, str]:
    """Each bundled recipe of `kind` and its purpose, read from its first line (`# NAME: purpose`), for --help."""
    found = {}
    for path in sorted(recipes_dir().joinpath(kind).iterdir(), key=lambda p: p.name):
        if path.name.endswith(".toml"):
            name = path.name.removesuffix(".toml")
            first = path.read_text(encoding="utf-8").split("\n", 1)[0]
            found[name] = first.removeprefix(f"# {name}:").strip()
    return found


def read_toml(path: Traversable) -> dict:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except OSError as err:
        raise UsageError(f"{path}: cannot read ({err.strerror})") from None
    except tomllib.TOMLDecodeError as err:
        raise UsageError(f"{path}: invalid TOML ({err})") from None


def parse_overrides(pairs: list[str]) -> dict:
    """`["train.lr=1e-3", "model.layers=4"]` -> nested dict; values parse as TOML, else stay strings."""
    nested: dict = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--set {pair!r}: expected key=value, e.g. --set train.lr=1e-3")
        try:
            value = tomllib.loads(f"v = {raw.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw.strip()
        node = nested
        *parents, leaf = key.strip().split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return nested


def flatten(nested: dict, prefix: str = "") -> dict:
    """`{"model": {"layers": 4}}` -> `{"model.layers": 4}`."""
    flat = {}
    for key, value in nested.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def merge(base: dict, update: dict) -> dict:
    """Deep-merge `update` into a copy of `base`."""
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def from_dict(cls: type[T], data: dict, where: str = "") -> T:
    """Build dataclass `cls` from `data`, collecting every unknown key and bad type into one UsageError."""
    problems: list[str] = []
    obj = _build(cls, data, where, problems)
    if problems:
        raise UsageError("invalid config: " + "; ".join(problems))
    return obj


def _build(cls: type, data: Any, where: str, problems: list[str]) -> Any:
    if not isinstance(data, dict):
        problems.append(f"{where or 'config'} must be a table, got {data!r}")
        return None
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        name = f"{where}.{key}" if where else key
        if key not in fields:
            problems.append(f"unknown key {name!r} (valid: {', '.join(fields)})")
            continue
        hint = hints[key]
        if dataclasses.is_dataclass(hint):
            kwargs[key] = _build(hint, value, name, problems)
            continue
        coerced = _coerce(value, hint)
        if coerced is _INVALID:
            problems.append(f"{name} = {value!r} is not a valid {_type_name(hint)}")
            continue
        kwargs[key] = coerced
    if any(v is None and dataclasses.is_dataclass(hints[k]) for k, v in kwargs.items()):
        return None
    try:
        return cls(**kwargs)
    except UsageError as err:
        problems.append(str(err))
    except (TypeError, ValueError) as err:
        problems.append(f"{where or 'config'}: {err}")
    return None


_INVALID = object()


def _coerce(value: Any, hint: Any) -> Any:
    """Accept a TOML value for a field of type `hint` (int -> float is fine; str -> number is not)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        for option in typing.get_args(hint):
            if option is type(None):
                if value is None:
                    return None
                continue
            result = _coerce(value, option)
            if result is not _INVALID:
                return result
        return _INVALID
    if origin is typing.Literal:
        return value if value in typing.get_args(hint) else _INVALID
    if origin in (list, tuple):
        if not isinstance(value, list):
            return _INVALID
        (item,) = typing.get_args(hint)[:1] or (Any,)
        items = [_coerce(v, item) for v in value]
        return _INVALID if _INVALID in items else (tuple(items) if origin is tuple else items)
    if hint is Any:
        return value
    if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if hint is int and isinstance(value, bool):
        return _INVALID
    if hint is bool and isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return value if isinstance(value, hint) else _INVALID


def _type_name(hint: Any) -> str:
    if typing.get_origin(hint) is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(hint))
    return getattr(hint, "__name__", str(hint))


def to_dict(obj: Any) -> dict:
    """A dataclass as plain TOML-writable data (None values dropped: TOML has no null)."""
    def clean(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items() if v is not None}
        if isinstance(value, (list, tuple)):
            return [clean(v) for v in value]
        if isinstance(value, Path):
            return str(value)
        return value

    return clean(dataclasses.asdict(obj))


def dumps(obj: Any) -> str:
    return tomli_w.dumps(to_dict(obj))


def load_config(cls: type[T], recipe: Traversable | None, overrides: list[str] | None = None) -> T:
    """defaults < recipe < overrides, as a validated `cls`."""
    data = read_toml(recipe) if recipe else {}
    data = merge(data, parse_overrides(overrides or []))
    return from_dict(cls, data)
