"""Generate, cache and load the numba kernels of one network.

The network's right-hand side, its Jacobian in the species and its Jacobian in
the inputs are derived symbolically (sympy), simplified by common-subexpression
elimination, and written as plain Python into a module together with the
Rosenbrock stepping loop (``_DRIVER``). The module lives in a cache folder keyed
by a hash of the generated text (which depends on the network's structure, not
its parameter values), so numba's on-disk cache works across runs and a network
structure is compiled once per machine.

Cache folder: ``$SEEDSOIL_CACHE/cell`` or ``~/.cache/seedsoil/cell``.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import sys
import tempfile
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import Mapping

import sympy as sp

from .network import Network

#: Bumped whenever the generated text changes meaning (invalidates caches).
CODEGEN_VERSION = "10"  # unchanged for networks without SBML-only constructs (and without events)


def cache_dir() -> Path:
    from ..store import cache_dir as _cache_dir

    return _cache_dir("cell")


#: Decorator of the generated helpers (IEEE semantics for 0/0 and overflow: the
#: step controller rejects non-finite error estimates).
_DECO = "@njit(cache=True, nogil=True, error_model='numpy')"


def _printer(expr: sp.Expr) -> str:
    if expr.has(sp.Function("_digamma")):
        return sp.pycode(expr, fully_qualified_modules=False, standard="python3",
                         user_functions={"_digamma": "_digamma"})
    return sp.pycode(expr, fully_qualified_modules=False, standard="python3")


def _local(name: str) -> str:
    """The generated code's variable for a network name: prefixed, so that no species or
    parameter can shadow the arrays (y, p, u, dy, J), the CSE temporaries (_x0...) or math."""
    return f"n_{name}"


def _renamed(net: Network) -> dict[sp.Symbol, sp.Symbol]:
    return {s: sp.Symbol(_local(n), **s.assumptions0) for n, s in net.symbols.items()}


def _block(name: str, outs: list[tuple[str, sp.Expr]], net: Network, args: str) -> list[str]:
    """One njit function assigning each (target, expression), with CSE. Expressions are in
    the renamed symbols (:func:`_renamed`)."""
    subs_lines = [(_local(n), f"y[{i}]") for i, n in enumerate(net.species_names)]
    subs_lines += [(_local(n), f"p[{i}]") for i, n in enumerate(net.parameter_names)]
    subs_lines += [(_local(n), f"u[{i}]") for i, n in enumerate(net.input_names)]
    used = {s.name for s in set().union(*(e.free_symbols for _, e in outs))} if outs else set()
    subs_lines = [f"    {v} = {src}" for v, src in subs_lines if v in used]
    exprs = [e for _, e in outs]
    repl, reduced = sp.cse(exprs, symbols=sp.numbered_symbols("_x"), optimizations="basic")
    lines = [_DECO, f"def {name}({args}):"]
    lines += subs_lines
    lines += [f"    {s} = {_printer(e)}" for s, e in repl]
    lines += [f"    {t} = {_printer(e)}" for (t, _), e in zip(outs, reduced)]
    if len(lines) == 2:
        lines.append("    pass")
    return lines


def _fill_in(n: int, pattern: list[tuple[int, int]]) -> set[tuple[int, int]]:
    nz = {(i, i) for i in range(n)} | set(pattern)
    for k in range(n):
        rows = [i for i in range(k + 1, n) if (i, k) in nz]
        cols = [j for j in range(k + 1, n) if (k, j) in nz]
        for i in rows:
            for j in cols:
                nz.add((i, j))
    return nz


def _clean(d: sp.Expr) -> sp.Expr:
    """sympy writes d(x^n)/dx as n x^n / x, which is 0/0 at x = 0; fold it to n x^(n-1).
    Derivatives sympy leaves unevaluated (of floor and ceil: piecewise constant) are 0."""
    if d.has(sp.Derivative):
        def step(e) -> bool:  # d floor(f) / dx, also inside a Subs
            inner = e.expr if isinstance(e, sp.Subs) else e
            return isinstance(inner, sp.Derivative) and isinstance(inner.expr, (sp.floor, sp.ceiling))
        d = d.replace(step, lambda e: sp.Integer(0))
        d = d.replace(lambda e: isinstance(e, sp.Subs) and e.expr == 0, lambda e: sp.Integer(0))
    if d.has(sp.polygamma):  # d gamma(x) / dx = gamma(x) digamma(x): a generated helper
        d = d.replace(lambda e: isinstance(e, sp.polygamma) and e.args[0] == 0,
                      lambda e: sp.Function("_digamma")(e.args[1]))
    return sp.powsimp(sp.expand_power_base(d))


def _smooth_form(e: sp.Expr) -> sp.Expr:
    """min / max / abs of an SBML model as piecewise expressions (derivable and printable)."""
    if e.has(sp.Min, sp.Max):
        e = e.rewrite(sp.Piecewise)
    return e


#: math functions the generated code may call beyond exp, log and sqrt (imported only when used).
_MATH_EXTRA = ("floor", "ceil", "fabs", "copysign", "gamma", "sin", "cos", "tan", "sinh", "cosh", "tanh", "asin",
               "acos", "atan", "asinh", "acosh", "atanh", "pi", "e")


def exponent_parameters(net: Network) -> dict[str, int]:
    """Parameters with a small integer value that appear in an exponent (Hill coefficients).

    Writing their value into the kernel turns ``pow(x, n)`` calls into a few
    multiplications, the largest single saving in the right-hand side. The
    solver only does this for parameters that are the same in every cell.
    """
    found: dict[str, int] = {}
    for e in net.rate_exprs:
        for pw in e.atoms(sp.Pow):
            for s in pw.exp.free_symbols:
                if s.name in net.parameter_index:
                    v = net.parameter(s.name).value
                    if float(v).is_integer() and 1 <= v <= 10:
                        found[s.name] = int(v)
    return found


def _sparse_lu(n: int, pattern: list[tuple[int, int]]) -> list[str]:
    """Straight-line LU (no pivoting) of G = I/(h γ) − J for the Jacobian's sparsity, with fill-in.

    Like the Kinetic PreProcessor's KppDecomp: G is diagonally dominant for the
    small h γ a stiff step needs when the Jacobian's diagonal is ≤ 0 (decay terms),
    so pivoting is not needed; a zero or non-finite pivot returns False and the
    step is retried with h halved. Only structural non-zeros are touched.
    """
    nz = _fill_in(n, pattern)  # symbolic elimination in the natural order
    dec = [_DECO, "def lu_decomp(G):"]
    for k in range(n):
        dec += [f"    if not (G[{k}, {k}] != 0.0 and abs(G[{k}, {k}]) < inf):", "        return False"]
        rows = [i for i in range(k + 1, n) if (i, k) in nz]
        cols = [j for j in range(k + 1, n) if (k, j) in nz]
        if rows:
            dec.append(f"    piv = 1.0 / G[{k}, {k}]")
        for i in rows:
            dec.append(f"    G[{i}, {k}] *= piv")
            for j in cols:
                dec.append(f"    G[{i}, {j}] -= G[{i}, {k}] * G[{k}, {j}]")
    dec.append("    return True")
    sol = [_DECO, "def lu_subst(G, b):"]
    for i in range(n):
        terms = " - ".join(f"G[{i}, {j}] * b[{j}]" for j in range(i) if (i, j) in nz)
        if terms:
            sol.append(f"    b[{i}] = b[{i}] - {terms}")
    for i in range(n - 1, -1, -1):
        terms = " - ".join(f"G[{i}, {j}] * b[{j}]" for j in range(i + 1, n) if (i, j) in nz)
        sol.append(f"    b[{i}] = (b[{i}] - {terms}) / G[{i}, {i}]" if terms else f"    b[{i}] = b[{i}] / G[{i}, {i}]")
    build = [_DECO, "def build_g(J, ghinv, G):"]
    for i, j in sorted(nz):
        if i == j:
            build.append(f"    G[{i}, {j}] = ghinv - J[{i}, {j}]")
        elif (i, j) in pattern:
            build.append(f"    G[{i}, {j}] = -J[{i}, {j}]")
        else:
            build.append(f"    G[{i}, {j}] = 0.0")
    return dec + [""] + sol + [""] + build + [""]


def _stage_code(method: str) -> str:
    """The stages and the new solution of one Rosenbrock step, unrolled with the tableau's
    numbers written in (zero terms left out). The arithmetic is that of the generic loop
    term by term, in the same order, so results do not change; what goes is the loop
    overhead and the multiplications by zero."""
    from ._rosenbrock import METHODS

    A, C, M, E, alpha, gamma, newf = METHODS[method].arrays()
    S = len(M)
    ind = " " * 12
    out = []
    for st in range(S):
        out.append(f"{ind}# stage {st + 1}")
        if st == 0:
            out += [f"{ind}for i in range(NS):", f"{ind}    fs[i] = f0[i]"]
        elif newf[st]:
            terms = "".join(f" + {A[st, j]!r} * K[{j}, i]" for j in range(st) if A[st, j] != 0.0)
            out += [f"{ind}for i in range(NS):", f"{ind}    ytmp[i] = y[i]{terms}",
                    f"{ind}if m > 1:", f"{ind}    _inputs(U, ut, c, t + {alpha[st]!r} * h, seg, u)",
                    f"{ind}rhs(ytmp, p, u, fs)"]
        for j in range(st):
            if C[st, j] != 0.0:
                out.append(f"{ind}ch{j} = {C[st, j]!r} / h")
        terms = "".join(f" + ch{j} * K[{j}, i]" for j in range(st) if C[st, j] != 0.0)
        out += [f"{ind}for i in range(NS):", f"{ind}    K[{st}, i] = fs[i]{terms}"]
        if gamma[st] != 0.0:
            out += [f"{ind}if varying:", f"{ind}    hg = h * {gamma[st]!r}", f"{ind}    for i in range(NS):",
                    f"{ind}        K[{st}, i] += hg * dfdt[i]"]
        out.append(f"{ind}lu_subst(G, K[{st}])")
    mterms = "".join(f" + {M[j]!r} * K[{j}, i]" for j in range(S) if M[j] != 0.0)
    eterms = "".join(f" + {E[j]!r} * K[{j}, i]" for j in range(S) if E[j] != 0.0)
    out += [f"{ind}err = 0.0", f"{ind}for i in range(NS):", f"{ind}    s = y[i]{mterms}",
            f"{ind}    e = 0.0{eterms}", f"{ind}    ynew[i] = s", f"{ind}    yerr[i] = e"]
    return "\n".join(out) + "\n"


def generate_source(net: Network, inline: Mapping[str, int] | None = None, method: str = "rodas4") -> str:
    ys = [net.symbols[n] for n in net.species_names]
    us = [net.symbols[n] for n in net.input_names]
    subs = {net.symbols[k]: sp.Integer(v) for k, v in (inline or {}).items()}
    f = [_smooth_form(e.subs(subs) if subs else e) for e in net.rhs_exprs]
    rename = _renamed(net)
    ys = [rename[y] for y in ys]
    us = [rename[u] for u in us]
    f = [e.xreplace(rename) for e in f]
    rhs = [(f"dy[{i}]", e) for i, e in enumerate(f)]
    jac, jac_u, pattern = [], [], []
    for i, e in enumerate(f):
        for k, y in enumerate(ys):
            d = _clean(sp.diff(e, y))
            if d != 0:
                jac.append((f"J[{i}, {k}]", d))
                pattern.append((i, k))
        for k, u in enumerate(us):
            d = _clean(sp.diff(e, u))
            if d != 0:
                jac_u.append((f"Ju[{i}, {k}]", d))
    head = [
        f"# generated by seedsoil.cell._codegen (version {CODEGEN_VERSION}); do not edit. The text depends",
        "# only on the network's structure, so networks differing in parameter values share it.",
        f"# parameters written in as integers: {dict(sorted((inline or {}).items()))!r}",
        "import numpy as np",
        "from math import exp, log, sqrt, inf, nan",
        "from numba import njit, prange",
        "",
        f"NS = {len(ys)}",
        f"NU = {len(us)}",
        f"JAC_PATTERN = {pattern!r}",
        "",
    ]
    body = (_block("rhs", rhs, net, "y, p, u, dy") + [""] + _block("jac", jac, net, "y, p, u, J") + [""]
            + _block("jac_u", jac_u, net, "y, p, u, Ju") + [""] + _sparse_lu(len(ys), pattern))
    text = "\n".join(body)
    extra = [f for f in _MATH_EXTRA if re.search(rf"\b{f}\b", text)]
    if extra:
        head.insert(head.index("from numba import njit, prange"), f"from math import {', '.join(extra)}")
    driver = _DRIVER.replace("            # @@STAGES@@\n", _stage_code(method))
    if "_digamma(" in text:
        head.append(_DIGAMMA)
    if net.events:  # only networks with events: the others keep their generated text
        ev_body = _event_blocks(net, subs, rename)
        text_ev = "\n".join(ev_body)
        extra_ev = [f for f in _MATH_EXTRA if re.search(rf"\b{f}\b", text_ev) and f not in extra]
        if extra_ev:
            head.insert(head.index("from numba import njit, prange"), f"from math import {', '.join(extra_ev)}")
        if "_digamma(" in text_ev and "_digamma(" not in text:
            head.append(_DIGAMMA)
        body = body + ev_body
        driver = _event_driver(driver)
    if any(net.signed_mask):  # signed species (an SBML quantity that may be negative) are not clipped
        head.insert(head.index("NS = " + str(len(ys))), f"CLIP = np.array({[not s for s in net.signed_mask]!r})")
        for test in ("ynew[i] < 0.0", "out[c, j, i] < 0.0"):
            driver = driver.replace(f"if clip and {test}:", f"if clip and {test} and CLIP[i]:")
    return "\n".join(head + body) + driver


@lru_cache(maxsize=64)
def _source_cached(net: Network, inline: tuple[tuple[str, int], ...], method: str) -> str:
    return generate_source(net, dict(inline), method)


@lru_cache(maxsize=64)
def _load(path: str, modname: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(modname, path)
    mod = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[modname] = mod
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod


def kernels(net: Network, inline: Mapping[str, int] | None = None, method: str = "rodas4") -> ModuleType:
    """The compiled kernel module of ``net`` (generated on first use, then cached on disk).

    ``inline``: parameter name → integer value written into the code (see
    :func:`exponent_parameters`); those columns of the parameter matrix are ignored.
    """
    src = _source_cached(net, tuple(sorted((inline or {}).items())), method)
    digest = hashlib.sha256((CODEGEN_VERSION + src).encode()).hexdigest()[:16]
    name = f"seedsoil_cellnet_{digest}"
    path = cache_dir() / f"{name}.py"
    if not path.exists() or path.read_text() != src:
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "w") as fh:
            fh.write(src)
        os.replace(tmp, path)  # atomic: concurrent processes see the old file or the whole new one
    return _load(str(path), name)


_DIGAMMA = """
@njit(cache=True, nogil=True, error_model="numpy")
def _digamma(x):
    # recurrence up to x >= 6, then the asymptotic series (error < 1e-12)
    s = 0.0
    while x < 6.0:
        s -= 1.0 / x
        x += 1.0
    f = 1.0 / (x * x)
    return s + log(x) - 0.5 / x - f * (1.0 / 12 - f * (1.0 / 120 - f * (1.0 / 252 - f * (1.0 / 240 - f / 132))))

