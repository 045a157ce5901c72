"""``seedsoil`` command line: run | trial | tissue | tissue-map | sensitivity | params | validate | report.

Every command is a thin layer over one library call. Bad input (a wrong scenario
value, a missing file) prints one line naming the field, the value, the unit and
the allowed range, and exits with code 2, without a traceback.
"""
from __future__ import annotations

import json
import math
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional, Sequence

import typer
from rich.cells import cell_len
from rich.console import Console
from rich.markup import escape
from rich.padding import Padding
from rich.table import Table
from rich.text import Text
from typer.core import TyperArgument, TyperCommand

from .errors import RunExistsError, ScenarioError
from .seeds import check_seed
from .tomlfile import detect_kind, looks_like_patient, read_toml, wrong_kind_message


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


#: what Ctrl-C leaves, per kind of long run
RESUME_CHUNKS = "finished chunks are kept; run again with --resume to continue"
RESUME_FIT = "the evaluations made are kept; run again with the same --out to resume"


@contextmanager
def _refused(*errors: type[Exception], stopped: str | None = None) -> Iterator[None]:
    """A command's body: ``errors`` (ScenarioError, RunExistsError, ...) end it with their message
    and exit code 2, no traceback; with ``stopped``, Ctrl-C ends it with exit code 130 and that
    note (what was kept, how to resume)."""
    try:
        yield
    except errors as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        if stopped is None:
            raise
        err_console.print(f"stopped: {stopped}")
        raise typer.Exit(130) from None


def _note(msg: str) -> None:
    err_console.print(f"note: {escape(msg)}", highlight=False, soft_wrap=True)


def slug(name: str) -> str:
    from .store import slug as _slug

    return _slug(name, "variant")


def _check_kind(path: Path, kind: str) -> None:
    """ScenarioError when ``path`` is a TOML file of another kind than the command runs
    ("x.toml is a tissue scenario; run it with `seedsoil tissue x.toml`")."""
    data = read_toml(path, what={"patient": "scenario", "trial": "trial", "tissue": "tissue scenario"}[kind])
    found = detect_kind(data)
    if found == kind or (found == "patient" and not looks_like_patient(data)):
        return  # or nothing says what else it is: the command's loader names what is wrong
    raise ScenarioError(wrong_kind_message(path, found), field="file", value=str(path))


# ----------------------------------------------------------------------------- tables
def _text(value: object) -> Text:
    """A cell as plain text: brackets in names and sources are not rich markup."""
    return value if isinstance(value, Text) else Text(str(value))


def _longest_word(t: Text) -> int:
    return max((cell_len(w) for w in t.plain.split()), default=0)


def _longest_line(t: Text) -> int:
    return max((cell_len(line) for line in t.plain.split("\n")), default=0)


def fit_widths(headers: Sequence[Text], rows: Sequence[Sequence[Text]], available: int,
               whole: Sequence[int] = (), fold: bool = True) -> list[int] | None:
    """Content widths of table columns that fit ``available`` cells without splitting a word.

    Columns start at their widest line; the widest column gives up one cell at a time,
    first down to its longest word (nothing wraps inside a word), then, if the table is
    still too wide and ``fold`` allows it, down to the longest word of its header
    (headers stay whole, long values fold). Columns in ``whole`` (identifiers) never
    wrap at all. None when that does not fit.
    """
    n = len(headers)
    widest = [max([_longest_line(headers[i])] + [_longest_line(r[i]) for r in rows]) for i in range(n)]
    words = [max([_longest_word(headers[i])] + [_longest_word(r[i]) for r in rows]) for i in range(n)]
    header_words = [_longest_word(h) for h in headers]
    soft = [widest[i] if i in whole else max(1, words[i]) for i in range(n)]
    hard = [widest[i] if i in whole else max(1, header_words[i]) for i in range(n)]
    widths = list(widest)
    for floor in (soft, hard) if fold else (soft,):
        excess = sum(widths) - available
        while excess > 0:
            shrinkable = [i for i in range(n) if widths[i] > floor[i]]
            if not shrinkable:
                break
            i = max(shrinkable, key=widths.__getitem__)
            widths[i] -= 1
            excess -= 1
    return widths if sum(widths) <= available else None


def make_table(title: str | Text, headers: Sequence[str], rows: Sequence[Sequence[object]], *,
               justify: Sequence[str] | None = None, whole: Sequence[int] = (),
               width: int | None = None) -> Table:
    """A rich table sized for the console: no header or value is split inside a word
    (see :func:`fit_widths`), cells are plain text (no markup)."""
    head = [Text(h) for h in headers]
    body = [[_text(v) for v in row] for row in rows]
    justify = list(justify or ["left"] * len(headers))
    table = Table(title=_text(title))
    # a boxed table spends 3 cells per column (two of padding, one border) plus one
    widths = fit_widths(head, body, (width or console.width) - (3 * len(headers) + 1), whole)
    for i, h in enumerate(head):
        table.add_column(h, justify=justify[i], overflow="fold", no_wrap=i in whole,  # type: ignore[arg-type]
                         width=widths[i] if widths else None)
    for row in body:
        table.add_row(*row)
    return table


