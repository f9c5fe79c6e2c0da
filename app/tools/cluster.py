"""`collabspace cluster`: one API (with the relay) and K gateway nodes, as local processes.

For scale-out runs on one machine: the API on the base port, gateways on the next K ports, all
against the same PostgreSQL and Redis. Usable as a context manager from tests; it stops exactly
the processes it started (SIGTERM, then SIGKILL after a grace period), never anything else.
"""

from __future__ import annotations

import os
import resource
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

READY_TIMEOUT_S = 60.0
STOP_GRACE_S = 10.0


class ClusterError(Exception):
    """A process of the cluster failed to start or died."""


@dataclass(slots=True)
class Member:
    name: str
    url: str
    health: str
    proc: subprocess.Popen[bytes]
    log: Path


@dataclass(slots=True)
class Cluster:
    database_url: str
    redis_url: str
    gateways: int = 1
    base_port: int = 8000
    host: str = "127.0.0.1"
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    channel_prefix: str = field(default_factory=lambda: f"cs-{secrets.token_hex(4)}")
    extra_env: dict[str, str] = field(default_factory=dict)
    log_dir: Path | None = None
    members: list[Member] = field(default_factory=list)

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.base_port}"

    @property
    def gateway_urls(self) -> list[str]:
        return [f"ws://{self.host}:{self.base_port + k}/ws" for k in range(1, self.gateways + 1)]

    def _env(self, **extra: str) -> dict[str, str]:
        env = {
            **os.environ,
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "SECRET_KEY": self.secret_key,
            "CHANNEL_PREFIX": self.channel_prefix,
            "PROJECT_LIMIT": "100000",
            "MEMBER_LIMIT": "100000",
            "MAX_CONNECTIONS": "100000",
            # Load tests share a few users over many sockets: lift the per-user cap.
            "MAX_CONNECTIONS_PER_USER": "100000",
        }
        env.update(self.extra_env)
        env.update(extra)
        return env

    def start(self) -> Cluster:
        # Children inherit the fd limit: a gateway holding 10,000 sockets needs it raised.
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        self.log_dir = self.log_dir or Path(tempfile.mkdtemp(prefix="collabspace-cluster-"))
        migrate = subprocess.run(
            [sys.executable, "-m", "app.cli", "migrate"],
            env=self._env(),
            capture_output=True,
            timeout=READY_TIMEOUT_S,
            check=False,
        )
        if migrate.returncode != 0:
            raise ClusterError(f"migrate failed: {migrate.stderr.decode()[-2000:]}")
        try:
            self._spawn(
                "api",
                self.api_url,
                ["serve", "--host", self.host, "--port", str(self.base_port)],
                PORT=str(self.base_port),
                EMBEDDED_GATEWAY="0",
                RUN_RELAY="1",
                REALTIME_PUBLIC_URL=self.gateway_urls[0] if self.gateways else "",
            )
            for k, url in enumerate(self.gateway_urls, start=1):
                self._spawn(
                    f"gateway-{k}",
                    url,
                    ["gateway"],
                    REALTIME_HOST=self.host,
                    REALTIME_PORT=str(self.base_port + k),
                    API_URL=self.api_url,
                )
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _spawn(self, name: str, url: str, args: list[str], **env: str) -> None:
        assert self.log_dir is not None
        log = self.log_dir / f"{name}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "app.cli", *args],
                env=self._env(**env),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        http = url.replace("ws://", "http://").removesuffix("/ws")
        self.members.append(Member(name, url, f"{http}/healthz", proc, log))

    def wait_ready(self, timeout_s: float = READY_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout_s
        for member in self.members:
            for _ in range(int(timeout_s / 0.1)):
                self.check_alive()
                if _healthy(member.health):
                    break
                if time.monotonic() > deadline:
                    raise ClusterError(
                        f"{member.name} not healthy after {timeout_s} s: "
                        f"{member.log.read_text()[-2000:]}"
                    )
                time.sleep(0.1)

    def check_alive(self) -> None:
        for member in self.members:
            if member.proc.poll() is not None:
                raise ClusterError(
                    f"{member.name} exited with {member.proc.returncode}: "
                    f"{member.log.read_text()[-2000:]}"
                )

    def pids(self) -> dict[str, int]:
        return {m.name: m.proc.pid for m in self.members}

    def stop(self) -> None:
        # Gateways first (they drain with 1012), then the API and its relay.
        for member in reversed(self.members):
            if member.proc.poll() is None:
                member.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for member in reversed(self.members):
            try:
                member.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                member.proc.kill()
                member.proc.wait(STOP_GRACE_S)
        self.members.clear()

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as reply:
            return bool(reply.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def run_forever(cluster: Cluster) -> int:
    """The CLI: start, print the URLs, supervise until SIGINT/SIGTERM, stop what we started."""
    stopping: list[int] = []

    def on_signal(signum: int, _frame: object) -> None:
        stopping.append(signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        cluster.start()
        print(f"api      {cluster.api_url}  (pid {cluster.members[0].proc.pid})")
        for member in cluster.members[1:]:
            print(f"gateway  {member.url}  (pid {member.proc.pid})")
        print(f"logs     {cluster.log_dir}   channel prefix {cluster.channel_prefix}")
        print("Ctrl-C stops every process above.", flush=True)
        while not stopping:
            cluster.check_alive()
            time.sleep(0.5)
        return 0
    except ClusterError as exc:
        print(f"collabspace cluster: {exc}", file=sys.stderr)
        return 1
    finally:
        cluster.stop()