"""


def _dense_output(until: str) -> str:
    """Template text: the outputs while ``t_out[iout] <until>`` (e.g. ``"<= t1"``), by cubic
    Hermite interpolation on the step from (t, y, f0) to (t + h, ynew, f1)."""
    return f'''                while iout < nout and t_out[iout] {until}:
                    th = (t_out[iout] - t) / h
                    h00 = (1.0 + 2.0 * th) * (1.0 - th) ** 2
                    h10 = th * (1.0 - th) ** 2
                    h01 = th * th * (3.0 - 2.0 * th)
                    h11 = th * th * (th - 1.0)
                    for i in range(NS):
                        out[c, iout, i] = h00 * y[i] + h10 * h * f0[i] + h01 * ynew[i] + h11 * h * f1[i]
                    iout += 1
'''


#: the end of an accepted step: the inputs at its end and its slope there ...
_STEP_END = '''                # advance the input segment if the step ended on a breakpoint
                while seg + 1 < m and ut[seg + 1] <= t1:
                    seg += 1
                _inputs(U, ut, c, t1, seg, u)
                rhs(ynew, p, u, f1)
'''
#: ... and the outputs inside it
_STEP_OUTPUT = _STEP_END + _dense_output("<= t1")

# The stepping loop. One cell per iteration of the parallel loop: each cell has
# its own adaptive step, so results do not depend on how cells are batched or on
# the number of threads. Output at t_out by cubic Hermite interpolation between
# accepted steps (both end slopes are known), so output times do not cut steps.
# Steps never cross a breakpoint of the piecewise-linear input table.
_DRIVER = '''

@njit(cache=True, nogil=True, error_model="numpy")
def _inputs(U, ut, c, t, seg, u):
    """Piecewise-linear input at t inside segment seg; returns the slope into u's sibling."""
    m = ut.shape[0]
    cu = c if U.shape[0] > 1 else 0
    if m == 1 or t <= ut[0]:
        for k in range(NU):
            u[k] = U[cu, 0, k]
        return
    if t >= ut[m - 1]:
        for k in range(NU):
            u[k] = U[cu, m - 1, k]
        return
    w = (t - ut[seg]) / (ut[seg + 1] - ut[seg])
    for k in range(NU):
        u[k] = U[cu, seg, k] + w * (U[cu, seg + 1, k] - U[cu, seg, k])