@command()
def run(
    scenario: Path = typer.Argument(..., help="scenario TOML file"),
    seed: Optional[int] = typer.Option(None, help="root seed (default: scenario's simulation.seed, else random)"),
    out: Optional[Path] = typer.Option(None, help="run directory (default: out/<scenario name>)"),
    engine: Optional[str] = typer.Option(None, help="stochastic | meanfield | analytic (default: the scenario's)"),
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

    with _refused(ScenarioError, RunExistsError):
        _check_kind(scenario, "patient")
        sc = load_scenario(scenario)
        if engine is not None and engine not in ("stochastic", "meanfield", "analytic"):
            raise ScenarioError(f"--engine = {engine!r}: must be stochastic, meanfield or analytic", field="engine",
                                value=engine)
        eng = engine or sc.simulation.engine
        if report is None:
            report = sc.output.report
        if seed is not None:
            seed = check_seed(seed, "--seed")
        if eng in ("meanfield", "analytic"):
            if seed is not None:
                _note(f"the {eng} engine is deterministic (no sampling): --seed is not used")
            seed = None
        elif seed is None:
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

    def fill(tmp: Path) -> None:
        for label, res in results.items():
            folder = tmp if label == "base" else tmp / "variants" / slug(label)
            folder.mkdir(parents=True, exist_ok=True)
            write_tables(res, folder)
            meta = run_metadata(res, variant=None if label == "base" else label)
            (folder / "run.json").write_text(json.dumps(meta, indent=2, sort_keys=True))
        summary_frame(results).to_csv(tmp / "summary.csv", index=False)
        if report:
            from .report import write_report

            write_report(results, tmp / "report.html")

    atomic_dir(out_dir, fill, force=force)
    what = (f"{eng} engine, seed {seed}" if eng == "stochastic"
            else "meanfield engine: expected values, deterministic (no seed)" if eng == "meanfield"
            else "analytic engine: the relapse-time distribution, deterministic (no seed)")
    print_summary(results, title=f"{sc.name} — {what}")
    console.print(Text.assemble("run written to ", (str(out_dir), "bold"),
                                f" (report: {out_dir / 'report.html'})" if report else ""))


#: PatientResult.summary keys that count cells, colonies or metastases: integers in a
#: stochastic run (written as such in summary.csv), expectations in a mean-field one.
#: (metastatic_cells_end is not one: large colonies grow deterministically, in fractions.)
COUNT_KEYS = ("shed_before_surgery", "arrived_before_surgery", "colonies_started_before_surgery",
              "dormant_cells_at_surgery", "colonies_alive_at_surgery", "dormant_colonies_at_surgery",
              "occult_metastatic_cells_at_surgery", "detectable_at_surgery", "relapse_colony",
              "metastases_at_relapse", "metastases_detected", "cells_shed_total", "cells_arrived_total",
              "colonies_started_total", "dormant_cells_end")


def summary_frame(results):
    """``summary.csv``: one row per run label (base, then the variants) with the summary as
    typed values: ``label``, ``engine``, ``seed`` (empty for the mean-field engine), then
    the keys of ``PatientResult.summary`` (days since t = 0 in ``*_day``, durations in
    ``*_days``, counts as numbers; a time that never came, e.g. no death, is empty), with
    ``death`` (bool) before ``death_day``."""
    import numpy as np
    import pandas as pd

    records = []
    for label, r in results.items():
        row: dict[str, object] = {"label": label, "engine": r.engine, "seed": r.seed}
        for key, value in r.summary.items():
            if key == "death_day":
                row["death"] = value is not None and math.isfinite(value)
            row[key] = value
        records.append(row)
    df = pd.DataFrame.from_records(records)
    df["seed"] = df["seed"].astype("Int64")
    stochastic = all(r.engine == "stochastic" for r in results.values())
    for col in df.columns:
        if pd.api.types.is_float_dtype(df[col].dtype):
            values = df[col].to_numpy(dtype=float, copy=True)
            values[np.isinf(values)] = np.nan  # written as an empty cell, never as the string "inf"
            df[col] = values
            finite = values[np.isfinite(values)]
            if stochastic and col in COUNT_KEYS and np.array_equal(finite, np.round(finite)):
                df[col] = df[col].astype("Int64")
    return df


def print_summary(results, title: str = "") -> None:
    first = next(iter(results.values()))
    keys = [k for k, _ in first.summary_rows()]
    rows = {label: dict(r.summary_rows()) for label, r in results.items()}
    table = make_table(title, ["", *results], [[key, *[rows[label].get(key, "") for label in results]] for key in keys],
                       justify=["left", *["right"] * len(results)])
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
    engine: str = typer.Option("stochastic", help="stochastic (simulate every patient) | analytic (every "
                               "patient's relapse-free curve, computed)"),
) -> None:
    """Run a virtual trial and print its endpoints, hazard ratios and log-rank tests."""
    from .cohort.trial import TrialStateError, load_trial
    from .runs import run_trial

    if executor not in ("local", "dask"):
        _fail(f"--executor = {executor!r}: must be local or dask")
    if engine not in ("stochastic", "analytic"):
        _fail(f"--engine = {engine!r}: must be stochastic or analytic")
    for name, value in (("patients", patients), ("workers", workers), ("chunk-size", chunk_size)):
        if value is not None and value < 1:
            _fail(f"--{name} = {value}: must be >= 1")
    with _refused(ScenarioError, TrialStateError, stopped=RESUME_CHUNKS):
        if seed is not None:
            seed = check_seed(seed, "--seed")
        _check_kind(trial_file, "trial")
        tr = load_trial(trial_file)
        if engine == "analytic":
            _relapse_trial(tr, patients=patients, executor=executor, scheduler=scheduler, workers=workers, out=out,
                           resume=resume, force=force, seed=seed, chunk_size=chunk_size)
            return
        result = run_trial(tr, patients=patients, executor=executor, scheduler=scheduler, workers=workers, out=out,
                           resume=resume, force=force, progress=True, report=report, seed=seed,
                           chunk_size=chunk_size)
    print_endpoints(result)
    print_comparisons(result, "dmfs")
    hit = " (cache hit: same inputs, nothing recomputed)" if result.cache_hit else ""
    console.print(Text.assemble("trial written to ", (str(result.out_dir), "bold"), hit))


