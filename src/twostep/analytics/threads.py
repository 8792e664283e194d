"""How many threads the compiled kernels use for a batch.

The kernels' loops over clients run in parallel (numba ``prange``). Waking
the thread pool costs milliseconds per call, which dominates a batch of one
client's few administrations (measured on 2 cores: ~35 ms with the pool vs
~1 ms on one thread per `analyze_batch`). `threads_for` therefore runs small
batches on the calling thread only. numba's thread count is per calling
thread, so concurrent callers (web requests) do not affect each other.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numba

#: Batches with fewer rows than this run on one thread.
PARALLEL_MIN_ROWS = 20_000


@contextmanager
def threads_for(n_rows: int) -> Iterator[None]:
    """Use one thread for batches below `PARALLEL_MIN_ROWS` rows, all threads above."""
    if n_rows >= PARALLEL_MIN_ROWS:
        yield
        return
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(before)