@njit(cache=True, nogil=True, error_model="numpy")
def _slope(U, ut, c, seg, du):
    m = ut.shape[0]
    cu = c if U.shape[0] > 1 else 0
    for k in range(NU):
        if m == 1 or seg < 0 or seg >= m - 1:
            du[k] = 0.0
        else:
            du[k] = (U[cu, seg + 1, k] - U[cu, seg, k]) / (ut[seg + 1] - ut[seg])


@njit(cache=True, nogil=True, error_model="numpy")
def solve_cell(c_in, y0, P, U, ut, t_out, A, C, M, E, alpha, gamma, newf, elo, rtol, atol, h0, hmax,
               max_steps, clip, out, stats):
    c = np.int64(c_in)  # prange hands an unsigned index; keep index arithmetic in int64
    S = M.shape[0]
    y = y0[c].copy()
    p = P[c] if P.shape[0] > 1 else P[0]
    ynew = np.empty(NS)
    ytmp = np.empty(NS)
    f0 = np.empty(NS)
    f1 = np.empty(NS)
    fs = np.empty(NS)
    dfdt = np.empty(NS)
    yerr = np.empty(NS)
    K = np.empty((S, NS))
    ch = np.empty(S)
    J = np.zeros((NS, NS))
    G = np.zeros((NS, NS))
    Ju = np.zeros((NS, NU))
    u = np.empty(NU)
    du = np.empty(NU)
    nout = t_out.shape[0]
    t = t_out[0]
    t_end = t_out[nout - 1]
    m = ut.shape[0]
    # segment of the input table holding t (-1 before the first breakpoint)
    seg = -1
    while seg + 1 < m and ut[seg + 1] <= t:
        seg += 1
    for k in range(NS):
        out[c, 0, k] = y[k]
    iout = 1
    _inputs(U, ut, c, t, seg, u)
    rhs(y, p, u, f0)
    h = min(max(h0, 1e-12), hmax)
    n_acc = 0
    n_rej = 0
    status = 0
    reject_last = False
    reject_more = False
    while t < t_end:
        if n_acc + n_rej >= max_steps:
            status = 1
            break
        # next breakpoint of the inputs (steps stop there: the slope changes)
        t_b = t_end
        if m > 1 and seg + 1 < m and ut[seg + 1] < t_b:
            t_b = ut[seg + 1]
        if h > t_b - t:
            h = t_b - t
        if t + 0.1 * h == t or h < 1e-14:
            status = 2
            break
        jac(y, p, u, J)
        varying = m > 1 and seg >= 0 and seg < m - 1
        if varying:
            jac_u(y, p, u, Ju)
            _slope(U, ut, c, seg, du)
            for i in range(NS):
                s = 0.0
                for k in range(NU):
                    s += Ju[i, k] * du[k]
                dfdt[i] = s
        while True:
            build_g(J, 1.0 / (h * gamma[0]), G)
            if not lu_decomp(G):
                h *= 0.5
                n_rej += 1
                if n_rej > max_steps:
                    status = 3
                    break
                continue
            # @@STAGES@@
                ymax = max(abs(y[i]), abs(s))
                sc = atol + rtol * ymax
                err += (e / sc) ** 2
            err = (err / NS) ** 0.5
            if err != err:
                err = 1e10
            err = max(err, 1e-10)
            fac = min(6.0, max(0.2, 0.9 / err ** (1.0 / elo)))
            hnew = h * fac
            if err <= 1.0:
                t1 = t + h
                if t_b - t1 <= 1e-12 * max(1.0, abs(t_b)):
                    t1 = t_b
                # a species below 0 is clipped after the dense output: the outputs inside the step
                # come from the step itself (its own end and slope), then are held at 0 too
                clipped = False
                for i in range(NS):
                    if clip and ynew[i] < 0.0:
                        clipped = True
                iout0 = iout
