"""Response templates (home-assistant-intents' spoken answers), rendered by sandboxed Jinja.

Home Assistant renders these responses with Jinja2 plus its own filters and functions; doing
the same here means every construct a translator may use (macros, `namespace`, filters with
arguments, ...) speaks the same words as in HA instead of degrading to a generic answer. The
environment is Jinja's sandbox, which refuses internals (`__class__`, `mro`, ...) and unsafe
callables; on top of it output is capped, and the operators, filters and string methods
that allocate by a size argument are bounded. Each source is compiled once and cached:
rendering a compiled template takes tens of microseconds.

The sandbox is the mutable one (`SandboxedEnvironment`), not HA's immutable variant: a few
languages build lists with `.append()` in their templates, and since every render gets fresh
variables, a template can only change its own values.
"""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import jinja2
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment, SecurityError

from .template_filters import FILTERS, GLOBALS, TESTS, StateLookup, TemplateError, using_states

if TYPE_CHECKING:
    from ..home.model import HomeSnapshot

__all__ = ["MAX_OUTPUT", "ResponseTemplate", "TemplateError"]

MAX_OUTPUT = 64 * 1024
"""Characters a response may render to; a spoken answer is a sentence or two."""

_MAX_POWER_BITS = 4096
"""Largest integer `**` may build (a 1,234-digit number is already far past speech)."""


_WIDE_FORMAT = re.compile(r"%[-+ #0]*(\*|\d{5,})|\{[^{}]*:[^{}]*(\d{5,}|\{)")
"""A `%` or `str.format` field whose width is huge or comes from an argument."""

_SIZED_FILTERS = ("center", "indent", "batch", "slice")
"""Filters whose first argument is a size they allocate (padding, fill)."""

_PADDING_METHODS = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs"})


def _check_size(size: Any) -> None:
    if isinstance(size, int) and size > MAX_OUTPUT:
        raise SecurityError(f"size {size} is over {MAX_OUTPUT}")


def _check_format(text: Any) -> None:
    if isinstance(text, str) and _WIDE_FORMAT.search(text):
        raise SecurityError("format width too large")


def _sized(func: Callable[..., Any]) -> Callable[..., Any]:
    def sized(value: Any, *args: Any, **kwargs: Any) -> Any:
        for size in (*args[:1], *kwargs.values()):
            _check_size(size)
        return func(value, *args, **kwargs)

    return sized


def _checked_format(func: Callable[..., Any]) -> Callable[..., Any]:
    def checked(value: Any, *args: Any, **kwargs: Any) -> Any:
        _check_format(value)
        return func(value, *args, **kwargs)

    return checked


class _ResponseEnvironment(SandboxedEnvironment):
    """Jinja's sandbox with HA's additions, unable to build values too big to speak.

    The sandbox already refuses internals, bounds `range()` and checks `str.format`'s fields;
    here the operators, filters and string methods that allocate by a size argument (`*`,
    `**`, `%`, `center`, `ljust`, `batch`, ...) are bounded too, and `lipsum` is gone.
    """

    intercepted_binops = frozenset({"*", "**", "%"})

    def __init__(self) -> None:
        # HA's environment: default delimiters, lenient undefined (prints empty, fails when
        # used as a value), loop controls and `do`.
        super().__init__(
            undefined=jinja2.Undefined,
            extensions=["jinja2.ext.loopcontrols", "jinja2.ext.do"],
            autoescape=False,
            cache_size=0,
        )
        self.filters.update(FILTERS)
        for name in _SIZED_FILTERS:
            self.filters[name] = _sized(self.filters[name])
        self.filters["format"] = _checked_format(self.filters["format"])
        self.tests.update(TESTS)
        self.globals.update(GLOBALS)
        del self.globals["lipsum"]

    def call_binop(self, context: Context, operator_: str, left: Any, right: Any) -> Any:
        """Refuse repetition, powers and padding whose result could not be spoken anyway."""
        if operator_ == "%":
            _check_format(left)
            return operator.mod(left, right)
        if operator_ == "**":
            if isinstance(left, int) and isinstance(right, int) and right > 0:
                if abs(left).bit_length() * right > _MAX_POWER_BITS:
                    raise SecurityError("power too large")
            return operator.pow(left, right)
        for seq, count in ((left, right), (right, left)):
            if isinstance(seq, str | list | tuple) and isinstance(count, int):
                if len(seq) * count > MAX_OUTPUT:
                    raise SecurityError("repetition too large")
        return operator.mul(left, right)

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        """Bound the string methods that pad (`'x'.center(10 ** 9)`) and `str.format`."""
        owner = getattr(obj, "__self__", None)
        if isinstance(owner, str):
            name = getattr(obj, "__name__", "")
            if name in _PADDING_METHODS:
                for size in (*args, *kwargs.values()):
                    _check_size(size)
            elif name in ("format", "format_map"):
                _check_format(owner)
        return super().call(context, obj, *args, **kwargs)

    def unsafe_undefined(self, obj: Any, attribute: str) -> Any:
        """Fail on the first unsafe attribute, rather than print it as empty and go on."""
        raise SecurityError(f"access to {attribute!r} of a {type(obj).__name__} is not allowed")


_ENVIRONMENT = _ResponseEnvironment()


@functools.lru_cache(maxsize=1024)
def _compile(source: str) -> jinja2.Template:
    """One compiled template per distinct source (languages repeat many of them)."""
    return _ENVIRONMENT.from_string(source)


class ResponseTemplate:
    """A compiled response template; `render()` returns speech with whitespace normalised."""

    def __init__(self, source: str) -> None:
        self.source = source
        try:
            self._template = _compile(source)
        except jinja2.TemplateError as err:  # syntax, or an unknown filter or test
            raise TemplateError(f"bad template: {err}") from err

    def render(self, variables: Mapping[str, Any], home: HomeSnapshot | None = None) -> str:
        """Render as HA's default agent does, then collapse whitespace to single spaces.

        `home` lets `states()`, `state_attr()` and `area_name()` see every entity and area;
        without it they see the state objects among `variables`. Any failure (an undefined
        value used as a number, a refused attribute, output over `MAX_OUTPUT`) raises
        TemplateError, so the caller can fall back to a plain answer.
        """
        if home is not None:
            lookup = StateLookup(entities=home.entities, areas=home.areas)
        else:
            lookup = StateLookup.from_variables(variables)
        parts: list[str] = []
        size = 0
        try:
            with using_states(lookup):
                for chunk in self._template.generate(variables):
                    size += len(chunk)
                    if size > MAX_OUTPUT:
                        raise TemplateError(f"output over {MAX_OUTPUT} characters")
                    parts.append(chunk)
        except TemplateError:
            raise
        except Exception as err:  # a template can raise anything; the caller falls back
            raise TemplateError(f"cannot render response: {err}") from err
        return " ".join("".join(parts).split())
