"""Scenario loader: unit conversion, hints, cross-field rules, surgery / therapy rules,
variants, and the ``with_parameters`` / ``with_settings`` copies."""
from __future__ import annotations

import math

import pytest

from seedsoil.errors import ScenarioError
from seedsoil.params import load_library
from seedsoil.scenario import Scenario, default_scenario, load_scenario

LIB = load_library()


def error_of(data) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        Scenario.from_dict(data)
    msg = str(info.value)
    assert "\n" not in msg, msg
    return info.value


# ----------------------------------------------------------------------------- unit conversion
@pytest.mark.parametrize("data, get, expected", [
    ({"simulation": {"dt": "3 h"}}, lambda s: s.simulation.dt, 0.125),
    ({"simulation": {"dt": "1 day"}}, lambda s: s.simulation.dt, 1.0),
    ({"simulation": {"dt": 0.5}}, lambda s: s.simulation.dt, 0.5),
    ({"simulation": {"dt": "0.5"}}, lambda s: s.simulation.dt, 0.5),  # bare number in a string: field's unit
    ({"simulation": {"dt": "90 min"}}, lambda s: s.simulation.dt, 0.0625),
    ({"simulation": {"follow_up": "10 year"}}, lambda s: s.simulation.follow_up, 3652.5),
    ({"simulation": {"follow_up": "2 week"}}, lambda s: s.simulation.follow_up, 14.0),
    ({"surgery": {"primary_diameter": "2 cm"}}, lambda s: s.surgery.primary_diameter, 20.0),
    ({"surgery": {"primary_diameter": "0.02 m"}}, lambda s: s.surgery.primary_diameter, 20.0),
    ({"surgery": {"primary_diameter": "500 um"}}, lambda s: s.surgery.primary_diameter, 0.5),
    ({"surgery": {"primary_diameter": "500 µm"}}, lambda s: s.surgery.primary_diameter, 0.5),
    ({"surgery": {"day": "1 year"}}, lambda s: s.surgery.day, 365.25),
    ({"surgery": {"day": 100}, "therapy": [{"kind": "il1b_mimetic", "duration": "12 month"}]},
     lambda s: s.therapies[0].duration, 365.25),
    ({"surgery": {"day": 100}, "therapy": [{"kind": "il1b_mimetic", "level": "100 pM"}]},
     lambda s: s.therapies[0].level, 0.1),
    ({"surgery": {"day": 100}, "therapy": [{"kind": "il1b_mimetic", "level": "1 uM"}]},
     lambda s: s.therapies[0].level, 1000.0),
    ({"injection": {"cells": "1e5 cells"}}, lambda s: s.injection.cells, 1e5),
    ({"injection": {"cells": 1000, "day": "36 h"}}, lambda s: s.injection.day, 1.5),
    ({"output": {"record_every": "1 week"}}, lambda s: s.output.record_every, 7.0),
    ({"circulation": {"ctc_half_life": "1.5 h"}}, lambda s: s["circulation.ctc_half_life"], 0.0625),
    ({"shedding": {"rate": "0.5 / h"}}, lambda s: s["shedding.rate"], 12.0),
    ({"shedding": {"rate": "7 / week"}}, lambda s: s["shedding.rate"], 1.0),
    ({"cells": {"density": "1e8 / cm^3"}}, lambda s: s["cells.density"], 1e5),
    ({"detection": {"metastasis_diameter": "0.5 cm"}}, lambda s: s["detection.metastasis_diameter"], 5.0),
    ({"dormancy": {"suppression_half_concentration": "0.57 pM"}},
     lambda s: s["dormancy.suppression_half_concentration"], 5.7e-4),
    ({"inflammation": {"max_production": "1 pM/h"}}, lambda s: s["inflammation.max_production"], 0.024),
    ({"inflammation": {"half_life": "2 week"}}, lambda s: s["inflammation.half_life"], 14.0),
    ({"primary": {"gompertz": {"rate_constant": "0.07 / week"}}},
     lambda s: s["primary.gompertz.rate_constant"], 0.01),
    ({"primary": {"initial_cells": "1000 cells"}}, lambda s: s["primary.initial_cells"], 1000.0),
    ({"fate": {"dormant_probability": "45 percent"}}, lambda s: s["fate.dormant_probability"], 0.45),
    ({"fate": {"dormant_probability": 0}}, lambda s: s["fate.dormant_probability"], 0.0),
])
def test_values_are_converted_to_internal_units(data, get, expected):
    sc = Scenario.from_dict(data)
    got = get(sc)
    assert isinstance(got, float)
    assert got == pytest.approx(expected, rel=1e-12)


