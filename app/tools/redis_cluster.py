"""`scripts/redis-cluster`: a throwaway Redis Cluster of local `redis-server` processes.

Three primaries and three replicas (`redis-cli --cluster create --cluster-replicas 1`) on free
loopback ports, everything in one temporary directory, nothing persisted. For tests (failover
by a real SIGKILL of a primary) and for trying `collabspace cluster --redis-cluster` and the
load test against sharded pub/sub. It stops exactly the processes it started.

A short `cluster-node-timeout` (1 s) makes a killed primary's replica take over within a few
seconds, so the failover tests stay short; production clusters use longer timeouts.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

READY_TIMEOUT_S = 30.0
NODE_TIMEOUT_MS = 1000
BUS_OFFSET = 10000  # Redis Cluster's bus listens on port + 10000


class RedisClusterError(Exception):
    """The cluster did not form, or a node did not answer."""


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_cluster_ports(count: int) -> list[int]:
    """Ports whose bus port (port + 10000) is free too."""
    ports: list[int] = []
    while len(ports) < count:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port + BUS_OFFSET < 65536 and port not in ports and _free(port + BUS_OFFSET):
            ports.append(port)
    return ports


def cli(port: int, *args: str, timeout: float = 10.0) -> str:
    out = subprocess.run(
        ["redis-cli", "-h", "127.0.0.1", "-p", str(port), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return out.stdout


@dataclass(slots=True)
class LocalRedisCluster:
    primaries: int = 3
    replicas_per_primary: int = 1
    ports: list[int] = field(default_factory=list)
    dir: Path | None = None
    procs: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        """What REDIS_URL takes: every node as a seed, the client finds the rest."""
        return "redis+cluster://" + ",".join(f"127.0.0.1:{p}" for p in self.ports)

    def start(self) -> LocalRedisCluster:
        count = self.primaries * (1 + self.replicas_per_primary)
        self.ports = free_cluster_ports(count)
        self.dir = Path(tempfile.mkdtemp(prefix="cs-redis-cluster-"))
        try:
            for port in self.ports:
                self._spawn(port)
            self._wait(lambda p: cli(p, "ping").strip() == "PONG", self.ports, "answer")
            create = subprocess.run(
                [
                    "redis-cli",
                    "--cluster",
                    "create",
                    *(f"127.0.0.1:{p}" for p in self.ports),
                    "--cluster-replicas",
                    str(self.replicas_per_primary),
                    "--cluster-yes",
                ],
                capture_output=True,
                text=True,
                timeout=READY_TIMEOUT_S,
                check=False,
            )
            if create.returncode != 0:
                raise RedisClusterError(f"cluster create failed: {create.stdout}{create.stderr}")
            self.wait_ok()
        except BaseException:
            self.stop()
            raise
        return self

    def _spawn(self, port: int) -> None:
        assert self.dir is not None
        node_dir = self.dir / str(port)
        node_dir.mkdir(exist_ok=True)
        self.procs[port] = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
                "--cluster-node-timeout",
                str(NODE_TIMEOUT_MS),
                # A replica may take over however long ago it last heard its primary: a test
                # kills a primary moments after the cluster formed.
                "--cluster-replica-validity-factor",
                "0",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(node_dir),
                "--logfile",
                "redis.log",
            ],  # fmt: skip
            cwd=node_dir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            # A terminal's Ctrl-C reaches the caller, which stops the nodes last (after the
            # processes using them), not the nodes directly.
            start_new_session=True,
        )

    def _wait(self, ok: object, ports: list[int], what: str) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        pending = list(ports)
        while pending:
            pending = [p for p in pending if not ok(p)]  # type: ignore[operator]
            if not pending:
                return
            if time.monotonic() > deadline:
                raise RedisClusterError(f"nodes {pending} did not {what}")
            time.sleep(0.1)

    def alive(self) -> list[int]:
        return [p for p, proc in self.procs.items() if proc.poll() is None]

    def wait_ok(self) -> None:
        """Every live node sees the cluster as ok, with every slot served."""

        def ok(port: int) -> bool:
            info = cli(port, "cluster", "info")
            if "cluster_state:ok" not in info or "cluster_slots_ok:16384" not in info:
                return False
            replication = cli(port, "info", "replication")
            # A replica counts once its initial sync is done: only then can it take over.
            return "role:master" in replication or "master_link_status:up" in replication

        self._wait(ok, self.alive(), "see the cluster ok")

    def primary_of(self, key: str) -> int:
        """The port of the live primary that serves `key`'s (or channel's) slot."""
        slot = int(cli(self.alive()[0], "cluster", "keyslot", key).strip())
        for line in cli(self.alive()[0], "cluster", "nodes").splitlines():
            fields = line.split()
            if "master" not in fields[2] or "fail" in fields[2]:
                continue
            for span in fields[8:]:
                low, _, high = span.partition("-")
                if low.isdigit() and int(low) <= slot <= int(high or low):
                    return int(fields[1].split(":")[1].split("@")[0])
        raise RedisClusterError(f"no primary serves slot {slot}")

    def hand_over(self, primary: int) -> int:
        """A planned failover (CLUSTER FAILOVER on one of its replicas): the primary steps down
        without dropping its connections. Returns the promoted replica's port."""
        me = cli(primary, "cluster", "myid").strip()
        for line in cli(primary, "cluster", "nodes").splitlines():
            fields = line.split()
            if fields[3] == me and "slave" in fields[2]:
                replica = int(fields[1].split(":")[1].split("@")[0])
                if cli(replica, "cluster", "failover").strip() != "OK":
                    raise RedisClusterError(f"replica {replica} refused to fail over")
                self._wait(lambda p: cli(p, "role").startswith("master"), [replica], "take over")
                self.wait_ok()
                return replica
        raise RedisClusterError(f"primary {primary} has no replica")

    def kill(self, port: int) -> None:
        """A real crash: SIGKILL, no shutdown, no handover."""
        proc = self.procs.pop(port)
        proc.send_signal(signal.SIGKILL)
        proc.wait()

    def wait_promoted(self, dead: int) -> None:
        """Until a replica serves the dead primary's slots and the cluster is ok again."""

        def promoted(port: int) -> bool:
            nodes = cli(port, "cluster", "nodes")
            return f":{dead}@" in nodes and all(
                "master" not in line.split()[2] or len(line.split()) <= 8
                for line in nodes.splitlines()
                if f":{dead}@" in line
            )

        self._wait(promoted, self.alive(), "promote a replica")
        self.wait_ok()

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs.clear()
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self) -> LocalRedisCluster:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/redis-cluster",
        description="Start a 3-primary + 3-replica Redis Cluster on loopback until Ctrl-C; "
        "prints its REDIS_URL.",
    )
    parser.add_argument("--primaries", type=int, default=3)
    parser.add_argument("--replicas", type=int, default=1, help="replicas per primary")
    args = parser.parse_args(argv)
    with LocalRedisCluster(args.primaries, args.replicas) as cluster:
        print(f"REDIS_URL={cluster.url}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
            while cluster.alive():
                time.sleep(1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
