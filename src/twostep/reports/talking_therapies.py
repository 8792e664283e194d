"""NHS Talking Therapies outcome rates for a report (PHQ-9 paired with GAD-7)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from twostep.analytics.pairing import PairedEpisodes, pair_episodes
from twostep.analytics.pipeline import Analysis
from twostep.analytics.talking_therapies import ServiceRates, episode_outcomes, service_rates

GAD7_CASENESS = 8.0
GAD7_RC = 4.0


@dataclass(frozen=True)
class TalkingTherapiesSummary:
    """Service rates with their episodes; ``as_template`` feeds the HTML report."""

    pairs: PairedEpisodes
    rates: ServiceRates
    min_pairs: int

    def as_template(self) -> dict[str, object]:
        r = self.rates
        rows = []
        for label, rate in (
            ("recovery", r.recovery),
            ("reliable recovery", r.reliable_recovery),
            ("reliable improvement", r.reliable_improvement),
            ("reliable deterioration", r.reliable_deterioration),
        ):
            k, n = int(rate.numerator[0]), int(rate.denominator[0])
            if bool(rate.suppressed[0]):
                shown_n: int | str = n if n >= 10 else "<10"
                rows.append(
                    {"label": label, "k": "<10", "n": shown_n, "rate": "suppressed", "ci": "—"}
                )
                continue
            rows.append(
                {
                    "label": label,
                    "k": k,
                    "n": n,
                    "rate": f"{100 * rate.proportion[0]:.1f} %" if n else "—",
                    "ci": f"{100 * rate.lower[0]:.1f}–{100 * rate.upper[0]:.1f} %" if n else "—",
                }
            )
        note = (
            f"{len(self.pairs)} clients have PHQ-9 and GAD-7 at the same session; "
            f"{int(r.n_finished[0])} count as having finished treatment (at least {self.min_pairs} "
            "paired sessions — the score file does not record attendance, so paired sessions stand in "
            "for attended treatment appointments). Recovery and reliable recovery exclude the "
            f"{int(r.n_not_case_at_start[0])} who were not a case at the start. Caseness PHQ-9 ≥ 10, "
            "GAD-7 ≥ 8; reliable change PHQ-9 6, GAD-7 4 (NHS Talking Therapies Manual; methods.md §2). "
            "Cells under 10 are suppressed; intervals are 95 % Wilson intervals."
        )
        return {"rows": rows, "note": note}


def talking_therapies_summary(
    analyses: list[Analysis] | tuple[Analysis, ...], *, min_pairs: int = 2
) -> TalkingTherapiesSummary | None:
    """Rates when the analyses include PHQ-9 and GAD-7; None otherwise."""
    by_id = {a.scale.instrument_id: a for a in analyses}
    if "phq9" not in by_id or "gad7" not in by_id:
        return None
    pairs = pair_episodes(by_id["phq9"].batch, by_id["gad7"].batch)
    if len(pairs) == 0:
        return None
    outcomes = episode_outcomes(
        pairs.a_first,
        pairs.a_last,
        pairs.b_first,
        pairs.b_last,
        anxiety_cutoff=GAD7_CASENESS,
        anxiety_rc=GAD7_RC,
        treatment_appointments=pairs.n_pairs,
        min_treatment_appointments=min_pairs,
    )
    rates = service_rates(outcomes, group=np.zeros(len(pairs), dtype=np.int64), n_groups=1)
    return TalkingTherapiesSummary(pairs, rates, min_pairs)
