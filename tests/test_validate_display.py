"""What `seedsoil validate` shows a user: the case list cites published sources (DOIs) and
nothing internal, and a row comparing labels shows the label expected and the label got."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from seedsoil.validate import Check, all_cases, run_cases

REPO_ROOT = Path(__file__).resolve().parents[1]
#: notes and files of the people who wrote the code, which a user cannot read
INTERNAL = ("[U:", "[U]", "SCIENCE.md", "DESIGN.md", "STYLE.md", "shared/", "../")


@pytest.fixture(scope="module")
def runs(cli_many, tmp_path_factory):
    listed, kuznetsov = cli_many([["validate", "--list"], ["validate", "kuznetsov_1994_equilibria"]],
                                 cwd=tmp_path_factory.mktemp("validate"))
    return {"list": listed, "kuznetsov": kuznetsov}


def test_every_case_cites_a_published_source_and_says_what_it_checks():
    cases = all_cases()
    assert cases
    for name, c in cases.items():
        assert c.dois, f"{name}: its source cites no DOI: {c.source!r}"
        for doi in c.dois:
            assert re.fullmatch(r"10\.\d{4,9}/\S+", doi) and doi.count("(") == doi.count(")"), (name, doi)
        assert c.description and "\n" not in c.description, name
        for text in (c.source, c.description):
            for mark in INTERNAL:
                assert mark not in text, f"{name}: {mark!r} in {text!r}"
        line = c.summary()
        assert "\n" not in line and line.startswith(name) and c.description in line
        assert all(f"doi:{d}" in line for d in c.dois)


def test_validate_list_prints_each_source_whole_and_nothing_internal(runs):
    res = runs["list"]
    assert res.returncode == 0, res.stderr
    out = res.stdout
    for mark in INTERNAL:
        assert mark not in out, mark
    flat = " ".join(out.split())  # the table may wrap a long source over lines
    cases = all_cases()
    starts = sorted((flat.index(name + " "), name) for name in cases)
    for (at, name), (nxt, _) in zip(starts, starts[1:] + [(len(flat), "")]):
        entry = flat[at:nxt]
        assert "doi:" in entry or "docs/" in entry, f"{name}: no DOI or docs reference in {entry!r}"
        # printed whole: no part taken for terminal markup (e.g. a formula in square brackets)
        assert " ".join(cases[name].source.split()) in entry, name


def test_no_file_cites_notes_outside_the_repository():
    hits = []
    for folder in ("src", "docs"):
        for path in (REPO_ROOT / folder).rglob("*"):
            if path.suffix not in (".py", ".md", ".toml") or not path.is_file():
                continue
            text = path.read_text(encoding="utf-8")
            hits += [f"{path.relative_to(REPO_ROOT)}: {m}" for m in ("SCIENCE.md", "DESIGN.md", "STYLE.md",
                                                                      "../shared", "shared/bench") if m in text]
    assert not hits, hits


# --------------------------------------------------------------------------- how a check is shown
def test_a_label_is_compared_and_shown_as_a_label():
    same = Check("stability", "saddle", "saddle", kind="equal")
    assert same.passed and (same.expected_text(), same.got_text(), same.tolerance_text()) == ("saddle", "saddle",
                                                                                               "equal")
    other = Check("stability", "saddle", "stable node", kind="equal")
    assert not other.passed and other.got_text() == "stable node"
    with pytest.raises(ValueError, match="equal"):
        Check("stability", "saddle", True, kind="true")  # the row would read "expected saddle | got True"
    with pytest.raises(ValueError, match="kind"):
        Check("x", 1.0, 1.0, kind="exact")


def test_a_statement_is_shown_as_yes_or_no():
    holds = Check("a dormant state exists", True, np.bool_(True), kind="true")
    fails = Check("a dormant state exists", True, False, kind="true")
    assert holds.passed and not fails.passed
    assert (holds.expected_text(), holds.got_text(), fails.got_text()) == ("yes", "yes", "no")
    assert Check("n", (1e6, 1e7), 8.186e6, kind="range").expected_text() == "[1e+06, 1e+07]"


def test_kuznetsov_stability_rows_show_the_labels(runs):
    checks = run_cases(["kuznetsov_1994_equilibria"])[0].checks
    labels = [c for c in checks if "stability" in c.name]
    assert len(labels) == 4
    for c in labels:
        assert c.kind == "equal" and isinstance(c.got, str) and c.passed, c
    assert {c.got for c in labels} >= {"saddle", "stable focus"}
    for c in checks:  # no row pairs a label with a truth value
        assert not (isinstance(c.expected, str) and isinstance(c.got, (bool, np.bool_))), c
    res = runs["kuznetsov"]
    assert res.returncode == 0, res.stderr
    rows = [[cell.strip() for cell in line.strip("│").split("│")] for line in res.stdout.splitlines()
            if line.startswith("│") and "stability" in line]
    assert len(rows) == 4
    for _, _, expected, got, tolerance, verdict in rows:
        assert expected == got and expected in ("saddle", "stable focus", "stable node", "unstable node",
                                                "unstable focus"), rows
        assert tolerance == "equal" and verdict == "pass"
