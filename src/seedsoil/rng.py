"""Explicit, counter-based randomness: one stream per (seed, key...).

A patient's stream depends only on the root seed and its keys (e.g. patient
index, purpose), never on how work is split across workers or chunks.
"""
from __future__ import annotations

import numpy as np

# ---------------------------------------------------------------- the purposes, in one place
# A stream is (root seed, *keys, purpose). The numbers are part of every published result:
# never renumber one (results would change); add new purposes with new numbers.

#: body: one patient's course, ``(seed, *patient keys, BODY_COURSE)`` (body.stochastic)
BODY_COURSE = 0
#: cohort: a trial patient's sampled parameters and covariates, ``(seed, patient, PATIENT_POPULATION)``
PATIENT_POPULATION = 1
#: cohort: a randomized patient's arm, ``(seed, patient, PATIENT_ALLOCATION)``
PATIENT_ALLOCATION = 2
#: cell: log-normal parameter variability of a population, ``(seed, CELL_VARIABILITY, key)``
CELL_VARIABILITY = 3
#: tissue set-up, ``(tissue seed, purpose)``: tumour and CAF positions, migration modes,
#: the dividing share, CAF fibre directions, initial velocities (tissue.model)
TISSUE_PLACE_TUMOUR, TISSUE_PLACE_CAF, TISSUE_MODES, TISSUE_DIVIDING, TISSUE_CAF_DIRECTION, TISSUE_MOTILITY = range(6)
#: tissue: the seed of replicate k of an invasion map, ``(map seed, TISSUE_MAP_REPLICATE, k)``
TISSUE_MAP_REPLICATE = 7

#: name → number, for documentation and checks
PURPOSES = {"BODY_COURSE": BODY_COURSE, "PATIENT_POPULATION": PATIENT_POPULATION,
            "PATIENT_ALLOCATION": PATIENT_ALLOCATION, "CELL_VARIABILITY": CELL_VARIABILITY,
            "TISSUE_PLACE_TUMOUR": TISSUE_PLACE_TUMOUR, "TISSUE_PLACE_CAF": TISSUE_PLACE_CAF,
            "TISSUE_MODES": TISSUE_MODES, "TISSUE_DIVIDING": TISSUE_DIVIDING,
            "TISSUE_CAF_DIRECTION": TISSUE_CAF_DIRECTION, "TISSUE_MOTILITY": TISSUE_MOTILITY,
            "TISSUE_MAP_REPLICATE": TISSUE_MAP_REPLICATE}


def new_seed() -> int:
    """A fresh root seed from OS entropy (recorded so the run can be repeated)."""
    return int(np.random.SeedSequence().entropy % (2**63))


def stream(seed: int, *keys: int) -> np.random.Generator:
    """Philox generator for ``(seed, *keys)``."""
    return np.random.Generator(np.random.Philox(np.random.SeedSequence([int(seed), *map(int, keys)])))
