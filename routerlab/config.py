"""Typed, frozen experiment configs: validation, command-line overrides and a stable hash.

A config is a tree of frozen dataclasses. Every leaf field carries a type annotation, and
range checks live in each class's ``__post_init__`` via :func:`check`. Configs are built
from plain dicts by :func:`from_dict`, which rejects unknown keys and wrong types with a
one-line :class:`ConfigError` naming the dotted field and what it allows::

    >>> cfg = override(cfg, ["moe.num_experts=16", "train.lr=3e-4"])
    ConfigError: moe.top_k: must be <= moe.num_experts (16); got 32

Supported leaf annotations: ``int``, ``float``, ``bool``, ``str``, ``Literal[...]``,
``X | None``, ``tuple[X, ...]`` and nested dataclasses.

Every number is bounded before any class sees it, so no value typed on the command line
reaches a computation as an overflow or a non-finite number: a ``float`` must be finite
(JSON's ``Infinity``/``NaN`` and ``1e309`` are refused); an ``int`` must lie in
``(-2**31, 2**31)``; a seed (a field named ``seed``/``seeds`` or ending in ``_seed``/``_seeds``)
in ``[0, 2**32)``, the range of a ``uint32`` PRNG seed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
import types
from collections.abc import Mapping, Sequence
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

__all__ = [
    "ConfigError",
    "check",
    "from_dict",
    "to_dict",
    "override",
    "config_hash",
    "parse_assignment",
    "describe",
]

C = TypeVar("C")

INT_LIMIT = 2**31  # |int field| < this
SEED_LIMIT = 2**32  # 0 <= seed < this


class ConfigError(ValueError):
    """A bad config value. ``field`` is the dotted path; ``str(err)`` is one line."""

    def __init__(self, field: str, message: str):
        # One line whatever the user typed: a newline inside a key or value is shown escaped.
        field, message = (str(x).replace("\r", "\\r").replace("\n", "\\n") for x in (field, message))
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}" if field else message)

    def under(self, prefix: str) -> ConfigError:
        """The same error with its field nested under ``prefix``."""
        if not prefix:
            return self
        return ConfigError(f"{prefix}.{self.field}" if self.field else prefix, self.message)


def check(condition: bool, field: str, message: str) -> None:
    """Raise :class:`ConfigError` for ``field`` unless ``condition`` holds.

    Use inside ``__post_init__``; :func:`from_dict` prefixes the parent path.
    """
    if not condition:
        raise ConfigError(field, message)


def _type_name(tp: Any) -> str:
    origin = get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in get_args(tp))
    if origin is tuple:
        return f"a list of {_type_name(get_args(tp)[0])}"
    if tp is type(None):
        return "null"
    if dataclasses.is_dataclass(tp):
        return f"a {tp.__name__} mapping"
    return getattr(tp, "__name__", str(tp))


def _coerce(value: Any, tp: Any, field: str) -> Any:
    """Check ``value`` against annotation ``tp``; return it converted (lists to tuples, ints to floats)."""
    origin = get_origin(tp)
    fail = ConfigError(field, f"expected {_type_name(tp)}; got {value!r}")
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, Mapping):
            raise fail
        return from_dict(tp, value, path=field)
    if origin is Literal:
        if value not in get_args(tp) or isinstance(value, bool) != any(isinstance(a, bool) for a in get_args(tp)):
            raise ConfigError(field, f"must be {_type_name(tp)}; got {value!r}")
        return value
    if origin in (Union, types.UnionType):
        for arg in get_args(tp):
            try:
                return _coerce(value, arg, field)
            except ConfigError:
                continue
        raise fail
    if origin is tuple:
        args = get_args(tp)
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
            raise fail
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], f"{field}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise ConfigError(field, f"expected {len(args)} items; got {len(value)}")
        return tuple(_coerce(v, a, f"{field}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
    if tp is type(None):
        if value is not None:
            raise fail
        return None
    if tp is bool:
        if not isinstance(value, bool):
            raise fail
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise fail
        if _is_seed(field):
            if not 0 <= value < SEED_LIMIT:
                raise ConfigError(field, f"a seed must be in [0, 2**32); got {value}")
        elif not -INT_LIMIT < value < INT_LIMIT:
            raise ConfigError(field, f"must be an integer of magnitude below 2**31; got {value}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise fail
        try:
            number = float(value)
        except OverflowError:  # an int too large for a float
            raise ConfigError(field, f"must be a finite number; got {value}") from None
        if not math.isfinite(number):
            raise ConfigError(field, f"must be a finite number; got {value}")
        return number
    if tp is str:
        if not isinstance(value, str):
            raise fail
        return value
    if tp is Any:
        return value
    raise TypeError(f"{field}: unsupported config annotation {tp!r}")


def _is_seed(field: str) -> bool:
    """Whether a dotted field path (``fleet.seeds[2]``) names a PRNG seed."""
    name = re.sub(r"\[\d+\]$", "", field).rsplit(".", 1)[-1]
    return name in ("seed", "seeds") or name.endswith(("_seed", "_seeds"))


def from_dict(cls: type[C], data: Mapping[str, Any], *, path: str = "") -> C:
    """Build the dataclass ``cls`` from a mapping, validating keys, types and ranges."""
    if not isinstance(data, Mapping):
        raise ConfigError(path, f"expected a mapping; got {data!r}")
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    prefix = f"{path}." if path else ""
    for key in data:
        if key not in fields:
            raise ConfigError(f"{prefix}{key}", f"unknown key; allowed: {', '.join(sorted(fields))}")
    kwargs = {}
    for name in fields:
        if name in data:
            kwargs[name] = _coerce(data[name], hints[name], f"{prefix}{name}")
        elif fields[name].default is dataclasses.MISSING and fields[name].default_factory is dataclasses.MISSING:
            raise ConfigError(f"{prefix}{name}", "missing required key")
    try:
        return cls(**kwargs)
    except ConfigError as err:
        raise err.under(path) from None


def to_dict(cfg: Any) -> Any:
    """The config as plain JSON-ready data (tuples become lists)."""
    if dataclasses.is_dataclass(cfg) and not isinstance(cfg, type):
        return {f.name: to_dict(getattr(cfg, f.name)) for f in dataclasses.fields(cfg) if f.init}
    if isinstance(cfg, (tuple, list)):
        return [to_dict(v) for v in cfg]
    return cfg


def parse_assignment(text: str) -> tuple[list[str], Any]:
    """Split ``"a.b=VALUE"`` into ``(["a", "b"], value)``.

    VALUE is read as JSON when it parses (``16``, ``1e-3``, ``true``, ``null``, ``[1,2]``,
    ``{"data": 2}``), otherwise as a bare string (``router=top_k``); ``none`` also means null.
    """
    if "=" not in text:
        raise ConfigError(text, "an override must look like KEY=VALUE, e.g. moe.num_experts=16")
    key, raw = text.split("=", 1)
    if not key or any(not part for part in key.split(".")):
        raise ConfigError(key, "an override key must be a dotted field name, e.g. moe.num_experts")
    if raw.strip().lower() in ("none", "null"):
        return key.split("."), None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return key.split("."), value


def override(cfg: C, assignments: Sequence[str]) -> C:
    """A new config with ``KEY=VALUE`` assignments applied, fully re-validated."""
    data = to_dict(cfg)
    for text in assignments:
        parts, value = parse_assignment(text)
        node, cls = data, type(cfg)
        for i, part in enumerate(parts[:-1]):
            if not isinstance(node, dict) or part not in node:
                raise ConfigError(".".join(parts[: i + 1]), "unknown key")
            sub = _dataclass_in(get_type_hints(cls)[part]) if dataclasses.is_dataclass(cls) else None
            if node[part] is None and sub is not None:  # an optional sub-config that is off: on, with defaults
                node[part] = to_dict(sub())
            node, cls = node[part], sub
        if not isinstance(node, dict) or parts[-1] not in node:
            allowed = ", ".join(sorted(node)) if isinstance(node, dict) else "none"
            raise ConfigError(".".join(parts), f"unknown key; allowed: {allowed}")
        node[parts[-1]] = value
    return from_dict(type(cfg), data)


def _dataclass_in(tp: Any) -> type | None:
    """The dataclass inside annotation ``tp`` (``X``, ``X | None``), if any."""
    if dataclasses.is_dataclass(tp):
        return tp
    if get_origin(tp) in (Union, types.UnionType):
        return next((a for a in get_args(tp) if dataclasses.is_dataclass(a)), None)
    return None


def canonical_json(cfg: Any) -> str:
    """Key-sorted compact JSON: the byte string the hash is taken over."""
    return json.dumps(to_dict(cfg), sort_keys=True, separators=(",", ":"))


def config_hash(cfg: Any, length: int = 8) -> str:
    """A stable short hash of the resolved config (sha256 of its canonical JSON)."""
    return hashlib.sha256(canonical_json(cfg).encode()).hexdigest()[:length]



def _attribute_docs(cls: type) -> dict[str, str]:
    """Field docs from the ``Attributes:`` section of a dataclass docstring (Google style).

    An entry is ``name: text`` or ``name, other: text`` (one doc for several fields), with
    continuation lines indented deeper than the entry. Fields of base classes are documented
    in the bases' docstrings, so the whole MRO is read, nearest class first.
    """
    docs: dict[str, str] = {}
    for klass in cls.__mro__:
        lines = (klass.__doc__ or "").splitlines()
        start = next((i for i, ln in enumerate(lines) if ln.strip() == "Attributes:"), None)
        if start is None:  # a short docstring may document its own field inline: ``name``: text
            for line in lines:
                inline = re.match(r"\s*``([A-Za-z_]\w*)``\s*:\s*(.+)", line)
                if inline:
                    docs.setdefault(inline.group(1), inline.group(2).strip())
            continue
        names: list[str] = []
        indent = None
        for line in lines[start + 1:]:
            if not line.strip():
                if names:
                    names = []
                continue
            depth = len(line) - len(line.lstrip())
            if indent is None:
                indent = depth
            if depth < indent:
                break
            entry = re.match(r"([A-Za-z_][\w]*(?:\s*,\s*[A-Za-z_][\w]*)*)\s*:\s*(.*)", line.strip())
            if depth == indent and entry:
                names = [n.strip() for n in entry.group(1).split(",")]
                for n in names:
                    docs.setdefault(n, entry.group(2).strip())
            elif names:
                for n in names:
                    if docs.get(n) is not None:
                        docs[n] = f"{docs[n]} {line.strip()}".strip()
    return docs


def describe(cfg: Any, prefix: str = "") -> list[dict[str, Any]]:
    """Every leaf field of ``cfg`` as ``{"field", "type", "value", "doc"}``, nested fields dotted.

    ``value`` is the field's value in ``cfg`` (a scale's config, say), as JSON-ready data. A
    nested dataclass contributes its own fields; an optional sub-config that is off (``None``)
    is one row, since ``--set`` can switch it on with ``KEY.FIELD=VALUE``.
    """
    hints = get_type_hints(type(cfg))
    docs = _attribute_docs(type(cfg))
    rows = []
    for f in dataclasses.fields(cfg):
        if not f.init:
            continue
        value = getattr(cfg, f.name)
        path = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(value):
            rows += describe(value, f"{path}.")
            continue
        rows.append({"field": path, "type": _type_name(hints[f.name]), "value": to_dict(value),
                     "doc": docs.get(f.name, "")})
    return rows
