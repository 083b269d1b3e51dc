"""Response templates: HA's Jinja semantics, the intents package's own responses, the sandbox."""

from __future__ import annotations

from datetime import date, time
from typing import Any

import pytest
from home_assistant_intents import get_intents

from wyoming_rtx.handle.template import MAX_OUTPUT, ResponseTemplate, TemplateError
from wyoming_rtx.handle.timers import Timer
from wyoming_rtx.home.model import Area, Entity, HomeSnapshot

_KITCHEN = Entity(
    "light.kitchen", "Kitchen Light", "on", area_id="kitchen", attributes={"brightness": 255}
)
_THERMOSTAT = Entity(
    "climate.hall",
    "Hall Thermostat",
    "heat",
    area_id="hall",
    attributes={"current_temperature": 21.5, "temperature": 22, "fan_mode": "auto"},
)
_WEATHER = Entity(
    "weather.home", "Home", "rainy", attributes={"temperature": 14, "temperature_unit": "°C"}
)
_LAMPS = [Entity(f"light.lamp_{i}", f"Lamp {i}", "on" if i % 2 else "off") for i in range(1, 7)]
_HOME = HomeSnapshot(
    entities={e.entity_id: e for e in (_KITCHEN, _THERMOSTAT, _WEATHER, *_LAMPS)},
    areas={"kitchen": Area("kitchen", "Kitchen"), "hall": Area("hall", "Hallway")},
)


def _timer(seconds: int, left: float | None = None, **kwargs: Any) -> Timer:
    """A timer started at clock 0 and read at clock 100, paused when `left` is given."""
    return Timer("t", seconds, started=0.0, paused_left=left, clock=lambda: 100.0, **kwargs)


_TIMER_SETS: list[list[Timer]] = [
    [],
    [_timer(3725)],
    [_timer(600, left=61.0)],
    [_timer(3725, name="pasta"), _timer(125, area="Kitchen"), _timer(90, left=30.0)],
]


def _slots(**extra: Any) -> dict[str, Any]:
    """Every slot an English response reads, with the kind of value HA passes."""
    return {
        "name": "Kitchen Light",
        "area": "Kitchen",
        "floor": "Ground Floor",
        "domain": "light",
        "device_class": "garage",
        "state": "on",
        "brightness": 50,
        "color": "red",
        "temperature": 21,
        "fan_mode": "auto",
        "position": 40,
        "volume_level": 30,
        "item": "milk",
        "media": {"title": "Blue"},
        "hours": "1",
        "minutes": "5",
        "seconds": "30",
        "canceled": 2,
        "timers": [],
        "date": date(2026, 8, 14),
        "time": time(9, 5),
        **extra,
    }


_STATE_FOR = {"HassGetWeather": _WEATHER, "HassClimateGetTemperature": _THERMOSTAT}
"""The entity HA's handler puts in `state` for intents that are not about lights."""


def _scenarios(intent: str) -> list[dict[str, Any]]:
    """Intent variables as HA's default agent builds them: one, many, none matched; timers."""
    scenarios = [
        {"state": _KITCHEN, "query": {"matched": [_KITCHEN], "unmatched": []}},
        {"state": _LAMPS[0], "query": {"matched": _LAMPS[:5], "unmatched": _LAMPS[5:]}},
        {"state": _LAMPS[1], "query": {"matched": [], "unmatched": _LAMPS[1:4]}},
        {"state": _THERMOSTAT, "query": {"matched": [_THERMOSTAT], "unmatched": []}},
    ]
    if intent in _STATE_FOR:
        scenarios = [{**s, "state": _STATE_FOR[intent]} for s in scenarios]
    out = [{**s, "slots": _slots()} for s in scenarios]
    out += [{**scenarios[0], "slots": _slots(timers=t, canceled=len(t))} for t in _TIMER_SETS]
    out.append({**scenarios[0], "slots": _slots(hours=2, minutes="half", seconds=None)})
    return out


_ERROR_VARIABLES = {
    "entity": "Kitchen Light",
    "area": "Kitchen",
    "floor": "Ground Floor",
    "domain": "binary_sensor",
    "device_class": "window",
    "state": "Open",
}


