"""Property tests of the scenario loader (``Scenario.from_dict`` / ``load_scenario``) and of
how ``seedsoil run`` reports bad scenario files.

Contract (DESIGN.md principle 4, scenario.py docstring): every invalid input raises
``seedsoil.errors.ScenarioError`` (never another exception type) whose message is one
line, names the field by its dotted path and, for range errors, states the allowed
interval and unit. Every valid input is converted once to internal units and
round-trips through ``to_dict``.
"""
from __future__ import annotations

import itertools
import math
import string
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from seedsoil.errors import ScenarioError
from seedsoil.params import Interval, load_library
from seedsoil.coupling import default_drugs
from seedsoil.scenario import STRUCTURAL, Injection, Meta, Output, Scenario, Simulation, Surgery, Therapy, load_scenario

LIB = load_library()
PARAMS = sorted(LIB)
GROUPS = sorted(LIB.groups())
TOP_GROUPS = sorted(g for g in GROUPS if "." not in g)
DEFAULTS = LIB.defaults()

PROPS = settings(deadline=None, max_examples=60)

# ----------------------------------------------------------------------------- units
#: other spellings of each internal unit: (unit text, internal value of 1 of it)
ALT_UNITS: dict[str, list[tuple[str, float]]] = {
    "day": [("h", 1 / 24), ("week", 7.0), ("min", 1 / 1440)],
    "1/day": [("/ h", 24.0), ("/ week", 1 / 7)],
    "mm": [("cm", 10.0), ("um", 1e-3)],
    "1/mm^3": [("/ cm^3", 1e-3)],
    "nM": [("pM", 1e-3), ("uM", 1e3)],
    "nM/day": [("pM/h", 0.024)],
    "cells": [("cells", 1.0)],
    "mg": [("g", 1e3)],
    "": [],
    "1/(day*mm^2)": [],
    "1/Gy": [],
    "Gy": [],
    "1/year": [],
}
DIMENSION = {"day": "time", "1/day": "rate", "mm": "length", "1/mm^3": "per_volume", "nM": "conc",
             "nM/day": "conc_rate", "cells": "none", "": "none", "mg": "mass", "1/year": "rate",
             "1/(day*mm^2)": "rate_per_area", "1/Gy": "per_dose", "Gy": "dose"}
#: quantities of a known dimension, to put where another dimension is needed
WRONG_UNIT_VALUES = [("3 mm", "length"), ("3 h", "time"), ("3 nM", "conc"), ("3 mg", "mass"), ("3 / h", "rate"),
                     ("3 m^3", "volume"), ("3 nM/h", "conc_rate"), ("3 / mm^3", "per_volume"),
                     ("3 kelvin", "temperature"), ("2 cm", "length"), ("0.5 year", "time")]
#: strings that are not a quantity at all
UNREADABLE = ["abc", "", "   ", "three days", "3 xyzzy", "1 +", "(1", "1 day / 0", "3 **", "1e", "--", "#",
              "None", "[]", "{}", "3 days ago", "@"]
WRONG_TYPES: list[Any] = [True, False, [], [1.0], [1, 2], {}, {"value": 1.0}, {"unit": "day"}]

def nested(path: str, value: Any) -> dict[str, Any]:
    *groups, leaf = path.split(".")
    node: dict[str, Any] = {leaf: value}
    for g in reversed(groups):
        node = {g: node}
    return node


