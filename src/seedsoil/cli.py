"""``seedsoil`` command line: run | trial | tissue | tissue-map | params | validate | report.

Every command is a thin layer over one library call. Bad input (a wrong scenario
value, a missing file) prints one line naming the field, the value, the unit and
the allowed range, and exits with code 2, without a traceback.
"""
from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from typer.core import TyperArgument, TyperCommand

from .errors import RunExistsError, ScenarioError


class _Command(TyperCommand):
    """A command whose usage line names its arguments the classic way
    (``seedsoil trial [OPTIONS] TRIAL_FILE``, ``[CASES]...``): typer >= 0.27 writes
    ``{trial_file}``, which reads like a literal to type."""

    def collect_usage_pieces(self, ctx) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if isinstance(param, TyperArgument):  # options are all in [OPTIONS]
                name = (param.metavar or param.name or "").upper()
                name = name if param.required else f"[{name}]"
                pieces.append(name + ("..." if param.nargs != 1 else ""))
        return pieces


# rich_markup_mode=None: help texts are plain text. With rich markup on, "[trial]" in a help
# text is a markup tag and disappears, and typer >= 0.29 shows "<bool>" after every flag.
app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, no_args_is_help=True,
                  rich_markup_mode=None, help="seedsoil: in-silico metastasis experiments.")


def command(name: str | None = None):
    """``@app.command`` with the classic usage line (see :class:`_Command`)."""
    return app.command(name, cls=_Command)


console = Console()
err_console = Console(stderr=True)


def _fail(msg: str, code: int = 2) -> None:
    err_console.print(f"[bold red]error:[/] {escape(msg)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_").lower() or "variant"


@command()
def run(
    scenario: Path = typer.Argument(..., help="scenario TOML file"),
    seed: Optional[int] = typer.Option(None, help="root seed (default: scenario's simulation.seed, else random)"),
    out: Optional[Path] = typer.Option(None, help="run directory (default: out/<scenario name>)"),
    engine: Optional[str] = typer.Option(None, help="stochastic | meanfield (default: the scenario's)"),
    force: bool = typer.Option(False, help="replace an existing run directory"),
    report: Optional[bool] = typer.Option(None, "--report/--no-report",
                                          help="write report.html (default: the scenario's output.report)"),
    variants: bool = typer.Option(True, help="also run the scenario's variants on the same patient"),
) -> None:
    """Simulate one patient (and its variants) and write a run directory."""
    from .body.simulate import simulate
    from .rng import new_seed
    from .scenario import load_scenario
    from .store import atomic_dir, run_metadata, write_tables

    try:
        sc = load_scenario(scenario)
        if engine is not None and engine not in ("stochastic", "meanfield"):
            raise ScenarioError(f"--engine = {engine!r}: must be stochastic or meanfield", field="engine", value=engine)
        eng = engine or sc.simulation.engine
        if report is None:
            report = sc.output.report
        if seed is not None and seed < 0:
            raise ScenarioError(f"--seed = {seed}: must be an integer >= 0", field="seed", value=seed)
        if seed is None:
            seed = sc.simulation.seed if sc.simulation.seed is not None else new_seed()
        out_dir = out or Path("out") / slug(sc.name)
        if out_dir.exists() and not force:
            raise RunExistsError(f"{out_dir} exists; pass --force to replace it")
        labels = ["base"] + (sc.variant_names() if variants else [])
        results = {}
        with console.status("simulating…") as status:
            for label in labels:
                status.update(f"simulating {label}…")
                scn = sc if label == "base" else sc.variant(label)
                results[label] = simulate(scn, seed=seed, engine=eng)
    except (ScenarioError, RunExistsError) as exc:
        _fail(str(exc))
        return

    def fill(tmp: Path) -> None:
        for label, res in results.items():
            folder = tmp if label == "base" else tmp / "variants" / slug(label)
            folder.mkdir(parents=True, exist_ok=True)
            write_tables(res, folder)
            meta = run_metadata(res, variant=None if label == "base" else label)
            (folder / "run.json").write_text(json.dumps(meta, indent=2, sort_keys=True))
        comparison = summary_frame(results)
        comparison.to_csv(tmp / "summary.csv")
        if report:
            from .report import write_report

            write_report(results, tmp / "report.html")

    atomic_dir(out_dir, fill, force=force)
    print_summary(results, title=f"{sc.name} — seed {seed}, {eng} engine")
    console.print(f"run written to [bold]{out_dir}[/]" + (f" (report: {out_dir / 'report.html'})" if report else ""))


def summary_frame(results):
    import pandas as pd

    rows = {label: dict(r.summary_rows()) for label, r in results.items()}
    return pd.DataFrame(rows)


