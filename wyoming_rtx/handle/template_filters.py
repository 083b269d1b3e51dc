"""Filters, tests and attribute rules for the response-template renderer (Jinja's names).

Kept apart from the parser so the sandbox rules (what a template may read or call) sit in one
place: public attributes only, and on built-in types only the listed read-only methods.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any


class TemplateError(Exception):
    """A response template could not be parsed or rendered."""


_SAFE_METHODS = {
    str: {
        "replace",
        "format",
        "lower",
        "upper",
        "strip",
        "capitalize",
        "title",
        "split",
        "startswith",
        "endswith",
        "join",
    },
    dict: {"get", "keys", "values", "items"},
    list: {"index", "count"},
}


class Undefined:
    """Jinja's lenient undefined: empty when printed, falsy, absorbs attribute access."""

    def __str__(self) -> str:
        return ""

    def __bool__(self) -> bool:
        return False

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(())

    def __len__(self) -> int:
        return 0


UNDEFINED = Undefined()


def attr_getter(name: str) -> Callable[[Any], Any]:
    def get(obj: Any) -> Any:
        for part in name.split("."):
            obj = get_attr(obj, part)
        return obj

    return get


def get_attr(obj: Any, name: str) -> Any:
    if name.startswith("_"):
        raise TemplateError(f"access to {name!r} is not allowed")
    if isinstance(obj, Mapping):
        if name not in obj and name in _SAFE_METHODS[dict] and isinstance(obj, dict):
            return getattr(obj, name)
        return obj.get(name, UNDEFINED)
    for base, methods in _SAFE_METHODS.items():
        if isinstance(obj, base):
            return getattr(obj, name) if name in methods else UNDEFINED
    return getattr(obj, name, UNDEFINED)


def _sort(value: Iterable[Any], reverse: bool = False, attribute: str | None = None) -> list:
    key = attr_getter(attribute) if attribute else None
    return sorted(value, key=key, reverse=reverse)


def _map(value: Iterable[Any], *args: Any, attribute: str | None = None) -> list:
    if attribute is not None:
        return [attr_getter(attribute)(v) for v in value]
    return [FILTERS[args[0]](v, *args[1:]) for v in value]


def _selectattr(value: Iterable[Any], attribute: str, *test: Any, keep: bool = True) -> list:
    get = attr_getter(attribute)
    out = []
    for item in value:
        attr = get(item)
        ok = TESTS[test[0]](attr, *test[1:]) if test else bool(attr)
        if ok == keep:
            out.append(item)
    return out


def _as_float(value: Any, default: float = 0.0) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def _as_int(value: Any, default: int = 0) -> int:
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return default


FILTERS: dict[str, Callable[..., Any]] = {
    "abs": abs,
    "capitalize": lambda v: str(v).capitalize(),
    "count": len,
    "length": len,
    "default": lambda v, d="", *_: d if isinstance(v, Undefined) else v,
    "first": lambda v: next(iter(v), UNDEFINED),
    "last": lambda v: list(v)[-1] if list(v) else UNDEFINED,
    "float": _as_float,
    "int": _as_int,
    "join": lambda v, sep="": sep.join(str(x) for x in v),
    "list": list,
    "lower": lambda v: str(v).lower(),
    "map": _map,
    "reject": lambda v, *t: [x for x in v if not (TESTS[t[0]](x, *t[1:]) if t else x)],
    "select": lambda v, *t: [x for x in v if (TESTS[t[0]](x, *t[1:]) if t else x)],
    "rejectattr": lambda v, a, *t: _selectattr(v, a, *t, keep=False),
    "selectattr": _selectattr,
    "replace": lambda v, old, new: str(v).replace(old, new),
    "round": lambda v, precision=0, *_: round(_as_float(v), precision),
    "sort": _sort,
    "string": str,
    "title": lambda v: str(v).title(),
    "trim": lambda v: str(v).strip(),
    "upper": lambda v: str(v).upper(),
}

TESTS: dict[str, Callable[..., bool]] = {
    "defined": lambda v: not isinstance(v, Undefined),
    "undefined": lambda v: isinstance(v, Undefined),
    "none": lambda v: v is None,
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "string": lambda v: isinstance(v, str),
    "in": lambda v, seq: v in seq,
    "eq": lambda v, other: v == other,
    "equalto": lambda v, other: v == other,
}
