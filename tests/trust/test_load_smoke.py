"""RL-16 smoke: benchmarks/load_mixed.py keeps working (the full load run is a benchmark).

* a few seconds of the mixed read/write load at a low rate against the real
  served app (``python -m uvicorn twostep.web.serve:app``) on a small clinic
  seeded on SQLite: every request answered without an error, both classes
  measured;
* the generator is open-loop: against a server that answers one request at a
  time in 100 ms, latencies measured from the *scheduled* times grow with the
  queue (a closed-loop client would report a flat ~100 ms);
* the verdict: an error status or a p95 over the target makes the run FAIL.
"""

from __future__ import annotations

import asyncio
import importlib.util
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def load_mixed() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "load_mixed_benchmark", ROOT / "benchmarks" / "load_mixed.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_mixed_load_on_sqlite_answers_every_request(load_mixed: ModuleType) -> None:
    lines: list[str] = []
    reports = load_mixed.run(
        backend="sqlite",
        steps=[(4.0, 12.0)],
        seconds=3.0,
        warmup=1.0,
        warm_seconds=1.0,
        clients=24,
        therapists=2,
        connections=16,
        probe_each=0,
        with_norms=False,  # seconds saved; the benchmark fits them as `twostep demo` does
        echo=lines.append,
    )
    text = "\n".join(lines)
    assert len(reports) == 1, text
    report = reports[0]
    assert set(report.classes) == {"read", "write"}, text
    assert report.classes["write"].count >= 4, text
    assert report.classes["read"].count >= 15, text
    for row in [*report.classes.values(), *report.rows]:
        assert row.errors == {}, text
        assert row.p95 < 30_000, text  # every request answered (30 s = the request timeout)
    assert report.server_cpu_s > 0, text  # the CPU of the real server process was read
    assert "RESULT:" in text


class OneAtATime:
    """A keep-alive HTTP server that answers one request at a time, each after 100 ms."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.lock = asyncio.Lock()
        self.port = 0
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await reader.readuntil(b"\r\n\r\n"):
                async with self.lock:
                    await asyncio.sleep(0.1)
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                    await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self.server = server
        self.ready.set()
        self.loop.run_forever()
        server.close()
        self.loop.run_until_complete(server.wait_closed())
        self.loop.close()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)


@pytest.fixture
def slow_server() -> Iterator[OneAtATime]:
    server = OneAtATime()
    server.thread.start()
    assert server.ready.wait(5)
    yield server
    server.stop()


def test_latency_counts_from_the_scheduled_time(
    load_mixed: ModuleType, slow_server: OneAtATime
) -> None:
    person = load_mixed.Person("u", "c=1", "x")
    ep = load_mixed.Endpoint("get", "read", 1.0, lambda rng: load_mixed.Request("GET", "/", person))
    t0 = time.perf_counter()
    out = load_mixed.run_load(
        slow_server.port,
        [ep],
        writes_per_s=0,
        reads_per_s=20,
        seconds=1.0,
        connections=4,
        arrivals="uniform",
    )
    assert time.perf_counter() - t0 < 10
    assert len(out.status) == 20
    assert (out.status == 200).all()
    # 20 requests in 1 s offered to a server that does 10/s: the last one waited ~1 s
    assert float(np.max(out.latency)) > 0.8
    assert float(np.min(out.latency)) >= 0.09
    # and the schedule was kept: the generator dispatched on time
    assert float(np.max(out.lag)) < 0.2


def test_verdict(load_mixed: ModuleType) -> None:
    eps = [
        load_mixed.Endpoint("w", "write", 1.0, lambda rng: None),
        load_mixed.Endpoint("r", "read", 1.0, lambda rng: None),
    ]

    def report(latency_s: list[float], status: list[int]) -> object:
        n = len(latency_s)
        out = load_mixed.Outcome(
            endpoint=np.array([i % 2 for i in range(n)]),
            due=np.linspace(1.0, 2.0, n),
            latency=np.array(latency_s),
            status=np.array(status),
            lag=np.zeros(n),
            errors_seen={},
            generator_cpu_s=0.0,
            wall_s=2.0,
            connections_opened=1,
        )
        return load_mixed.build_report(
            "sqlite",
            eps,
            out,
            writes_per_s=1,
            reads_per_s=1,
            seconds=1.0,
            warmup=0.5,
            workers=1,
            server_cpu_s=0.1,
            database_cpu_s=None,
            busy_pct=10.0,
            load_before="0 0 0",
            load_after="0 0 0",
        )

    good = report([0.1] * 40, [200] * 40)
    assert good.ok  # type: ignore[attr-defined]
    one_error = report([0.1] * 40, [200] * 39 + [500])
    assert not one_error.ok  # type: ignore[attr-defined]
    cut = report([0.1] * 40, [0] + [200] * 39)
    assert not cut.ok  # type: ignore[attr-defined]
    slow_reads = report([0.1, 0.4] * 20, [200] * 40)  # reads p95 400 ms > 300 ms
    assert not slow_reads.ok  # type: ignore[attr-defined]
    writes_at_400 = report([0.4, 0.1] * 20, [200] * 40)  # writes p95 400 ms <= 500 ms
    assert writes_at_400.ok  # type: ignore[attr-defined]