@@STEP_OUTPUT@@
                if clipped:
                    for j in range(iout0, iout):
                        for i in range(NS):
                            if clip and out[c, j, i] < 0.0:
                                out[c, j, i] = 0.0
                    for i in range(NS):
                        if clip and ynew[i] < 0.0:
                            ynew[i] = 0.0
                    rhs(ynew, p, u, f1)
                for i in range(NS):
                    y[i] = ynew[i]
                    f0[i] = f1[i]
                t = t1
                n_acc += 1
                hnew = min(hnew, hmax)
                if reject_last:
                    hnew = min(hnew, h)
                reject_last = False
                reject_more = False
                h = hnew
                break
            else:
                if reject_more:
                    hnew = h * 0.1
                reject_more = reject_last
                reject_last = True
                h = hnew
                n_rej += 1
                if n_acc + n_rej >= max_steps:
                    status = 1
                    break
        if status != 0:
            break
    while iout < nout:  # only after a failure: mark the rest as missing
        for i in range(NS):
            out[c, iout, i] = nan
        iout += 1
    stats[c, 0] = n_acc
    stats[c, 1] = n_rej
    stats[c, 2] = status


@njit(cache=True, nogil=True, parallel=True, error_model="numpy")
def solve_batch(y0, P, U, ut, t_out, A, C, M, E, alpha, gamma, newf, elo, rtol, atol, h0, hmax,
                max_steps, clip, out, stats):
    for icell in prange(y0.shape[0]):
        solve_cell(icell, y0, P, U, ut, t_out, A, C, M, E, alpha, gamma, newf, elo, rtol, atol, h0, hmax,
                   max_steps, clip, out, stats)


