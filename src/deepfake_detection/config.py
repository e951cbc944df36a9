"""Typed configs: dataclasses with defaults; YAML files hold overrides only and are read strictly."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import yaml

from .errors import ConfigError

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T", bound="DataclassInstance")


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate keys instead of letting the last one silently win."""


def _no_duplicates(loader, node, deep=False):
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise ConfigError(f"duplicate key {key!r} at line {key_node.start_mark.line + 1}")
        seen.add(key)
    return loader.construct_mapping(node, deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicates)


def load_config(cls: type[T], path: str | Path | None = None, **overrides) -> T:
    """Build `cls` from its defaults, then the YAML file, then keyword overrides (None means unset)."""
    values: dict = {}
    if path is not None:
        try:
            text = Path(path).read_text()
        except OSError as e:
            raise ConfigError(f"cannot read config {path}: {e.strerror}") from e
        try:
            loaded = yaml.load(text, Loader=_StrictLoader) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"{path}: invalid YAML: {e}") from e
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: expected a mapping of option: value")
        values.update(loaded)
    values.update({k: v for k, v in overrides.items() if v is not None})
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(f"unknown option(s) {', '.join(unknown)}; valid: {', '.join(sorted(known))}")
    for name, value in values.items():
        default = known[name].default  # dataclasses.MISSING for required fields: no type check then
        if isinstance(default, bool) and not isinstance(value, bool):
            raise ConfigError(f"option {name} expects true/false, got {value!r}")
        if isinstance(default, (int, float)) and not isinstance(default, bool):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"option {name} expects a number, got {value!r}")
            values[name] = type(default)(value) if isinstance(default, float) else value
    return cls(**values)
