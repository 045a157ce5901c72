"""The documentation runs: the tutorial's Python executes and prints what the page shows,
its commands parse, the first `seedsoil run` works right after `make demo` and prints the
table shown, the parameter table is current, every validation case is documented and
links resolve.

Printed output is compared exactly, line by line, after removing trailing spaces and
trailing blank lines (:func:`normalized`); numbers are not rounded, since every output
shown comes from a seeded run. A printed content hash includes the package version, so
these tests expect seedsoil to be installed (``make test`` installs it)."""
from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import shutil
import subprocess
import sys
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
    return [cmd for cmd, _ in console_sessions(path)]


def console_sessions(path: Path) -> list[tuple[list[str], str]]:
    """``(seedsoil arguments, the output shown under the command)`` for each ``$ seedsoil`` line of
    the ```console blocks; the output is the lines up to the next ``$`` line or the block's end."""
    out = []
    for body in blocks(path, "console"):
        lines = body.splitlines()
        for i, line in enumerate(lines):
            if line.startswith("$ seedsoil "):
                shown = []
                for nxt in lines[i + 1:]:
                    if nxt.startswith("$ "):
                        break
                    shown.append(nxt)
                out.append((shlex.split(line[2:], comments=True)[1:], "\n".join(shown)))
    return out


def python_blocks(path: Path) -> list[tuple[str, str | None]]:
    """``(code, output)`` for each ```python block of ``path``, in order: ``output`` is the body of a
    ```text block that follows the code with nothing but blank lines between, else None."""
    text = path.read_text(encoding="utf-8")
    fences = list(_FENCE.finditer(text))
    out = []
    for i, m in enumerate(fences):
        if m.group(1) != "python":
            continue
        nxt = fences[i + 1] if i + 1 < len(fences) else None
        shown = nxt.group(2) if nxt is not None and nxt.group(1) == "text" and \
            not text[m.end():nxt.start()].strip() else None
        out.append((m.group(2), shown))
    return out


def normalized(text: str) -> str:
    """Printed output as compared with the docs: trailing spaces and trailing blank lines removed."""
    return "\n".join(line.rstrip() for line in text.rstrip().splitlines())


def test_all_doc_files_exist():
    for name in DOC_FILES:
        assert (DOCS / name).is_file(), name