@njit(cache=True, nogil=True, error_model="numpy")
def solve_serial(y0, P, U, ut, t_out, A, C, M, E, alpha, gamma, newf, elo, rtol, atol, h0, hmax,
                 max_steps, clip, out, stats):
    for c in range(y0.shape[0]):
        solve_cell(c, y0, P, U, ut, t_out, A, C, M, E, alpha, gamma, newf, elo, rtol, atol, h0, hmax,
                   max_steps, clip, out, stats)
'''
_DRIVER = _DRIVER.replace("@@STEP_OUTPUT@@\n", _STEP_OUTPUT)



# ------------------------------------------------------------------ events
#: Pending (triggered, not yet executed) events a cell can hold at once.
EVENT_QUEUE = 256


def _lines(outs: list[tuple[str, sp.Expr]], net: Network, indent: str) -> list[str]:
    """The body of :func:`_block` (names loaded from y, p, u; CSE; assignments), indented."""
    subs_lines = [(_local(n), f"y[{i}]") for i, n in enumerate(net.species_names)]
    subs_lines += [(_local(n), f"p[{i}]") for i, n in enumerate(net.parameter_names)]
    subs_lines += [(_local(n), f"u[{i}]") for i, n in enumerate(net.input_names)]
    used = {s.name for s in set().union(*(e.free_symbols for _, e in outs))} if outs else set()
    lines = [f"{indent}{v} = {src}" for v, src in subs_lines if v in used]
    repl, reduced = sp.cse([e for _, e in outs], symbols=sp.numbered_symbols("_x"), optimizations="basic")
    lines += [f"{indent}{s} = {_printer(e)}" for s, e in repl]
    lines += [f"{indent}{t} = {_printer(e)}" for (t, _), e in zip(outs, reduced)]
    return lines


def _truth(e: sp.Expr) -> sp.Expr:
    """A trigger as 1.0 (true) or 0.0: a condition is true when its value is not zero."""
    if isinstance(e, sp.Piecewise) and len(e.args) == 2 and e.args[0].expr == 1 and e.args[1].expr == 0 \
            and e.args[1].cond is sp.true:
        return sp.Piecewise((sp.Float(1.0), e.args[0].cond), (sp.Float(0.0), True))
    if e.is_number:
        return sp.Float(1.0 if e != 0 else 0.0)
    return sp.Piecewise((sp.Float(1.0), sp.Ne(e, 0)), (sp.Float(0.0), True))


def _event_blocks(net: Network, subs: Mapping, rename: Mapping) -> list[str]:
    """Constants and njit helpers of the network's events (only generated when it has some):
    ``ev_triggers`` (every trigger as 1.0 / 0.0), ``ev_values``, ``ev_delay``, ``ev_priority``
    (of event k) and ``ev_apply`` (write event k's values into the state)."""
    def prep(e: sp.Expr) -> sp.Expr:
        return _smooth_form(e.subs(subs) if subs else e).xreplace(rename)

    exprs = net.event_exprs
    na = max([1, *(len(e.assignments) for e in net.events)])
    targets = [[net.species_index[t] for t, _ in e.assignments] + [-1] * (na - len(e.assignments))
               for e in net.events]
    out = [f"NE = {len(net.events)}", f"NAMAX = {na}", f"QCAP = {EVENT_QUEUE}",
           f"EV_PERSIST = np.array({[e.persistent for e in net.events]!r})",
           f"EV_UVFTT = np.array({[e.use_trigger_values for e in net.events]!r})",
           f"EV_INIT = np.array({[e.initial_value for e in net.events]!r})",
           f"EV_HASPRIO = np.array({[bool(e.priority.strip()) for e in net.events]!r})",
           f"EV_NA = np.array({[len(e.assignments) for e in net.events]!r}, dtype=np.int64)",
           f"EV_TARGET = np.array({targets!r}, dtype=np.int64)", ""]
    out += _block("ev_triggers", [(f"g[{k}]", prep(_truth(trig))) for k, (trig, _, _, _) in enumerate(exprs)],
                  net, "y, p, u, g") + [""]
    # the relations the triggers are made of (and the triggers): a step in which one of them changes is
    # cut where it first changes, so a trigger that is true only inside a step is not missed
    atoms: list[sp.Expr] = []
    for trig, _, _, _ in exprs:
        for a in sorted(trig.atoms(sp.core.relational.Relational), key=sp.default_sort_key):
            if a not in atoms:
                atoms.append(a)
    found = [sp.Piecewise((sp.Float(1.0), a), (sp.Float(0.0), True)) for a in atoms]
    found += [_truth(trig) for trig, _, _, _ in exprs]
    out.insert(out.index(""), f"NATOM = {len(found)}")
    out += _block("ev_atoms", [(f"a[{k}]", prep(e)) for k, e in enumerate(found)], net, "y, p, u, a") + [""]
    vals = [_DECO, "def ev_values(k, y, p, u, vals):"]
    for k, (_, _, _, values) in enumerate(exprs):
        vals.append(f"    {'if' if k == 0 else 'elif'} k == {k}:")
        vals += _lines([(f"vals[{j}]", prep(v)) for j, v in enumerate(values)], net, "        ") or ["        pass"]
    out += vals + [""]
    for fname, idx in (("ev_delay", 1), ("ev_priority", 2)):
        fn = [_DECO, f"def {fname}(k, y, p, u):"]
        for k, ex in enumerate(exprs):
            if ex[idx] is not None:
                fn.append(f"    if k == {k}:")
                fn += _lines([("r", prep(ex[idx]))], net, "        ")
                fn.append("        return float(r)")
        fn.append("    return 0.0")
        out += fn + [""]
    out += [_DECO, "def ev_apply(k, y, vals):", "    for j in range(EV_NA[k]):", "        y[EV_TARGET[k, j]] = vals[j]",
            ""]
    return out


# Event handling of one cell at time t (SBML semantics): a trigger that turns true queues its
# event at t + delay (with its values, when they are taken at trigger time); one that turns
# false cancels the pending executions of a non-persistent event; due events execute one at a
# time, highest priority first (ties: the order they were queued in), and every execution is
# followed by a new look at the triggers.
_EVENT_HELPERS = '''

