"""Rate expressions: a small, safe grammar from text to sympy.

A reaction's rate is written as text, e.g.
``"k_act * hill(JAK1, K_jak, n) * (1 - STAT3)"``. Allowed: numbers, names of
species / inputs / parameters, ``+ - * / ** ^``, parentheses, and calls of the
functions in :data:`FUNCTIONS`. Anything else (attribute access, strings,
comparisons, unknown names) is refused with a message that names the reaction
and the offending piece. Nothing is ``eval``-ed: the text is walked as a Python
AST and turned into a sympy expression, which the code generator, the SBML writer
and the reference right-hand side all share.

The rate-law building blocks (all dimensionless except where noted):

``hill(x, K, n)``        x^n / (K^n + x^n)          activation, 0 → 1
``hill_rep(x, K, n)``    K^n / (K^n + x^n)          repression, 1 → 0
``mm(x, K)``             x / (K + x)                Michaelis-Menten saturation
``inhibition(c, IC50, h)`` 1 / (1 + (c/IC50)^h)     drug PD: remaining target activity

For models read from SBML the grammar also has conditions and the rest of MathML's
functions: comparisons (``<  <=  ==  !=  >=  >``, chained ``a < b < c``), ``and``,
``or``, ``not``, ``xor(a, b)``, ``true``/``false`` as ``True``/``False``,
``piecewise(value1, condition1, value2, condition2, ..., otherwise)`` (no
otherwise: NaN), ``abs``, ``floor``, ``ceil``, ``factorial`` (Γ(x + 1)), ``min``,
``max``, trigonometric and hyperbolic functions and their inverses. A condition may
be a number (true when not zero). The time ``t`` is a name only where the caller's
symbols include it.
"""
from __future__ import annotations

import ast
from typing import Callable, Mapping

import sympy as sp

from ..errors import ScenarioError


def _hill(x, k, n):
    return x**n / (k**n + x**n)


def _hill_rep(x, k, n):
    return k**n / (k**n + x**n)


def _mm(x, k):
    return x / (k + x)


def _inhibition(c, ic50, h):
    return 1 / (1 + (c / ic50) ** h)


#: Functions a rate expression may call, with their arity.
FUNCTIONS: Mapping[str, tuple[int, Callable]] = {
    "hill": (3, _hill),
    "hill_rep": (3, _hill_rep),
    "mm": (2, _mm),
    "inhibition": (3, _inhibition),
    "exp": (1, sp.exp),
    "ln": (1, sp.log),
    "log": (1, sp.log),
    "sqrt": (1, sp.sqrt),
    "pow": (2, lambda a, b: a**b),
    "abs": (1, sp.Abs),
    "floor": (1, sp.floor),
    "ceil": (1, sp.ceiling),
    "factorial": (1, lambda a: sp.gamma(a + 1)),
    "xor": (2, lambda a, b: sp.Xor(_cond(a), _cond(b))),
    "implies": (2, lambda a, b: sp.Or(sp.Not(_cond(a)), _cond(b))),
    "quotient": (2, lambda a, b: _trunc(a / b)),
    "rem": (2, lambda a, b: a - b * _trunc(a / b)),
    **{name: (1, getattr(sp, name)) for name in ("sin", "cos", "tan", "sec", "csc", "cot", "sinh", "cosh", "tanh",
                                                  "sech", "csch", "coth", "asin", "acos", "atan", "acot",
                                                  "asinh", "acosh", "atanh", "acoth", "asec", "acsc", "asech",
                                                  "acsch")},
}

#: Functions taking any number (>= 1) of arguments.
VARIADIC: Mapping[str, Callable] = {
    "min": lambda *a: sp.Min(*a),
    "max": lambda *a: sp.Max(*a),
    "piecewise": lambda *a: _piecewise(*a),
}

RESERVED = frozenset(FUNCTIONS) | frozenset(VARIADIC) | {"t", "time", "pi", "e", "inf", "nan", "true", "false"}

def _is_condition(x) -> bool:
    # a sympy Symbol is also a Boolean: conditions are the Booleans that are not expressions
    return isinstance(x, sp.logic.boolalg.Boolean) and not isinstance(x, sp.Expr)


def _cond(x) -> sp.Basic:
    """A condition: booleans as they are, a number (or numeric expression) true when not zero."""
    if isinstance(x, bool) or _is_condition(x):
        return sp.true if x is True else sp.false if x is False else x
    x = sp.sympify(x)
    if x.is_number:  # is_zero: sympy's Float(0.0) != Integer(0)
        return sp.false if x.is_zero else sp.true
    return sp.Ne(x, 0)