def print_summary(results, title: str = "") -> None:
    table = Table(title=title, show_lines=False)
    table.add_column("")
    for label in results:
        table.add_column(label, justify="right")
    first = next(iter(results.values()))
    keys = [k for k, _ in first.summary_rows()]
    rows = {label: dict(r.summary_rows()) for label, r in results.items()}
    for key in keys:
        table.add_row(key, *[str(rows[label].get(key, "")) for label in results])
    console.print(table)


@command()
def trial(
    trial_file: Path = typer.Argument(..., help="trial TOML file ([trial], [population], [[arm]])"),
    patients: Optional[int] = typer.Option(None, help="number of virtual patients (default: the file's)"),
    executor: str = typer.Option("local", help="local | dask"),
    scheduler: Optional[str] = typer.Option(None, help="Dask scheduler address (default: start a LocalCluster)"),
    workers: Optional[int] = typer.Option(None, help="worker processes (default: all cores)"),
    out: Optional[Path] = typer.Option(None, help="trial folder (default: out/<trial name>)"),
    resume: bool = typer.Option(False, help="continue an unfinished run, skipping finished chunks"),
    force: bool = typer.Option(False, help="replace what the folder holds"),
    seed: Optional[int] = typer.Option(None, help="root seed (default: the file's)"),
    chunk_size: Optional[int] = typer.Option(None, help="patients per chunk (results do not depend on it)"),
    report: bool = typer.Option(True, "--report/--no-report", help="write report.html"),
) -> None:
    """Run a virtual trial and print its endpoints, hazard ratios and log-rank tests."""
    from .cohort.trial import TrialStateError, load_trial, run_trial

    if executor not in ("local", "dask"):
        _fail(f"--executor = {executor!r}: must be local or dask")
    for name, value in (("patients", patients), ("workers", workers), ("chunk-size", chunk_size)):
        if value is not None and value < 1:
            _fail(f"--{name} = {value}: must be >= 1")
    if seed is not None and seed < 0:
        _fail(f"--seed = {seed}: must be >= 0")
    try:
        tr = load_trial(trial_file)
        result = run_trial(tr, patients=patients, executor=executor, scheduler=scheduler, workers=workers, out=out,
                           resume=resume, force=force, progress=True, report=report, seed=seed,
                           chunk_size=chunk_size)
    except (ScenarioError, TrialStateError) as exc:
        _fail(str(exc))
        return
    except KeyboardInterrupt:
        err_console.print("stopped: finished chunks are kept; run again with --resume to continue")
        raise typer.Exit(130)
    print_table(result.tables["endpoints"], f"{result.trial.name}: endpoints ({result.trial.patients} patients, "
                f"{result.trial.design} design)")
    for key in ("hazard_ratios_dmfs", "logrank_dmfs"):
        if key in result.tables:
            print_table(result.tables[key], key.replace("_", " "))
    hit = " (cache hit: same inputs, nothing recomputed)" if result.cache_hit else ""
    console.print(f"trial written to [bold]{result.out_dir}[/]{hit}")


def print_table(df, title: str = "") -> None:
    table = Table(title=title)
    for col in df.columns:
        table.add_column(str(col), overflow="fold")
    for row in df.itertuples(index=False):
        table.add_row(*[f"{v:.4g}" if isinstance(v, float) else str(v) for v in row])
    console.print(table)


@command()
def tissue(
    scenario: Path = typer.Argument(..., help="tissue scenario TOML file (e.g. examples/tissue_edge.toml)"),
    seed: Optional[int] = typer.Option(None, help="seed (default: the scenario's simulation.seed)"),
    out: Optional[Path] = typer.Option(None, help="run directory (default: out/<scenario name>)"),
    force: bool = typer.Option(False, help="replace an existing run directory"),
    animate: bool = typer.Option(False, help="also write tissue.gif, one frame per saved snapshot"),
    threads: Optional[int] = typer.Option(None, help="numba threads (results do not depend on it)"),
    png: bool = typer.Option(True, "--png/--no-png", help="write the snapshot PNGs and invasion.png"),
) -> None:
    """Simulate invasion at the tumour edge (tissue scale) and write a run directory."""
    import time

    from .tissue import load_tissue_scenario, simulate_tissue
    from .tissue.output import write_tissue_run

    t0 = time.perf_counter()
    try:
        if seed is not None and not 0 <= seed < 2**63:
            raise ScenarioError(f"--seed = {seed}: must be an integer in [0, 2^63)", field="seed", value=seed)
        if threads is not None and threads < 1:
            raise ScenarioError(f"--threads = {threads}: must be >= 1", field="threads", value=threads)
        sc = load_tissue_scenario(scenario)
        out_dir = out or Path("out") / slug(sc.name)
        if out_dir.exists() and not force:
            raise RunExistsError(f"{out_dir} exists; pass --force to replace it")
        with console.status(f"{sc.name}: cell-scale phenotype and tissue set-up…") as status:
            def progress(t: float, t_end: float) -> None:
                status.update(f"{sc.name}: simulated {t:g} of {t_end:g} min ({100 * t / t_end:.0f} %)")

            result = simulate_tissue(sc, seed=seed, threads=threads, progress=progress)
            status.update(f"{sc.name}: writing {out_dir}…")
            write_tissue_run(result, out_dir, force=force, animate=animate, png=png)
    except (ScenarioError, RunExistsError) as exc:
        _fail(str(exc))
        return
    print_tissue_summary(result, wall_s=time.perf_counter() - t0)
    console.print(f"run written to [bold]{out_dir}[/]")