@njit(cache=True, nogil=True, error_model="numpy")
def _ev_check(t, y, p, u, g, prev, vals, q_ev, q_t, q_v, nq):
    ev_triggers(y, p, u, g)
    for k in range(NE):
        if g[k] != 0.0 and prev[k] == 0.0:
            if nq >= QCAP:
                return -1
            q_ev[nq] = k
            q_t[nq] = t + ev_delay(k, y, p, u)
            if EV_UVFTT[k]:
                ev_values(k, y, p, u, vals)
                for j in range(NAMAX):
                    q_v[nq, j] = vals[j]
            nq += 1
        elif g[k] == 0.0 and prev[k] != 0.0 and not EV_PERSIST[k]:
            j = 0
            while j < nq:
                if q_ev[j] == k:
                    for i in range(j, nq - 1):
                        q_ev[i] = q_ev[i + 1]
                        q_t[i] = q_t[i + 1]
                        for a in range(NAMAX):
                            q_v[i, a] = q_v[i + 1, a]
                    nq -= 1
                else:
                    j += 1
        prev[k] = g[k]
    return nq


@njit(cache=True, nogil=True, error_model="numpy")
def _rand(rs):
    """Uniform in [0, 1) from the cell's own generator (splitmix64; every cell starts from the same
    state, so results do not depend on the batch or the threads)."""
    x = rs[0] + np.uint64(0x9E3779B97F4A7C15)
    rs[0] = x
    z = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@njit(cache=True, nogil=True, error_model="numpy")
