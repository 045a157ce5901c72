"""One compact HTML table for a result in a notebook: ``_repr_html_`` of every scale's result.

Core (docs/architecture.md): no model here and no seedsoil import; the result classes pass
their headline rows, their tables' shapes, seed and package version. Every text is
HTML-escaped, so a scenario or arm name holding ``<`` or ``&`` shows as written.
"""
from __future__ import annotations

import math
from html import escape
from typing import Any, Iterable, Mapping, Sequence

#: inline style only (a notebook shows the fragment as is; no stylesheet, nothing fetched)
_TABLE = 'style="border-collapse:collapse;font-size:0.9em"'
_TH = 'style="text-align:left;font-weight:normal;padding-right:1em"'
_TD = 'style="text-align:left"'
_SECTION = 'style="text-align:left;padding-top:0.5em"'


def fmt_value(x: Any) -> str:
    """A cell's text: floats to 4 significant digits (thousands separated), non-finite as
    ``inf`` / ``—``, booleans as yes / no, everything else as ``str``."""
    if x is None:
        return "—"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if hasattr(x, "item") and not isinstance(x, (str, bytes)):
        try:
            x = x.item()
        except (TypeError, ValueError):
            pass
    if isinstance(x, float):
        if math.isnan(x):
            return "—"
        if math.isinf(x):
            return "∞" if x > 0 else "-∞"
        if x != 0 and (abs(x) >= 1e7 or abs(x) < 1e-3):
            return f"{x:.3g}"
        return f"{x:,.4g}" if abs(x) < 1000 else f"{x:,.0f}"
    if isinstance(x, int):
        return f"{x:,}"
    return str(x)


def shape_text(shape: Any) -> str:
    """``(514, 17)`` → ``514 rows × 17 columns``; a string is kept as given."""
    if isinstance(shape, str):
        return shape
    dims = tuple(int(n) for n in shape)
    if len(dims) == 2:
        return f"{dims[0]:,} rows × {dims[1]:,} columns"
    return " × ".join(f"{n:,}" for n in dims)


def result_html(kind: str, title: str, rows: Iterable[Sequence[Any]], *,
                tables: Mapping[str, Any] = (), seed: Any = None, version: str = "") -> str:
    """A result as one small HTML table.

    ``kind``: the class name (``PatientResult``); ``title``: the scenario or trial name;
    ``rows``: (label, value) headline rows; ``tables``: name → shape (a tuple, or a text
    such as "7 saved times"); ``seed`` and ``version`` close the table.
    """
    out = [f"<div class=\"seedsoil-result\"><table {_TABLE}>",
           f"<caption style=\"text-align:left\"><b>{escape(kind)}</b> "
           f"{escape(str(title))}</caption>", "<tbody>"]
    for label, value in rows:
        out.append(f"<tr><th {_TH}>{escape(str(label))}</th><td {_TD}>{escape(fmt_value(value))}</td></tr>")
    tables = dict(tables or {})
    if tables:
        out.append(f"<tr><th colspan=\"2\" {_SECTION}><b>tables</b></th></tr>")
        for name, shape in tables.items():
            out.append(f"<tr><th {_TH}><code>{escape(str(name))}</code></th>"
                       f"<td {_TD}>{escape(shape_text(shape))}</td></tr>")
    out.append(f"<tr><th colspan=\"2\" {_SECTION}><b>run</b></th></tr>")
    seed_text = "—" if seed is None else str(seed)
    out.append(f"<tr><th {_TH}>seed</th><td {_TD}>{escape(seed_text)}</td></tr>")
    if version:
        out.append(f"<tr><th {_TH}>seedsoil</th><td {_TD}>{escape(str(version))}</td></tr>")
    out.append("</tbody></table></div>")
    return "\n".join(out)