# --------------------------------------------------------------------------- python blocks
def run_python_blocks(name: str, tmp_path: Path, monkeypatch) -> dict:
    """Execute the ```python blocks of docs/<name> in order, in one namespace, from a
    temporary folder holding a copy of examples/ (relative paths and out/ stay there).
    A block followed by a ```text block must print exactly that text (see :func:`normalized`).
    Returns the namespace, with the number of compared outputs under ``"__outputs_checked__"``."""
    code = python_blocks(DOCS / name)
    shutil.copytree(REPO_ROOT / "examples", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    # a real (registered) module, as a reader's script or notebook has: numba's disk cache
    # records the module of a jitted function (a growth law defined in the page) and imports it
    # again when a later run loads the cached kernel; an unregistered name fails that import
    import types

    modname = "seedsoil_docs_" + re.sub(r"\W", "_", name)
    module = types.ModuleType(modname)
    monkeypatch.setitem(sys.modules, modname, module)
    namespace: dict = module.__dict__
    checked = 0
    for i, (body, shown) in enumerate(code):
        buf = io.StringIO()
        try:
            with contextlib.redirect_stdout(buf):
                # dont_inherit: run as a reader would, without this file's `from __future__ import annotations`
                exec(compile(body, f"docs/{name}[python block {i}]", "exec", dont_inherit=True), namespace)
        except Exception as exc:  # name the failing block
            raise AssertionError(f"{name} python block {i} failed: {type(exc).__name__}: {exc}\n"
                                 f"--- block ---\n{body}--- its output ---\n{buf.getvalue()}") from exc
        if shown is not None:
            assert normalized(buf.getvalue()) == normalized(shown), (
                f"{name} python block {i} prints something else than the page shows; update the page\n"
                f"--- block ---\n{body}--- shown ---\n{shown}--- printed ---\n{buf.getvalue()}")
            checked += 1
    namespace["__outputs_checked__"] = checked
    return namespace


def test_tutorial_python_blocks_run_in_order(tmp_path, monkeypatch):
    assert len(blocks(DOCS / "tutorial.md", "python")) >= 10, "the tutorial lost its examples"
    ns = run_python_blocks("tutorial.md", tmp_path, monkeypatch)
    assert ns["__outputs_checked__"] >= 5, "the tutorial's printed outputs are no longer next to their code"
    from seedsoil.coupling import default_drugs

    assert "demonib" not in default_drugs(), "a user's drug must not leak into the default library"


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
        if "population" in data:  # a population fragment: validated inside the example trial
            trial = tomllib.loads((REPO_ROOT / "examples" / "trial_il1b.toml").read_text(encoding="utf-8"))
            for part in ("parameters", "covariates"):
                trial["population"].setdefault(part, {}).update(data["population"].get(part, {}))
            trial_from_dict(trial, base_dir=REPO_ROOT / "examples")
            continue
        data.setdefault("surgery", {"day": 700.0})
        Scenario.from_dict(data)


def test_cohort_trial_file_is_the_example_it_names():
    """docs/cohort.md shows examples/trial_il1b.toml as "a complete trial file": it must be that file."""
    shown = [b for b in blocks(DOCS / "cohort.md", "toml") if "[trial]" in b]
    assert len(shown) == 1
    example = (REPO_ROOT / "examples" / "trial_il1b.toml").read_text(encoding="utf-8")
    assert tomllib.loads(shown[0]) == tomllib.loads(example), "docs/cohort.md's trial file differs from the example"


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


# --------------------------------------------------------------------------- console output
def make_demo_folders() -> list[str]:
    """The folders `make demo` writes (the --out of each command of the Makefile's demo target)."""
    text = (REPO_ROOT / "Makefile").read_text(encoding="utf-8")
    recipe = re.search(r"^demo:.*\n((?:\t.*\n)+)", text, re.M)
    assert recipe, "the Makefile has no demo target"
    return re.findall(r"--out\s+(\S+)", recipe.group(1))


def test_doc_commands_do_not_clash_with_make_demo():
    """A reader who ran `make demo` first can run every command as written: none writes to a
    folder `make demo` made, unless it says --force."""
    made = make_demo_folders()
    assert "out/demo" in made
    for name in DOC_FILES:
        for cmd, _ in console_sessions(DOCS / name):
            if cmd[0] in ("run", "tissue", "trial", "tissue-map") and "--out" in cmd and "--force" not in cmd:
                out = cmd[cmd.index("--out") + 1]
                assert out not in made, f"{name}: `seedsoil {' '.join(cmd)}` fails after `make demo` ({out} exists)"


def run_shown(cmd: list[str], shown: str, cwd: Path) -> subprocess.Popen:
    """Start ``seedsoil cmd`` as the docs show it: a terminal as wide as the widest line shown."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT / "src")] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH")
                                                                     else []))
    env["COLUMNS"] = str(max(len(line) for line in shown.splitlines()))
    env.pop("FORCE_COLOR", None)
    return subprocess.Popen([sys.executable, "-m", "seedsoil.cli", *cmd], cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_tutorial_commands_print_what_the_page_shows(tmp_path):
    """The tutorial's first `seedsoil run`, run where `make demo` has already written its folders,
    and every `seedsoil params` whose output is shown, print exactly what the page shows."""
    sessions = [(c, o) for c, o in console_sessions(DOCS / "tutorial.md") if o.strip()]
    first_run = next((c, o) for c, o in sessions if c[0] == "run")
    chosen = [first_run] + [(c, o) for c, o in sessions if c[0] == "params"]
    assert len(chosen) >= 2
    shutil.copytree(REPO_ROOT / "examples", tmp_path / "examples")
    for folder in make_demo_folders():  # as `make demo` leaves them
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "run.json").write_text("{}")
    procs = [(cmd, shown, run_shown(cmd, shown, tmp_path)) for cmd, shown in chosen]
    for cmd, shown, proc in procs:
        out, err = proc.communicate(timeout=900)
        assert proc.returncode == 0, f"`seedsoil {' '.join(cmd)}` failed:\n{err}"
        assert normalized(out) == normalized(shown), (
            f"`seedsoil {' '.join(cmd)}` prints something else than docs/tutorial.md shows; update the page\n"
            f"--- shown ---\n{shown}\n--- printed ---\n{out}")


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


#: pages whose links are checked but whose code blocks are not run here
LINK_ONLY = ("architecture.md", "data.md", "fit.md", "predict.md")


@pytest.mark.parametrize("name", DOC_FILES + LINK_ONLY)
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