def test_integers_become_floats_and_defaults_fill_the_rest():
    sc = Scenario.from_dict({"shedding": {"rate": 1}})
    assert sc["shedding.rate"] == 1.0 and isinstance(sc["shedding.rate"], float)
    assert dict(sc.overrides) == {"shedding.rate": 1.0}
    for name, p in LIB.entries.items():
        if name != "shedding.rate":
            assert sc[name] == p.value


@pytest.mark.parametrize("data, field, unit", [
    ({"simulation": {"dt": "3 mm"}}, "simulation.dt", "day"),
    ({"shedding": {"rate": "2 cm"}}, "shedding.rate", "1/day"),
    ({"surgery": {"primary_diameter": "3 h"}}, "surgery.primary_diameter", "mm"),
    ({"cells": {"density": "1e5 / mm"}}, "cells.density", "1/mm^3"),
    ({"primary": {"initial_cells": "5 day"}}, "primary.initial_cells", "cells"),
])
def test_wrong_units_name_the_field_and_the_unit_it_needs(data, field, unit):
    exc = error_of(data)
    assert exc.field == field
    assert str(exc).startswith(field) and f"convert to {unit}" in str(exc)


@pytest.mark.parametrize("data, field, allowed", [
    ({"simulation": {"dt": "31 day"}}, "simulation.dt", "allowed (0, 30] day"),
    ({"simulation": {"dt": "-3 h"}}, "simulation.dt", "allowed (0, 30] day"),
    ({"surgery": {"primary_diameter": "20 m"}}, "surgery.primary_diameter", "allowed (0, 10000] mm"),
    ({"shedding": {"rate": -1}}, "shedding.rate", "allowed [0, 1e+09] 1/day"),
    ({"fate": {"dormant_probability": 1.5}}, "fate.dormant_probability", "allowed [0, 1]"),
    ({"circulation": {"ctc_half_life": 0}}, "circulation.ctc_half_life", "allowed (0, 10] day"),
    ({"circulation": {"ctc_half_life": "11 day"}}, "circulation.ctc_half_life", "allowed (0, 10] day"),
])
def test_range_errors_state_interval_and_unit(data, field, allowed):
    exc = error_of(data)
    assert exc.field == field
    assert field in str(exc) and allowed in str(exc)


@pytest.mark.parametrize("text", ["1,5 day", "1..2 day", "3 $ day"])
def test_malformed_numbers_are_rejected_not_misread(text):
    exc = error_of({"simulation": {"dt": text}})
    assert exc.field == "simulation.dt" and "could not read it as a quantity" in str(exc)


# ----------------------------------------------------------------------------- hints
@pytest.mark.parametrize("data, field, hint", [
    ({"simulaton": {}}, "simulaton", "simulation"),
    ({"sheding": {"rate": 0.1}}, "sheding", "shedding"),
    ({"shedding": {"rat": 0.1}}, "shedding.rat", "rate"),
    ({"primary": {"gompertz": {"rate_constnt": 0.1}}}, "primary.gompertz.rate_constnt", "rate_constant"),
    ({"primary": {"gompertzz": {"rate_constant": 0.1}}}, "primary.gompertzz", "gompertz"),
    ({"simulation": {"folow_up": "1 year"}}, "simulation.folow_up", "follow_up"),
    ({"surgery": {"primary_diamter": "2 cm"}}, "surgery.primary_diamter", "primary_diameter"),
    ({"surgery": {"day": 1}, "therapy": [{"kind": "il1r_blockade", "duraton": 10}]}, "therapy[0].duraton",
     "duration"),
    ({"output": {"record_evry": 7}}, "output.record_evry", "record_every"),
    ({"scenario": {"nam": "x"}}, "scenario.nam", "name"),
])
def test_unknown_keys_get_a_did_you_mean_hint(data, field, hint):
    exc = error_of(data)
    assert exc.field == field
    assert field in str(exc)
    assert f"did you mean '{hint}'?" in str(exc)