def merge(into: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    for k, v in other.items():
        if isinstance(v, dict) and isinstance(into.get(k), dict):
            merge(into[k], v)
        else:
            into[k] = v
    return into


def assert_one_line(msg: str) -> None:
    assert msg.strip(), "empty error message"
    assert "\n" not in msg and "\r" not in msg, f"message is not one line: {msg!r}"


def assert_names_field(exc: ScenarioError, field: str) -> None:
    msg = str(exc)
    assert_one_line(msg)
    assert exc.field == field, (exc.field, field, msg)
    assert field in msg, (field, msg)


def assert_range_message(msg: str, interval: Interval | str, unit: str) -> None:
    expected = f"allowed {interval}" + (f" {unit}" if unit else "")
    assert expected in msg, (expected, msg)


_counter = itertools.count()


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("scenario_props")


def write_file(folder: Path, text: str | bytes) -> Path:
    path = folder / f"s{next(_counter)}.toml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def load_both(data: dict[str, Any], folder: Path, dumps) -> list[Any]:
    """Outcome of from_dict(data) and of load_scenario(<data as TOML>): a Scenario or the ScenarioError."""
    outcomes = []
    for load in (lambda: _sc_from_dict(data), lambda: load_scenario(write_file(folder, dumps(data)), drugs=DRUGS)):
        try:
            outcomes.append(load())
        except ScenarioError as exc:
            outcomes.append(exc)
    return outcomes


# ----------------------------------------------------------------------------- strategies
def _near(v: float, b: float) -> bool:
    return b != 0 and math.isfinite(b) and abs(v - b) <= 1e-9 * abs(b)


@st.composite
def valid_param_value(draw, name: str):
    """(raw value as a user writes it, expected internal value)."""
    p = LIB[name]
    if p.kind == "bool":
        v = draw(st.booleans())
        return v, v
    if p.kind == "choice":
        v = draw(st.sampled_from(p.choices))
        return v, v
    r = p.range
    assert r is not None, f"{name} has no range"
    v = draw(st.floats(min_value=r.low, max_value=r.high, exclude_min=not r.low_closed,
                       exclude_max=not r.high_closed, allow_nan=False, allow_subnormal=False))
    how = draw(st.sampled_from(["float", "int", "bare", "unit"]))
    if how == "int" and v.is_integer() and abs(v) < 2**53:
        return int(v), v
    if how == "bare":  # a number in a string is taken in the field's unit
        return repr(v), v
    edge = _near(v, r.low) or _near(v, r.high) or 0 < abs(v) < 1e-250
    if how == "unit" and p.unit and not edge:
        u, factor = draw(st.sampled_from([(p.unit, 1.0)] + ALT_UNITS[p.unit]))
        return f"{v / factor!r} {u}", v
    return v, v


@st.composite
def bad_number(draw, interval: Interval, unit: str):
    """(bad raw value, category) for a quantity field with ``interval`` in ``unit``."""
    kind = draw(st.sampled_from(["type", "range", "unit", "unreadable"]))
    if kind == "type":
        return draw(st.sampled_from(WRONG_TYPES)), kind
    if kind == "unit":
        wrong = [s for s, dim in WRONG_UNIT_VALUES if dim != DIMENSION[unit]]
        return draw(st.sampled_from(wrong)), kind
    if kind == "unreadable":
        return draw(st.sampled_from(UNREADABLE)), kind
    lo, hi = interval.low, interval.high
    scale = draw(st.floats(min_value=1e-6, max_value=1e6))
    below = [lo - scale * max(1.0, abs(lo))] + ([lo] if not interval.low_closed else [])
    above = [hi + scale * max(1.0, abs(hi))] + ([hi] if not interval.high_closed else [])
    x = draw(st.sampled_from([math.nan, math.inf, -math.inf, -1.0, *below, *above]))
    assert x not in interval
    form = draw(st.sampled_from(["float", "string"]))
    if form == "string" and unit:
        return f"{x!r} {unit}", kind
    if form == "string":
        return repr(x), kind
    return x, kind


@st.composite
def bad_param_value(draw, name: str):
    p = LIB[name]
    if p.kind == "number":
        return draw(bad_number(p.range, p.unit))
    if p.kind == "bool":
        return draw(st.sampled_from([0, 1, 1.5, "true", "yes", "false", [], [True], {}, {"value": True}])), "type"
    good = list(p.choices or ())
    bad = [3, 1.5, True, [], good[:1], {}, "", "nonsense"] + [c.upper() for c in good] + [c + "x" for c in good]
    return draw(st.sampled_from([b for b in bad if b not in good])), "type"


KEY = st.text(alphabet=string.ascii_letters + string.digits + "_-", min_size=1, max_size=12)

STRUCT_MODELS = {"scenario": Meta, "simulation": Simulation, "surgery": Surgery, "injection": Injection,
                 "output": Output}
STRUCT_CONTEXT = {"scenario": {}, "simulation": {}, "surgery": {"day": 10.0}, "injection": {"cells": 10.0},
                  "output": {}}
THERAPY_OK = {"kind": "il1r_blockade", "relative_to": "start"}
#: a therapy of the kind that takes each kind-specific field (a therapy rejects other kinds' fields)
THERAPY_FOR_FIELD = {
    "level": {"kind": "il1b_mimetic", "relative_to": "start"},
    "dose": {"kind": "drug", "relative_to": "start", "drug": "proptest", "dose": 1.0, "interval": 1.0},
    "interval": {"kind": "drug", "relative_to": "start", "drug": "proptest", "dose": 1.0, "interval": 1.0},
    "drug": {"kind": "drug", "relative_to": "start", "drug": "proptest", "dose": 1.0, "interval": 1.0},
}


def _proptest_exposure(times, dosing):
    """A real (if simple) PK model so drug therapies validate: constant 1 nM while dosing."""
    import numpy as np

    return np.where((times >= dosing.start_day) & (times < dosing.stop_day), 1.0, 0.0)


#: the drug library these scenarios are validated with: the presets and "proptest"
DRUGS = default_drugs().with_drug(_proptest_exposure, name="proptest")


def _sc_from_dict(data):
    return Scenario.from_dict(data, drugs=DRUGS)


@st.composite
def unknown_key_case(draw):
    """(scenario dict with one unknown key somewhere, its dotted path, variant prefix or '')."""
    level = draw(st.sampled_from(["section", "group", "structural", "therapy", "variant_section",
                                  "variant_group", "variant_structural"]))
    key = draw(KEY)
    if level in ("section", "variant_section"):
        assume(key not in STRUCTURAL and key not in GROUPS and key != "name")
        if level == "section":
            return {key: draw(st.sampled_from([{}, {"rate": 1.0}, 1.0]))}, key, ""
        i = draw(st.integers(0, 2))
        variants = [{"name": f"v{j}"} for j in range(i)] + [{"name": f"v{i}", key: {"rate": 1.0}}]
        return {"variant": variants}, f"variant[{i}].{key}", f"variant[{i}]"
    if level in ("group", "variant_group"):
        group = draw(st.sampled_from(GROUPS))
        path = f"{group}.{key}"
        assume(path not in LIB and path not in GROUPS)
        if level == "group":
            return nested(path, 1.0), path, ""
        return {"variant": [{"name": "v", **nested(path, 1.0)}]}, f"variant[0].{path}", "variant[0]"
    if level == "therapy":
        assume(key not in Therapy.model_fields)
        i = draw(st.integers(0, 2))
        return ({"therapy": [dict(THERAPY_OK) for _ in range(i)] + [{**THERAPY_OK, key: 1.0}]},
                f"therapy[{i}].{key}", "")
    if level == "structural":
        section = draw(st.sampled_from(sorted(STRUCT_MODELS)))
        assume(key not in STRUCT_MODELS[section].model_fields)
        return {section: {**STRUCT_CONTEXT[section], key: 1.0}}, f"{section}.{key}", ""
    section = draw(st.sampled_from(["simulation", "output"]))
    assume(key not in STRUCT_MODELS[section].model_fields)
    return ({"variant": [{"name": "v", section: {key: 1.0}}]}, f"variant[0].{section}.{key}", "variant[0]")


#: structural quantity fields: (section, field, unit label in messages, internal unit, allowed interval)
STRUCT_QTY = [
    ("simulation", "dt", "day", "day", "(0, 30]"),
    ("simulation", "follow_up", "day", "day", "(0, 1e6]"),
    ("simulation", "max_time", "day", "day", "(0, 1e6]"),
    ("simulation", "exact_threshold", "cells", "cells", "[1, 1e6]"),
    ("simulation", "stochastic_threshold", "cells", "cells", "[1, 1e12]"),
    ("surgery", "day", "day", "day", "[0, 1e6]"),
    ("surgery", "primary_diameter", "mm", "mm", "(0, 1e4]"),
    ("surgery", "delay", "day", "day", "[0, 1e6]"),
    ("therapy", "start", "day", "day", "[0, 1e6]"),
    ("therapy", "duration", "day", "day", "(0, 1e6]"),
    ("therapy", "blocked_fraction", "", "", "[0, 1]"),
    ("therapy", "level", "nM", "nM", "[0, 1e6]"),
    ("therapy", "dose", "mg", "mg", "(0, 1e6]"),
    ("therapy", "interval", "day", "day", "(0, 1e6]"),
    ("injection", "cells", "cells", "cells", "[0, 1e15]"),
    ("injection", "day", "day", "day", "[0, 1e6]"),
    ("output", "record_every", "day", "day", "(0, 1e6]"),
]
#: non-numeric structural fields and values of the wrong type for them
STRUCT_OTHER = [
    ("scenario", "name", [3, 1.5, True, [], ["a"], {}]),
    ("scenario", "description", [3, False, [], {}]),
    ("simulation", "engine", [3, True, "gillespie", "", [], {}]),
    ("simulation", "stop_at", [1, False, "never", [], {}]),
    ("simulation", "seed", [1.5, "abc", [], {}, [1]]),
    ("simulation", "grid_cells", [1.5, "many", [], {}]),
    ("therapy", "kind", [3, True, "chemo", [], {}]),
    ("therapy", "relative_to", [3, True, "diagnosis", [], {}]),
    ("therapy", "drug", [3, True, [], {}]),
    ("output", "colonies", [[], {}, 2.5, "maybe"]),
    ("output", "report", [[], {}, 7, "perhaps"]),
]


def with_struct_value(section: str, field: str, value: Any, index: int = 0) -> tuple[dict[str, Any], str]:
    """A scenario holding ``value`` in section.field, and the dotted path of that field."""
    if section == "therapy":
        base = THERAPY_FOR_FIELD.get(field, THERAPY_OK)
        return ({"therapy": [dict(THERAPY_OK) for _ in range(index)] + [{**base, field: value}]},
                f"therapy[{index}].{field}")
    if section == "surgery":
        ctx = {"day": 10.0} if field == "delay" else {}
        return {"surgery": {**ctx, field: value}}, f"surgery.{field}"
    if section == "injection":
        ctx = {} if field == "cells" else {"cells": 10.0}
        return {"injection": {**ctx, field: value}}, f"injection.{field}"
    return {section: {field: value}}, f"{section}.{field}"


# ----------------------------------------------------------------------------- the TOML writer itself
@PROPS
@given(st.recursive(
    st.booleans() | st.integers(-10**6, 10**6) | st.text(max_size=8)
    | st.floats(allow_nan=False),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=10))
def test_toml_writer_round_trips(write_toml, value):
    import tomllib

    data = {"k": value}
    assert tomllib.loads(write_toml(data)) == data


# ----------------------------------------------------------------------------- valid input
@PROPS
@given(data=st.data())
def test_valid_overrides_are_accepted_converted_and_round_trip(data, scratch, write_toml):
    names = data.draw(st.lists(st.sampled_from(PARAMS), max_size=8, unique=True), label="names")
    raw: dict[str, Any] = {}
    expected: dict[str, Any] = {}
    for name in names:
        value, internal = data.draw(valid_param_value(name), label=name)
        merge(raw, nested(name, value))
        expected[name] = internal
    params = {**DEFAULTS, **expected}
    fate = params["fate.proliferative_probability"] + params["fate.dormant_probability"]
    assume(not (1 - 1e-9 < fate <= 1 + 1e-9))
    if fate > 1:  # the one cross-field rule of the library
        with pytest.raises(ScenarioError) as info:
            _sc_from_dict(raw)
        assert_names_field(info.value, "fate.dormant_probability")
        return
    sc = _sc_from_dict(raw)
    assert set(sc.overrides) == set(names)
    for name in PARAMS:
        want = expected.get(name, DEFAULTS[name])
        got = sc[name]
        if LIB[name].kind == "number":
            assert isinstance(got, float), (name, got)
            assert got == pytest.approx(want, rel=1e-12, abs=0.0), (name, raw)
            assert got in LIB[name].range
        else:
            assert got == want and type(got) is type(want), (name, got, want)
    again = _sc_from_dict(sc.to_dict())
    assert again == sc
    assert again.content_hash() == sc.content_hash()
    from_file = load_scenario(write_file(scratch, write_toml(raw)), drugs=DRUGS)
    assert from_file == sc
    assert from_file.content_hash() == sc.content_hash()


@st.composite
def valid_struct_value(draw, unit: str, interval: Interval):
    v = draw(st.floats(min_value=interval.low, max_value=interval.high, exclude_min=not interval.low_closed,
                       exclude_max=not interval.high_closed, allow_nan=False, allow_subnormal=False))
    edge = _near(v, interval.low) or _near(v, interval.high) or 0 < abs(v) < 1e-250
    options = ([(unit, 1.0)] + ALT_UNITS[unit]) if unit and not edge else []
    if options and draw(st.booleans()):
        u, factor = draw(st.sampled_from(options))
        return f"{v / factor!r} {u}", v
    return v, v


@PROPS
@given(data=st.data())
def test_valid_structural_values_are_converted_and_round_trip(data, scratch, write_toml):
    section, field, _label, unit, interval = data.draw(st.sampled_from(STRUCT_QTY), label="field")
    iv = Interval.parse(interval)
    raw, internal = data.draw(valid_struct_value(unit, iv), label="value")
    scenario, path = with_struct_value(section, field, raw)
    if section == "simulation" and field == "stochastic_threshold":
        scenario["simulation"]["exact_threshold"] = 1.0
    if section == "simulation" and field == "exact_threshold":
        scenario["simulation"]["stochastic_threshold"] = 1e12
    sc = _sc_from_dict(scenario)
    obj = {"simulation": sc.simulation, "surgery": sc.surgery, "injection": sc.injection, "output": sc.output,
           "therapy": sc.therapies[0] if sc.therapies else None}[section]
    got = getattr(obj, field)
    assert isinstance(got, float)
    assert got == pytest.approx(internal, rel=1e-12, abs=0.0), (path, raw)
    again = _sc_from_dict(sc.to_dict())
    assert again == sc and again.content_hash() == sc.content_hash()
    from_file = load_scenario(write_file(scratch, write_toml(scenario)), drugs=DRUGS)
    assert from_file == sc


# ----------------------------------------------------------------------------- invalid input
@PROPS
@given(data=st.data())
def test_bad_parameter_values_raise_a_one_line_scenario_error(data, scratch, write_toml):
    name = data.draw(st.sampled_from(PARAMS), label="name")
    value, kind = data.draw(bad_param_value(name), label="value")
    variant = data.draw(st.booleans(), label="in a variant")
    scenario = {"variant": [{"name": "v", **nested(name, value)}]} if variant else nested(name, value)
    field = f"variant[0].{name}" if variant else name
    for outcome in load_both(scenario, scratch, write_toml):
        assert isinstance(outcome, ScenarioError), f"{name} = {value!r} was accepted"
        msg = str(outcome)
        assert_one_line(msg)
        assert outcome.field == field, (outcome.field, field, msg)
        assert name in msg
        if variant:
            assert msg.startswith("variant[0]"), msg
        if kind == "range":
            p = LIB[name]
            assert_range_message(msg, p.range, p.unit)


@PROPS
@given(data=st.data())
def test_bad_structural_values_raise_a_one_line_scenario_error(data, scratch, write_toml):
    section, field, label, unit, interval = data.draw(st.sampled_from(STRUCT_QTY), label="field")
    iv = Interval.parse(interval)
    value, kind = data.draw(bad_number(iv, unit), label="value")
    index = data.draw(st.integers(0, 2), label="therapy index")
    scenario, path = with_struct_value(section, field, value, index)
    for outcome in load_both(scenario, scratch, write_toml):
        assert isinstance(outcome, ScenarioError), f"{path} = {value!r} was accepted"
        assert_names_field(outcome, path)
        if kind == "range":
            assert_range_message(str(outcome), iv, label)


@PROPS
@given(data=st.data())
def test_wrong_types_in_structural_fields_raise_a_scenario_error(data, scratch, write_toml):
    section, field, values = data.draw(st.sampled_from(STRUCT_OTHER), label="field")
    value = data.draw(st.sampled_from(values), label="value")
    scenario, path = with_struct_value(section, field, value)
    for outcome in load_both(scenario, scratch, write_toml):
        assert isinstance(outcome, ScenarioError), f"{path} = {value!r} was accepted"
        assert_names_field(outcome, path)


@PROPS
@given(case=unknown_key_case())
def test_unknown_keys_at_every_level_are_named(case, scratch, write_toml):
    scenario, path, variant = case
    for outcome in load_both(scenario, scratch, write_toml):
        assert isinstance(outcome, ScenarioError), f"{path} was accepted"
        msg = str(outcome)
        assert_one_line(msg)
        assert outcome.field == path, (outcome.field, path, msg)
        assert "unknown" in msg
        if variant:
            assert msg.startswith(variant) and path[len(variant) + 1:] in msg, msg
        else:
            assert path in msg, msg


@PROPS
@given(name=st.sampled_from(GROUPS), value=st.sampled_from([1.0, "2 cm", True, [1, 2]]))
def test_a_group_given_a_value_is_an_error(name, value):
    with pytest.raises(ScenarioError) as info:
        _sc_from_dict(nested(name, value))
    assert_names_field(info.value, name)


@PROPS
@given(section=st.sampled_from(sorted(STRUCT_MODELS)), value=st.sampled_from([1.0, "x", True, [1, 2]]))
def test_a_structural_section_given_a_value_is_an_error(section, value):
    with pytest.raises(ScenarioError) as info:
        _sc_from_dict({section: value})
    assert_names_field(info.value, section)


@PROPS
@given(text=st.text(alphabet=string.ascii_letters + string.digits + " ._/-+()", max_size=12),
       data=st.data())
def test_arbitrary_strings_are_accepted_in_range_or_rejected(text, data):
    """Whatever text is written as a number: a value in range, or a ScenarioError, nothing else."""
    name = data.draw(st.sampled_from([n for n in PARAMS if LIB[n].kind == "number"]), label="name")
    try:
        sc = _sc_from_dict(nested(name, text))
    except ScenarioError as exc:
        assert_names_field(exc, name)
    else:
        assert math.isfinite(sc[name]) and sc[name] in LIB[name].range


# ----------------------------------------------------------------------------- malformed files
MALFORMED = [
    "[simulation\ndt = 1\n",
    "[simulation]\ndt = \n",
    "= 1\n",
    "[surgery]\nday = \"unterminated\n",
    "[shedding]\nrate = 1\n[shedding]\nrate = 2\n",
    "[shedding]\nrate = 1\nrate = 2\n",
    "[[therapy]\nkind = \"drug\"\n",
    "a = [1, 2\n",
    "x = {a = 1,}\n",
    "seed = 0x\n",
]


@pytest.mark.parametrize("text", MALFORMED)
def test_malformed_toml_is_a_scenario_error(text, scratch):
    path = write_file(scratch, text)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    msg = str(info.value)
    assert_one_line(msg)
    assert str(path) in msg and "TOML" in msg


@PROPS
@given(text=st.text(max_size=60))
def test_any_text_file_loads_or_raises_a_scenario_error(text, scratch):
    path = write_file(scratch, text)
    try:
        load_scenario(path)
    except ScenarioError as exc:
        assert_one_line(str(exc))
        assert exc.field is not None


@PROPS
@given(blob=st.binary(min_size=1, max_size=40))
def test_any_bytes_load_or_raise_a_scenario_error(blob, scratch):
    path = write_file(scratch, blob)
    try:
        load_scenario(path)
    except ScenarioError as exc:
        assert_one_line(str(exc))
        assert exc.field is not None


def test_missing_file_and_directory_are_scenario_errors(scratch):
    for path in (scratch / "does_not_exist.toml", scratch):
        with pytest.raises(ScenarioError) as info:
            load_scenario(path)
        assert_one_line(str(info.value))
        assert info.value.field == "file"


def test_non_utf8_file_is_a_scenario_error(scratch):
    path = write_file(scratch, b"[simulation]\nname = \"\xff\xfe\"\n")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert_one_line(str(info.value))
    assert "UTF-8" in str(info.value)


# ----------------------------------------------------------------------------- known loader bugs
@pytest.mark.parametrize("value", [10**400, "10**400", "9**9**3"], ids=["int_1e400", "10**400", "9**9**3"])
def test_huge_numbers_are_scenario_errors(value):
    with pytest.raises(ScenarioError) as info:
        _sc_from_dict({"shedding": {"rate": value}})
    assert_names_field(info.value, "shedding.rate")


@pytest.mark.parametrize("value", [True, False, -1])
def test_simulation_seed_rejects_booleans_and_negatives(value):
    with pytest.raises(ScenarioError) as info:
        _sc_from_dict({"simulation": {"seed": value}})
    assert_names_field(info.value, "simulation.seed")


@pytest.mark.parametrize("value", [0, -3, True])
def test_simulation_grid_cells_must_be_a_positive_integer(value):
    with pytest.raises(ScenarioError) as info:
        _sc_from_dict({"simulation": {"grid_cells": value}})
    assert_names_field(info.value, "simulation.grid_cells")


@pytest.mark.parametrize("value", [1, 0, "yes"])
def test_output_flags_must_be_booleans(value):
    with pytest.raises(ScenarioError) as info:
        _sc_from_dict({"output": {"colonies": value}})
    assert_names_field(info.value, "output.colonies")


@pytest.mark.parametrize("scenario", [{"a\nb": {}}, {"shedding": {"ra\nte": 1}}, {"simulation": {"d\nt": 1}}])
def test_messages_are_one_line_even_for_odd_keys(scenario):
    with pytest.raises(ScenarioError) as info:
        _sc_from_dict(scenario)
    assert_one_line(str(info.value))


# ----------------------------------------------------------------------------- the same through the CLI
BAD_FILES = {
    "wrong_unit": ('[simulation]\ndt = "3 mm"\n', "simulation.dt"),
    "out_of_range": ("[shedding]\nrate = -1\n", "shedding.rate"),
    "unknown_nested": ("[primary.gompertz]\nrate_constnt = 0.1\n", "primary.gompertz.rate_constnt"),
    "malformed": ("[simulation\ndt = 1\n", "bad_malformed.toml"),
    "variant": ('[[variant]]\nname = "v"\n[variant.fate]\ndormant_probability = 1.5\n',
                "fate.dormant_probability"),
}
#: bad files that currently crash `seedsoil run` with a traceback (bugs)
CRASHING_FILES = {
    "huge_int": ("[shedding]\nrate = 1" + "0" * 400 + "\n", "shedding.rate"),
    "negative_seed": ('[simulation]\nseed = -1\nfollow_up = "5 day"\n', "simulation.seed"),
    "no_primary_exponential_surgery": (
        '[primary]\ninitial_cells = 0\nlaw = "exponential"\n[injection]\ncells = 100\n'
        '[surgery]\nprimary_diameter = "2 cm"\n', "surgery"),
}


@pytest.fixture(scope="module")
def cli_bad_runs(tmp_path_factory, cli_many):
    folder = tmp_path_factory.mktemp("cli_bad")
    cases = {**BAD_FILES, **CRASHING_FILES}
    args = []
    for key, (text, _field) in cases.items():
        (folder / f"bad_{key}.toml").write_text(text, encoding="utf-8")
        args.append(["run", f"bad_{key}.toml", "--out", f"out_{key}", "--no-report"])
    results = cli_many(args, cwd=folder)
    return folder, dict(zip(cases, results))


def _check_cli_failure(folder: Path, key: str, field: str, res) -> None:
    assert "Traceback" not in res.stderr, res.stderr
    assert res.returncode == 2, (res.returncode, res.stdout, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert field in lines[0], (field, lines[0])
    assert not (folder / f"out_{key}").exists()


@pytest.mark.parametrize("key", sorted(BAD_FILES))
def test_cli_reports_bad_scenarios_on_one_line(key, cli_bad_runs):
    folder, results = cli_bad_runs
    _check_cli_failure(folder, key, BAD_FILES[key][1], results[key])
    if key == "out_of_range":
        p = LIB["shedding.rate"]
        assert_range_message(results[key].stderr, p.range, p.unit)
    if key == "variant":
        assert "variant[0]" in results[key].stderr


@pytest.mark.parametrize("key", [
    pytest.param("huge_int"),
    pytest.param("negative_seed"),
    pytest.param("no_primary_exponential_surgery"),
])
def test_cli_rejects_edge_case_scenarios(key, cli_bad_runs):
    folder, results = cli_bad_runs
    _check_cli_failure(folder, key, CRASHING_FILES[key][1], results[key])
