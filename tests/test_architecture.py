"""The layers of docs/architecture.md, checked on the source: every ``import`` and
``from … import`` in ``src/seedsoil`` (those inside functions too) points down or
sideways within a package, never up, and the module graph has no cycle."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "seedsoil"

#: layer of each top-level module or package of seedsoil (docs/architecture.md); lower imports nothing higher
LAYERS = {
    # core: errors, units, random streams, parameters, run store, hashing, atomic IO, executors
    "seedsoil": 0, "errors": 0, "units": 0, "rng": 0, "params": 0, "store": 0, "hashing": 0, "tree": 0,
    "execute": 0, "_jit": 0, "seeds": 0, "tomlfile": 0, "plotting": 0, "_html": 0,
    # the scales: each knows only core (and tissue the cell scale's phenotype, below)
    "cell": 1, "pharm": 1, "tissue": 1, "body": 1,
    # the one layer that crosses scales
    "coupling": 2,
    # the composition root: TOML -> validated scenario; one patient from a file
    "scenario": 3, "patient": 3,
    # real cohorts as tidy tables whose rows are [patient] records (reads body.covariates)
    "data": 3,
    "cohort": 4,
    # fitting to patient cohorts (reads the engines, the data and the cohort layer)
    "fit": 4,
    "report": 5,
    "cli": 6, "runs": 6, "validate": 6, "testing": 6,
}
#: the scale-to-scale edges the design allows: the tissue builds its tumour cells and CAFs
#: from the cell scale's phenotype under an exposure (MODES, Phenotype, phenotype_response)
SCALE_EDGES = {("tissue", "cell")}


def modules() -> dict[str, Path]:
    out = {}
    for p in PACKAGE.rglob("*.py"):
        parts = list(p.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


def imports_of(name: str, path: Path, mods: dict[str, Path]) -> set[str]:
    """seedsoil modules that ``name`` imports anywhere in its source (a ``from pkg import sub`` names
    the submodule; a ``from pkg import attr`` the package)."""
    is_pkg = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in mods)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_pkg else name.split(".")[:-1]
                base = base[:len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            for a in node.names:
                sub = f"{mod}.{a.name}"
                if sub in mods:
                    found.add(sub)
                elif mod in mods:
                    found.add(mod)
    found.discard(name)
    return found


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {m: imports_of(m, p, mods) for m, p in mods.items()}


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(g[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(g):
        if v not in index:
            visit(v)
    return out


def top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "seedsoil"


def test_scan_finds_the_imports_it_must():
    """The scanner itself: function-level and relative imports are seen (a scan that saw nothing
    would pass every check below)."""
    g = graph()
    assert "seedsoil.coupling.drugs" in g["seedsoil.scenario"]
    assert "seedsoil.cell.phenotype" in g["seedsoil.coupling.effects"]  # an import inside a function
    assert "seedsoil.body.model" in g["seedsoil.body.simulate"]  # a relative one
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycles():
    found = cycles(graph())
    assert not found, "import cycles:\n" + "\n".join(" -> ".join(c) for c in found)


def test_every_module_has_a_layer():
    missing = sorted({top(m) for m in modules()} - set(LAYERS))
    assert not missing, f"add these to LAYERS and to docs/architecture.md: {missing}"


def test_imports_point_down():
    bad = []
    for m, deps in graph().items():
        a = top(m)
        for d in deps:
            b = top(d)
            if a == b or b == "seedsoil":
                continue
            if LAYERS[b] > LAYERS[a]:
                bad.append(f"{m} -> {d} (layer {LAYERS[a]} imports layer {LAYERS[b]})")
            elif LAYERS[a] == LAYERS[b] == 1 and (a, b) not in SCALE_EDGES:
                bad.append(f"{m} -> {d} (scale {a} imports scale {b})")
    assert not bad, "imports against the layers:\n" + "\n".join(sorted(bad))


@pytest.mark.parametrize("layer_doc", ["docs/architecture.md"])
def test_architecture_doc_names_every_layer(layer_doc):
    text = (PACKAGE.parents[1] / layer_doc).read_text(encoding="utf-8")
    for name in LAYERS:
        if name != "seedsoil" and not name.startswith("_"):
            assert f"`{name}" in text, f"{layer_doc} does not mention {name}"