def _relapse_trial(tr, *, out: Optional[Path], **kw) -> None:
    """``seedsoil trial --engine analytic``: every patient's relapse-free curve at each year of the
    trial's horizon (seedsoil.cohort.relapse), written to OUT/relapse/ (parts, resumable) with the
    population's curve per arm in OUT/relapse_by_arm.csv, and printed."""
    import numpy as np

    from .cohort.relapse import relapse_distributions
    from .store import write_csv_atomic
    from .units import DAYS_PER_YEAR

    years = max(int(math.floor(tr.horizon_days / DAYS_PER_YEAR + 1e-9)), 1)
    days = np.arange(1, years + 1) * DAYS_PER_YEAR
    out_dir = out or Path("out") / slug(tr.name)
    with console.status("computing relapse-free curves…"):
        curves = relapse_distributions(tr, days, out=out_dir / "relapse", **kw)
    table = curves.by_arm()
    write_csv_atomic(table, out_dir / "relapse_by_arm.csv")
    arms = list(tr.arm_names)
    rows = []
    for i, d in enumerate(days):
        row = [f"{d / DAYS_PER_YEAR:.0f}"]
        for arm in arms:
            v = table.loc[(table["arm"] == arm) & (table["days_after_surgery"] == d), "relapse_free_probability"]
            row.append(f"{float(v.iloc[0]):.4f}")
        rows.append(row)
    n = int(curves.rows["patient"].nunique())
    console.print(make_table(f"{tr.name} — relapse-free probability (analytic engine, {n:,} patients)",
                             ["year", *arms], rows, justify=["right", *["right"] * len(arms)]))
    console.print(Text.assemble("curves written to ", (str(out_dir / "relapse"), "bold"), " and ",
                                (str(out_dir / "relapse_by_arm.csv"), "bold")))


def _fmt_days(days: float) -> str:
    """Days as a whole number; "not reached" for inf (a median beyond follow-up), "—" for NaN."""
    if math.isinf(days):
        return "not reached"
    return "—" if math.isnan(days) else f"{days:,.0f}"


def _fmt_p(p: float) -> str:
    if math.isnan(p):
        return "—"
    return "< 0.0001" if p < 1e-4 else f"{p:.2g}"


def _fmt_number(x: float, spec: str = ".3g") -> str:
    return "—" if isinstance(x, float) and math.isnan(x) else format(x, spec)


def print_endpoints(result) -> None:
    """The endpoints table of a trial, one column per arm."""
    tr = result.trial
    df = result.tables["endpoints"].set_index("arm")
    arms = [str(a) for a in df.index]
    years = f"{tr.horizon_days / 365.25:.3g} y"
    rows = [("patients", "n", lambda v: f"{int(v):,}"),
            ("relapses", "relapses", lambda v: f"{int(v):,}"),
            ("deaths", "deaths", lambda v: f"{int(v):,}"),
            ("median DMFS (days)", "median_dmfs_days", _fmt_days),
            ("median OS (days)", "median_os_days", _fmt_days),
            (f"DMFS at {years}", "dmfs_at_horizon", lambda v: _fmt_number(100 * v, ".1f") + " %"),
            (f"restricted mean DMFS to {years} (days)", "rmst_dmfs_days", _fmt_days),
            ("mean metastases at relapse", "mean_mets_at_relapse", _fmt_number)]
    body = [[label, *[fmt(df.loc[arm, col]) for arm in df.index]] for label, col, fmt in rows if col in df.columns]
    title = f"{tr.name}: endpoints ({tr.patients:,} patients, {tr.design} design; days from surgery)"
    console.print(make_table(title, ["", *arms], body, justify=["left", *["right"] * len(arms)]))


