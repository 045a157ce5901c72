"""The page shell shared by the patient report (:mod:`seedsoil.report.html`) and the trial
report (:mod:`seedsoil.report.trial`): one self-contained HTML file.

The page opens offline: the stylesheet is inlined, figures are inline SVG (text drawn as
paths, so no fonts are needed) in ``data:`` URIs, and there are no scripts and no external
URLs. :func:`page` lays out the head, the header (title, subtitle, a line of facts, the
section links), the sections and the footer; :func:`figure_html` draws one figure into a
``<figure>`` (or, if it cannot be drawn, says so in its place); :func:`table` and
:func:`fmt` format tables and values alike on both pages.
"""
from __future__ import annotations

import math
import warnings
from html import escape
from importlib import resources
from typing import TYPE_CHECKING, Any, Callable, Sequence

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

#: a section of a page: (id, heading, HTML content)
Section = tuple[str, str, str]


def css() -> str:
    """The stylesheet every report inlines (``style.css`` of this package)."""
    return resources.files(__package__).joinpath("style.css").read_text(encoding="utf-8")


def fmt(value: Any) -> str:
    """A value for a table cell: 4 significant digits, "—" for None and NaN, true/false."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "—"
        return f"{value:.4g}"
    return str(value)


def table(header: Sequence[str], rows: Sequence[Sequence[str]], *, cls: str = "", numeric: set[int] = frozenset(),
          row_classes: Sequence[str] | None = None, cell_classes: Sequence[Sequence[str]] | None = None) -> str:
    """An HTML table; cells are already-escaped HTML. ``numeric``: column indices set right-aligned."""
    out = [f'<table class="{cls}">' if cls else "<table>", "<thead><tr>"]
    out += [f'<th class="num">{h}</th>' if i in numeric else f"<th>{h}</th>" for i, h in enumerate(header)]
    out.append("</tr></thead><tbody>")
    for r, row in enumerate(rows):
        rc = row_classes[r] if row_classes else ""
        out.append(f'<tr class="{rc}">' if rc else "<tr>")
        for i, cell in enumerate(row):
            classes = [c for c in ("num" if i in numeric else "", cell_classes[r][i] if cell_classes else "") if c]
            out.append(f'<td class="{" ".join(classes)}">{cell}</td>' if classes else f"<td>{cell}</td>")
        out.append("</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def figure_html(key: str, title: str, caption: str, draw: Callable[["Figure"], Any], figsize: tuple[float, float],
                *, salt: str) -> str:
    """One ``<figure id="fig-KEY">``: ``draw(fig)`` on a figure of ``figsize`` inches, inlined
    as SVG (:func:`seedsoil.plotting.svg_data_uri`), with its caption.

    A figure that cannot be drawn must not lose the whole report: the error takes its place
    on the page and is also given as a :class:`RuntimeWarning`.
    """
    from ..plotting import svg_data_uri

    text = f"<figcaption><b>{escape(title)}.</b> {escape(caption)}</figcaption>"
    try:
        uri = svg_data_uri(draw, figsize, salt)
    except Exception as exc:  # noqa: BLE001 - any drawing error becomes a note on the page
        warnings.warn(f"report figure {key!r} could not be drawn: {exc!r}", RuntimeWarning, stacklevel=2)
        return (f'<figure id="fig-{key}"><div class="figure-error">figure could not be drawn: '
                f"{escape(repr(exc))}</div>{text}</figure>")
    return f'<figure id="fig-{key}"><img src="{uri}" alt="{escape(title)}">{text}</figure>'


def page(title: str, subtitle: str, sections: Sequence[Section], *, kind: str,
         facts: Sequence[tuple[str, str]] = (), notes: Sequence[str] = ()) -> str:
    """A whole self-contained HTML page.

    ``title``: the run's or trial's name (``<h1>`` and ``<title>``); ``kind``: what the page
    is ("patient report", "virtual trial report"), shown after the title; ``subtitle``: one
    sentence under it (omitted when empty); ``facts``: ``(label, value)`` pairs of the line
    under the subtitle, followed by the seedsoil version and then ``notes`` (plain text);
    ``sections``: ``(id, heading, HTML)``, each linked from the header. Every text argument
    is plain text (escaped here) except the sections' HTML.
    """
    from .. import __version__

    version = escape(__version__)
    line = [f"<b>{escape(label)}</b> {escape(value)}" for label, value in facts]
    line.append(f"<b>seedsoil</b> {version}")
    line += [escape(n) for n in notes]
    nav = "".join(f'<a href="#{key}">{escape(heading)}</a>' for key, heading, _ in sections)
    body = "\n".join(f'<section id="{key}"><h2>{escape(heading)}</h2>\n{content}</section>'
                     for key, heading, content in sections)
    sub = f'<p class="description">{escape(subtitle)}</p>' if subtitle else ""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="seedsoil {version}">
<title>{escape(title)} — seedsoil {escape(kind)}</title>
<style>
{css()}
</style>
</head>
<body>
<main>
<header>
<h1>{escape(title)} <span class="kind">· {escape(kind)}</span></h1>
{sub}
<p class="meta">{" · ".join(line)}</p>
<nav>{nav}</nav>
</header>
{body}
<footer>Written by seedsoil {version}. This file is self-contained: it loads nothing from the network.</footer>
</main>
</body>
</html>
"""


__all__ = ["page", "figure_html", "table", "fmt", "css", "Section"]