@pytest.mark.parametrize("data, field", [
    ({"zzqqxx": {}}, "zzqqxx"),
    ({"shedding": {"zzqqxx": 1}}, "shedding.zzqqxx"),
    ({"simulation": {"zzqqxx": 1}}, "simulation.zzqqxx"),
])
def test_no_hint_when_nothing_is_close(data, field):
    exc = error_of(data)
    assert exc.field == field and "did you mean" not in str(exc)


# ----------------------------------------------------------------------------- cross-field rules
def test_fate_probabilities_must_not_sum_above_one():
    exc = error_of({"fate": {"proliferative_probability": 0.6, "dormant_probability": 0.5}})
    assert exc.field == "fate.dormant_probability"
    assert "fate.proliferative_probability" in str(exc) and "<= 1" in str(exc)
    # with the other one at its default (0.03): 0.99 + 0.03 > 1
    assert error_of({"fate": {"dormant_probability": 0.99}}).field == "fate.dormant_probability"


def test_fate_probabilities_summing_to_exactly_one_are_fine():
    sc = Scenario.from_dict({"fate": {"proliferative_probability": 0.5, "dormant_probability": 0.5}})
    assert sc["fate.proliferative_probability"] + sc["fate.dormant_probability"] == 1.0


def test_stochastic_threshold_must_not_be_below_exact_threshold():
    exc = error_of({"simulation": {"exact_threshold": 100, "stochastic_threshold": 50}})
    assert exc.field == "simulation.stochastic_threshold"
    assert "simulation.exact_threshold" in str(exc)
    Scenario.from_dict({"simulation": {"exact_threshold": 100, "stochastic_threshold": 100}})


@pytest.mark.parametrize("surgery", [{}, {"delay": "3 day"}, {"day": 100, "primary_diameter": "2 cm"}])
def test_surgery_needs_exactly_one_of_day_or_diameter(surgery):
    exc = error_of({"surgery": surgery})
    assert exc.field == "surgery"
    assert "day" in str(exc) and "primary_diameter" in str(exc)


@pytest.mark.parametrize("surgery, attr, value", [
    ({"day": "2 year"}, "day", 730.5),
    ({"primary_diameter": "2 cm", "delay": "2 week"}, "primary_diameter", 20.0),
])
def test_surgery_with_one_trigger_is_fine(surgery, attr, value):
    sc = Scenario.from_dict({"surgery": surgery})
    assert getattr(sc.surgery, attr) == pytest.approx(value)
    other = "primary_diameter" if attr == "day" else "day"
    assert getattr(sc.surgery, other) is None


def test_therapy_relative_to_surgery_needs_a_surgery():
    exc = error_of({"therapy": [{"kind": "il1r_blockade", "duration": "30 day"}]})
    assert exc.field == "therapy[0].relative_to"
    assert "surgery" in str(exc) and "start" in str(exc)
    exc = error_of({"therapy": [{"kind": "il1r_blockade", "relative_to": "start"},
                                {"kind": "il1b_mimetic", "relative_to": "surgery"}]})
    assert exc.field == "therapy[1].relative_to"


def test_therapy_relative_to_start_without_surgery_is_fine():
    sc = Scenario.from_dict({"therapy": {"kind": "il1r_blockade", "relative_to": "start", "start": "1 week"}})
    assert len(sc.therapies) == 1 and sc.therapies[0].start == 7.0 and sc.surgery is None


def test_drug_therapy_needs_a_registered_drug():
    exc = error_of({"surgery": {"day": 1}, "therapy": [{"kind": "drug", "drug": "no_such_drug_xyz",
                                                        "dose": "10 mg", "interval": "1 day"}]})
    assert exc.field == "therapy[0].drug"
    assert error_of({"surgery": {"day": 1}, "therapy": [{"kind": "drug"}]}).field == "therapy[0].drug"


def test_surgery_without_a_primary_is_an_error():
    exc = error_of({"primary": {"initial_cells": 0}, "surgery": {"day": 10}})
    assert exc.field == "surgery"


def test_therapy_must_be_tables():
    assert error_of({"therapy": "il1r_blockade"}).field == "therapy"
    assert error_of({"surgery": {"day": 1}, "therapy": [{"kind": "il1r_blockade"}, 3]}).field == "therapy[1]"