def print_comparisons(result, endpoint: str = "dmfs") -> None:
    """Hazard ratios and log-rank tests of each arm against the control, on one table;
    in a paired trial a footnote says that the log-rank test ignores the pairing."""
    tables = result.tables
    if f"hazard_ratios_{endpoint}" not in tables:
        return  # a one-arm trial
    tr = result.trial
    paired = tr.design == "paired"
    hr = tables[f"hazard_ratios_{endpoint}"].set_index("arm")
    lr = tables.get(f"logrank_{endpoint}")
    lr = lr.set_index("arm") if lr is not None else None
    rows = []
    for arm in hr.index:
        r = hr.loc[arm]
        ratio = ("—" if math.isnan(r["hr"]) else
                 f"{r['hr']:.3g} ({r['ci_lower']:.3g}–{r['ci_upper']:.3g})")
        row = [str(arm), ratio, _fmt_p(float(r["p_value"]))]
        if lr is not None:
            row += [_fmt_number(float(lr.loc[arm, "test_statistic"])), _fmt_p(float(lr.loc[arm, "p_value"]))]
        rows.append(row)
    headers = ["arm", "hazard ratio (95 % CI)", "Cox p (clustered)" if paired else "Cox p"]
    if lr is not None:
        headers += ["log-rank χ² (1 df)", "log-rank p" + (" (unpaired)" if paired else "")]
    title = f"{endpoint.upper()}: each arm against “{tr.control}”"
    console.print(make_table(title, headers, rows, justify=["left", *["right"] * (len(headers) - 1)]))
    if paired and lr is not None:
        console.print(Text("Paired design: every patient is in every arm. The Cox p uses errors clustered on the "
                           "patient; the log-rank test ignores the pairing (it treats the arms as independent "
                           "samples), so its p is conservative."))


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
    from .tissue.simulate import check_threads

    t0 = time.perf_counter()
    with _refused(ScenarioError, RunExistsError):
        if seed is not None:
            seed = check_seed(seed, "--seed")
        check_threads(threads, "--threads")
        _check_kind(scenario, "tissue")
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
    print_tissue_summary(result, wall_s=time.perf_counter() - t0)
    console.print(Text.assemble("run written to ", (str(out_dir), "bold")))


def print_tissue_summary(result, wall_s: float | None = None) -> None:
    s = result.summary
    ts = result.timeseries
    sc = result.scenario
    fractions, where = result.cells.mode_fractions, "migration modes (cell scale)"
    if result.species_names and result.snapshots:  # per-agent path: each tumour cell's own mode at the end
        import numpy as np

        from .cell.phenotype import MODES
        from .tissue import _kernels as K

        last = result.snapshots[-1]
        mode = last["mode"][(last["kind"] == K.TUMOUR) & (last["state"] == K.ACTIVE)]
        counts = np.bincount(mode, minlength=len(MODES)) / max(len(mode), 1)
        fractions, where = dict(zip(MODES, counts)), "migration modes (tumour cells, end)"
    modes = ", ".join(f"{m} {100 * f:.0f} %" for m, f in fractions.items() if f > 0)
    rows = [
        ("tumour cells (start → end)", f"{s['tumour_cells_start']} → {s['tumour_cells_end']}"),
        ("CAFs", str(int(ts["cafs"].iloc[-1]))),
        (where, modes or "-"),
        ("invading cells (end)", str(s["invading_cells"])),
        ("invasion depth, 10 deepest (µm)", f"{s['depth_top10_um']:.1f}"),
        ("invasion depth, deepest (µm)", f"{s['depth_max_um']:.1f}"),
        ("escape events", str(s["escape_events"])),
        ("escape rate (per tumour cell per day)",
         f"{s['escape_rate_per_day']:.3g} [95 % CI {s['escape_rate_ci_low']:.3g}, {s['escape_rate_ci_high']:.3g}]"),
        ("track fraction (matrix voxels)", f"{s['track_fraction']:.3f}"),
    ]
    # per-agent path: the substrates' mean level at the tumour cells at the end (the timeseries)
    levels = [(c[:-len("_tumour_nM")], ts[c].iloc[-1]) for c in ts.columns if c.endswith("_tumour_nM")]
    if levels:
        rows.append(("field levels at the tumour cells, end (nM)", ", ".join(f"{n} {v:.3g}" for n, v in levels)))
    if "JAK1_tumour" in ts:
        rows.append(("JAK1 activity, tumour-cell mean (end)", f"{ts['JAK1_tumour'].iloc[-1]:.3f}"))
    if wall_s is not None:
        sim = result.timings.get("simulate_s", float("nan"))
        rows.append(("wall time (s)", f"{wall_s:.1f} (simulation {sim:.1f})"))
    title = f"{sc.name}: {sc.dims}-D tissue, {ts['time_min'].iloc[-1]:g} min, seed {result.seed}"
    console.print(make_table(title, ["", "value"], rows, justify=["left", "right"]))


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
    path: Optional[str] = typer.Option(None, help="population | agent: how agents get their phenotype (default: the "
                                                  "scenario's signalling.path)"),
) -> None:
    """Escape rate over a grid of drug exposures (the tissue → body InvasionMap)."""
    from .tissue import load_tissue_scenario
    from .tissue.invasion import invasion_map

    with _refused(ScenarioError, RunExistsError):
        if executor not in ("local", "dask"):
            raise ScenarioError(f"--executor = {executor!r}: must be local or dask", field="executor", value=executor)
        if replicates < 1:
            raise ScenarioError(f"--replicates = {replicates}: must be >= 1", field="replicates", value=replicates)
        if seed is not None:
            seed = check_seed(seed, "--seed")
        grid = {k: v for k, v in (("JAKi", _levels(jaki, "--jaki")), ("ROCKi", _levels(rocki, "--rocki"))) if v}
        if not grid:
            raise ScenarioError("give --jaki and/or --rocki levels (nM)", field="jaki", value=None)
        if out.exists() and not force:
            raise RunExistsError(f"{out} exists; pass --force to replace it")
        _check_kind(scenario, "tissue")
        sc = load_tissue_scenario(scenario)
        with console.status(f"{sc.name}: tissue runs over {', '.join(grid)}…"):
            m = invasion_map(sc, grid, replicates=replicates, seed=seed, executor=executor, workers=workers,
                             scheduler=scheduler, path=path)
    m.save(out)
    t = m.table
    headers = [f"{c} (nM)" for c in m.inputs] + ["events", "rate [95 % CI]", "relative [95 % CI]", "depth (µm)"]
    rows = [[*[f"{r[c]:g}" for c in m.inputs], str(int(r["events"])),
             f"{r['rate']:.3g} [{r['rate_low']:.3g}, {r['rate_high']:.3g}]",
             ("1 (reference)" if r["relative_low"] != r["relative_low"] else
              f"{r['relative']:.3g} [{r['relative_low']:.3g}, {r['relative_high']:.3g}]"),
             f"{r['depth_um']:.0f} ± {r['depth_se']:.0f}"] for _, r in t.iterrows()]
    title = f"{sc.name}: escape rate per tumour cell per day ({replicates} replicates per point)"
    console.print(make_table(title, headers, rows, justify=["right"] * len(headers)))
    zero = t.loc[t["events"] == 0, list(m.inputs)]
    if len(zero):
        pts = "; ".join(", ".join(f"{c} {r[c]:g} nM" for c in m.inputs) for _, r in zero.iterrows())
        console.print(Text(f"note: no escapes at {pts}: the body takes relative rate 0 there (shedding off); "
                           "more --replicates narrow the interval"))
    console.print(Text.assemble("map written to ", (str(out), "bold"), "; use it in a patient scenario as ",
                                f'[tissue] invasion_map = "{out}"'))


