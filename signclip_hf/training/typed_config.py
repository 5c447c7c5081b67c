"""Config values checked against dataclass field types: the one front end of every training config.

`pretrain` reads a sectioned YAML file (`PretrainConfig`) and `finetune` a flat one (`FinetuneArguments` and
`TrainingArguments` fields); both take `KEY=VALUE` overrides (the value parsed as YAML, a section's key as
`section.key`). Every value is checked against its field's type hint (`convert`) before anything runs:
unknown keys, values of the wrong type (`epochs: abc`) and malformed YAML are one-line `ValueError`s naming
the file or the override and the key, so a typo never silently trains with a default.
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import functools
import math
import os
import types
import typing
from pathlib import Path
from typing import Any, Literal, Sequence, Union

import yaml

MISMATCH = object()  # what `convert` returns for a value its type does not allow


def load_yaml(text: str, source: str) -> Any:
    """YAML text -> Python values; a syntax error is one line naming `source` and the position."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ValueError(f"{source}: malformed YAML{where}: {problem}") from None


def read_yaml_mapping(path: str | os.PathLike) -> dict[str, Any]:
    """The mapping a YAML config file holds (an empty file: `{}`)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: config file not found")
    values = load_yaml(path.read_text(encoding="utf-8"), str(path)) or {}
    if not isinstance(values, dict):
        raise ValueError(f"{path}: the config must be a mapping of keys to values")
    return values


def parse_override(override: str) -> tuple[list[str], Any]:
    """`section.key=value` -> (["section", "key"], the value parsed as YAML)."""
    source = f"--set {override}"
    key, sep, raw = override.partition("=")
    if not sep or not key.strip():
        raise ValueError(f"{source}: must look like key=value (section.key=value for a section's key)")
    return key.strip().split("."), load_yaml(raw, source)


@functools.cache
def field_types(cls: type) -> dict[str, Any]:
    """{field name: resolved type hint} of dataclass `cls` (init fields only)."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls) if f.init}


def _arms(hint: Any) -> tuple:
    """The types of a union; `SomeEnum | str` (transformers' spelling of a choice) is the enum alone."""
    args = typing.get_args(hint)
    if any(isinstance(arg, type) and issubclass(arg, enum.Enum) for arg in args):
        return tuple(arg for arg in args if arg is not str)
    return args


def describe(hint: Any) -> str:
    """What a value of type `hint` looks like, for error messages ("an integer", "a list of 2 numbers")."""
    names = {int: "an integer", float: "a number", str: "a string", bool: "true/false", type(None): "null"}
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Literal:
        return "one of " + ", ".join(repr(arg) for arg in args)
    if origin in (Union, types.UnionType):
        return " or ".join(describe(arg) for arg in _arms(hint))
    if origin in (list, tuple):
        items = [a for a in args if a is not Ellipsis] or [Any]
        count = f"{len(items)} " if origin is tuple and Ellipsis not in args else ""
        return f"a list of {count}{describe(items[0]).removeprefix('an ').removeprefix('a ')}s"
    if hint is dict or origin is dict:
        return "a mapping"
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return "one of " + ", ".join(repr(member.value) for member in hint)
    return names.get(hint, getattr(hint, "__name__", str(hint)))


