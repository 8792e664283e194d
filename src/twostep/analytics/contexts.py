"""From kernel results to the facts the explanations need, for one row or one client.

`explain.py` turns an `AdministrationContext` into texts; this module builds
that context from an `Analysis` (the arrays of a whole batch), so that the
report, the web app and the CLI explain exactly what the kernel computed.
Only the handful of rows being shown are touched; nothing here runs per row
of a large batch.
"""

from __future__ import annotations

import math

import numpy as np

from twostep.analytics.etr import ETR_BAND_LABELS
from twostep.analytics.explain import (
    AdministrationContext,
    Explanation,
    SetbackStatistic,
    explain_administration,
    explain_client_summary,
)
from twostep.analytics.pipeline import Analysis


def _f(x: float) -> float | None:
    v = float(x)
    return None if math.isnan(v) else v


def administration_context(
    analysis: Analysis,
    row: int,
    *,
    setback_stat: SetbackStatistic | None = None,
    stressors: tuple[tuple[str, int], ...] = (),
    restorative_drop: float | None = None,
    alliance_rupture: bool = False,
    missed_sessions: int = 0,
) -> AdministrationContext:
    """The facts of batch row ``row`` (a row of the batch, not of the sessions table).

    Context from between sessions (stressors, self-care, alliance, missed
    sessions) is passed in by the caller, who holds those records.
    """
    tr = analysis.trajectory
    bands = analysis.bands
    scale = analysis.scale
    batch_raw = analysis.batch.raw
    client = int(analysis.batch.client_index[row])
    intake = int(tr.intake_row[client])
    intake_score = _f(batch_raw[intake]) if intake >= 0 else None
    prev = -1
    for q in range(row - 1, int(analysis.batch.offsets[client]) - 1, -1):
        if not np.isnan(batch_raw[q]):
            prev = q
            break
    best = tr.best_before[row]
    cut = scale.cutoff
    t = int(tr.t[row])
    early = None
    if t >= analysis.params.trajectory.early_response_from:
        early_code = int(tr.early_response[client])
        early = early_code if _first_early_row(analysis, client) == row else None
    return AdministrationContext(
        instrument=scale.name,
        higher_is_better=scale.higher_is_better,
        score=_f(batch_raw[row]),
        intake_score=intake_score,
        previous_score=_f(batch_raw[prev]) if prev >= 0 else None,
        best_before=_f(scale.native(np.array([best]))[0]) if not np.isnan(best) else None,
        rc=scale.rc.threshold,
        rc_source=scale.rc.source,
        rc_strict=scale.rc.strict,
        cutoff=cut,
        cutoff_source=scale.cutoff_source,
        cutoff_case_when=scale.cutoff_comparison if cut is not None else None,
        session=t if t > 0 else None,
        status=int(tr.status[row]),
        confirmation=int(tr.confirmation[row]),
        event=int(tr.event[row]),
        etr_band=ETR_BAND_LABELS[int(bands.band[row])],
        plateau=int(tr.plateau[row]),
        plateau_window=analysis.params.trajectory.plateau_window,
        early_response=early,
        in_setback=bool(tr.in_setback[row]),
        provisional=bool(tr.provisional[row]),
        stressors=stressors,
        restorative_drop=restorative_drop,
        alliance_rupture=alliance_rupture,
        missed_sessions=missed_sessions,
        setback_stat=setback_stat,
    )


def _first_early_row(analysis: Analysis, client: int) -> int:
    """The row at which early response was assessed for ``client`` (-1 if none)."""
    tr = analysis.trajectory
    p = analysis.params.trajectory
    start, end = int(analysis.batch.offsets[client]), int(analysis.batch.offsets[client + 1])
    y = analysis.batch.raw
    for r in range(start, end):
        if np.isnan(y[r]) or tr.t[r] < p.early_response_from:
            continue
        return r if tr.t[r] <= p.early_response_to else -1
    return -1


def explain_row(analysis: Analysis, row: int, **context: object) -> tuple[Explanation, ...]:
    """Every explanation of batch row ``row``, most urgent first."""
    return explain_administration(administration_context(analysis, row, **context))  # type: ignore[arg-type]


def explain_client(analysis: Analysis, client: int) -> Explanation | None:
    """The summary explanation of a client's latest administration (None without scores)."""
    tr = analysis.trajectory
    last = int(tr.last_row[client])
    if last < 0:
        return None
    ctx = administration_context(analysis, last)
    clients = analysis.clients
    return explain_client_summary(
        ctx,
        n_scores=int(tr.n_scores[client]),
        n_setbacks=int(tr.n_setbacks[client]),
        n_sudden_gains=int(clients["n_sudden_gains"][client]),
        n_sudden_losses=int(clients["n_sudden_losses"][client]),
    )
