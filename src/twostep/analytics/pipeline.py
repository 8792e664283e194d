"""The whole analysis of one batch: every statistic of methods.md §1, §3, §4, §5, §11.

`analyze_batch` is the single entry point the CLI, the web app and the
population engines call. It runs, on whole arrays:

1. severity orientation (`Scale.severity`);
2. Tang–DeRubeis criteria for sudden gains and losses (`sudden_gains`);
3. the per-administration scan: status, event, setback episodes, plateaus,
   early response (`trajectory`);
4. expected-response bands against fitted norms, or the rule-based fallback
   (`norms`);
5. per-client pre/post statistics: change, RCI, reliable change, clinical
   significance category, caseness (`reliable_change`,
   `clinical_significance`).

and returns four `Table`s with the columns of the design.md data contract
(more columns are fine). Nothing here loops over clients in Python.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

from twostep.analytics.alliance import (
    ALLIANCE_LABELS,
    AllianceParams,
    AllianceSignals,
    alliance_ruptures_batch,
)
from twostep.analytics.batch import ScoreBatch
from twostep.analytics.clinical_significance import classify
from twostep.analytics.etr import EtrBands, etr_bands
from twostep.analytics.norms_model import NormsModel
from twostep.analytics.scale import Scale
from twostep.analytics.sudden_gains import (
    SuddenEvents,
    SuddenGainParams,
    interval_codes,
    sudden_events,
)
from twostep.analytics.tables import Table
from twostep.analytics.threads import threads_for
from twostep.analytics.trajectory import (
    EARLY_RESPONSE_LABELS,
    EVENT_LABELS,
    PLATEAU_LABELS,
    SETBACK_LABELS,
    STATUS_LABELS,
    Trajectory,
    TrajectoryParams,
    trajectory_signals,
)
from twostep.errors import ConfigurationError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

RELIABLE_CHANGE_LABELS = ("no_change", "improved", "deteriorated", "not_computable")
CLINICAL_LABELS = ("recovered", "improved", "unchanged", "deteriorated", "harmed", "not_computable")
CONFIRMATION_LABELS = ("", "confirmed", "not_confirmed", "pending")


@dataclass(frozen=True)
class AnalysisParams:
    """Every parameter of the analysis (defaults follow methods.md).

    ``harmed`` adds the optional fifth clinical-significance category
    (methods.md §1.3); off by default so that ``clinical_category`` keeps the
    four Jacobson–Truax categories of the data contract. ``alliance`` sets the
    rupture rule for alliance measures (default: the SRS preset for SRS, the
    WAI-SR preset on totals with the instrument's RC for WAI-SR).
    """

    sudden_gains: SuddenGainParams = field(default_factory=SuddenGainParams)
    trajectory: TrajectoryParams = field(default_factory=TrajectoryParams)
    harmed: bool = False
    alliance: AllianceParams | None = None


@dataclass(frozen=True)
class Analysis:
    """The result of `analyze_batch`: the four tables plus what produced them."""

    scale: Scale
    params: AnalysisParams
    clients: Table
    sessions: Table
    sudden_gains: Table
    sudden_losses: Table
    norms: NormsModel | None
    batch: ScoreBatch = field(repr=False)
    trajectory: Trajectory = field(repr=False)
    bands: EtrBands = field(repr=False)
    alliance: AllianceSignals | None = field(default=None, repr=False)
    ruptures: Table | None = None


def analyze_batch(
    batch: ScoreBatch,
    scale: Scale,
    params: AnalysisParams | None = None,
    *,
    norms: NormsModel | None = None,
) -> Analysis:
    """Analyse every client of ``batch`` (one instrument) in whole-array operations.

    Parameters
    ----------
    batch
        Scores in the native direction, sorted by client and session.
    scale
        Orientation, reliable-change threshold and cut-off of the measure.
    params
        Parameters of every rule; defaults follow methods.md.
    norms
        A fitted expected-response model (methods.md §4.2) for this instrument;
        without one the §4.3 rule-based fallback gives the bands.
    """
    with threads_for(batch.n_rows):
        return _analyze(batch, scale, params or AnalysisParams(), norms)


def _analyze(
    batch: ScoreBatch, scale: Scale, p: AnalysisParams, norms: NormsModel | None
) -> Analysis:
    if not scale.tracks_outcome:
        raise ConfigurationError(
            f"{scale.name} is a screening measure; change statistics do not apply to it"
        )
    if norms is not None and norms.instrument_id != scale.instrument_id:
        raise ConfigurationError(
            f"the norms are for {norms.instrument_id!r}, not for {scale.instrument_id!r}"
        )
    y = scale.severity(batch.raw)
    sg = p.sudden_gains
    crit1 = sg.crit1 if sg.crit1 is not None else scale.rc.threshold
    codes = interval_codes(batch.offsets, y, crit1=crit1, params=sg)
    severity_cut = scale.severity_cutoff
    tr = trajectory_signals(
        batch.offsets,
        y,
        batch.day,
        batch.session,
        rc=scale.rc_points,
        rc_strict=scale.rc.strict,
        cutoff=severity_cut[0] if severity_cut else None,
        cutoff_inclusive=severity_cut[1] if severity_cut else True,
        interval_codes=codes,
        use_crit3=sg.crit3,
        params=p.trajectory,
        rc_value=scale.rc.threshold,
    )
    bands = etr_bands(
        batch.offsets,
        y,
        tr.t,
        norms=norms,
        rc=scale.rc_points,
        rc_strict=scale.rc.strict,
        cutoff=severity_cut,
    )
    gains = sudden_events(
        batch.offsets, batch.client_index, y, batch.day, codes, loss=False, params=sg
    )
    losses = sudden_events(
        batch.offsets, batch.client_index, y, batch.day, codes, loss=True, params=sg
    )
    clients = _client_table(batch, scale, y, tr, bands, gains, losses, p)
    sessions = _session_table(batch, scale, y, tr, bands)
    alliance = None
    ruptures = None
    if scale.purpose == "alliance":
        alliance = alliance_ruptures_batch(batch, p.alliance or _alliance_params(scale))
        clients, sessions, ruptures = _with_alliance(batch, clients, sessions, alliance)
    return Analysis(
        scale=scale,
        params=p,
        clients=clients,
        sessions=sessions,
        sudden_gains=_event_table(batch, scale, gains, "sudden_gains"),
        sudden_losses=_event_table(batch, scale, losses, "sudden_losses"),
        norms=norms,
        batch=batch,
        trajectory=tr,
        bands=bands,
        alliance=alliance,
        ruptures=ruptures,
    )


def _alliance_params(scale: Scale) -> AllianceParams:
    if scale.instrument_id == "wai_sr":
        return AllianceParams.wai_sr(scale.rc.threshold, rc_source=scale.rc.source, scale="total")
    if scale.instrument_id == "srs":
        return AllianceParams.srs()
    return replace(
        AllianceParams.srs(cutoff=None),
        instrument=scale.name,
        min_drop=scale.rc.threshold,
        min_drop_source=scale.rc.source,
    )


def _with_alliance(
    batch: ScoreBatch, clients: Table, sessions: Table, signals: AllianceSignals
) -> tuple[Table, Table, Table]:
    """Add the rupture columns (methods.md §6.4) and the episode table."""
    rows = np.flatnonzero(batch.observed) if not batch.observed.all() else None
    code = signals.code if rows is None else signals.code[rows]
    prov = signals.provisional if rows is None else signals.provisional[rows]
    s_cols = dict(sessions.columns)
    s_cols["alliance_signal"] = code
    s_cols["alliance_provisional"] = prov
    s_cats = dict(sessions.categories)
    s_cats["alliance_signal"] = ALLIANCE_LABELS
    c_cols = dict(clients.columns)
    c_cols["n_ruptures"] = signals.n_ruptures
    c_cols["n_repaired"] = signals.n_repaired
    c_cols["n_unrepaired"] = signals.n_escalated
    ep = signals.episodes
    ruptures = Table(
        "ruptures",
        {
            "client_id": ep.client,
            "start_session": batch.session[ep.start_row],
            "trough_session": batch.session[ep.trough_row],
            "repair_session": np.where(
                ep.repair_row >= 0, batch.session[np.maximum(ep.repair_row, 0)], -1
            ),
            "baseline": ep.baseline,
            "trough_score": ep.trough_score,
            "repaired": ep.repaired,
            "provisional": ep.provisional,
        },
        {"client_id": batch.client_keys},
    )
    return (
        Table("clients", c_cols, dict(clients.categories)),
        Table("sessions", s_cols, s_cats),
        ruptures,
    )


def _gather(values: FloatArray, rows: IntArray) -> FloatArray:
    """values[rows] with NaN where rows == -1."""
    out = np.full(rows.shape[0], np.nan)
    ok = rows >= 0
    out[ok] = values[rows[ok]]
    return out


def _client_table(
    batch: ScoreBatch,
    scale: Scale,
    y: FloatArray,
    tr: Trajectory,
    bands: EtrBands,
    gains: SuddenEvents,
    losses: SuddenEvents,
    p: AnalysisParams,
) -> Table:
    n = batch.n_clients
    intake, last = tr.intake_row, tr.last_row
    has = intake >= 0
    baseline = _gather(batch.raw, intake)
    final = _gather(batch.raw, last)
    y1 = _gather(y, intake)
    yl = _gather(y, last)
    paired = tr.n_scores >= 2
    change = np.where(paired, final - baseline, np.nan)
    rci = np.where(paired, (y1 - yl) / scale.s_diff, np.nan)
    delta = yl - y1
    rel = scale.rc.is_reliable(delta) & paired
    reliable = np.where(
        ~paired, 3, np.where(rel & (delta < 0), 1, np.where(rel & (delta > 0), 2, 0))
    ).astype(np.int8)

    case_start = scale.is_case(y1)
    case_end = scale.is_case(yl)
    severity_cut = scale.severity_cutoff
    if severity_cut is not None:
        result = classify(
            np.where(paired, y1, np.nan),
            np.where(paired, yl, np.nan),
            scale.rc,
            severity_cut[0],
            case_when=">=" if severity_cut[1] else ">",
            higher_is_better=False,
            harmed=p.harmed,
        )
        category = np.asarray(result.code, dtype=np.int8)
        category = np.where(category < 0, 5, category).astype(np.int8)
    else:
        # without a cut-off only the reliable-change part of the categories exists
        category = np.select([reliable == 1, reliable == 2, reliable == 0], [1, 3, 2], 5).astype(
            np.int8
        )

    first_session = np.where(has, batch.session[np.maximum(intake, 0)], -1)
    last_session = np.where(has, batch.session[np.maximum(last, 0)], -1)
    last_rows = np.maximum(last, 0)
    status = np.where(has, tr.status[last_rows], 0).astype(np.int8)
    plateau = np.where(has, tr.plateau[last_rows], 0).astype(np.int8)
    band = np.where(has, bands.band[last_rows], 0).astype(np.int8)
    in_setback = has & tr.in_setback[np.maximum(batch.offsets[1:] - 1, 0)] & (batch.lengths > 0)
    columns: dict[str, npt.NDArray[np.generic]] = {
        "client_id": np.arange(n, dtype=np.int64),
        "instrument": np.zeros(n, dtype=np.int8),
        "n_scores": tr.n_scores,
        "first_session": first_session.astype(np.int64),
        "last_session": last_session.astype(np.int64),
        "baseline": baseline,
        "final": final,
        "change": change,
        "rci": rci,
        "reliable_change": reliable,
        "clinical_category": category,
        "case_at_start": case_start & has,
        "case_at_end": case_end & has,
        "n_sudden_gains": np.bincount(gains.client, minlength=n).astype(np.int64),
        "n_sudden_losses": np.bincount(losses.client, minlength=n).astype(np.int64),
        "n_setbacks": tr.n_setbacks,
        "status": status,
        "in_setback": in_setback,
        "plateau": plateau,
        "early_response": tr.early_response,
        "etr_band": band,
    }
    return Table(
        "clients",
        columns,
        {
            "client_id": batch.client_keys,
            "instrument": (scale.instrument_id,),
            "reliable_change": RELIABLE_CHANGE_LABELS,
            "clinical_category": CLINICAL_LABELS,
            "status": STATUS_LABELS,
            "plateau": PLATEAU_LABELS,
            "early_response": EARLY_RESPONSE_LABELS,
            "etr_band": bands.labels,
        },
    )


def _session_table(
    batch: ScoreBatch, scale: Scale, y: FloatArray, tr: Trajectory, bands: EtrBands
) -> Table:
    rows = np.flatnonzero(batch.observed) if not batch.observed.all() else None
    lo, hi = (
        (bands.expected_high, bands.expected_low)
        if scale.higher_is_better
        else (
            bands.expected_low,
            bands.expected_high,
        )
    )
    columns: dict[str, npt.NDArray[np.generic]] = {
        "client_id": batch.client_index,
        "session": batch.session,
        "date": batch.day.view("datetime64[D]"),  # NO_DAY is NaT's bit pattern
        "t": tr.t,
        "score": batch.raw,
        "change_from_baseline": scale.native_change(tr.change_from_intake),
        "change_from_previous": scale.native_change(tr.change_from_previous),
        "status": tr.status,
        "event": tr.event,
        "in_setback": tr.in_setback,
        "setback_onset": tr.setback_onset,
        "setback": tr.setback,
        "plateau": tr.plateau,
        "deterioration_confirmed": tr.confirmation,
        "etr_band": bands.band,
        "expected_median": scale.native(bands.expected_median),
        "expected_low": scale.native(lo),
        "expected_high": scale.native(hi),
        "expected_q90": scale.native(bands.expected_q90),
        "provisional": tr.provisional,
    }
    if rows is not None:
        columns = {k: v[rows] for k, v in columns.items()}
    return Table(
        "sessions",
        columns,
        {
            "client_id": batch.client_keys,
            "status": STATUS_LABELS,
            "event": EVENT_LABELS,
            "plateau": PLATEAU_LABELS,
            "setback": SETBACK_LABELS,
            "deterioration_confirmed": CONFIRMATION_LABELS,
            "etr_band": bands.labels,
        },
    )


def _event_table(batch: ScoreBatch, scale: Scale, ev: SuddenEvents, name: str) -> Table:
    return Table(
        name,
        {
            "client_id": ev.client,
            "pre_session": batch.session[ev.pre_row],
            "post_session": batch.session[ev.post_row],
            "pre_score": batch.raw[ev.pre_row],
            "post_score": batch.raw[ev.post_row],
            "magnitude": ev.magnitude,
            "relative_change": ev.relative_change,
            "reversal": ev.reversal,
            "provisional": ev.provisional,
            "gap": ev.gap,
            "largest": ev.largest,
            "earliest": ev.earliest,
            "mean_pre": scale.native(ev.mean_pre),
            "mean_post": scale.native(ev.mean_post),
            "s_pooled": ev.s_pooled,
            "t_crit": ev.t_crit,
        },
        {"client_id": batch.client_keys},
    )
