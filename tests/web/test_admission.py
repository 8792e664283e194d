"""Admission control: past ``max_in_flight`` requests, 503 ``overloaded`` at once; nothing leaks."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
import anyio.to_thread
import httpx2 as httpx
import pytest
from service_world import World
from starlette.types import Receive, Scope, Send

from twostep.config import Settings
from twostep.security.passwords import Hasher
from twostep.web.admission import AdmissionControl
from twostep.web.app import create_app


class HeldApp:
    """An ASGI app whose requests wait until released (and one path that fails)."""

    def __init__(self) -> None:
        self.release = anyio.Event()
        self.started = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.started += 1
        if scope["path"] == "/boom":
            raise RuntimeError("the app failed")
        if scope["path"].startswith("/hold"):
            await self.release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


def run(main: Callable[[], Awaitable[None]]) -> None:
    """``anyio.run(main)`` in a thread of its own: other tests (Playwright's sync API) may
    leave an event loop marked as running in the worker's main thread."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(anyio.run, main).result()


def client(app: AdmissionControl) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


def test_past_the_bound_requests_are_refused_at_once_and_the_admitted_ones_finish() -> None:
    inner = HeldApp()
    gate = AdmissionControl(inner, max_in_flight=2, worker_threads=7)

    async def main() -> None:
        statuses: list[int] = []
        async with client(gate) as c, anyio.create_task_group() as tg:

            async def held(path: str) -> None:
                statuses.append((await c.get(path)).status_code)

            tg.start_soon(held, "/hold/1")
            tg.start_soon(held, "/hold/2")
            while gate.in_flight < 2:
                await anyio.sleep(0.001)
            with anyio.fail_after(2):  # refused without waiting for the held ones
                refused = await c.get("/api/v1/me/progress")
            assert refused.status_code == 503
            assert refused.headers["content-type"] == "application/problem+json"
            assert refused.headers["retry-after"] == "1"
            assert refused.headers["cache-control"] == "no-store"
            body = refused.json()
            assert (body["type"], body["status"]) == ("/problems/overloaded", 503)
            assert inner.started == 2  # the refused request never reached the app
            assert (await c.get("/static/css/app.css")).status_code == 200  # not counted
            assert anyio.to_thread.current_default_thread_limiter().total_tokens == 7
            inner.release.set()
        assert statuses == [200, 200]
        assert (gate.in_flight, gate.refused) == (0, 1)
        async with client(gate) as c:
            assert (await c.get("/after")).status_code == 200

    run(main)


def test_a_failing_request_gives_its_place_back() -> None:
    gate = AdmissionControl(HeldApp(), max_in_flight=1, worker_threads=40)

    async def main() -> None:
        async with client(gate) as c:
            with pytest.raises(RuntimeError):
                await c.get("/boom")
            assert gate.in_flight == 0
            assert (await c.get("/fine")).status_code == 200

    run(main)


def test_no_bound_when_set_to_zero() -> None:
    inner = HeldApp()
    gate = AdmissionControl(inner, max_in_flight=0, worker_threads=40)

    async def main() -> None:
        async with client(gate) as c, anyio.create_task_group() as tg:
            for n in range(20):
                tg.start_soon(c.get, f"/hold/{n}")
            while inner.started < 20:
                await anyio.sleep(0.001)
            inner.release.set()
        assert gate.refused == 0

    run(main)


def test_the_app_is_built_with_the_configured_bound(web_world: World, tmp_path: Path) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'unused.db'}",
        data_dir=tmp_path,
        max_in_flight=3,
        worker_threads=5,
    )
    app = create_app(
        settings,
        uow_factory=web_world.factory,
        hasher=Hasher(time_cost=1, memory_cost=1024, parallelism=1),
    )
    [layer] = [m for m in app.user_middleware if m.cls is AdmissionControl]
    assert (layer.kwargs["max_in_flight"], layer.kwargs["worker_threads"]) == (3, 5)
    assert app.user_middleware[0].cls is AdmissionControl  # outermost: refusals cost nothing