# ----------------------------------------------------------------------------- variants
VARIANTS = {
    "surgery": {"primary_diameter": "2 cm"},
    "therapy": [{"kind": "il1r_blockade", "duration": "6 month"}],
    "variant": [
        {"name": "mimetic", "therapy": [{"kind": "il1b_mimetic", "duration": "12 month", "level": "5.7 pM"}]},
        {"name": "no shedding", "shedding": {"rate": 0.0}},
        {"name": "both", "inflammation": {"strength": 0}, "simulation": {"dt": "12 h"},
         "therapy": {"kind": "il1b_mimetic", "relative_to": "start", "start": "10 day"}},
    ],
}


def test_variant_names_in_order():
    assert Scenario.from_dict(VARIANTS).variant_names() == ["mimetic", "no shedding", "both"]
    assert default_scenario().variant_names() == []


def test_variant_adds_its_therapy_to_the_base_therapies():
    base = Scenario.from_dict(VARIANTS)
    v = base.variant("mimetic")
    assert [t.kind for t in v.therapies] == ["il1r_blockade", "il1b_mimetic"]
    assert v.therapies[0] == base.therapies[0]
    assert v.therapies[1].duration == pytest.approx(365.25) and v.therapies[1].level == pytest.approx(5.7e-3)
    assert v.parameters == base.parameters and v.surgery == base.surgery
    assert v.variant_names() == []
    assert [t.kind for t in base.therapies] == ["il1r_blockade"]  # the base is unchanged


def test_variant_merges_parameters_and_settings():
    base = Scenario.from_dict(VARIANTS)
    v = base.variant("no shedding")
    assert v["shedding.rate"] == 0.0 and base["shedding.rate"] == LIB["shedding.rate"].value
    assert v.therapies == base.therapies
    both = base.variant("both")
    assert both["inflammation.strength"] == 0.0
    assert both.simulation.dt == 0.5 and both.simulation.follow_up == base.simulation.follow_up
    assert [t.kind for t in both.therapies] == ["il1r_blockade", "il1b_mimetic"]
    assert both.therapies[1].start == 10.0


def test_unknown_variant_is_a_key_error():
    with pytest.raises(KeyError, match="mimetic"):
        Scenario.from_dict(VARIANTS).variant("nope")


def test_example_variant(breast_example):
    sc = load_scenario(breast_example)
    assert sc.variant_names() == ["IL-1b mimetic 12 months"]
    v = sc.variant("IL-1b mimetic 12 months")
    assert sc.therapies == ()
    (t,) = v.therapies
    assert t.kind == "il1b_mimetic" and t.duration == pytest.approx(365.25) and t.level == pytest.approx(5.7e-3)
    assert sc.surgery.primary_diameter == 20.0 and sc.simulation.seed == 20181084


@pytest.mark.parametrize("index, overlay, field", [
    (0, {"shedding": {"rate": -1}}, "variant[0].shedding.rate"),
    (1, {"shedding": {"rate": "3 mm"}}, "variant[1].shedding.rate"),
    (1, {"shedding": {"rat": 1}}, "variant[1].shedding.rat"),
    (1, {"simulation": {"dt": "40 day"}}, "variant[1].simulation.dt"),
    (1, {"fate": {"proliferative_probability": 0.9}}, "variant[1].fate.dormant_probability"),
    (1, {"therapy": [{"kind": "il1r_blockade", "duration": 0}]}, "variant[1].therapy[1].duration"),
    (1, {"bogus": {}}, "variant[1].bogus"),
])
def test_bad_overrides_in_a_variant_carry_the_variant_prefix(index, overlay, field):
    variants = [{"name": "fine", "shedding": {"rate": 0.1}}] * index + [{"name": "bad", **overlay}]
    data = {"surgery": {"day": 10}, "therapy": [{"kind": "il1b_mimetic"}], "variant": variants}
    exc = error_of(data)
    assert exc.field == field
    assert str(exc).startswith(f"variant[{index}]:")
    assert field.split(".", 1)[1] in str(exc)


@pytest.mark.parametrize("variant, field", [
    ({"shedding": {"rate": 0.1}}, "variant[0].name"),
    ({"name": "", "shedding": {"rate": 0.1}}, "variant[0].name"),
    ({"name": 3}, "variant[0].name"),
    ({"name": "x", "injection": {"cells": 10}}, "variant[0].injection"),
    ({"name": "x", "scenario": {"name": "y"}}, "variant[0].scenario"),
])
def test_variant_structure_errors(variant, field):
    assert error_of({"variant": [variant]}).field == field