def _english_responses() -> list[tuple[str, str, str]]:
    data = get_intents("en")
    assert data is not None
    responses = data["responses"]
    found = [
        (intent, key, source)
        for intent, keys in responses["intents"].items()
        for key, source in keys.items()
    ]
    found += [("errors", key, source) for key, source in responses["errors"].items()]
    return found


_ENGLISH = _english_responses()


@pytest.mark.parametrize(
    ("intent", "key", "source"), _ENGLISH, ids=[f"{i}/{k}" for i, k, _ in _ENGLISH]
)
def test_every_english_response_renders(intent: str, key: str, source: str) -> None:
    template = ResponseTemplate(source)
    scenarios = [_ERROR_VARIABLES] if intent == "errors" else _scenarios(intent)
    for variables in scenarios:
        text = template.render(variables)
        assert "{{" not in text and "{%" not in text and "None" not in text, text
        assert template.render(variables, home=_HOME) == text


def test_english_responses_speak_like_home_assistant() -> None:
    responses = {(i, k): ResponseTemplate(s) for i, k, s in _ENGLISH}
    many = {"slots": _slots(), "query": {"matched": _LAMPS, "unmatched": []}}
    assert responses["HassGetState", "any"].render(many) == "Yes, Lamp 1, Lamp 2, Lamp 3 and 3 more"
    two = {"slots": _slots(), "query": {"matched": [], "unmatched": _LAMPS[:2]}}
    assert responses["HassGetState", "all"].render(two) == "No, Lamp 1 and Lamp 2 are not on"
    climate = {"slots": _slots(), "state": _THERMOSTAT}
    assert responses["HassClimateGetTemperature", "default"].render(climate) == "21.5 degrees"
    clock = {"slots": _slots()}
    assert responses["HassGetCurrentTime", "default"].render(clock) == "9:05 AM"
    assert responses["HassGetCurrentDate", "default"].render(clock) == "August 14th, 2026"
    timers = {"slots": _slots(timers=_TIMER_SETS[3])}
    assert responses["HassTimerStatus", "default"].render(timers) == (
        "2 running timers. 1 paused timer. 25 seconds left on 2 minute and 5 second Kitchen timer."
    )
    error = responses["errors", "no_domain_in_area"].render(_ERROR_VARIABLES)
    assert error == "Sorry, I am not aware of any binary sensor in the Kitchen area"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        # namespace(): the only way to carry a value out of a loop in Jinja
        (
            "{% set ns = namespace(n=0) %}{% for x in [1, 2, 3] %}{% set ns.n = ns.n + x %}"
            "{% endfor %}{{ ns.n }}",
            "6",
        ),
        (
            "{% for e in items %}{% if loop.index > 1 %}{% break %}{% endif %}{{ e.name }}"
            "{% endfor %}",
            "A",
        ),
        ("[{{ 'yes' if false }}]", "[]"),
        ("{% filter upper %}done{% endfilter %}", "DONE"),
        ("{{ 7 is divisibleby 7 }}", "True"),
        ("{{ items | map(attribute='n') | max }}", "2"),
        ("{{ items | sum(attribute='n') }}", "3"),
        ("{{ '%s and %s' | format('a', 'b') }}", "a and b"),
        ("{{ items | groupby('state') | map(attribute='grouper') | join('/') }}", "off/on"),
        (
            "{% macro names(xs, sep=', ') %}{{ xs | map(attribute='name') | join(sep) }}"
            "{% endmacro %}{% set said %}{{ names(items, sep=' & ') }}{% endset %}{{ said }}",
            "A & B",
        ),
        ("{{ items | selectattr('state', 'eq', 'on') | map(attribute='name') | join }}", "A"),
        # HA's float/int/round (not Jinja's): defaults, and round(0) speaks an integer
        ("{{ '21.46' | round }} {{ '21.46' | round(1) }} {{ 'x' | float(0) }}", "21 21.5 0"),
        ("{{ '21.6' | int }} {{ int('x', 7) }} {{ 2.5 | round(method='floor') }}", "21 7 2"),
    ],
)
def test_jinja_constructs_render_like_jinja(source: str, expected: str) -> None:
    items = [
        {"name": "A", "state": "on", "n": 1},
        {"name": "B", "state": "off", "n": 2},
    ]
    assert ResponseTemplate(source).render({"items": items}) == expected