def print_tissue_summary(result, wall_s: float | None = None) -> None:
    s = result.summary
    ts = result.timeseries
    sc = result.scenario
    table = Table(title=f"{sc.name}: {sc.dims}-D tissue, {ts['time_min'].iloc[-1]:g} min, seed {result.seed}")
    table.add_column("")
    table.add_column("value", justify="right")
    modes = ", ".join(f"{m} {100 * f:.0f} %" for m, f in result.cells.mode_fractions.items() if f > 0)
    rows = [
        ("tumour cells (start → end)", f"{s['tumour_cells_start']} → {s['tumour_cells_end']}"),
        ("CAFs", str(int(ts["cafs"].iloc[-1]))),
        ("migration modes (cell scale)", modes or "-"),
        ("invading cells (end)", str(s["invading_cells"])),
        ("invasion depth, 10 deepest (µm)", f"{s['depth_top10_um']:.1f}"),
        ("invasion depth, deepest (µm)", f"{s['depth_max_um']:.1f}"),
        ("escape events", str(s["escape_events"])),
        ("escape rate (per tumour cell per day)",
         f"{s['escape_rate_per_day']:.3g} [95 % CI {s['escape_rate_ci_low']:.3g}, {s['escape_rate_ci_high']:.3g}]"),
        ("track fraction (matrix voxels)", f"{s['track_fraction']:.3f}"),
    ]
    if wall_s is not None:
        sim = result.timings.get("simulate_s", float("nan"))
        rows.append(("wall time (s)", f"{wall_s:.1f} (simulation {sim:.1f})"))
    for k, v in rows:
        table.add_row(k, v)
    console.print(table)


def _levels(text: str | None, flag: str) -> list[float]:
    if not text:
        return []
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ScenarioError(f"{flag} = {text!r}: write comma-separated levels in nM, e.g. 10,100,1000",
                            field=flag, value=text) from None


@command("tissue-map")
def tissue_map(
    scenario: Path = typer.Argument(..., help="tissue scenario TOML file"),
    out: Path = typer.Option(..., help="where to write the map (JSON), for a patient scenario's [tissue] invasion_map"),
    jaki: Optional[str] = typer.Option(None, help="JAK1 inhibitor levels, nM network-equivalent, e.g. 10,100,1000"),
    rocki: Optional[str] = typer.Option(None, help="ROCK inhibitor levels, nM network-equivalent, e.g. 300,3000"),
    replicates: int = typer.Option(8, help="seeds per exposure (paired across exposures)"),
    seed: Optional[int] = typer.Option(None, help="root seed (default: the scenario's simulation.seed)"),
    executor: str = typer.Option("local", help="local | dask"),
    workers: Optional[int] = typer.Option(None, help="worker processes (local) or Dask workers to start"),
    scheduler: Optional[str] = typer.Option(None, help="Dask scheduler address (executor dask)"),
    force: bool = typer.Option(False, help="replace an existing map file"),
) -> None:
    """Escape rate over a grid of drug exposures (the tissue → body InvasionMap)."""
    from .tissue import load_tissue_scenario
    from .tissue.invasion import invasion_map

    try:
        if executor not in ("local", "dask"):
            raise ScenarioError(f"--executor = {executor!r}: must be local or dask", field="executor", value=executor)
        if replicates < 1:
            raise ScenarioError(f"--replicates = {replicates}: must be >= 1", field="replicates", value=replicates)
        grid = {k: v for k, v in (("JAKi", _levels(jaki, "--jaki")), ("ROCKi", _levels(rocki, "--rocki"))) if v}
        if not grid:
            raise ScenarioError("give --jaki and/or --rocki levels (nM)", field="jaki", value=None)
        if out.exists() and not force:
            raise RunExistsError(f"{out} exists; pass --force to replace it")
        sc = load_tissue_scenario(scenario)
        with console.status(f"{sc.name}: tissue runs over {', '.join(grid)}…"):
            m = invasion_map(sc, grid, replicates=replicates, seed=seed, executor=executor, workers=workers,
                             scheduler=scheduler)
    except (ScenarioError, RunExistsError) as exc:
        _fail(str(exc))
        return
    m.save(out)
    t = m.table
    table = Table(title=f"{sc.name}: escape rate per tumour cell per day ({replicates} replicates per point)")
    for c in m.inputs:
        table.add_column(f"{c} (nM)", justify="right")
    for c in ("events", "rate [95 % CI]", "relative [95 % CI]", "depth (µm)"):
        table.add_column(c, justify="right")
    for _, r in t.iterrows():
        table.add_row(*[f"{r[c]:g}" for c in m.inputs], str(int(r["events"])),
                      f"{r['rate']:.3g} [{r['rate_low']:.3g}, {r['rate_high']:.3g}]",
                      f"{r['relative']:.3g} [{r['relative_low']:.3g}, {r['relative_high']:.3g}]",
                      f"{r['depth_um']:.0f} ± {r['depth_se']:.0f}")
    console.print(table)
    zero = t.loc[t["events"] == 0, list(m.inputs)]
    if len(zero):
        pts = "; ".join(", ".join(f"{c} {r[c]:g} nM" for c in m.inputs) for _, r in zero.iterrows())
        console.print(f"note: no escapes at {pts}: the body takes relative rate 0 there (shedding off); "
                      "more --replicates narrow the interval")
    console.print(f"map written to [bold]{escape(str(out))}[/]; use it in a patient scenario as "
                  + escape(f'[tissue] invasion_map = "{out}"'))


