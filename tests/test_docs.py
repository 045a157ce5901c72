"""The documentation runs: the tutorial's Python executes, its commands parse, the
parameter table is current, every validation case is documented and links resolve."""
from __future__ import annotations

import contextlib
import io
import re
import shlex
import shutil
import tomllib
import unicodedata
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

DOCS = REPO_ROOT / "docs"
DOC_FILES = ("index.md", "tutorial.md", "model.md", "parameters.md", "validation.md", "cohort.md", "cell.md",
             "pharmacology.md", "tissue.md")

_FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```\s*$", re.S | re.M)


def blocks(path: Path, lang: str) -> list[str]:
    """The bodies of the fenced code blocks of language ``lang`` in ``path``, in order."""
    return [body for kind, body in _FENCE.findall(path.read_text(encoding="utf-8")) if kind == lang]


def console_commands(path: Path) -> list[list[str]]:
    """``seedsoil ...`` commands of the ```console blocks (lines starting with ``$ seedsoil``)."""
    out = []
    for body in blocks(path, "console"):
        for line in body.splitlines():
            if line.startswith("$ seedsoil "):
                out.append(shlex.split(line[2:], comments=True)[1:])
    return out


def test_all_doc_files_exist():
    for name in DOC_FILES:
        assert (DOCS / name).is_file(), name


# --------------------------------------------------------------------------- python blocks
def run_python_blocks(name: str, tmp_path: Path, monkeypatch) -> dict:
    """Execute the ```python blocks of docs/<name> in order, in one namespace, from a
    temporary folder holding a copy of examples/ (relative paths and out/ stay there)."""
    code = blocks(DOCS / name, "python")
    shutil.copytree(REPO_ROOT / "examples", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": f"__docs_{name}__"}
    for i, body in enumerate(code):
        buf = io.StringIO()
        try:
            with contextlib.redirect_stdout(buf):
                # dont_inherit: run as a reader would, without this file's `from __future__ import annotations`
                exec(compile(body, f"docs/{name}[python block {i}]", "exec", dont_inherit=True), namespace)
        except Exception as exc:  # name the failing block
            raise AssertionError(f"{name} python block {i} failed: {type(exc).__name__}: {exc}\n"
                                 f"--- block ---\n{body}--- its output ---\n{buf.getvalue()}") from exc
    return namespace


def test_tutorial_python_blocks_run_in_order(tmp_path, monkeypatch):
    assert len(blocks(DOCS / "tutorial.md", "python")) >= 10, "the tutorial lost its examples"
    run_python_blocks("tutorial.md", tmp_path, monkeypatch)
    from seedsoil.body import hooks

    assert "demonib" not in hooks.registered_drugs(), "the tutorial must unregister its drug"


@pytest.mark.parametrize("name", ["index.md", "model.md", "cohort.md", "cell.md", "pharmacology.md", "tissue.md"])
def test_other_python_blocks_run(name, tmp_path, monkeypatch):
    assert blocks(DOCS / name, "python")
    run_python_blocks(name, tmp_path, monkeypatch)


def test_tutorial_toml_snippets_are_valid():
    """```toml snippets parse, and validate as a scenario (given a surgery, when they need one)."""
    from seedsoil import Scenario

    snippets = [b for p in DOC_FILES for b in blocks(DOCS / p, "toml")]
    assert snippets
    from seedsoil.cohort import trial_from_dict

    for body in snippets:
        data = tomllib.loads(body)
        if "trial" in data:  # a trial file: validated as a trial, its scenario path relative to examples/
            trial_from_dict(data, base_dir=REPO_ROOT / "examples")
            continue
        data.setdefault("surgery", {"day": 700.0})
        Scenario.from_dict(data)


def test_console_commands_parse(cli_many):
    """Each subcommand shown in the docs has working --help that lists the options used;
    the cheap commands (params, validate --list) are run for real."""
    commands = [c for p in DOC_FILES for c in console_commands(DOCS / p)]
    subcommands = sorted({c[0] for c in commands})
    assert {"run", "params", "validate", "report"} <= set(subcommands)
    helps = dict(zip(subcommands, cli_many([[s, "--help"] for s in subcommands], cwd=REPO_ROOT)))
    for sub, res in helps.items():
        assert res.returncode == 0, (sub, res.stderr)
    for cmd in commands:
        text = helps[cmd[0]].stdout
        for arg in cmd[1:]:
            if arg.startswith("--"):
                assert arg.split("=")[0] in text, f"`seedsoil {' '.join(cmd)}`: {arg} is not an option"
    from seedsoil.validate import all_cases

    known = set(all_cases())
    for cmd in commands:
        if cmd[0] == "validate":
            assert {a for a in cmd[1:] if not a.startswith("-")} <= known, f"unknown case in {cmd}"
    cheap = [c for c in commands if c[0] == "params" or "--list" in c]
    assert cheap
    for cmd, res in zip(cheap, cli_many(cheap, cwd=REPO_ROOT)):
        assert res.returncode == 0, (cmd, res.stderr)
        assert res.stdout.strip(), cmd


# --------------------------------------------------------------------------- generated table
def test_parameters_md_is_the_generated_table(cli):
    """docs/parameters.md holds exactly the output of `seedsoil params --format markdown`."""
    res = cli("params", "--format", "markdown")
    assert res.returncode == 0, res.stderr
    table = res.stdout
    assert table.startswith("| parameter |")
    text = (DOCS / "parameters.md").read_text(encoding="utf-8")
    assert table in text, ("docs/parameters.md is stale; regenerate it with "
                           "`seedsoil params --format markdown` (see its first lines)")
    # and nothing but a short header before it
    assert text.endswith(table)
    assert "generated" in text[: text.index(table)].lower()


# --------------------------------------------------------------------------- validation
def test_every_validation_case_is_documented():
    from seedsoil.validate import all_cases

    text = (DOCS / "validation.md").read_text(encoding="utf-8")
    missing = [name for name in all_cases() if f"`{name}`" not in text]
    assert not missing, f"docs/validation.md does not describe {missing}"


# --------------------------------------------------------------------------- links
def _slug(heading: str) -> str:
    """GitHub's anchor of a Markdown heading."""
    text = re.sub(r"`|\*|_(?=\w)|(?<=\w)_", "", heading.strip()).lower()
    text = "".join(ch for ch in text if ch in " -_" or unicodedata.category(ch)[0] in "LN")
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    text = _FENCE.sub("", path.read_text(encoding="utf-8"))
    return {_slug(m) for m in re.findall(r"^#{1,6}\s+(.+?)\s*$", text, re.M)}


@pytest.mark.parametrize("name", DOC_FILES)
def test_relative_links_resolve(name):
    path = DOCS / name
    text = _FENCE.sub("", path.read_text(encoding="utf-8"))
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"^[a-z]+:", target):
            continue  # external
        file, _, anchor = target.partition("#")
        dest = (path.parent / file).resolve() if file else path
        assert dest.exists(), f"{name}: broken link {target}"
        if anchor and dest.suffix == ".md":
            assert anchor in _anchors(dest), f"{name}: no heading for #{anchor} in {dest.name}"
