"""twostep: measurement-based psychotherapy care that understands nonlinear progress.

The public API::

    twostep.analyze(data, instrument="phq9")   -> AnalysisResult (Arrow tables)
    twostep.fit_norms(data, instrument="phq9") -> NormsModel
    twostep.load(data)                         -> validated long-format table
    twostep.get_instrument("phq9")             -> Instrument
    twostep.score_submission(instrument, {"item_1": 2, ...}) -> Score
    twostep.Scale.custom(...)                  -> a scale outside the catalogue
    twostep.AnalysisParams(...)                -> every parameter of every rule

The pure kernel lives in `twostep.analytics`, the catalogue in
`twostep.instruments`.
"""

from twostep.analytics.norms_model import NormsModel
from twostep.analytics.pipeline import AnalysisParams
from twostep.analytics.scale import Scale
from twostep.analytics.sudden_gains import SuddenGainParams
from twostep.analytics.trajectory import TrajectoryParams
from twostep.api import AnalysisResult, analyze, fit_norms, load
from twostep.errors import TwostepError, ValidationError
from twostep.instruments.registry import get_instrument
from twostep.instruments.scoring import score_submission

__all__ = [
    "AnalysisParams",
    "AnalysisResult",
    "NormsModel",
    "Scale",
    "SuddenGainParams",
    "TrajectoryParams",
    "TwostepError",
    "ValidationError",
    "analyze",
    "fit_norms",
    "get_instrument",
    "load",
    "score_submission",
]
