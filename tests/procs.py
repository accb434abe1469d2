"""Process helpers for the pytest suites that run the real programs
(tests/conformance, tests/faults): build/envd on an ephemeral loopback
port, raw DEALER round trips, RSS from /proc.

Every wait is bounded; a process that does not start or stop in time fails
the test instead of hanging `make test`. Only PIDs started here are
signalled.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import zmq

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "clients" / "python"))

from envd_client._proto import pb  # noqa: E402

# TEST_BUILD: the build folder whose programs run (make asan sets build-asan).
ENVD = REPO / os.environ.get("TEST_BUILD", "build") / "envd"
AGENTD = REPO / os.environ.get("TEST_BUILD", "build") / "agentd"
GOLDEN = REPO / "tests" / "data" / "cartpole_v1_public.jsonl"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def dealer(endpoint: str, timeout_ms: int = 5000, routing_id: bytes | None = None) -> zmq.Socket:
    sock = zmq.Context.instance().socket(zmq.DEALER)
    if routing_id is not None:
        sock.setsockopt(zmq.ROUTING_ID, routing_id)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVTIMEO, timeout_ms)
    sock.setsockopt(zmq.SNDTIMEO, timeout_ms)
    sock.connect(endpoint)
    return sock


def call(sock: zmq.Socket, req: pb.Request) -> pb.Response:
    """One round trip of a well-formed request; raises zmq.Again on timeout."""
    sock.send(req.SerializeToString())
    rep = pb.Response.FromString(sock.recv_multipart()[-1])
    assert rep.id == req.id, f"reply id {rep.id} for request {req.id}"
    return rep


class Envd:
    """One build/envd process on tcp://127.0.0.1:<ephemeral port>."""

    def __init__(self, log_dir: Path, *args: str, start_timeout: float = 10.0,
                 prefix: tuple[str, ...] = ()):
        """prefix: a command envd runs under, e.g. ("prlimit", "--nofile=64:64", "--")."""
        self.endpoint = f"tcp://127.0.0.1:{free_port()}"
        self.log_path = Path(log_dir) / f"envd-{self.endpoint.rsplit(':', 1)[1]}.log"
        self.args = list(args)
        self.start_timeout = start_timeout
        self.prefix = list(prefix)
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Envd":
        assert ENVD.exists(), f"{ENVD} is missing: run `make` first"
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([*self.prefix, str(ENVD), "--bind", self.endpoint, *self.args],
                                     stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"envd exited at start:\n{self.log()}"
            if self.ping(timeout_ms=200):
                return self
        self.kill()
        raise AssertionError(f"envd did not answer within {self.start_timeout} s:\n{self.log()}")

    def ping(self, timeout_ms: int = 2000) -> bool:
        sock = dealer(self.endpoint, timeout_ms)
        try:
            req = pb.Request(major=1, id=7)
            req.ping.payload = b"alive?"
            return call(sock, req).ping.payload == b"alive?"
        except zmq.Again:
            return False
        finally:
            sock.close(0)

    def stats(self) -> pb.StatsReply:
        sock = dealer(self.endpoint)
        try:
            req = pb.Request(major=1, id=8)
            req.stats.SetInParent()
            rep = call(sock, req)
            assert rep.status.code == pb.OK, rep.status.message
            return rep.stats
        finally:
            sock.close(0)

    def rss_kib(self) -> int:
        return rss_kib(self.proc.pid)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self, timeout: float = 10.0) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"envd ignored SIGTERM for {timeout} s")
        finally:
            self._log.close()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        if hasattr(self, "_log"):
            self._log.close()

    def __enter__(self) -> "Envd":
        return self.start()

    def __exit__(self, *exc) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)
            self.stop()