@command()
def params(
    scale: Optional[str] = typer.Option(None, help="only this scale (body, cell, pharm, tissue)"),
    grep: Optional[str] = typer.Option(None, help="only parameters whose name, note or source contains WORD"),
    format: str = typer.Option("table", "--format", help="table | json | markdown"),
) -> None:
    """Print the parameter library with units, ranges and sources."""
    from .params import ALL_SCALES, load_library, markdown_table

    if scale is not None and scale not in ALL_SCALES:
        _fail(f"--scale = {scale!r}: must be one of {', '.join(ALL_SCALES)}")
    rows = load_library(ALL_SCALES).table(scale=scale, grep=grep)
    if format == "json":
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    if format == "markdown":
        sys.stdout.write(markdown_table(rows))
        return
    if format != "table":
        _fail(f"--format = {format!r}: must be table, json or markdown")
    table = Table(show_lines=False)
    for col in ("name", "value", "unit", "range", "source"):
        table.add_column(col, overflow="fold")
    for r in rows:
        v = r["value"]
        table.add_row(r["name"], f"{v:g}" if isinstance(v, float) else str(v), r["unit"], r["range"], r["source"])
    console.print(table)
    console.print(f"{len(rows)} parameters")


@command()
def validate(
    cases: list[str] = typer.Argument(None, help="case names (default: all)"),
    list_: bool = typer.Option(False, "--list", help="list the cases and exit"),
) -> None:
    """Run the validation cases; exit code 1 if any fails."""
    from .validate import all_cases, run_cases

    if list_:
        for name, c in sorted(all_cases().items()):
            console.print(f"{name}  [dim]{c.source}[/]")
        return
    try:
        results = run_cases(cases or None)
    except KeyError as exc:
        _fail(str(exc.args[0]))
        return
    table = Table(title="seedsoil validate")
    for col in ("case", "check", "expected", "got", "tolerance", "pass"):
        table.add_column(col, overflow="fold")

    def fmt(x) -> str:
        if isinstance(x, float):
            return f"{x:.4g}" if math.isfinite(x) else str(x)
        if isinstance(x, tuple):
            return "[" + ", ".join(fmt(v) for v in x) + "]"
        return str(x)

    n_fail = 0
    for res in results:
        if res.error:
            table.add_row(res.case.name, "(error)", "", res.error, "", "[red]FAIL[/]")
            n_fail += 1
            continue
        for c in res.checks:
            ok = c.passed
            n_fail += not ok
            table.add_row(res.case.name, c.name, fmt(c.expected), fmt(c.got), c.tolerance_text(),
                          "[green]pass[/]" if ok else "[red]FAIL[/]")
    console.print(table)
    n_checks = sum(len(r.checks) for r in results)
    console.print(f"{len(results)} cases, {n_checks} checks, {n_fail} failed")
    if n_fail:
        raise typer.Exit(1)


@command("report")
def report_cmd(run_dir: Path = typer.Argument(..., help="a run directory written by `seedsoil run`")) -> None:
    """(Re)write report.html of an existing run directory."""
    from .report import write_report
    from .store import load_result

    try:
        results = load_result(run_dir)
    except FileNotFoundError as exc:
        _fail(f"{run_dir}: not a run directory ({exc.filename} missing)")
        return
    path = write_report(results, Path(run_dir) / "report.html")
    console.print(f"wrote {path}")


def main() -> None:
    try:
        app()
    except ScenarioError as exc:  # raised outside a command's own handling
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