def _num(x) -> sp.Basic:
    """A number: a condition used as one is 1 when true, 0 when false (SBML Level 3 Version 2)."""
    if x is True or x is sp.true:
        return sp.Integer(1)
    if x is False or x is sp.false:
        return sp.Integer(0)
    if _is_condition(x):
        return sp.Piecewise((1, x), (0, True))
    return x


def _trunc(x):
    return sp.Piecewise((sp.floor(x), x >= 0), (sp.ceiling(x), True))


def _piecewise(*args):
    pieces = [(_num(args[i]), _cond(args[i + 1])) for i in range(0, len(args) - 1, 2)]
    otherwise = _num(args[-1]) if len(args) % 2 else sp.nan
    return sp.Piecewise(*pieces, (otherwise, True))


_CONSTANTS = {"inf": sp.oo, "nan": sp.nan}

_COMPARE = {ast.Lt: sp.Lt, ast.LtE: sp.Le, ast.Gt: sp.Gt, ast.GtE: sp.Ge, ast.Eq: sp.Eq, ast.NotEq: sp.Ne}

_BINOPS = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
           ast.Div: lambda a, b: a / b, ast.Pow: lambda a, b: a**b}


def parse_rate(text: str, symbols: Mapping[str, sp.Symbol], *, where: str = "rate") -> sp.Expr:
    """Parse ``text`` into a sympy expression over ``symbols`` (raises ScenarioError)."""
    if not isinstance(text, str) or not text.strip():
        raise ScenarioError(f"{where}: a rate expression is needed (e.g. 'k * A * B')", field=where, value=text)
    src = text.replace("^", "**")
    try:
        tree = ast.parse(src, mode="eval")
    except SyntaxError as exc:
        raise ScenarioError(f"{where} = {text!r}: not a valid expression ({exc.msg})", field=where,
                            value=text) from None

    def bad(node: ast.AST, why: str) -> ScenarioError:
        piece = ast.get_source_segment(src, node) or type(node).__name__
        return ScenarioError(f"{where} = {text!r}: {why}: {piece!r}", field=where, value=text)

    def walk(node: ast.AST) -> sp.Expr:
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool):
                return sp.true if node.value else sp.false
            if not isinstance(node.value, (int, float)):
                raise bad(node, "only numbers may appear as constants")
            return sp.Integer(node.value) if isinstance(node.value, int) else sp.Float(node.value, 17)
        if isinstance(node, ast.Name):
            if node.id in _CONSTANTS:
                return _CONSTANTS[node.id]
            if node.id not in symbols:
                raise bad(node, "unknown name (not a species, input or parameter of this network)")
            return symbols[node.id]
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            return _BINOPS[type(node.op)](_num(walk(node.left)), _num(walk(node.right)))
        if isinstance(node, ast.Compare):
            values = [_num(walk(node.left)), *(_num(walk(c)) for c in node.comparators)]
            parts = [_COMPARE[type(op)](a, b) for op, a, b in zip(node.ops, values, values[1:])
                     if type(op) in _COMPARE]
            if len(parts) != len(node.ops):
                raise bad(node, "only < <= == != >= > compare")
            return sp.And(*parts) if len(parts) > 1 else parts[0]
        if isinstance(node, ast.BoolOp):
            fn = sp.And if isinstance(node.op, ast.And) else sp.Or
            return fn(*(_cond(walk(v)) for v in node.values))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return sp.Not(_cond(walk(node.operand)))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            v = walk(node.operand)
            return -_num(v) if isinstance(node.op, ast.USub) else _num(v)
        if isinstance(node, ast.Call):
            if isinstance(node.func, ast.Name) and node.func.id in VARIADIC:
                if node.keywords or not node.args:
                    raise bad(node, f"{node.func.id} takes one or more positional arguments")
                return VARIADIC[node.func.id](*(walk(a) for a in node.args))
            if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
                raise bad(node, f"unknown function; allowed: {', '.join((*FUNCTIONS, *VARIADIC))}")
            arity, fn = FUNCTIONS[node.func.id]
            if node.keywords or len(node.args) != arity:
                raise bad(node, f"{node.func.id} takes {arity} positional arguments")
            args = [walk(a) for a in node.args]
            return fn(*(args if node.func.id in ("xor", "implies") else map(_num, args)))
        raise bad(node, "not allowed in a rate expression")

    try:
        return _num(sp.sympify(walk(tree)))  # a rate is a number: a condition counts as 1 or 0
    except ScenarioError:
        raise
    except (ZeroDivisionError, TypeError, ValueError) as exc:  # e.g. 1 / 0 folded, a condition used as a number
        raise ScenarioError(f"{where} = {text!r}: not a valid expression ({type(exc).__name__}: {exc})",
                            field=where, value=text) from None


def free_names(expr: sp.Expr) -> set[str]:
    return {s.name for s in expr.free_symbols}
