"""All seedsoil exceptions live here, so users can catch them in one place.

Every message says what was wrong and what to do next.
"""
from __future__ import annotations


def did_you_mean(name: str, options, *, cutoff: float = 0.6) -> str:
    """``"; did you mean 'x'?"`` for the closest of ``options`` to ``name``, or ``""``: the hint
    every "unknown name" message ends with."""
    import difflib

    close = difflib.get_close_matches(name, list(options), n=1, cutoff=cutoff)
    return f"; did you mean {close[0]!r}?" if close else ""


class SeedsoilError(Exception):
    """Base class for seedsoil errors."""


class ScenarioError(SeedsoilError, ValueError):
    """A scenario (or parameter override) is invalid.

    ``field`` is the dotted path of the bad entry (``primary.gompertz.rate``),
    ``value`` the value as given. The CLI prints the message on one line and exits 2.
    """

    def __init__(self, message: str, *, field: str | None = None, value: object = None):
        super().__init__(message)
        self.field = field
        self.value = value


class UnitError(ScenarioError):
    """A value could not be read or converted to the unit the field needs."""


class RunExistsError(SeedsoilError, FileExistsError):
    """The output run directory exists; pass ``force=True`` / ``--force`` to overwrite."""


class ValidationFailed(SeedsoilError):
    """One or more ``seedsoil validate`` cases failed."""