def _events_at(t, y, p, u, g, prev, vals, q_ev, q_t, q_v, nq, rs):
    """Triggers and due events at t; returns (queue length, or -1 when full or when events keep
    triggering each other at t, and whether any fired).
    Among due events of equal (declared) priority the one to execute is drawn at random, as SBML
    says; events without a priority keep the order they were queued in."""
    nq = _ev_check(t, y, p, u, g, prev, vals, q_ev, q_t, q_v, nq)
    fired = False
    n_exec = 0
    due = t + 1e-13 * max(1.0, abs(t))
    while nq > 0:
        best = -1
        bp = 0.0
        ties = 0
        for j in range(nq):
            if q_t[j] <= due:
                pr = ev_priority(q_ev[j], y, p, u)
                if best < 0 or pr > bp:
                    best = j
                    bp = pr
                    ties = 1
                elif pr == bp and EV_HASPRIO[q_ev[j]] and EV_HASPRIO[q_ev[best]]:
                    ties += 1
                    if _rand(rs) * ties < 1.0:
                        best = j
        if best < 0:
            break
        k = q_ev[best]
        if EV_UVFTT[k]:
            for a in range(NAMAX):
                vals[a] = q_v[best, a]
        else:
            ev_values(k, y, p, u, vals)
        for i in range(best, nq - 1):
            q_ev[i] = q_ev[i + 1]
            q_t[i] = q_t[i + 1]
            for a in range(NAMAX):
                q_v[i, a] = q_v[i + 1, a]
        nq -= 1
        ev_apply(k, y, vals)
        fired = True
        n_exec += 1
        if n_exec > 100000:  # events that keep triggering each other at one instant
            return -1, fired
        nq = _ev_check(t, y, p, u, g, prev, vals, q_ev, q_t, q_v, nq)
        if nq < 0:
            break
    return nq, fired


@njit(cache=True, nogil=True, error_model="numpy")
def _hermite(y, f0, y1, f1, t, h, ts, out):
    th = (ts - t) / h
    h00 = (1.0 + 2.0 * th) * (1.0 - th) ** 2
    h10 = th * (1.0 - th) ** 2
    h01 = th * th * (3.0 - 2.0 * th)
    h11 = th * th * (th - 1.0)
    for i in range(NS):
        out[i] = h00 * y[i] + h10 * h * f0[i] + h01 * y1[i] + h11 * h * f1[i]

'''

_EV_START_OLD = '''    for k in range(NS):
        out[c, 0, k] = y[k]
    iout = 1
    _inputs(U, ut, c, t, seg, u)
    rhs(y, p, u, f0)
