"""The configuration file: TOML, read with the standard library's ``tomllib``.

The keys are the fields of ``common.settings.Settings``; its nested dataclasses are
tables (``[timings]``, ``[timings.network_backoff]``). The loader knows nothing of the
individual settings: it walks the dataclass fields and their type hints, so a field added
to ``Settings`` or ``Timings`` is a config key at once. Precedence (``settings_from``):
flags > environment > file > the dataclass defaults.

An unknown key or a value of the wrong type is a ``ConfigError`` naming the key and the
file. ``render_toml`` prints an effective configuration with secrets redacted.
"""

from __future__ import annotations

import dataclasses
import json
import math
import tomllib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from common.errors import XianyuSupervisorError
from common.secret_urls import url_label
from common.settings import Settings

CONFIG_NAME = "config.toml"
ENV_CONFIG = "XIANYU_CONFIG"
REDACTED = "<redacted>"
# field names whose values are secrets wherever they appear
_SECRET_WORDS = ("password", "secret", "token")

D = TypeVar("D")


class ConfigError(XianyuSupervisorError):
    """A configuration file that cannot be used; the text names the file and the key."""

    def __init__(self, path: Path, key: str | None, problem: str) -> None:
        super().__init__(problem)
        self.path = path
        self.key = key
        self.problem = problem

    def headline(self) -> str:
        where = f"{self.path}: '{self.key}'" if self.key else str(self.path)
        return f"configuration file {where} {self.problem}"


def config_path(
    flag: Path | None, env: Mapping[str, str], data_dir: Path
) -> tuple[Path | None, bool]:
    """The file to read and whether it must exist: ``--config``, ``XIANYU_CONFIG``, else
    ``<data dir>/config.toml`` when it exists."""
    if flag is not None:
        return flag, True
    if env.get(ENV_CONFIG):
        return Path(env[ENV_CONFIG]), True
    default = data_dir / CONFIG_NAME
    return (default, False) if default.is_file() else (None, False)


def read_config(path: Path) -> dict[str, Any]:
    """The parsed TOML of ``path`` (a ``ConfigError`` if it is missing or not TOML)."""
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(path, None, "does not exist; check --config / XIANYU_CONFIG") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, None, f"is not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(path, None, f"cannot be read: {exc.strerror or exc}") from None


def apply(base: D, values: Mapping[str, Any], *, path: Path, prefix: str = "") -> D:
    """``base`` (a dataclass instance) with ``values`` applied, every key checked."""
    fields = {f.name: f for f in dataclasses.fields(base)}  # type: ignore[arg-type]
    hints = typing.get_type_hints(type(base))
    changes: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if key not in fields or not fields[key].init:
            known = ", ".join(sorted(f for f in fields if fields[f].init))
            raise ConfigError(path, name, f"is not a setting; the keys here are: {known}")
        hint = hints[key]
        current = getattr(base, key)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, dict):
                raise ConfigError(path, name, "must be a table ([" + name + "])")
            changes[key] = apply(current, value, path=path, prefix=f"{name}.")
        else:
            changes[key] = convert(value, hint, path=path, key=name)
    return dataclasses.replace(base, **changes)  # type: ignore[type-var]


def convert(value: Any, hint: Any, *, path: Path, key: str) -> Any:
    """``value`` as the type ``hint`` says, or a ConfigError saying what was expected."""
    options = typing.get_args(hint) if _is_union(hint) else (hint,)
    for option in options:
        ok, converted = _as(value, option)
        if ok:
            return converted
    wanted = " or ".join(_describe(option) for option in options if option is not type(None))
    raise ConfigError(path, key, f"must be {wanted}, not {json.dumps(value, default=str)}")


def _is_union(hint: Any) -> bool:
    return typing.get_origin(hint) in (typing.Union, types.UnionType)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


# scalar type -> (does the TOML value fit, the value as that type)
_SCALARS: dict[Any, tuple[Any, Any]] = {
    bool: (lambda v: isinstance(v, bool), lambda v: v),
    int: (lambda v: isinstance(v, int) and not isinstance(v, bool), lambda v: v),
    float: (_number, float),
    str: (lambda v: isinstance(v, str), lambda v: v),
    Path: (lambda v: isinstance(v, str) and bool(v), Path),
}


def _as(value: Any, kind: Any) -> tuple[bool, Any]:
    origin = typing.get_origin(kind)
    if origin in (tuple, list):
        item = (typing.get_args(kind) or (str,))[0]
        if not isinstance(value, list) or not all(_as(v, item)[0] for v in value):
            return False, None
        items = [_as(v, item)[1] for v in value]
        return True, tuple(items) if origin is tuple else items
    if kind not in _SCALARS:
        return False, None
    fits, make = _SCALARS[kind]
    return (True, make(value)) if fits(value) else (False, None)


def _describe(kind: Any) -> str:
    origin = typing.get_origin(kind)
    if origin in (tuple, list):
        item = (typing.get_args(kind) or (str,))[0]
        plural = {str: "strings", int: "integers", float: "numbers", Path: "path strings"}
        return f"a list of {plural.get(item, _describe(item))}"
    return {
        bool: "true or false",
        int: "an integer",
        float: "a number",
        str: "a string",
        Path: "a path string",
    }.get(kind, getattr(kind, "__name__", str(kind)))


# --- the effective configuration, printed ---------------------------------------------------


def as_dict(settings: Any) -> dict[str, Any]:
    """A dataclass as plain TOML-able values (paths as strings, tuples as lists), redacted."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(settings):
        if not f.init:
            continue
        value = getattr(settings, f.name)
        if dataclasses.is_dataclass(value):
            out[f.name] = as_dict(value)
        else:
            out[f.name] = _redact(f.name, _plain(value))
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def _redact(name: str, value: Any) -> Any:
    if isinstance(value, list):
        return [_redact(name, v) for v in value]
    if not isinstance(value, str):
        return value
    if any(word in name.lower() for word in _SECRET_WORDS):
        return REDACTED if value else value
    if name == "notify_urls":  # apprise URLs carry credentials in every part
        return url_label(value)
    if "url" in name.lower() and "://" in value:
        return redact_url(value)
    return value


def redact_url(url: str) -> str:
    """The URL without its password and query values (webhooks carry tokens there)."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        netloc = netloc.replace(f":{parts.password}@", f":{REDACTED}@")
    query = urlencode([(k, REDACTED) for k, _ in parse_qsl(parts.query, keep_blank_values=True)])
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def render_toml(settings: Settings, *, source: Path | None) -> str:
    """The effective configuration as a TOML file (readable back with ``--config``)."""
    header = f"# effective configuration (file: {source or 'none'}); secrets redacted"
    return header + "\n" + _toml_table(as_dict(settings), prefix="")


def _toml_table(values: Mapping[str, Any], *, prefix: str) -> str:
    lines = []
    tables = []
    for key, value in values.items():
        if isinstance(value, dict):
            tables.append((key, value))
        elif value is None:
            lines.append(f"# {key} is not set")
        else:
            lines.append(f"{key} = {_toml_value(value)}")
    text = "\n".join(lines)
    for key, table in tables:
        name = f"{prefix}{key}"
        text += f"\n\n[{name}]\n" + _toml_table(table, prefix=f"{name}.").lstrip("\n")
    return text


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)  # a TOML basic string
