"""Ketamine pharmacokinetics: three compartments plus an effect site.

Structure: a central compartment (V1, elimination CL) exchanging with a fast (V2, Q2) and
a slow (V3, Q3) peripheral compartment, as in the raw-data model of Kamp et al. (below),
and an effect-site compartment (rate constant ke0) that follows the central concentration
with a short equilibration delay. The haemodynamic effects in ``patient.py`` are driven by
the effect-site concentration, not by the infusion rate.

Sources and what is fixed or fitted (per 70 kg):

* Fixed, from the population values of Kamp J, Olofsen E, Henthorn TK, et al. "Ketamine
  pharmacokinetics: a systematic review of the literature, meta-analysis, and population
  analysis." Anesthesiology 2020;133:1192-1213: total volume of distribution at steady
  state Vss = V1 + V2 + V3 = 252 L and clearance CL = 79 L/h.
* Fitted: V1, the V2/V3 split, Q2 and Q3, so that 0.5 mg/kg over 40 min in 70 kg (35 mg)
  gives a plasma peak of about 185 ng/mL at the end of the infusion (Zarate CA et al.,
  Arch Gen Psychiatry 2006;63:856, as tabulated in Zanos P et al., Pharmacol Rev
  2018;70:621, Table 1) while the terminal half-life stays within the quoted 2-2.5 h.
  The fit was a grid search maximising the end-of-infusion concentration subject to a
  terminal half-life <= 2.48 h, with the fast compartment required to equilibrate at least
  2.5 times faster than the slow one. The two targets pull apart: with Vss and CL fixed,
  the mean residence time Vss/CL = 3.19 h already implies a terminal half-life >= 2.21 h,
  and every extra ng/mL at 40 min needs slower distribution, which lengthens it. The best
  achievable within 2.48 h is 174 ng/mL (-6 % of 185), which is what the constants give.
* Per patient (``PkParameters.varied``): every volume and clearance log-normal around the
  values above, CV 30 % (PK_CV), drawn from the simulation's seed.
* Chosen, not fitted to data: the effect-site equilibration half-time of 3 min (CLINICAL.md
  asks for "a short equilibration delay"), and allometric scaling for other weights:
  volumes in proportion to weight, clearances with (weight/70)^0.75.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

REFERENCE_WEIGHT_KG = 70.0

# Per 70 kg. V1 + V2 + V3 = 252 L (Kamp 2020); CL = 79 L/h (Kamp 2020); the rest fitted.
V1_L = 58.0
V2_L = 30.0  # fast peripheral: k21 = Q2/V2 = 18 /h (equilibrates in minutes)
V3_L = 164.0  # slow peripheral: k31 = Q3/V3 = 1.8 /h
CL_L_H = 79.0
Q2_L_H = 540.0
Q3_L_H = 295.0
KE0_HALF_TIME_MIN = 3.0
# Between-patient variability (CLINICAL.md section 2): log-normal, CV 30 %, the figure
# CLINICAL.md gives as typical of ketamine population models. For comparison, Flint et al.
# (Paediatr Anaesth 2017;27:1098) report 40 % on S-ketamine clearance. Kamp 2020's own
# between-subject variances are not reproduced here (not checked against the paper).
PK_CV = 0.30


@dataclass(frozen=True)
class PkParameters:
    """Volumes in L, clearances in L/h, ke0 in 1/h."""

    v1: float
    v2: float
    v3: float
    cl: float
    q2: float
    q3: float
    ke0: float

    @classmethod
    def for_weight(cls, weight_kg: float) -> PkParameters:
        size = weight_kg / REFERENCE_WEIGHT_KG
        allometric = size**0.75
        return cls(
            v1=V1_L * size,
            v2=V2_L * size,
            v3=V3_L * size,
            cl=CL_L_H * allometric,
            q2=Q2_L_H * allometric,
            q3=Q3_L_H * allometric,
            ke0=math.log(2) / (KE0_HALF_TIME_MIN / 60.0),
        )

    def varied(self, rng: np.random.Generator, cv: float = PK_CV) -> PkParameters:
        """This patient's own parameters: each volume and clearance times an independent
        log-normal factor with median 1 and coefficient of variation ``cv`` (ke0 is kept)."""
        omega = math.sqrt(math.log(1.0 + cv * cv))
        f = np.exp(omega * rng.standard_normal(6))
        return PkParameters(v1=self.v1 * f[0], v2=self.v2 * f[1], v3=self.v3 * f[2],
                            cl=self.cl * f[3], q2=self.q2 * f[4], q3=self.q3 * f[5], ke0=self.ke0)

    def rate_matrix(self) -> np.ndarray:
        """d/dt of (A1, A2, A3 in mg; Ce in mg/L) per hour, without input."""
        k10, k12, k13 = self.cl / self.v1, self.q2 / self.v1, self.q3 / self.v1
        k21, k31 = self.q2 / self.v2, self.q3 / self.v3
        return np.array(
            [
                [-(k10 + k12 + k13), k21, k31, 0.0],
                [k12, -k21, 0.0, 0.0],
                [k13, 0.0, -k31, 0.0],
                [self.ke0 / self.v1, 0.0, 0.0, -self.ke0],
            ]
        )

    def terminal_half_life_h(self) -> float:
        """Half-life of the slowest disposition phase (the effect site excluded)."""
        rates = np.linalg.eigvals(self.rate_matrix()[:3, :3]).real
        return math.log(2) / -float(rates.max())


def _expm(matrix: np.ndarray) -> np.ndarray:
    """Matrix exponential by scaling and squaring a Taylor series (no SciPy needed)."""
    norm = float(np.abs(matrix).sum(axis=1).max())
    squarings = max(0, math.ceil(math.log2(norm)) + 1) if norm > 0 else 0
    scaled = matrix / (2**squarings)
    result = np.eye(len(matrix))
    term = np.eye(len(matrix))
    for k in range(1, 20):
        term = term @ scaled / k
        result = result + term
    for _ in range(squarings):
        result = result @ result
    return result


class KetaminePk:
    """Exact discrete-time solution of the linear model for a fixed step.

    Drug given during a step is treated as a constant-rate input over that step, so the
    result does not depend on how finely the pump's delivery is sampled within it.
    """

    def __init__(self, params: PkParameters, step_s: float) -> None:
        self.params = params
        self.step_s = step_s
        a = params.rate_matrix()
        # Augmented exponential: the top-right column block integrates a unit input rate
        # (1 mg/h into A1) over the step.
        augmented = np.zeros((5, 5))
        augmented[:4, :4] = a
        augmented[0, 4] = 1.0
        transition = _expm(augmented * (step_s / 3600.0))
        self._phi = transition[:4, :4]
        self._gamma = transition[:4, 4]
        self._state = np.zeros(4)

    def step(self, mg_given: float) -> None:
        """Advance one step during which ``mg_given`` mg entered the central compartment."""
        rate_mg_h = mg_given / (self.step_s / 3600.0)
        self._state = self._phi @ self._state + self._gamma * rate_mg_h

    @property
    def plasma_ng_ml(self) -> float:
        return float(self._state[0] / self.params.v1 * 1000.0)  # mg/L == ug/mL

    @property
    def effect_ng_ml(self) -> float:
        return float(self._state[3] * 1000.0)

    @property
    def amount_in_body_mg(self) -> float:
        return float(self._state[:3].sum())
