"""Population analytics: the kernel over a whole service's data, on one machine or a cluster.

Engines only partition clients into hash buckets and feed each bucket to the
kernel as one columnar batch (`work.run_bucket`); every statistic is computed
by `twostep.analytics`. ``local`` streams buckets through a process pool with
bounded memory (`local.LocalEngine`); ``spark`` runs the same function with
``groupBy(bucket).applyInArrow`` (`spark.SparkEngine`, extra ``[spark]``).
"""

from __future__ import annotations

from twostep.population.run import (
    ENGINES,
    NormsFit,
    RunSummary,
    fit_population_norms,
    run_population,
)

__all__ = ["ENGINES", "NormsFit", "RunSummary", "fit_population_norms", "run_population"]