def test_duplicate_variant_names_are_an_error():
    exc = error_of({"variant": [{"name": "a"}, {"name": "a"}]})
    assert exc.field == "variant[1].name" and "duplicate" in str(exc)


# ----------------------------------------------------------------------------- copies, round trip, hash
def test_with_parameters():
    base = Scenario.from_dict({"surgery": {"day": 100}, "shedding": {"rate": 0.1}})
    sc = base.with_parameters(shedding__rate=0.01, primary__gompertz__rate_constant="0.07 / week",
                              inflammation__strength=0)
    assert sc["shedding.rate"] == 0.01
    assert sc["primary.gompertz.rate_constant"] == pytest.approx(0.01)
    assert sc["inflammation.strength"] == 0.0
    assert sc.surgery == base.surgery and sc.simulation == base.simulation
    assert base["shedding.rate"] == 0.1  # immutable original
    with pytest.raises(ScenarioError) as info:
        base.with_parameters(shedding__rate=-1)
    assert info.value.field == "shedding.rate"
    with pytest.raises(ScenarioError) as info:
        base.with_parameters(shedding__rat=1)
    assert info.value.field == "shedding.rat"


def test_with_settings():
    base = Scenario.from_dict({"surgery": {"day": 100}, "simulation": {"seed": 5, "follow_up": "1 year"}})
    sc = base.with_settings(simulation={"dt": 0.25})
    assert sc.simulation.dt == 0.25
    assert sc.simulation.seed == 5 and sc.simulation.follow_up == 365.25  # other fields kept
    assert base.simulation.dt == 1.0
    assert base.with_settings(simulation={"dt": "6 h"}).simulation.dt == 0.25
    t = base.with_settings(therapy=[{"kind": "il1r_blockade", "duration": "30 day"}])
    assert [x.kind for x in t.therapies] == ["il1r_blockade"] and t.therapies[0].duration == 30.0
    assert base.with_settings(surgery=None).surgery is None
    with pytest.raises(ScenarioError) as info:  # surgery-relative therapy without a surgery
        t.with_settings(surgery=None)
    assert info.value.field == "therapy[0].relative_to"
    with pytest.raises(ScenarioError) as info:
        base.with_settings(simulation={"dt": 0})
    assert info.value.field == "simulation.dt"


def test_round_trip_and_content_hash(breast_example):
    sc = load_scenario(breast_example)
    again = Scenario.from_dict(sc.to_dict())
    assert again == sc and again.content_hash() == sc.content_hash()
    d = sc.to_dict()
    assert d["surgery"]["primary_diameter"] == 20.0 and d["simulation"]["follow_up"] == 3652.5
    assert len(sc.content_hash()) == 64


def test_content_hash_ignores_unit_spelling_and_key_order():
    a = Scenario.from_dict({"surgery": {"day": "1 year"}, "shedding": {"rate": "1 / week"},
                            "cells": {"density": "1e8 / cm^3"}})
    b = Scenario.from_dict({"cells": {"density": 1e5}, "shedding": {"rate": 1 / 7}, "surgery": {"day": 365.25}})
    assert a == b and a.content_hash() == b.content_hash()
    c = a.with_parameters(shedding__rate=0.5)
    assert c.content_hash() != a.content_hash()


def test_content_hash_of_variant_scenarios_ignores_unit_spelling():
    a = Scenario.from_dict({"surgery": {"day": 1}, "variant": [{"name": "v", "shedding": {"rate": "1 / week"}}]})
    b = Scenario.from_dict({"surgery": {"day": 1}, "variant": [{"name": "v", "shedding": {"rate": 1 / 7}}]})
    assert a.variant("v") == b.variant("v")
    assert a.variant("v").content_hash() == b.variant("v").content_hash()


def test_content_hash_of_base_with_variants_ignores_unit_spelling():
    a = Scenario.from_dict({"surgery": {"day": 1}, "variant": [{"name": "v", "shedding": {"rate": "1 / week"}}]})
    b = Scenario.from_dict({"surgery": {"day": 1}, "variant": [{"name": "v", "shedding": {"rate": 1 / 7}}]})
    assert a.content_hash() == b.content_hash()


def test_default_scenario():
    sc = default_scenario()
    assert sc.surgery is None and sc.therapies == () and sc.injection is None
    assert dict(sc.parameters) == LIB.defaults()
    assert sc == Scenario.from_dict({}) and math.isfinite(sc.simulation.follow_up)
