"""Web latency benchmark: check-in submission and the caseload page at 50 requests/s.

Run:  python benchmarks/web_latency.py                 (30 s per scenario, 50 req/s)
      python benchmarks/web_latency.py --seconds 60 --rate 50

What it does, on loopback with the demo data on SQLite (the embedded default):

1. creates the demo clinic (`twostep demo`'s database and norms) in a
   temporary folder;
2. starts the app the way `twostep serve` does — a separate uvicorn process
   importing `twostep.web.serve:app`, configured from the environment
   (``--workers N`` for more processes: on SQLite they contend for the one
   write lock and SQLite's busy handler sleeps, which shows as tail latency —
   keep one process on SQLite, use several on PostgreSQL);
3. signs in every demo client and both therapists through the JSON API
   (before timing: Argon2id is deliberately slow);
4. drives an open-loop load: requests are *scheduled* at a fixed rate
   (``--rate`` per second) whatever the server's speed, sent by a pool of
   threads over keep-alive connections, and each latency is measured from
   the scheduled start to the last byte of the response — so a server that
   falls behind shows it as queueing delay instead of hiding it
   (no coordinated omission);
   * **check-in**: ``POST /api/v1/me/checkins`` — a full PHQ-9 from a
     rotating demo client (score → store → kernel on the client's history →
     alerts → audit, one transaction, durable commit);
   * **caseload**: ``GET /caseload`` — the triage page of a therapist with
     twenty clients;
5. prints count, errors, p50/p95/p99/max in milliseconds per scenario.

Targets (issue 5): p95 <= 100 ms for both at 50 requests/s on SQLite.
The session cookie is ``__Host-`` (Secure), which an HTTP client does not
send over plain http, so the benchmark sends the Cookie header itself.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.console import Console

from twostep.cli.demo import DEMO_PASSWORD, run_demo
from twostep.domain.records import Role
from twostep.instruments.registry import default_catalogue


@dataclass(frozen=True)
class Login:
    cookie: str
    csrf: str


class Connections:
    """One keep-alive HTTP connection per thread."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.local = threading.local()

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, bytes, http.client.HTTPResponse]:
        for attempt in range(2):
            conn = getattr(self.local, "conn", None)
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                self.local.conn = conn
            try:
                conn.request(method, path, body=body, headers=headers or {})
                res = conn.getresponse()
                data = res.read()
                return res.status, data, res
            except (ConnectionError, http.client.HTTPException):
                conn.close()
                self.local.conn = None
                if attempt:
                    raise
        raise AssertionError("unreachable")


def sign_in(conns: Connections, email: str) -> Login:
    body = json.dumps({"email": email, "password": DEMO_PASSWORD}).encode()
    status, data, res = conns.request(
        "POST", "/api/v1/session", body, {"Content-Type": "application/json"}
    )
    if status != 201:
        raise RuntimeError(f"sign-in of {email} failed: {status} {data[:200]!r}")
    cookie = res.getheader("set-cookie", "").split(";", 1)[0]
    return Login(cookie, json.loads(data)["csrf_token"])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start_server(
    database: Path, norms: tuple[Path, ...], port: int, workers: int = 1
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "TWOSTEP_DATABASE_URL": f"sqlite:///{database}",
        "TWOSTEP_NORMS_PATHS": json.dumps([str(p) for p in norms]),
    }
    cmd = [
        sys.executable, "-m", "uvicorn", "twostep.web.serve:app",
        "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
        "--no-server-header", "--workers", str(workers),
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError("the server exited") from None
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the server did not start")


def drive(
    send: Callable[[int], int], rate: float, seconds: float, threads: int
) -> tuple[np.ndarray, int]:
    """Open-loop load: request i is due at start + i/rate; latency counts from that moment."""
    n = int(rate * seconds)
    latencies = np.full(n, np.nan)
    errors = 0
    lock = threading.Lock()
    start = time.perf_counter() + 0.2

    def one(i: int) -> None:
        nonlocal errors
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        try:
            status = send(i)
        except Exception:  # any failure counts as an error
            status = 0
        latencies[i] = time.perf_counter() - due
        if status >= 400 or status == 0:
            with lock:
                errors += 1

    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(one, range(n)))
    return latencies * 1000.0, errors


def phq9_answers(i: int) -> dict[str, int]:
    rng = np.random.default_rng(i)
    items = rng.integers(0, 3, size=8).tolist()
    return {**{f"item_{k + 1}": int(v) for k, v in enumerate(items)}, "item_9": 0, "item_10": 1}


def report(name: str, ms: np.ndarray, errors: int, rate: float) -> bool:
    p50, p95, p99 = np.percentile(ms, [50, 95, 99])
    ok = p95 <= 100.0 and errors == 0
    print(
        f"{name:<10} {len(ms):>6,} requests at {rate:g}/s: p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  "
        f"p99 {p99:6.1f} ms  max {ms.max():7.1f} ms  errors {errors}  "
        f"target p95 <= 100 ms: {'met' if ok else 'NOT met'}"
    )
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--threads", type=int, default=32)
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="uvicorn worker processes (twostep serve --workers); on SQLite keep 1",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        files = run_demo(Path(tmp), default_catalogue(), Console(quiet=True))
        port = free_port()
        server = start_server(files.database, files.norms, port, args.workers)
        try:
            conns = Connections(port)
            clients = [
                sign_in(conns, u.email)
                for u in files.clinic.users
                if u.roles == frozenset({Role.CLIENT})
            ]
            therapists = [
                sign_in(conns, email) for role, email, _ in files.logins if role == "therapist"
            ]
            print(f"demo clinic: {len(clients)} clients, {len(therapists)} therapists; warming up")

            def checkin(i: int) -> int:
                who = clients[i % len(clients)]
                body = json.dumps({"instrument_id": "phq9", "answers": phq9_answers(i)}).encode()
                status, _, _ = conns.request(
                    "POST",
                    "/api/v1/me/checkins",
                    body,
                    {
                        "Content-Type": "application/json",
                        "Cookie": who.cookie,
                        "X-CSRF-Token": who.csrf,
                    },
                )
                return status

            def caseload(i: int) -> int:
                who = therapists[i % len(therapists)]
                status, _, _ = conns.request("GET", "/caseload", None, {"Cookie": who.cookie})
                return status

            for i in range(20):  # warm-up: imports, numba caches, SQLite pages
                checkin(10_000 + i)
                caseload(i)
            ok = True
            for name, send in (("check-in", checkin), ("caseload", caseload)):
                ms, errors = drive(send, args.rate, args.seconds, args.threads)
                ok &= report(name, ms, errors, args.rate)
        finally:
            server.terminate()
            server.wait(timeout=10)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
