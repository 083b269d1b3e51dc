"""Home Assistant's template additions, for the responses home-assistant-intents ships.

HA renders these responses in its own Jinja environment, which replaces `float`, `int` and
`round` with versions that take a `default` (and fail without one on bad input) and adds
state helpers such as `state_attr()` and `is_state()`. The same names are provided here with
HA's semantics, so a response speaks the same words here as in HA. The state helpers read the
home given to `render()` (or, without one, the state objects among the template variables)
through a context variable, so they stay plain functions that a template cannot inspect.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from jinja2.filters import do_int

_SENTINEL: Any = object()
_NO_VALUE = ("unknown", "unavailable")


class TemplateError(Exception):
    """A response template could not be parsed or rendered."""


@dataclass(frozen=True)
class StateLookup:
    """What `states()`, `state_attr()` and `area_name()` can see while one template renders.

    Entities are HA-like state objects (`entity_id`, `state`, `attributes`, `name`, optionally
    `area_id`); areas map an area id to an object with a `name`.
    """

    entities: Mapping[str, Any] = field(default_factory=dict)
    areas: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_variables(cls, variables: Mapping[str, Any]) -> StateLookup:
        """The state objects a response is rendered with (`state`, `query.matched/unmatched`).

        Without a home snapshot these are the only entities a response can ask about, and
        they are the ones its templates do ask about (`state_attr(state.entity_id, ...)`).
        """
        found: list[Any] = [variables.get("state")]
        query = variables.get("query")
        if isinstance(query, Mapping):
            found += [*query.get("matched", ()), *query.get("unmatched", ())]
        entities = {s.entity_id: s for s in found if isinstance(getattr(s, "entity_id", 0), str)}
        return cls(entities=entities)


_NOTHING = StateLookup()
_LOOKUP: ContextVar[StateLookup] = ContextVar("template_state_lookup", default=_NOTHING)


@contextmanager
def using_states(lookup: StateLookup) -> Iterator[None]:
    """Make `lookup` what the state helpers read, for the duration of one render."""
    token = _LOOKUP.set(lookup)
    try:
        yield
    finally:
        _LOOKUP.reset(token)


def _entity(entity_id: Any) -> Any:
    if isinstance(entity_id, str):
        return _LOOKUP.get().entities.get(entity_id.lower())
    return None


def _no_default(name: str, value: Any) -> TemplateError:
    """HA refuses bad input when no default is given, rather than speaking a made-up 0."""
    return TemplateError(f"{name} got invalid input {value!r} and no default was specified")


def forgiving_float(value: Any, default: Any = _SENTINEL) -> Any:
    """HA's `float`: the number, else `default`; without a default, bad input is an error."""
    try:
        return float(value)
    except (TypeError, ValueError) as err:
        if default is _SENTINEL:
            raise _no_default("float", value) from err
        return default


def forgiving_int(value: Any, default: Any = _SENTINEL, base: int = 10) -> Any:
    """HA's `int` (Jinja's parsing, so "21.5" is 21); bad input needs a default."""
    result = do_int(value, default=_SENTINEL, base=base)
    if result is _SENTINEL:
        if default is _SENTINEL:
            raise _no_default("int", value)
        return default
    return result


def forgiving_round(
    value: Any, precision: int = 0, method: str = "common", default: Any = _SENTINEL
) -> Any:
    """HA's `round`: also `ceil`/`floor`/`half`, and an int when precision is 0 ("21")."""
    try:
        number = float(value)
        factor = float(10**precision)
        if method == "ceil":
            number = math.ceil(number * factor) / factor
        elif method == "floor":
            number = math.floor(number * factor) / factor
        elif method == "half":
            number = round(number * 2) / 2
        else:
            number = round(number, precision)
        return int(number) if precision == 0 else number
    except (TypeError, ValueError, OverflowError) as err:
        if default is _SENTINEL:
            raise _no_default("round", value) from err
        return default


def multiply(value: Any, amount: float, default: Any = _SENTINEL) -> Any:
    """HA's `multiply` filter."""
    try:
        return float(value) * amount
    except (TypeError, ValueError) as err:
        if default is _SENTINEL:
            raise _no_default("multiply", value) from err
        return default


def forgiving_bool(value: Any, default: Any = _SENTINEL) -> Any:
    """HA's `bool`: the words HA treats as true/false, numbers by value."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on", "enable"):
        return True
    if text in ("0", "false", "no", "off", "disable", "none"):
        return False
    if default is _SENTINEL:
        raise _no_default("bool", value)
    return default


def iif(value: Any, if_true: Any = True, if_false: Any = False, if_none: Any = _SENTINEL) -> Any:
    """HA's immediate if: `value | iif("yes", "no")`."""
    if value is None and if_none is not _SENTINEL:
        return if_none
    return if_true if value else if_false