@command()
def sensitivity(
    spec_file: Path = typer.Argument(..., help="sensitivity spec TOML file ([sensitivity], [method], [[parameter]], "
                                     "[[output]])"),
    out: Path = typer.Option(..., help="run folder (run.json, parts/, samples.parquet, indices.csv)"),
    workers: Optional[int] = typer.Option(None, help="worker processes (default: the spec's, else all cores)"),
    executor: Optional[str] = typer.Option(None, help="local | dask (default: the spec's)"),
    scheduler: Optional[str] = typer.Option(None, help="Dask scheduler address (default: start a LocalCluster)"),
    resume: bool = typer.Option(False, help="continue an unfinished run, skipping finished chunks"),
    force: bool = typer.Option(False, help="replace what the folder holds"),
) -> None:
    """Global sensitivity (Sobol' or Morris, SALib) of relapse outputs to parameters over their ranges."""
    from .cohort.sensitivity import load_sensitivity, run_sensitivity
    from .cohort.trial import TrialStateError

    with _refused(ScenarioError, TrialStateError, stopped=RESUME_CHUNKS):
        if executor is not None and executor not in ("local", "dask"):
            raise ScenarioError(f"--executor = {executor!r}: must be local or dask", field="executor", value=executor)
        if workers is not None and workers < 1:
            raise ScenarioError(f"--workers = {workers}: must be >= 1", field="workers", value=workers)
        spec = load_sensitivity(spec_file)
        with console.status(f"{spec.name}: {spec.n_rows():,} model runs…"):
            result = run_sensitivity(spec, out=out, resume=resume, force=force, executor=executor, workers=workers,
                                     scheduler=scheduler)
    df = result.indices
    sobol = result.spec.method == "sobol"
    cols = [("S1", "S1_conf"), ("ST", "ST_conf")] if sobol else [("mu_star", "mu_star_conf"), ("sigma", None)]
    heads = ["S1 ± CI", "ST ± CI"] if sobol else ["mu* ± CI", "sigma"]
    design = (f"Sobol' N = {result.spec.samples}" if sobol else
              f"Morris r = {result.spec.trajectories}, p = {result.spec.levels}")
    console.print(Text(f"{result.spec.name}: {design}, {len(result.samples):,} model runs; "
                       f"{100 * result.spec.conf_level:g} % confidence intervals"))
    for output, part in df.groupby("output", sort=False):
        rows = [[r["parameter"], *[f"{r[v]:.3g}" + (f" ± {r[c]:.2g}" if c else "") for v, c in cols]]
                for _, r in part.iterrows()]
        console.print(make_table(str(output), ["parameter", *heads], rows, justify=["left", "right", "right"],
                                 whole=[0]))
    for note in result.notes:
        _note(note)
    console.print(Text.assemble("indices written to ", (str(out), "bold")))


