"""(Core) What every seedsoil figure shares: figure creation, the palette, axes styling, the legend
under the axes, and saving a figure as reproducible SVG for a report page.

Used by :mod:`seedsoil.report.figures` (a patient), :mod:`seedsoil.report.trial_figures`
(a trial) and :mod:`seedsoil.tissue.output` (a tissue run). matplotlib is imported inside
the functions, so importing this module is cheap. It sits in the core layer
(docs/architecture.md) so that the scales' own ``plot`` methods can use it too.

Figures made here are plain :class:`matplotlib.figure.Figure` objects, not registered with
pyplot: no global state, nothing shown.
"""
from __future__ import annotations

import base64
import contextlib
import io
import math
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

from .units import DAYS_PER_YEAR  # noqa: E402  (one constant for every table and figure)

#: Okabe & Ito's colour-blind-safe palette (Okabe & Ito 2008, "Color Universal Design"):
#: the eight colours stay apart under protanopia, deuteranopia and tritanopia.
OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky blue": "#56B4E9",
    "bluish green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish purple": "#CC79A7",
}
#: the colour cycle for things told apart by colour (arms, therapies): Okabe–Ito without
#: black (kept for reference lines) and yellow (too pale on white for a line)
PALETTE = tuple(OKABE_ITO[k] for k in ("blue", "vermillion", "bluish green", "reddish purple", "orange",
                                       "sky blue"))
#: neutral greys for references and controls (not part of the cycle)
GREY = "#7f7f7f"
DARK_GREY = "#3a3a3a"

#: transparency of grid lines, the same in every figure
GRID_ALPHA = 0.3
#: matplotlib settings of a figure drawn for a report page: text as paths (no font needed to
#: display it), sizes that read well at the page's width
REPORT_RC = {"svg.fonttype": "path", "font.size": 10.0, "axes.titlesize": 12.0}


def colour(i: int) -> str:
    """The ``i``-th colour of :data:`PALETTE` (cycling)."""
    return PALETTE[i % len(PALETTE)]


def finite(x: Any) -> bool:
    """True for a number that is not None, NaN or infinite."""
    try:
        return x is not None and math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def new_figure(figsize: tuple[float, float] = (8.0, 5.4), *, layout: str | None = "constrained",
               dpi: float | None = None) -> "Figure":
    """A new figure of ``figsize`` inches, not registered with pyplot."""
    from matplotlib.figure import Figure

    return Figure(figsize=figsize, layout=layout, **({"dpi": dpi} if dpi is not None else {}))


def new_axes(ax: "Axes | None", figsize: tuple[float, float] = (8.0, 5.4)) -> "Axes":
    """``ax`` itself, or (when None) the axes of a :func:`new_figure` of ``figsize``."""
    if ax is not None:
        return ax
    return new_figure(figsize).add_subplot()


def grid(ax: "Axes", axis: str = "both", which: str = "major") -> None:
    """The grid every seedsoil figure draws: light, major ticks."""
    ax.grid(True, axis=axis, which=which, alpha=GRID_ALPHA)


def legend_below(ax: "Axes", handles: Sequence[Any] | None = None, labels: Sequence[str] | None = None, *,
                 ncol: int = 2, drop: float = 0.5) -> None:
    """One legend a fixed distance (``drop`` inches) under the axes, clear of the x label
    whatever the axes height, so it never hides data. Without ``handles`` the axes' own
    labelled artists; nothing is drawn when there are none."""
    from matplotlib.transforms import ScaledTranslation

    if handles is None:
        handles, labels = ax.get_legend_handles_labels()
    if not handles:
        return
    below = ax.transAxes + ScaledTranslation(0.0, -drop, ax.figure.dpi_scale_trans)
    ax.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), bbox_transform=below, ncol=ncol,
              fontsize="small", frameon=False)


@contextlib.contextmanager
def report_style(salt: str) -> Iterator[None]:
    """Draw and save inside this block: :data:`REPORT_RC`, and SVG ids salted with ``salt``
    so the same figure gives the same bytes."""
    import matplotlib

    with matplotlib.rc_context({**REPORT_RC, "svg.hashsalt": salt}):
        yield


def to_svg(fig: "Figure") -> bytes:
    """The figure as SVG bytes, without a date (reproducible under :func:`report_style`)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="svg", metadata={"Date": None})
    return buf.getvalue()


def svg_data_uri(draw: Callable[["Figure"], Any], figsize: tuple[float, float], salt: str) -> str:
    """``draw(fig)`` on a new constrained-layout figure of ``figsize`` inches, returned as a
    base64 ``data:image/svg+xml`` URI (text as paths, ids salted with ``salt``)."""
    with report_style(salt):
        fig = new_figure(figsize)
        draw(fig)
        svg = to_svg(fig)
    return "data:image/svg+xml;base64," + base64.b64encode(svg).decode("ascii")


__all__ = ["DAYS_PER_YEAR", "OKABE_ITO", "PALETTE", "GREY", "DARK_GREY", "GRID_ALPHA", "REPORT_RC", "colour",
           "finite", "new_figure", "new_axes", "grid", "legend_below", "report_style", "to_svg", "svg_data_uri"]