def is_number(value: Any) -> bool:
    """HA's `is_number`: a finite number, or text that parses as one."""
    if isinstance(value, bool):
        return False
    try:
        number = float(value)
    except (TypeError, ValueError):
        return False
    return number == number and number not in (float("inf"), float("-inf"))


def states(entity_id: str, rounded: bool = False, with_unit: bool = False) -> str:
    """HA's `states('light.x')`: the state text, "unknown" for an entity it cannot see."""
    entity = _entity(entity_id)
    if entity is None:
        return "unknown"
    state = str(entity.state)
    if rounded and is_number(state):
        state = str(forgiving_round(state, 1))
    unit = entity.attributes.get("unit_of_measurement") if with_unit else None
    return f"{state} {unit}" if unit else state


def state_attr(entity_id: str, name: str) -> Any:
    """HA's `state_attr()`: the attribute, or None when the entity or attribute is missing."""
    entity = _entity(entity_id)
    return None if entity is None else entity.attributes.get(name)


def is_state(entity_id: str, state: Any) -> bool:
    """HA's `is_state()`: `state` may be one value or a list of accepted values."""
    entity = _entity(entity_id)
    if entity is None:
        return False
    return entity.state == state or (isinstance(state, list) and entity.state in state)


def is_state_attr(entity_id: str, name: str, value: Any) -> bool:
    """HA's `is_state_attr()`."""
    attr = state_attr(entity_id, name)
    return attr is not None and attr == value


def has_value(entity_id: str) -> bool:
    """HA's `has_value()`: known to us and neither unknown nor unavailable."""
    entity = _entity(entity_id)
    return entity is not None and entity.state not in _NO_VALUE


def area_name(lookup: str) -> str | None:
    """HA's `area_name()`: by area id or by entity id (devices are not tracked here)."""
    areas = _LOOKUP.get().areas
    if lookup in areas:
        return str(areas[lookup].name)
    area_id = getattr(_entity(lookup), "area_id", None)
    return str(areas[area_id].name) if isinstance(area_id, str) and area_id in areas else None


def regex_replace(
    value: Any = "", find: str = "", replace: str = "", ignorecase: bool = False
) -> str:
    """HA's `regex_replace` filter."""
    flags = re.IGNORECASE if ignorecase else 0
    return re.sub(find, replace, str(value), flags=flags)


def regex_match(value: Any, find: str = "", ignorecase: bool = False) -> bool:
    """HA's `match` test: the pattern matches at the start."""
    return bool(re.match(find, str(value), re.IGNORECASE if ignorecase else 0))


def regex_search(value: Any, find: str = "", ignorecase: bool = False) -> bool:
    """HA's `search` test: the pattern matches anywhere."""
    return bool(re.search(find, str(value), re.IGNORECASE if ignorecase else 0))


def contains(seq: Any, value: Any) -> bool:
    """HA's `contains` filter and test."""
    try:
        return value in seq
    except TypeError:
        return False


def now() -> datetime:
    """HA's `now()`: local, timezone-aware."""
    return datetime.now().astimezone()


FILTERS: dict[str, Any] = {
    "float": forgiving_float,
    "int": forgiving_int,
    "round": forgiving_round,
    "multiply": multiply,
    "bool": forgiving_bool,
    "iif": iif,
    "is_number": is_number,
    "contains": contains,
    "regex_replace": regex_replace,
    "regex_match": regex_match,
    "regex_search": regex_search,
    "states": states,
    "state_attr": state_attr,
    "is_state": is_state,
    "is_state_attr": is_state_attr,
    "has_value": has_value,
    "area_name": area_name,
}
"""HA's filters, by the names HA registers them under (they replace Jinja's of the same name)."""

TESTS: dict[str, Any] = {
    "is_number": is_number,
    "contains": contains,
    "match": regex_match,
    "search": regex_search,
    "is_state": is_state,
    "is_state_attr": is_state_attr,
    "has_value": has_value,
}

GLOBALS: dict[str, Any] = {
    "float": forgiving_float,
    "int": forgiving_int,
    "bool": forgiving_bool,
    "iif": iif,
    "is_number": is_number,
    "states": states,
    "state_attr": state_attr,
    "is_state": is_state,
    "is_state_attr": is_state_attr,
    "has_value": has_value,
    "area_name": area_name,
    "now": now,
}