@command()
def fit(
    fit_file: Path = typer.Argument(..., help="fit file TOML ([fit], [data], [model], [[parameter]], [method], "
                                    "[executor])"),
    out: Path = typer.Option(..., help="run folder (fit.json, evaluations.jsonl, estimates.csv, population.json); "
                             "rerun into the same folder to resume"),
    executor: Optional[str] = typer.Option(None, help="inprocess | local | dask (default: the fit file's)"),
    workers: Optional[int] = typer.Option(None, help="worker processes (default: the fit file's, else all cores)"),
    scheduler: Optional[str] = typer.Option(None, help="Dask scheduler address (default: start a LocalCluster)"),
) -> None:
    """Fit the mechanistic relapse model to a real cohort (maximum likelihood, intervals, posterior)."""
    import dataclasses

    from .fit.spec import load_fit
    from .runs import run_fit

    with _refused(ScenarioError, stopped=RESUME_FIT):
        if executor is not None and executor not in ("inprocess", "local", "dask"):
            raise ScenarioError(f"--executor = {executor!r}: must be inprocess, local or dask", field="executor",
                                value=executor)
        if workers is not None and workers < 1:
            raise ScenarioError(f"--workers = {workers}: must be >= 1", field="workers", value=workers)
        spec = load_fit(fit_file)
        kw = {k: v for k, v in (("executor", executor), ("workers", workers), ("scheduler", scheduler))
              if v is not None}
        spec = dataclasses.replace(spec, **kw) if kw else spec
        with console.status(f"{spec.name}: fitting…") as status:
            result = run_fit(spec, out, fit_file=str(fit_file), progress=lambda m: status.update(f"{spec.name}: {m}"))
    est = result.estimate
    console.print(Text(f"{spec.name}: {est.n:,} patients, {est.events:,} events; log-likelihood {est.loglik:.2f} "
                       f"after {est.evaluations} evaluations ({'converged' if est.converged else 'NOT converged'}); "
                       f"{result.wall_s:.1f} s"))
    rows = [[r["natural_name"], f"{r['natural']:.4g}", f"{r['natural_low']:.4g} - {r['natural_high']:.4g}",
             r["unit"], "at bound" if r["at_bound"] else ""] for _, r in result.table.iterrows()]
    console.print(make_table(f"estimates ({result.table['interval'].iloc[0]} intervals, {100 * spec.level:g} %)",
                             ["parameter", "estimate", "interval", "unit", ""], rows,
                             justify=["left", "right", "right", "left", "left"], whole=[0]))
    if result.mortality is not None:
        m = result.mortality
        _note(f"other-cause death (Gompertz): hazard doubles every {m.doubling_years:.1f} years ({m.deaths} deaths)")
    console.print(Text.assemble("written to ", (str(out), "bold"), "; the fitted population is ",
                                (str(Path(out) / "population.json"), "bold")))


