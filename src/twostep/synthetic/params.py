"""The parameters of the synthetic data generator, each with a documented default.

Every severity parameter is given in **reference points**: PHQ-9 points on
its 0-27 scale, in severity orientation (higher = worse). The generator maps
reference points onto the chosen instrument's own scale piecewise-linearly,
anchoring 0, the PHQ-9 cut-off 10 and 27 to the instrument's best score, its
default clinical cut-off and its worst score (see `twostep.synthetic.scale`),
so one parameter set gives comparable data on PHQ-9, GAD-7, CORE-10 or ORS.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np

from twostep.errors import ConfigurationError

#: The latent client archetypes, in the order of their integer codes.
ARCHETYPES: tuple[str, ...] = (
    "responder",
    "slow",
    "non_responder",
    "deteriorator",
    "plateau",
    "early_dropout",
)

#: Upper end of the reference scale (PHQ-9 total).
REFERENCE_MAX = 27.0
#: The reference cut-off (PHQ-9 caseness, ``>= 10``).
REFERENCE_CUTOFF = 10.0


@dataclass(frozen=True)
class SyntheticParams:
    """What to generate and how it should look.

    Severity values are in reference points (PHQ-9 points, 0-27, higher =
    worse; see the module docstring). Probabilities are per client unless
    said otherwise.

    Attributes
    ----------
    n_clients : int
        Number of clients (one episode each). Default 1000.
    seed : int
        Seed of `numpy.random.default_rng`; the same parameters and seed give
        identical output. Default 0.
    instrument : str
        Catalogue id of the measure (``phq9``, ``gad7``, ``core10``, ``ors``,
        ...). Default ``"phq9"``.
    paired_instrument : str or None
        Catalogue id of a second measure taken at the same contacts (e.g.
        ``"gad7"`` with PHQ-9, NHS Talking Therapies pairing); None for none.
        Default None.
    items : bool
        Also generate item-level responses whose scored total is exactly the
        ``score`` column (for the paired measure too). Default False.
    sessions : int or None
        Fixed number of administrations per client (every client gets exactly
        this many rows; no one drops out, ``dropout_rate`` is ignored and the
        early-dropout share is spread proportionally over the other
        archetypes). None draws a random episode length. Default None.
    sessions_min, sessions_max, sessions_mean : int, int, float
        Random planned episode length: ``sessions_min`` plus a negative
        binomial count (dispersion ``sessions_dispersion``) with mean
        ``sessions_mean - sessions_min``, clipped to ``sessions_max``.
        Defaults 4, 20 and 10.0 (NHS Talking Therapies high-intensity
        courses are typically 6-20 sessions).
    sessions_dispersion : float
        Negative-binomial size parameter of the length (smaller = more
        spread). Default 3.0.
    share_responder, share_slow, share_non_responder, share_deteriorator,
    share_plateau, share_early_dropout : float
        Relative weights of the archetypes (normalised to sum 1). Defaults
        0.40, 0.20, 0.15, 0.06, 0.09, 0.10: about half of clients improve
        reliably and 5-8 % deteriorate in routine care (Howard et al. 1986;
        Lambert 2013).
    intake_mean, intake_sd : float
        Intake severity: normal with this mean and SD, truncated to
        ``[intake_min, intake_max]``. Defaults 15.5 and 5.0 (about 12 %
        start below the cut-off 10, as in NHS Talking Therapies referrals).
    intake_min, intake_max : float
        Truncation bounds of the intake severity. Defaults 3.0 and 27.0.
    improvement_responder, improvement_slow, improvement_non_responder : float
        Mean share of the intake severity lost by the 12th administration
        (improvement is linear in ``log(session)``: the expected score at
        administration ``t`` is ``intake * (1 - share * log(t) / log(12))``).
        Defaults 0.65, 0.30, 0.0.
    improvement_sd : float
        SD of the client's share around its archetype mean. Default 0.10.
    deterioration : float
        Deteriorators: mean share of the headroom ``27 - intake`` gained by
        the 12th administration (same log-time shape). Default 0.6.
    plateau_improvement : float
        Plateau clients: share lost by the 12th administration when not on
        the plateau. Default 0.45.
    plateau_start : tuple[int, int]
        Inclusive range of the administration at which the plateau starts.
        Default (3, 5).
    plateau_length : tuple[int, int]
        Inclusive range of the plateau length in administrations (after it,
        improvement resumes). Default (5, 9).
    plateau_min_intake : float
        Plateau clients start at least this severe. Default 15.0.
    plateau_margin : float
        The plateau level is at least cut-off + margin (still symptomatic).
        Default 2.0.
    plateau_noise_factor : float
        Week-to-week noise on the plateau relative to ``noise_sd``.
        Default 0.5.
    noise_sd : float
        SD of the week-to-week noise. Default 2.2 (the PHQ-9 standard error
        of measurement: SD 5.5 x sqrt(1 - 0.84)).
    noise_sd_spread : float
        SD of the log of each client's noise multiplier (some clients
        fluctuate more). Default 0.25.
    sudden_gain_rate : float
        Probability that an eligible client (responder, slow or non-responder
        with at least 5 administrations and a pre-gain level of at least
        ``sudden_magnitude[0] / 0.65``) gets an injected sudden gain. Default
        0.25 (Aderka et al. 2012: sudden gains in about 1 in 6 to 1 in 3
        clients; with the eligibility rules about 1 in 8 clients overall
        gets one).
    sudden_loss_rate : float
        Probability that an eligible client (not early dropout, at least 5
        administrations) gets an injected sudden loss. Default 0.05.
    sudden_magnitude : tuple[float, float]
        Uniform range of the jump size. Default (6.0, 10.0) (criterion 1 is
        the RC, 6 on PHQ-9).
    reversal_rate : float
        Probability that an injected sudden gain or loss is reversed 1-3
        administrations later (60-100 % of it lost again). Default 0.3.
    setback_rate : float
        Probability that a client with at least 5 administrations has a
        setback: a rise of ``setback_height`` lasting 1-3 administrations.
        Default 0.25.
    setback_height : tuple[float, float]
        Uniform range of the setback rise. Default (6.0, 9.0).
    setback_full_recovery : float
        Probability that a setback recovers fully; otherwise 20-50 % of the
        rise remains. Default 0.6.
    dropout_rate : float
        Probability that a client (not early dropout) ends the episode
        before the planned length, after 2 or more administrations. Default
        0.12.
    early_dropout_sessions : tuple[int, int]
        Inclusive range of the episode length of early-dropout clients.
        Default (1, 3).
    missing_rate : float
        Expected share of all rows that are missed administrations (score
        NaN, row kept). The intake is always observed, so later rows are
        missed with a correspondingly higher probability; both scores around
        an injected sudden gain/loss are kept. Default 0.05.
    item_missing_rate : float
        Share of observed administrations with exactly one item left blank
        (an item that may be prorated; ``score`` is then the prorated total).
        Only with ``items`` and instruments that allow prorating. Default 0.
    paired_intake_correlation : float
        Correlation of the paired measure's intake with the primary one's.
        Default 0.65.
    paired_event_coupling : float
        Share of the primary measure's sudden gains, losses, setbacks and
        plateau shape carried over to the paired measure. Default 0.5.
    clients_per_therapist : float
        Average caseload; therapists = ceil(n_clients / this), each client
        assigned at random with gamma-distributed caseload weights.
        Default 30.0.
    start_date : str
        First possible intake date (ISO 8601). Default ``"2023-01-02"``.
    enrolment_days : int
        Intakes are spread uniformly over this many days. Default 730.
    fortnightly_rate : float
        Probability that the gap to the next administration is two weeks.
        Default 0.15.
    long_break_rate : float
        Probability of a long break of 29-70 days. Default 0.03.
    date_jitter_rate : float
        Probability that a weekly or fortnightly gap is a day shorter or
        longer. Default 0.3.
    risk_item_offset : float
        How much later (on the latent 0-1 severity scale of the item model,
        `twostep.synthetic.items`) risk items (PHQ-9 item 9) are endorsed
        than the other items. Default 1.2: PHQ-9 item 9 is > 0 in about 3 %
        of all administrations, under 1 % below 15 and about 9 % of those
        scoring 20-24; at 25 or more the sum forces it above 0 (the other
        eight items give at most 24), so over all totals >= 20 it is about
        23 %.
    """

    n_clients: int = 1000
    seed: int = 0
    instrument: str = "phq9"
    paired_instrument: str | None = None
    items: bool = False
    sessions: int | None = None
    sessions_min: int = 4
    sessions_max: int = 20
    sessions_mean: float = 10.0
    sessions_dispersion: float = 3.0
    share_responder: float = 0.40
    share_slow: float = 0.20
    share_non_responder: float = 0.15
    share_deteriorator: float = 0.06
    share_plateau: float = 0.09
    share_early_dropout: float = 0.10
    intake_mean: float = 15.5
    intake_sd: float = 5.0
    intake_min: float = 3.0
    intake_max: float = 27.0
    improvement_responder: float = 0.65
    improvement_slow: float = 0.30
    improvement_non_responder: float = 0.0
    improvement_sd: float = 0.10
    deterioration: float = 0.6
    plateau_improvement: float = 0.45
    plateau_start: tuple[int, int] = (3, 5)
    plateau_length: tuple[int, int] = (5, 9)
    plateau_min_intake: float = 15.0
    plateau_margin: float = 2.0
    plateau_noise_factor: float = 0.5
    noise_sd: float = 2.2
    noise_sd_spread: float = 0.25
    sudden_gain_rate: float = 0.25
    sudden_loss_rate: float = 0.05
    sudden_magnitude: tuple[float, float] = (6.0, 10.0)
    reversal_rate: float = 0.3
    setback_rate: float = 0.25
    setback_height: tuple[float, float] = (6.0, 9.0)
    setback_full_recovery: float = 0.6
    dropout_rate: float = 0.12
    early_dropout_sessions: tuple[int, int] = (1, 3)
    missing_rate: float = 0.05
    item_missing_rate: float = 0.0
    paired_intake_correlation: float = 0.65
    paired_event_coupling: float = 0.5
    clients_per_therapist: float = 30.0
    start_date: str = "2023-01-02"
    enrolment_days: int = 730
    fortnightly_rate: float = 0.15
    long_break_rate: float = 0.03
    date_jitter_rate: float = 0.3
    risk_item_offset: float = 1.2

    def __post_init__(self) -> None:
        problems = list(self._problems())
        if problems:
            raise ConfigurationError("SyntheticParams: " + "; ".join(problems))

    def _problems(self) -> list[str]:
        out: list[str] = []
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, float) and not math.isfinite(value):
                out.append(f"{f.name} must be finite")
        if self.n_clients < 0:
            out.append("n_clients must be >= 0")
        if self.sessions is not None and self.sessions < 1:
            out.append("sessions must be >= 1")
        if not 1 <= self.sessions_min <= self.sessions_max:
            out.append("need 1 <= sessions_min <= sessions_max")
        if self.sessions_mean < self.sessions_min:
            out.append("sessions_mean must be >= sessions_min")
        if self.sessions_dispersion <= 0:
            out.append("sessions_dispersion must be > 0")
        shares = self.archetype_shares()
        if (shares < 0).any() or shares.sum() <= 0:
            out.append("archetype shares must be >= 0 and not all 0")
        probabilities = (
            "sudden_gain_rate",
            "sudden_loss_rate",
            "reversal_rate",
            "setback_rate",
            "setback_full_recovery",
            "dropout_rate",
            "missing_rate",
            "item_missing_rate",
            "paired_event_coupling",
            "fortnightly_rate",
            "long_break_rate",
            "date_jitter_rate",
        )
        out += [f"{n} must be in [0, 1]" for n in probabilities if not 0 <= getattr(self, n) <= 1]
        if self.missing_rate >= 1:
            out.append("missing_rate must be < 1")
        if self.fortnightly_rate + self.long_break_rate > 1:
            out.append("fortnightly_rate + long_break_rate must be <= 1")
        if not -1 <= self.paired_intake_correlation <= 1:
            out.append("paired_intake_correlation must be in [-1, 1]")
        if not 0 <= self.intake_min < self.intake_max <= REFERENCE_MAX:
            out.append(f"need 0 <= intake_min < intake_max <= {REFERENCE_MAX:g}")
        if self.intake_sd <= 0:
            out.append("intake_sd must be > 0")
        for name in ("noise_sd", "noise_sd_spread", "improvement_sd", "plateau_noise_factor"):
            if getattr(self, name) < 0:
                out.append(f"{name} must be >= 0")
        for name in ("plateau_start", "plateau_length", "early_dropout_sessions"):
            lo, hi = getattr(self, name)
            if not 1 <= lo <= hi:
                out.append(f"{name} must be an inclusive range (lo, hi) with 1 <= lo <= hi")
        for name in ("sudden_magnitude", "setback_height"):
            lo, hi = getattr(self, name)
            if not 0 < lo <= hi:
                out.append(f"{name} must be a range (lo, hi) with 0 < lo <= hi")
        if self.clients_per_therapist <= 0:
            out.append("clients_per_therapist must be > 0")
        if self.enrolment_days < 1:
            out.append("enrolment_days must be >= 1")
        try:
            np.datetime64(self.start_date, "D")
        except ValueError:
            out.append(f"start_date {self.start_date!r} is not an ISO 8601 date")
        return out

    def archetype_shares(self) -> np.ndarray[tuple[int], np.dtype[np.float64]]:
        """The archetype weights in `ARCHETYPES` order (not normalised)."""
        return np.array(
            [
                self.share_responder,
                self.share_slow,
                self.share_non_responder,
                self.share_deteriorator,
                self.share_plateau,
                self.share_early_dropout,
            ],
            dtype=np.float64,
        )
