"""RL-01: kill -9 the server again and again under check-in load; nothing acknowledged is lost.

Run:  python benchmarks/durability.py                        (SQLite, 60 s, 6 kills)
      python benchmarks/durability.py --postgresql           (a throwaway durable cluster)
      python benchmarks/durability.py --seconds 20 --kills 3 --clients 4
      python benchmarks/durability.py --no-keys --seconds 30 --kills 3   (negative control)

What it does, on loopback:

1. creates a fresh database (SQLite file in a temporary folder, or a
   PostgreSQL cluster with its durable defaults — fsync, synchronous_commit
   and full_page_writes on), migrates it and adds one clinic, one therapist
   and ``--clients`` clients, each with an open episode;
2. starts the app as `twostep serve` does — ``python -m uvicorn
   twostep.web.serve:app`` with ``TWOSTEP_DATABASE_URL`` — and signs every
   client in through ``POST /api/v1/session`` (server-side sessions survive a
   restart, so the cookies stay valid);
3. one writer thread per client submits PHQ-9 check-ins
   (``POST /api/v1/me/checkins``) as fast as the server answers. Each
   submission's answers are unique per client (its sequence number in base 4
   across items 1-8), a quarter of them answer item 9 with 1 (a risk answer:
   one risk alert each), and each carries its own ``Idempotency-Key``. The
   attempt is logged client-side *before* it is sent;
4. a supervisor sends SIGKILL to the server ``--kills`` times at random
   moments (one in each equal slice of the run) and restarts it at once.
   A writer whose request failed (connection refused, reset, no answer)
   resends the same request with the same key until it is acknowledged
   (``--no-retry``: it gives up on that submission and moves on; it may or
   may not have been stored). ``--no-keys`` resends without the key — the
   negative control: a kill between commit and reply then stores the
   submission twice, and the run must FAIL;
5. at the end it stops the server and checks the database:

   * every acknowledged write (HTTP 201 with its ``administration_id``) is
     stored, exactly once, with the answers that were sent (0 lost);
   * every stored submission was one the writers sent, none twice (a resent
     request is stored once: the idempotency key);
   * no half-stored questionnaire: every stored submission has all 9
     answers and its score, every risk submission exactly one risk alert, no
     risk alert without its submission;
   * one audit row (create / administration / ok) per stored submission;
   * the audit hash chain verifies (`twostep.storage.audit.verify_chain`);
   * SQLite: ``PRAGMA integrity_check`` is ok and ``foreign_key_check`` empty.

It prints a summary and exits 1 when any check fails. `run` is also what
tests/trust/test_kill9.py calls for its short CI version.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from twostep.config import Settings
from twostep.domain.records import Assignment, Clinic, Episode, Role, User, new_id
from twostep.security.passwords import Hasher
from twostep.storage import tables as t
from twostep.storage.audit import verify_chain
from twostep.storage.engine import engine_from_settings
from twostep.storage.migrate import upgrade
from twostep.storage.unit_of_work import SqlUnitOfWorkFactory

PASSWORD = "kill nine durability passphrase"
CHECKINS = "/api/v1/me/checkins"
#: cheap hashes for the accounts the script creates (the server verifies whatever it finds)
FAST_HASHER = Hasher(time_cost=1, memory_cost=1024, parallelism=1)


# -- the database ------------------------------------------------------------------------------


def populate(url: str, clients: int) -> list[str]:
    """Migrate ``url`` and add one clinic, a therapist and ``clients`` clients; their e-mails."""
    upgrade(url)
    engine = engine_from_settings(Settings(database_url=url))
    factory = SqlUnitOfWorkFactory(engine)
    now = datetime.now(UTC)
    clinic = Clinic(
        new_id(), "durability clinic", "Call 116 123.", "", created_at=now - timedelta(days=90)
    )
    digest = FAST_HASHER.hash(PASSWORD)
    emails = []
    with factory() as uow:
        uow.clinics.add(clinic)
        ther = User(
            new_id(),
            clinic.id,
            "ther@kill9.example",
            "Therapist",
            frozenset({Role.THERAPIST}),
            True,
            now - timedelta(days=60),
        )
        uow.users.add(ther)
        for i in range(clients):
            email = f"client{i:02d}@kill9.example"
            user = User(
                new_id(),
                clinic.id,
                email,
                f"Client {i}",
                frozenset({Role.CLIENT}),
                True,
                now - timedelta(days=60),
            )
            uow.users.add(user)
            uow.users.set_password_hash(user.id, digest)
            uow.assignments.add(
                Assignment(new_id(), clinic.id, ther.id, user.id, now - timedelta(days=30))
            )
            uow.episodes.add(Episode(new_id(), clinic.id, user.id, date.today()))
            emails.append(email)
        uow.commit()
    engine.dispose()
    return emails


# -- the server --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Server:
    """`twostep serve`'s app in a uvicorn subprocess that can be killed and restarted."""

    def __init__(self, url: str, port: int, log: Path, workers: int = 1) -> None:
        self.url = url
        self.port = port
        self.log = log
        self.workers = workers  # uvicorn worker processes (benchmarks/load_mixed.py)
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.start_seconds: list[float] = []

    def start(self) -> None:
        env = {**os.environ, "TWOSTEP_DATABASE_URL": self.url}
        cmd = [
            sys.executable, "-m", "uvicorn", "twostep.web.serve:app",
            "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning",
            "--no-server-header", "--workers", str(self.workers),
        ]  # fmt: skip
        t0 = time.monotonic()
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
        deadline = t0 + 60
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    self.starts += 1
                    self.start_seconds.append(time.monotonic() - t0)
                    return
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"the server exited; see {self.log}") from None
                time.sleep(0.05)
        self.proc.kill()
        raise RuntimeError("the server did not start within 60 s")

    def kill9(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)


