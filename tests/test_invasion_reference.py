"""The invasion map's no-drug point is its reference: relative rate 1 by definition, no interval.

The tissue runs are replaced by fixed counts (an executor that answers each task from a
table), so the test checks only how invasion_map turns counts into relative rates."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from seedsoil.tissue import default_tissue_scenario
from seedsoil.tissue.invasion import InvasionMap, invasion_map, rate_ratio_ci


class Counts:
    """An executor whose 'run' of a grid point returns the given escape events per replicate."""

    def __init__(self, events: dict[float, int], cell_days: float = 50.0):
        self.events, self.cell_days = events, cell_days

    def run(self, fn, tasks):
        for task in tasks:
            level = dict(task[1]).get("JAKi", 0.0)
            yield task, {"events": self.events[level], "cell_days": self.cell_days, "depth": 40.0 - level / 10,
                         "invading": 3.0}

    def close(self) -> None:
        pass


def make_map(events: dict[float, int]) -> InvasionMap:
    return invasion_map(default_tissue_scenario(), {"JAKi": [30.0, 300.0]}, replicates=2, executor=Counts(events),
                        cache=False)


def test_the_reference_has_relative_rate_one_and_no_interval(tmp_path):
    m = make_map({0.0: 12, 30.0: 6, 300.0: 0})
    t = m.table.set_index("JAKi")
    ref = t.loc[0.0]
    assert ref["relative"] == 1.0
    assert math.isnan(ref["relative_low"]) and math.isnan(ref["relative_high"])
    # every other point: its ratio to the reference, with the exact interval against it
    for level in (30.0, 300.0):
        row = t.loc[level]
        assert row["relative"] == pytest.approx(row["rate"] / ref["rate"])
        lo, hi = rate_ratio_ci(int(row["events"]), row["tumour_cell_days"], int(ref["events"]),
                               ref["tumour_cell_days"])
        assert (row["relative_low"], row["relative_high"]) == (lo, hi)
        assert lo <= row["relative"] <= hi
    assert t.loc[30.0, "relative"] == pytest.approx(0.5) and t.loc[300.0, "relative"] == 0.0
    # the body's factor reads the relative rates only, and the file keeps the NaN
    np.testing.assert_allclose(m.factor(JAKi=[0.0, 30.0, 300.0]), [1.0, 0.5, 0.0])
    back = InvasionMap.load(m.save(tmp_path / "map.json"))
    pd.testing.assert_frame_equal(back.table, m.table)


def test_a_reference_without_escapes_still_has_no_interval():
    t = make_map({0.0: 0, 30.0: 0, 300.0: 2}).table.set_index("JAKi")
    assert t.loc[0.0, "relative"] == 1.0
    assert math.isnan(t.loc[0.0, "relative_low"]) and math.isnan(t.loc[0.0, "relative_high"])
    # the other points keep what they had: no reference rate, so no finite bound
    assert t.loc[30.0, "relative"] == 1.0 and t.loc[300.0, "relative"] == math.inf
    assert list(t.loc[[30.0, 300.0], "relative_low"]) == [0.0, 0.0]
    assert list(t.loc[[30.0, 300.0], "relative_high"]) == [math.inf, math.inf]