@command()
def predict(
    population: str = typer.Option("rotterdam_untreated", help="fitted population: a library name or a "
                                   "population.json path"),
    age: Optional[str] = typer.Option(None, help="age at surgery, e.g. 55 or '55 year'"),
    size: Optional[str] = typer.Option(None, help="tumour size at surgery, e.g. '25 mm'"),
    size_category: Optional[str] = typer.Option(None, help="T category when the size is not known: T1, T2, T3"),
    nodes: Optional[int] = typer.Option(None, help="number of positive axillary lymph nodes"),
    grade: Optional[int] = typer.Option(None, help="histological grade: 1, 2, 3"),
    er: Optional[str] = typer.Option(None, help="oestrogen receptor: negative | positive | a level in fmol/mg"),
    pr: Optional[str] = typer.Option(None, help="progesterone receptor: negative | positive | a level in fmol/mg"),
    menopause: Optional[str] = typer.Option(None, help="menopausal status: pre | post"),
    therapy: Optional[list[str]] = typer.Option(None, metavar="<name>",
                                                help="a therapy option, e.g. 'chemotherapy (CMF)' (repeat for "
                                                "several; default: all; surgery only is always included)"),
    horizon: float = typer.Option(10.0, help="years after surgery the curves cover"),
    draws: int = typer.Option(40, help="parameter draws for the uncertainty bands"),
    seed: int = typer.Option(0, help="seed of the parameter draws"),
    level: float = typer.Option(0.95, help="coverage of the bands"),
    out: Optional[Path] = typer.Option(None, help="folder for curves.csv, summary.csv, prediction.json, report.html"),
) -> None:
    """One patient's predicted recurrence-free and distant-metastasis-free curves under each therapy option."""
    from .fit.predict import predict_patient

    record = {k: v for k, v in (("tumour_size", size), ("size_category", size_category), ("positive_nodes", nodes),
                                ("grade", grade), ("er", er), ("pr", pr), ("menopause", menopause), ("age", age))
              if v is not None}
    flags = {"tumour_size": "--size", "size_category": "--size-category", "positive_nodes": "--nodes",
             "grade": "--grade", "er": "--er", "pr": "--pr", "menopause": "--menopause", "age": "--age"}
    try:
        with console.status("predicting…"):
            pred = predict_patient(record, population, therapies=list(therapy) if therapy else None,
                                   horizon_years=horizon, draws=draws, seed=seed, level=level)
    except ScenarioError as exc:
        msg = str(exc)
        key = (exc.field or "").removeprefix("patient.")
        if key in flags:
            msg += f" (option {flags[key]})"
        _fail(msg)
        return
    console.print(Text(pred.population_label))
    band = f"{100 * pred.level:g} % band over {pred.draws} draws"
    rows = []
    for _, r in pred.summary.iterrows():
        rows.append([r["therapy"], "distant" if r["endpoint"] == "distant" else "RFS", f"{r['years']:g}y",
                     f"{100 * r['probability']:.1f} ({100 * r['low']:.1f}-{100 * r['high']:.1f})",
                     f"{100 * r['benefit']:+.1f} ({100 * r['benefit_low']:+.1f}/{100 * r['benefit_high']:+.1f})"])
    console.print(make_table(f"event-free % and benefit over surgery only in points ({band})",
                             ["therapy", "endpoint", "at", "event-free % (band)", "benefit (band)"], rows,
                             justify=["left", "left", "right", "right", "right"], whole=[1, 2, 3, 4]))
    for note in pred.notes:
        _note(note)
    if out is not None:
        from .report.predict import write_prediction_report
        from .store import _jsonable, write_text_atomic

        out.mkdir(parents=True, exist_ok=True)
        write_text_atomic(out / "curves.csv", pred.curves.to_csv(index=False))
        write_text_atomic(out / "summary.csv", pred.summary.to_csv(index=False))
        write_text_atomic(out / "prediction.json", json.dumps(_jsonable(pred.to_dict()), indent=1) + "\n")
        write_prediction_report(pred, out)
        console.print(Text.assemble("written to ", (str(out), "bold")))


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


@command()
def params(
    scale: Optional[str] = typer.Option(None, help="only this scale (body, cell, pharm, tissue, covariate_links)"),
    grep: Optional[str] = typer.Option(None, help="only parameters whose name, note or source contains WORD"),
    format: str = typer.Option("table", "--format", help="table | json | markdown"),
) -> None:
    """Print the parameter library with units, ranges and sources."""
    from .body.covariates import default_links
    from .params import ALL_SCALES, load_library, markdown_table

    scales = ALL_SCALES + ("covariate_links",)
    if scale is not None and scale not in scales:
        _fail(f"--scale = {scale!r}: must be one of {', '.join(scales)}")
    if format not in ("table", "json", "markdown"):
        _fail(f"--format = {format!r}: must be table, json or markdown")
    rows = load_library(ALL_SCALES).table(scale=scale, grep=grep)
    if scale in (None, "covariate_links"):  # the coefficients of params/covariate_links.toml (--grep: by name)
        rows += [r for r in default_links().table() if not grep or grep.lower() in r["name"].lower()]
    if format == "json":
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    if format == "markdown":
        sys.stdout.write(markdown_table(rows))
        return
    if not rows:
        console.print(Text("no parameters match" + (f" --grep {grep!r}" if grep else "")
                           + (f" in --scale {scale}" if scale else "")))
        return
    print_parameters(rows)
    console.print(_plural(len(rows), "parameter"))


def print_parameters(rows: Sequence[dict]) -> None:
    """The parameter library as a table, names whole on one line. When the console is too
    narrow for a table in which no word is split, one block per parameter instead: name,
    value, unit and allowed range on a line, the source indented below."""

    def value(r: dict) -> str:
        return f"{r['value']:g}" if isinstance(r["value"], float) else str(r["value"])

    headers = ["name", "value", "unit", "range", "source"]
    cells = [[r["name"], value(r), r["unit"], r["range"], r["source"]] for r in rows]
    available = console.width - (3 * len(headers) + 1)
    if fit_widths([Text(h) for h in headers], [[Text(c) for c in row] for row in cells], available, whole=(0,),
                  fold=False):
        console.print(make_table("", headers, cells, whole=(0,)))
        return
    for name, val, unit, rng, source in cells:
        console.print(Text.assemble((name, "bold"), f" = {val}" + (f" {unit}" if unit else ""),
                                    f"   allowed: {rng}" if rng else ""))
        console.print(Padding(Text(source), (0, 0, 0, 4), expand=False))


