"""One check for root seeds, shared by every scale and the command line.

A seed is an integer in [0, 2^63) (what :func:`seedsoil.rng.stream` and the
tissue engine accept). Python and NumPy integers are accepted; bool, float
(``1.5`` would otherwise be truncated silently), negative and too large values
raise :class:`~seedsoil.errors.ScenarioError` naming the field and the value.
"""
from __future__ import annotations

import operator

from .errors import ScenarioError

#: seeds are integers in [0, SEED_LIMIT)
SEED_LIMIT = 2**63


def check_seed(seed: object, field: str = "seed") -> int:
    """``seed`` as a Python int, or :class:`ScenarioError` ("``field`` = value: must be an
    integer in [0, 2^63)")."""
    value: int | None = None
    if not isinstance(seed, bool):  # bool is an int subclass; numpy's bool has no __index__
        try:
            value = operator.index(seed)  # int and numpy integers; not float, str, None
        except TypeError:
            value = None
    if value is None or not 0 <= value < SEED_LIMIT:
        raise ScenarioError(f"{field} = {seed!r}: must be an integer in [0, 2^63)", field=field, value=seed)
    return value


__all__ = ["check_seed", "SEED_LIMIT"]
