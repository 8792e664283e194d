"""A throwaway PostgreSQL cluster on 127.0.0.1, for tests and benchmarks.

Debian keeps the server binaries in ``/usr/lib/postgresql/<version>/bin``
(not on PATH); ``initdb`` refuses to run as root, so as root the cluster is
created and run as the ``postgres`` user with ``runuser``. The socket lives in
the cluster's temporary folder and the server listens on loopback only
(stack-notes.md A.6). ``durable=False`` turns fsync off for speed (tests);
benchmarks and crash tests keep PostgreSQL's durable defaults.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def find_pg_bin() -> Path | None:
    """The newest PostgreSQL server binaries on this machine, or None."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda p: [int(x) for x in p.split("/")[-2].split(".") if x.isdigit()],
    )
    for folder in reversed(found):
        if (Path(folder) / "initdb").exists():
            return Path(folder)
    on_path = shutil.which("initdb")
    return Path(on_path).parent if on_path else None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ThrowawayCluster:
    """initdb + pg_ctl in a temporary folder; `stop` removes everything."""

    def __init__(self, bin_dir: Path, *, durable: bool = False) -> None:
        self.bin = bin_dir
        self.durable = durable
        self.root = Path(tempfile.mkdtemp(prefix="twostep-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.as_root = os.geteuid() == 0
        if self.as_root:
            shutil.chown(self.root, "postgres", "postgres")

    def _run(self, *args: str) -> None:
        cmd = [str(self.bin / args[0]), *args[1:]]
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=120)

    def start(self, database: str = "twostep") -> str:
        """Create and start the cluster and a database; returns its SQLAlchemy URL."""
        self._run(
            "initdb", "-D", str(self.data), "-U", "twostep", "-A", "trust", "-E", "UTF8",
            "--locale=C.UTF-8", *([] if self.durable else ["--no-sync"]),
        )  # fmt: skip
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c max_connections=200"
        )
        if not self.durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"), "-w", "-t", "60",
            "-o", options, "start",
        )  # fmt: skip
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "twostep", database)
        return f"postgresql+psycopg://twostep@127.0.0.1:{self.port}/{database}"

    def log_tail(self) -> str:
        log = self.root / "server.log"
        return log.read_text(errors="replace")[-2000:] if log.exists() else "(no server log)"

    def stop(self) -> None:
        try:
            if self.data.exists():
                self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        except subprocess.CalledProcessError:
            pass
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def throwaway_cluster(*, durable: bool = True) -> Iterator[str]:
    """A running cluster for the duration of the block; yields the database URL."""
    bin_dir = find_pg_bin()
    if bin_dir is None:
        raise RuntimeError("PostgreSQL server binaries (initdb) are not installed")
    cluster = ThrowawayCluster(bin_dir, durable=durable)
    try:
        yield cluster.start()
    finally:
        cluster.stop()