# -- the writers -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Login:
    email: str
    cookie: str
    csrf: str


def request(
    port: int, method: str, path: str, body: bytes, headers: dict[str, str], timeout: float = 30
) -> tuple[int, bytes, http.client.HTTPResponse]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers)
        res = conn.getresponse()
        return res.status, res.read(), res
    finally:
        conn.close()


def sign_in(port: int, email: str) -> Login:
    body = json.dumps({"email": email, "password": PASSWORD}).encode()
    status, data, res = request(
        port, "POST", "/api/v1/session", body, {"Content-Type": "application/json"}
    )
    if status != 201:
        raise RuntimeError(f"sign-in of {email} failed: {status} {data[:200]!r}")
    cookie = (res.getheader("set-cookie") or "").split(";", 1)[0]
    return Login(email, cookie, json.loads(data)["csrf_token"])


def answers_for(seq: int, risk: bool) -> dict[str, int]:
    """Unique answers per sequence number (base 4 over items 1-8); item 9 is the risk item."""
    digits = [(seq // 4**k) % 4 for k in range(8)]
    return {**{f"item_{k + 1}": d for k, d in enumerate(digits)}, "item_9": 1 if risk else 0}


@dataclass
class Attempt:
    """One submission as the client logged it before sending."""

    email: str
    seq: int
    key: str
    answers: dict[str, int]
    risk: bool
    sends: int = 0
    acked_id: str | None = None
    replayed: bool = False  # the answer came from the key's stored answer (committed before)
    statuses: list[int] = field(default_factory=list)


@dataclass
class Log:
    attempts: list[Attempt] = field(default_factory=list)
    connection_errors: int = 0
    refused: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, a: Attempt) -> None:
        with self.lock:
            self.attempts.append(a)


def writer(
    port: int, login: Login, log: Log, stop: threading.Event, retry: bool, keys: bool, seed: int
) -> None:
    rng = random.Random(seed)
    seq = 0
    headers = {
        "Content-Type": "application/json",
        "Cookie": login.cookie,
        "X-CSRF-Token": login.csrf,
    }
    while not stop.is_set():
        risk = rng.random() < 0.25
        a = Attempt(login.email, seq, str(uuid.uuid4()), answers_for(seq, risk), risk)
        seq += 1
        log.add(a)  # logged before it is sent
        body = json.dumps({"instrument_id": "phq9", "answers": a.answers}).encode()
        # once stop is set, an unacknowledged request is still resent for a while (to settle it)
        settle_until: float | None = None
        while True:
            a.sends += 1
            try:
                key = {"Idempotency-Key": a.key} if keys else {}
                status, data, res = request(port, "POST", CHECKINS, body, {**headers, **key})
            except ConnectionRefusedError:
                # the server is down and nothing was sent: wait for it, then send again
                a.sends -= 1
                with log.lock:
                    log.refused += 1
                if stop.is_set():
                    settle_until = settle_until or time.monotonic() + 30
                    if time.monotonic() > settle_until:
                        break
                time.sleep(0.05)
                continue
            except (OSError, http.client.HTTPException):
                # sent, but no answer: it may or may not have been stored
                with log.lock:
                    log.connection_errors += 1
                if not retry:
                    break
                if stop.is_set():
                    settle_until = settle_until or time.monotonic() + 30
                    if time.monotonic() > settle_until:
                        break
                time.sleep(0.05)
                continue
            a.statuses.append(status)
            if status == 201:
                a.acked_id = str(json.loads(data)["administration_id"])
                a.replayed = res.getheader("Idempotent-Replayed") == "true"
            break


# -- the checks --------------------------------------------------------------------------------


@dataclass
class Report:
    backend: str
    seconds: float
    kills: int
    attempts: int
    acked: int
    sends: int
    connection_errors: int
    replayed: int
    refused: int
    other_statuses: dict[int, int]
    stored: int
    stored_unacked: int
    lost: list[str]
    duplicates: list[str]
    unknown: list[str]
    wrong_content: list[str]
    half_stored: list[str]
    risk_sent_acked: int
    risk_alert_problems: list[str]
    audit_problems: list[str]
    chain_broken_at: int | None
    integrity: list[str]
    restart_seconds: list[float]

    @property
    def ok(self) -> bool:
        return not (
            self.lost
            or self.duplicates
            or self.unknown
            or self.wrong_content
            or self.half_stored
            or self.risk_alert_problems
            or self.audit_problems
            or self.chain_broken_at is not None
            or self.integrity
            or self.acked == 0
        )

    def lines(self) -> list[str]:
        rs = self.restart_seconds
        restart = f"{sum(rs) / len(rs):.2f} s mean, {max(rs):.2f} s max" if rs else "-"
        return [
            f"backend {self.backend}: {self.seconds:.0f} s of load, {self.kills} kill -9",
            f"  submissions logged {self.attempts:,}, acknowledged (201) {self.acked:,} "
            f"({self.acked / self.seconds:.1f}/s), requests sent {self.sends:,}, "
            f"cut by a kill (sent, no answer) {self.connection_errors:,}, refused while down "
            f"{self.refused:,}, other statuses {self.other_statuses}",
            f"  retries answered from the stored answer (the kill came after the commit): "
            f"{self.replayed}",
            f"  server start after kill: {restart}",
            f"  stored {self.stored:,} (of which stored but never acknowledged: "
            f"{self.stored_unacked})",
            f"  acknowledged but missing (lost): {len(self.lost)}",
            f"  stored twice: {len(self.duplicates)}; stored but never sent: {len(self.unknown)}; "
            f"content differs: {len(self.wrong_content)}",
            f"  half-stored questionnaires: {len(self.half_stored)}",
            f"  acknowledged risk submissions {self.risk_sent_acked:,}; risk-alert problems: "
            f"{len(self.risk_alert_problems)}",
            f"  audit problems (one create row per stored submission): {len(self.audit_problems)}",
            f"  audit chain: {'intact' if self.chain_broken_at is None else f'broken at row {self.chain_broken_at}'}",
            f"  database integrity: {'ok' if not self.integrity else self.integrity}",
            f"  RESULT: {'PASS' if self.ok else 'FAIL'}",
        ]


def check(
    url: str, log: Log, emails: list[str], backend: str, seconds: float, kills: int, rs: list[float]
) -> Report:
    engine = engine_from_settings(Settings(database_url=url))
    try:
        with engine.connect() as conn:
            users = {
                r.id: r.email for r in conn.execute(sa.select(t.users.c.id, t.users.c.email)).all()
            }
            adms = conn.execute(
                sa.select(
                    t.administrations.c.id,
                    t.administrations.c.client_id,
                    t.administrations.c.answers,
                    t.administrations.c.total,
                    t.administrations.c.risk,
                )
            ).all()
            alerts = conn.execute(
                sa.select(t.alerts.c.id, t.alerts.c.administration_id).where(
                    t.alerts.c.kind == "risk"
                )
            ).all()
            audit = conn.execute(
                sa.select(t.audit_log.c.object_id).where(
                    t.audit_log.c.action == "create",
                    t.audit_log.c.object_type == "administration",
                    t.audit_log.c.outcome == "ok",
                )
            ).all()
            integrity: list[str] = []
            if backend == "sqlite":
                ic = [r[0] for r in conn.exec_driver_sql("PRAGMA integrity_check").all()]
                if ic != ["ok"]:
                    integrity += [f"integrity_check: {x}" for x in ic]
                fk = conn.exec_driver_sql("PRAGMA foreign_key_check").all()
                integrity += [f"foreign_key_check: {tuple(r)}" for r in fk]
        chain = verify_chain(engine)
    finally:
        engine.dispose()

    by_content: dict[tuple[str, str], Attempt] = {}
    for a in log.attempts:
        by_content[(a.email, json.dumps(a.answers, sort_keys=True))] = a
    stored_ids = {r.id for r in adms}
    acked = [a for a in log.attempts if a.acked_id is not None]
    lost = [a.acked_id for a in acked if a.acked_id not in stored_ids]
    seen: dict[tuple[str, str], str] = {}
    duplicates, unknown, wrong, half = [], [], [], []
    acked_ids = {a.acked_id for a in acked}
    ack_by_id = {a.acked_id: a for a in acked}
    for r in adms:
        answers = dict(r.answers)
        if any(answers.get(f"item_{k}") is None for k in range(1, 10)) or r.total is None:
            half.append(r.id)
        content = json.dumps(
            {k: int(v) for k, v in answers.items() if v is not None}, sort_keys=True
        )
        key = (users.get(r.client_id, "?"), content)
        if key in seen:
            duplicates.append(r.id)
        seen[key] = r.id
        if key not in by_content:
            unknown.append(r.id)
        sent = ack_by_id.get(r.id)
        if sent is not None and (
            sent.email != key[0] or json.dumps(sent.answers, sort_keys=True) != content
        ):
            wrong.append(r.id)
    risk_ids = {r.id for r in adms if r.risk}
    alert_count: dict[str, int] = {}
    risk_problems = []
    for al in alerts:
        if al.administration_id not in stored_ids:
            risk_problems.append(f"alert {al.id} without its submission")
        alert_count[al.administration_id] = alert_count.get(al.administration_id, 0) + 1
    for rid in risk_ids:
        if alert_count.get(rid, 0) != 1:
            risk_problems.append(f"{rid}: {alert_count.get(rid, 0)} risk alerts")
    for a in acked:
        if a.risk and a.acked_id not in risk_ids:
            risk_problems.append(f"{a.acked_id}: sent with item 9 = 1, stored without risk")
    audit_count: dict[str, int] = {}
    for row in audit:
        audit_count[row.object_id] = audit_count.get(row.object_id, 0) + 1
    audit_problems = [
        f"{i}: {audit_count.get(i, 0)} audit rows" for i in stored_ids if audit_count.get(i) != 1
    ] + [f"{i}: audit row without submission" for i in audit_count if i not in stored_ids]
    other: dict[int, int] = {}
    for a in log.attempts:
        for s in a.statuses:
            if s != 201:
                other[s] = other.get(s, 0) + 1
    return Report(
        backend=backend,
        seconds=seconds,
        kills=kills,
        attempts=len(log.attempts),
        acked=len(acked),
        sends=sum(a.sends for a in log.attempts),
        connection_errors=log.connection_errors,
        refused=log.refused,
        replayed=sum(1 for a in log.attempts if a.replayed),
        other_statuses=other,
        stored=len(adms),
        stored_unacked=len(stored_ids - acked_ids),
        lost=[x for x in lost if x is not None],
        duplicates=duplicates,
        unknown=unknown,
        wrong_content=wrong,
        half_stored=half,
        risk_sent_acked=sum(1 for a in acked if a.risk),
        risk_alert_problems=risk_problems,
        audit_problems=audit_problems,
        chain_broken_at=chain,
        integrity=integrity,
        restart_seconds=rs,
    )


# -- the run -----------------------------------------------------------------------------------


@contextmanager
def database(postgresql: bool, folder: Path) -> Iterator[tuple[str, str]]:
    """A fresh database URL and the backend's name."""
    if postgresql:
        from twostep.devtools.postgres import throwaway_cluster

        with throwaway_cluster(durable=True) as url:
            yield url, "postgresql"
    else:
        yield f"sqlite:///{folder / 'twostep.db'}", "sqlite"


def run(
    *,
    seconds: float = 60.0,
    kills: int = 6,
    clients: int = 8,
    postgresql: bool = False,
    retry: bool = True,
    keys: bool = True,
    seed: int = 7,
    echo: bool = True,
) -> Report:
    """One RL-01 run (see the module docstring); returns the checked report."""
    rng = random.Random(seed)
    with (
        tempfile.TemporaryDirectory(prefix="twostep-kill9-") as tmp,
        database(postgresql, Path(tmp)) as (url, backend),
    ):
        emails = populate(url, clients)
        server = Server(url, free_port(), Path(tmp) / "server.log")
        server.start()
        log = Log()
        stop = threading.Event()
        restarts: list[float] = []
        try:
            logins = [sign_in(server.port, e) for e in emails]
            threads = [
                threading.Thread(
                    target=writer,
                    args=(server.port, lg, log, stop, retry, keys, seed * 1000 + i),
                    daemon=True,
                )
                for i, lg in enumerate(logins)
            ]
            t0 = time.monotonic()
            for th in threads:
                th.start()
            slice_ = seconds / max(kills, 1)
            moments = sorted(i * slice_ + rng.uniform(0.2, 0.8) * slice_ for i in range(kills))
            for i, when in enumerate(moments):
                delay = t0 + when - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                server.kill9()
                if echo:
                    print(
                        f"  kill -9 #{i + 1} at {time.monotonic() - t0:5.1f} s "
                        f"({sum(1 for a in log.attempts if a.acked_id)} acknowledged so far)"
                    )
                server.start()
                restarts.append(server.start_seconds[-1])
            delay = t0 + seconds - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            elapsed = time.monotonic() - t0
            stop.set()
            for th in threads:
                th.join(timeout=60)
        finally:
            stop.set()
            server.stop()
        report = check(url, log, emails, backend, elapsed, kills, restarts)
    if echo:
        print("\n".join(report.lines()))
    return report


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--kills", type=int, default=6)
    parser.add_argument("--clients", type=int, default=8, help="writer threads (one per client)")
    parser.add_argument("--postgresql", action="store_true", help="a throwaway durable cluster")
    parser.add_argument("--no-retry", action="store_true", help="never resend a failed request")
    parser.add_argument(
        "--no-keys",
        action="store_true",
        help="negative control: resend without Idempotency-Key (expect duplicates: FAIL)",
    )
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    report = run(
        seconds=args.seconds,
        kills=args.kills,
        clients=args.clients,
        postgresql=args.postgresql,
        retry=not args.no_retry,
        keys=not args.no_keys,
        seed=args.seed,
    )
    sys.exit(0 if report.ok else 1)


if __name__ == "__main__":
    main()