def test_a_language_that_builds_lists_in_a_namespace_renders() -> None:
    # Thai builds the spoken duration with namespace() and list.append(): both refused by
    # the old subset, so the answer used to be a generic "Done".
    data = get_intents("th")
    assert data is not None
    template = ResponseTemplate(data["responses"]["intents"]["HassStartTimer"]["default"])
    text = template.render({"slots": {"hours": "1", "minutes": "5"}})
    assert "1 ชั่วโมง" in text and "5 นาที" in text


def test_state_functions_read_the_home_or_the_response_states() -> None:
    source = (
        "{{ states('light.kitchen') }} {{ is_state('light.kitchen', ['on', 'off']) }} "
        "{{ state_attr('climate.hall', 'temperature') }} {{ area_name('light.kitchen') }} "
        "{{ states('light.nope') }} {{ state_attr('light.nope', 'x') }}"
    )
    template = ResponseTemplate(source)
    assert template.render({}, home=_HOME) == "on True 22 Kitchen unknown None"
    # Without a home, only the entities the response is about are visible.
    variables = {"state": _THERMOSTAT, "query": {"matched": [_KITCHEN], "unmatched": []}}
    assert template.render(variables) == "on True 22 None unknown None"
    assert (
        ResponseTemplate("{{ is_state_attr('climate.hall', 'fan_mode', 'auto') }}").render(
            {}, home=_HOME
        )
        == "True"
    )


def test_undefined_values_print_empty_but_fail_when_used() -> None:
    assert ResponseTemplate("[{{ slots.missing }}]").render({"slots": {}}) == "[]"
    assert ResponseTemplate("{{ nothing | default('x') }}").render({}) == "x"
    for source in ("{{ slots.missing.deeper }}", "{{ slots.missing + 1 }}", "{{ 'x' | float }}"):
        with pytest.raises(TemplateError):
            ResponseTemplate(source).render({"slots": {}})


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ state.__init__.__globals__ }}",
        "{{ cycler.__init__.__globals__.os }}",
        "{{ namespace.__init__.__globals__ }}",
        "{{ state.attributes.__class__ }}",
        "{{ ''.format.__self__.__class__ }}",
        "{{ state.__class__ }}",
        "{{ '{0.__class__}'.format('') }}",
        "{{ range(10 ** 9) | length }}",
        "{{ 'x' * 10 ** 8 }}",
        "{{ 2 ** 100000 }}",
        "{{ 'x'.center(10 ** 9) }}",
        "{{ 'x'.zfill(width=10 ** 9) }}",
        "{{ 'x' | center(10 ** 9) }}",
        "{{ [1] | batch(10 ** 9, 0) | list }}",
        "{{ '%0999999d' % 1 }}",
        "{{ '%*d' | format(10 ** 9, 1) }}",
        "{{ '{:>999999}'.format(1) }}",
        "{{ '{:{}}'.format(1, 10 ** 9) }}",
        "{{ lipsum(10 ** 6) }}",
        "{{ ((2 ** 1000) ** 1000) ** 1000 }}",
        "{% for i in range(99999) %}{{ '0123456789' }}{% endfor %}",
    ],
)
def test_sandbox_refuses_unsafe_access(source: str) -> None:
    with pytest.raises(TemplateError):
        ResponseTemplate(source).render({"state": _KITCHEN})


def test_output_is_bounded() -> None:
    fits = f"{{{{ 'x' * {MAX_OUTPUT} }}}}"
    assert len(ResponseTemplate(fits).render({})) == MAX_OUTPUT
    with pytest.raises(TemplateError, match="output"):
        ResponseTemplate(fits + "y").render({})


def test_bad_syntax_is_a_template_error_and_sources_compile_once() -> None:
    with pytest.raises(TemplateError):
        ResponseTemplate("{% if %}")
    with pytest.raises(TemplateError):
        ResponseTemplate("{% if x %}unclosed")
    source = "Turned on {{ slots.name }}"
    assert ResponseTemplate(source)._template is ResponseTemplate(source)._template
    assert ResponseTemplate(source).render({"slots": {"name": "Lamp"}}) == "Turned on Lamp"