@command()
def validate(
    cases: list[str] = typer.Argument(None, help="case names (default: all)"),
    list_: bool = typer.Option(False, "--list", help="list the cases and exit"),
) -> None:
    """Run the validation cases; exit code 1 if any fails."""
    from .validate import all_cases, run_cases

    if list_:
        for name, c in sorted(all_cases().items()):
            console.print(Text.assemble(c.summary(), "\n    ", (c.source, "dim")))
        return
    try:
        results = run_cases(cases or None)
    except KeyError as exc:
        _fail(str(exc.args[0]))
        return

    passed, failed = Text("pass", style="green"), Text("FAIL", style="red")
    rows, n_fail = [], 0
    for res in results:
        if res.error:
            rows.append([res.case.name, "(error)", "", res.error, "", failed])
            n_fail += 1
            continue
        for c in res.checks:
            n_fail += not c.passed
            rows.append([res.case.name, c.name, c.expected_text(), c.got_text(), c.tolerance_text(),
                         passed if c.passed else failed])
    console.print(make_table("seedsoil validate", ["case", "check", "expected", "got", "tolerance", "pass"], rows,
                             whole=(0,)))
    n_checks = sum(len(r.checks) for r in results)
    console.print(f"{_plural(len(results), 'case')}, {_plural(n_checks, 'check')}, {n_fail} failed")
    if n_fail:
        raise typer.Exit(1)


@command("report")
def report_cmd(run_dir: Path = typer.Argument(..., help="a run directory of `seedsoil run` or a trial folder of "
                                                        "`seedsoil trial`")) -> None:
    """(Re)write report.html of a run directory or a trial folder."""
    with _refused(ScenarioError):
        kind = folder_kind(run_dir)
        path = rewrite_trial_report(run_dir) if kind == "trial" else rewrite_patient_report(run_dir)
    console.print(f"wrote {path}")


def folder_kind(folder: Path) -> str:
    """"patient" (a run directory of ``seedsoil run``) or "trial" (a trial folder); a
    ScenarioError naming what the folder is otherwise, e.g. a tissue run directory, which
    has no HTML report."""
    from .cohort.trial import TRIAL_FILE
    from .store import RUN_FILE

    if not folder.exists():
        raise ScenarioError(f"{folder}: no such folder", field="run_dir", value=str(folder))
    if not folder.is_dir():
        raise ScenarioError(f"{folder} is a file, not a run directory; `seedsoil report` takes the folder that "
                            "`seedsoil run` or `seedsoil trial` wrote", field="run_dir", value=str(folder))
    if (folder / TRIAL_FILE).is_file():
        return "trial"
    run_json = folder / RUN_FILE
    if not run_json.is_file():
        raise ScenarioError(f"{folder}: not a seedsoil run directory (no {RUN_FILE} or {TRIAL_FILE}); "
                            "`seedsoil run` writes patient run directories, `seedsoil trial` trial folders",
                            field="run_dir", value=str(folder))
    try:
        meta = json.loads(run_json.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{run_json}: not valid JSON ({exc})", field="run_dir", value=str(folder)) from None
    if isinstance(meta, dict) and meta.get("scale") == "tissue":
        raise ScenarioError(f"{folder} is a tissue run directory (from `seedsoil tissue`), which has no report.html; "
                            f"`seedsoil tissue SCENARIO --out {folder} --force` writes its figures again",
                            field="run_dir", value=str(folder))
    return "patient"


def rewrite_patient_report(run_dir: Path) -> Path:
    """Rebuild the PatientResults of a run directory and write its report.html."""
    from .patient import load_result
    from .report import write_report

    try:
        results = load_result(run_dir)
    except FileNotFoundError as exc:
        raise ScenarioError(f"{run_dir}: not a complete run directory ({exc.filename} missing)",
                            field="run_dir", value=str(run_dir)) from None
    except KeyError as exc:
        raise ScenarioError(f"{run_dir}: not a complete run directory ({exc.args[0]} missing)",
                            field="run_dir", value=str(run_dir)) from None
    return write_report(results, run_dir / "report.html")


def rewrite_trial_report(folder: Path) -> Path:
    """Rebuild the TrialResult of a finished trial folder (its spec from trial.json, its
    patients.parquet, the summary tables computed again: seconds) and write report.html."""
    import pandas as pd

    from .cohort.trial import TRIAL_FILE, TrialResult, _from_spec, analyse
    from .report.trial import write_trial_report

    try:
        meta = json.loads((folder / TRIAL_FILE).read_text(encoding="utf-8"))
        spec = meta["spec"]
    except (ValueError, UnicodeDecodeError, KeyError, TypeError) as exc:
        raise ScenarioError(f"{folder / TRIAL_FILE}: not a trial record of seedsoil ({type(exc).__name__}: {exc})",
                            field="run_dir", value=str(folder)) from None
    patients_file = folder / "patients.parquet"
    if not meta.get("complete") or not patients_file.is_file():
        raise ScenarioError(f"{folder} holds an unfinished trial; finish it with `seedsoil trial TRIAL_FILE --out "
                            f"{folder} --resume`, which writes report.html", field="run_dir", value=str(folder))
    tr = _from_spec(spec)
    patients = pd.read_parquet(patients_file)
    patients["arm"] = pd.Categorical(patients["arm"], categories=tr.arm_names)
    result = TrialResult(trial=tr, patients=patients, out_dir=folder, tables=analyse(tr, patients), cache_hit=True)
    return write_trial_report(result, folder / "report.html")


def main() -> None:
    try:
        app()
    except ScenarioError as exc:  # raised outside a command's own handling
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
