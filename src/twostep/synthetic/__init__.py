"""Synthetic measurement-based-care data: realistic, labelled, fast.

`generate_episodes` simulates one episode of psychotherapy per client and
returns the long format of design.md (``client_id, session, date, score,
therapist_id``, optionally item responses and a paired second measure such as
GAD-7 next to PHQ-9) together with the ground truth (each client's archetype,
injected sudden gains, sudden losses, setbacks and plateaus).

What makes it realistic (every number is a `SyntheticParams` field):

* **intake severity** — truncated normal around the clinical range, about
  12 % below the cut-off;
* **nonlinear change** — improvement linear in ``log(session)``
  (dose-response, methods.md §5.1) at a client-specific rate: fast
  responders, slow responders, non-responders, 6 % deteriorators, plateau
  clients (a flat stretch above cut-off, then improvement resumes) and early
  dropouts;
* **week-to-week noise** — normal, SD about one PHQ-9 standard error of
  measurement, client-specific;
* **setbacks** (a temporary rise that recovers fully or partly),
  **sudden gains** and **sudden losses** (one-interval jumps of at least the
  reliable-change size, some reversed);
* **missed administrations** (NaN score, row kept so that the session index
  keeps its place), **dropout** (the episode ends early), episode lengths of
  4-20 administrations (or a fixed number), **irregular dates** (mostly
  weekly, some fortnightly, occasional breaks over 28 days) and therapists
  with varying caseloads;
* scores clipped to the instrument's range and on its resolution; for
  "higher is better" instruments (ORS, SWEMWBS) severity is generated and
  converted back, so improvement goes up;
* **item responses** whose catalogue-scored total is exactly the score
  (reverse keying respected, PHQ-9 item 9 mostly 0 and endorsed mainly at
  high severity), optionally with single blank items to exercise prorating.

Everything is vectorised (no Python loop per client or per row) and
deterministic for a given seed. The package is pure: it imports only the
standard library, numpy and `twostep.instruments`/`twostep.errors`.
"""

from __future__ import annotations

from twostep.synthetic.generator import generate_episodes
from twostep.synthetic.params import ARCHETYPES, SyntheticParams
from twostep.synthetic.result import SyntheticScores, SyntheticTruth

__all__ = [
    "ARCHETYPES",
    "SyntheticParams",
    "SyntheticScores",
    "SyntheticTruth",
    "generate_episodes",
]