'''
_EV_START_NEW = '''    g = np.empty(NE)
    prev = np.empty(NE)
    vals = np.zeros(NAMAX)
    q_ev = np.zeros(QCAP, np.int64)
    q_t = np.zeros(QCAP)
    q_v = np.zeros((QCAP, NAMAX))
    ub = np.empty(NU)
    yb = np.empty(NS)
    a0 = np.empty(NATOM)
    a1 = np.empty(NATOM)
    rs = np.zeros(1, np.uint64)
    for k in range(NE):
        prev[k] = 1.0 if EV_INIT[k] else 0.0
    _inputs(U, ut, c, t, seg, u)
    status = 0
    nq, fired = _events_at(t, y, p, u, g, prev, vals, q_ev, q_t, q_v, 0, rs)
    if nq < 0:
        status = 4
    ev_atoms(y, p, u, a0)
    for k in range(NS):
        out[c, 0, k] = y[k]
    iout = 1
    rhs(y, p, u, f0)
'''
_EV_STATUS_OLD = '''    n_rej = 0
    status = 0
    reject_last = False
'''
_EV_STATUS_NEW = '''    n_rej = 0
    reject_last = False
'''
_EV_BREAK_OLD = '''        if m > 1 and seg + 1 < m and ut[seg + 1] < t_b:
            t_b = ut[seg + 1]
'''
_EV_BREAK_NEW = '''        if m > 1 and seg + 1 < m and ut[seg + 1] < t_b:
            t_b = ut[seg + 1]
        # pending events: steps stop at their execution times
        for j in range(nq):
            if q_t[j] > t and q_t[j] < t_b:
                t_b = q_t[j]
'''
_EV_STEP_OLD = _STEP_OUTPUT  # the block of the template the event step replaces
#: the event step: where a trigger's relation first changed inside the step (the step ends there)
_EV_LOCATE = '''                # did a trigger (or a relation in one) change inside the step? find the first change by
                # bisection on the step's dense output, and end the step there
                ev_atoms(ynew, p, u, a1)
                changed = False
                for k in range(NATOM):
                    if a1[k] != a0[k]:
                        changed = True
                t_ev = t1
                if changed:
                    ta = t
                    while True:
                        tm = 0.5 * (ta + t_ev)
                        if tm <= ta or tm >= t_ev:
                            break
                        _hermite(y, f0, ynew, f1, t, h, tm, yb)
                        _inputs(U, ut, c, tm, seg0, ub)
                        ev_atoms(yb, p, ub, a1)
                        changed = False
                        for k in range(NATOM):
                            if a1[k] != a0[k]:
                                changed = True
                        if changed:
                            t_ev = tm
                        else:
                            ta = tm
                # an output time within rounding of the event time reads the state after the events
                t_pre = t_ev - 1e-13 * max(1.0, abs(t_ev))
'''
#: after the outputs before that time: the events at the step's (possibly cut) end
_EV_HANDLE = '''                cut = t_ev < t1
                if cut:
                    _hermite(y, f0, ynew, f1, t, h, t_ev, yb)
                    for i in range(NS):
                        ynew[i] = yb[i]
                        if clip and ynew[i] < 0.0:
                            ynew[i] = 0.0
                    t1 = t_ev
                    seg = seg0
                    _inputs(U, ut, c, t1, seg, u)
                nq, fired = _events_at(t1, ynew, p, u, g, prev, vals, q_ev, q_t, q_v, nq, rs)
                if fired or cut:
                    rhs(ynew, p, u, f1)
                ev_atoms(ynew, p, u, a0)
                while iout < nout and t_out[iout] <= t1:
                    for i in range(NS):
                        out[c, iout, i] = ynew[i]
                    iout += 1
'''
_EV_STEP_NEW = "                seg0 = seg\n" + _STEP_END + _EV_LOCATE + _dense_output("< t_pre") + _EV_HANDLE
_EV_QFULL_OLD = '''                t = t1
                n_acc += 1
'''
_EV_QFULL_NEW = '''                t = t1
                n_acc += 1
                if nq < 0:
                    status = 4
                    break
'''
_EV_LOOP_OLD = '''    while t < t_end:
        if n_acc + n_rej >= max_steps:'''
_EV_LOOP_NEW = '''    while t < t_end and status == 0:
        if n_acc + n_rej >= max_steps:'''


def _event_driver(driver: str) -> str:
    """The stepping loop with event handling (the loop of networks without events is untouched)."""
    for old, new in ((_EV_START_OLD, _EV_START_NEW), (_EV_STATUS_OLD, _EV_STATUS_NEW),
                     (_EV_BREAK_OLD, _EV_BREAK_NEW), (_EV_STEP_OLD, _EV_STEP_NEW),
                     (_EV_QFULL_OLD, _EV_QFULL_NEW), (_EV_LOOP_OLD, _EV_LOOP_NEW)):
        if driver.count(old) != 1:
            raise RuntimeError("event driver: the stepping loop changed; update _codegen's event patches")
        driver = driver.replace(old, new)
    return _EVENT_HELPERS + driver