def convert(value: Any, hint: Any) -> Any:
    """`value` as type `hint`, or `MISMATCH` (YAML has already typed the value: only safe widenings here)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        for arg in _arms(hint):
            converted = convert(value, arg)
            if converted is not MISMATCH:
                return converted
        return MISMATCH
    if hint is Any or (hint is type(None) and value is None) or (hint is bool and isinstance(value, bool)):
        return value
    if origin is Literal:
        return value if any(value == arg and type(value) is type(arg) for arg in args) else MISMATCH
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        try:
            return hint(value)
        except ValueError:
            return MISMATCH
    if hint is str:
        return value if isinstance(value, str) else MISMATCH
    if hint is int:
        return value if isinstance(value, int) and not isinstance(value, bool) else MISMATCH
    if hint is float:
        if isinstance(value, str):  # YAML 1.1 reads `5e-5` (no dot) as a string
            try:
                value = float(value)
            except ValueError:
                return MISMATCH
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return MISMATCH
        return float(value)
    if hint is dict or origin is dict:
        if not isinstance(value, dict):
            return MISMATCH
        converted = {key: convert(item, args[1] if args else Any) for key, item in value.items()}
        return MISMATCH if MISMATCH in converted.values() else converted
    if origin is list:
        items = [value] if isinstance(value, str) else value  # `paths: DIR` is a one-item list
        if not isinstance(items, list):
            return MISMATCH
        converted = [convert(item, args[0] if args else Any) for item in items]
        return MISMATCH if MISMATCH in converted else converted
    if origin is tuple:
        if not isinstance(value, (list, tuple)) or (Ellipsis not in args and len(value) != len(args)):
            return MISMATCH
        converted = tuple(convert(item, args[0] if Ellipsis in args else arg) for item, arg in zip(value, args))
        return MISMATCH if MISMATCH in converted else converted
    return MISMATCH


def coerce(value: Any, hint: Any, key: str, source: str) -> Any:
    """`value` checked against `hint`; a mismatch is "SOURCE: `KEY` must be ..., got VALUE"."""
    converted = convert(value, hint)
    if converted is MISMATCH:
        raise ValueError(f"{source}: `{key}` must be {describe(hint)}, got {value!r}")
    return converted


def check_choices(config: Any) -> None:
    """Raise a ValueError for a field of dataclass `config` holding a value its `Literal` type does not allow
    (also for configs built in Python, which skip the file loader's checks)."""
    for name, hint in field_types(type(config)).items():
        choices = hint if typing.get_origin(hint) is Literal else next(
            (arg for arg in typing.get_args(hint) if typing.get_origin(arg) is Literal), None
        )
        if choices is not None and convert(getattr(config, name), hint) is MISMATCH:
            raise ValueError(f"`{name}` must be {describe(hint)}, got {getattr(config, name)!r}")


def _unknown(keys: Sequence[str], known: Sequence[str], source: str) -> ValueError:
    """"unknown key(s)", with the nearest known names (a long list of known keys is not spelled out)."""
    hints = [f"{key!r}: did you mean {close[0]!r}?" for key in keys if (close := difflib.get_close_matches(key, known, 1))]
    listed = f"known: {sorted(known)}" if len(known) <= 40 else f"{len(known)} known keys"
    return ValueError(f"{source}: unknown key(s) {list(keys)}; " + ("; ".join(hints) if hints else listed))


def build(cls: type, values: dict[str, Any], source: str, prefix: str = ""):
    """Dataclass `cls` from a mapping, recursing into sections (dataclass-typed fields); unknown keys and
    wrong types are errors naming `source` and the key."""
    if not isinstance(values, dict):
        raise ValueError(f"{source}: `{prefix.rstrip('.') or 'config'}` must be a mapping, got {values!r}")
    hints = field_types(cls)
    unknown = sorted(set(values) - set(hints))
    if unknown:
        raise _unknown([prefix + key for key in unknown], [prefix + key for key in hints], source)
    kwargs = {}
    for name, value in values.items():
        if dataclasses.is_dataclass(hints[name]):
            kwargs[name] = build(hints[name], value or {}, source, prefix=f"{prefix}{name}.")
        else:
            kwargs[name] = coerce(value, hints[name], prefix + name, source)
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{source}: {error}") from None


def apply_overrides(values: dict[str, Any], overrides: Sequence[str], cls: type, file: str = "the config") -> dict:
    """`values` with each `section.key=value` override applied, each checked against its field's type (a copy)."""
    values = {key: dict(value) if isinstance(value, dict) else value for key, value in values.items()}
    for override in overrides:
        source = f"--set {override}"
        (*parents, leaf), value = parse_override(override)
        node, owner = values, cls
        for name in parents:
            hint = field_types(owner).get(name)
            if hint is None or not dataclasses.is_dataclass(hint):
                sections = [n for n, h in field_types(owner).items() if dataclasses.is_dataclass(h)]
                raise ValueError(f"{source}: `{name}` is not a config section; sections: {sections}")
            owner, node = hint, node.setdefault(name, {})
            if not isinstance(node, dict):
                raise ValueError(f"{source}: `{name}` in {file} is not a section")
        hint, prefix = field_types(owner).get(leaf), "".join(f"{name}." for name in parents)
        if hint is None:
            raise _unknown([prefix + leaf], [prefix + name for name in field_types(owner)], source)
        node[leaf] = value if dataclasses.is_dataclass(hint) else coerce(value, hint, prefix + leaf, source)
    return values


def split_fields(values: dict[str, Any], classes: Sequence[type], source: str) -> list[dict[str, Any]]:
    """A flat mapping of the fields of several dataclasses -> one checked mapping per class (a key goes to the
    first class that has it); a key no class has is an error."""
    parts: list[dict[str, Any]] = [{} for _ in classes]
    known = [name for cls in classes for name in field_types(cls)]
    unknown = [key for key in values if key not in known]
    if unknown:
        raise _unknown(unknown, known, source)
    for key, value in values.items():
        index = next(i for i, cls in enumerate(classes) if key in field_types(cls))
        parts[index][key] = coerce(value, field_types(classes[index])[key], key, source)
    return parts


def flat_values(path: str | os.PathLike | None, overrides: Sequence[str], classes: Sequence[type]) -> dict[str, Any]:
    """The fields of `classes` (no sections) set by the YAML file `path` (optional), then by each `key=value`
    override; each value checked by name and type, the error naming the file or the override."""
    sources = [(read_yaml_mapping(path), str(path))] if path is not None else []
    for override in overrides:
        keys, value = parse_override(override)
        sources.append(({".".join(keys): value}, f"--set {override}"))
    values: dict[str, Any] = {}
    for given, source in sources:
        for part in split_fields(given, classes, source):
            values.update(part)
    return values


__all__ = [
    "apply_overrides",
    "build",
    "check_choices",
    "coerce",
    "convert",
    "describe",
    "field_types",
    "flat_values",
    "load_yaml",
    "parse_override",
    "read_yaml_mapping",
    "split_fields",
]
