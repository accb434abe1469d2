"""Fixtures for the Python client tests: live envd processes and the golden data.

Every test talks to a real build/envd over real sockets. The envd fixtures
bind an ephemeral loopback port (found by binding port 0 first), wait until
envd answers a ping, and at the end stop it with SIGTERM and check that it
exited cleanly. Nothing here waits without a bound.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import zmq

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "clients" / "python"))
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "clients" / "python" / "examples"))  # delay_proxy

import skip_policy  # noqa: E402
from envd_client._proto import pb  # noqa: E402


def pytest_configure(config):
    # A skip fails the run unless ALLOW_SKIP=1 (tests/skip_policy.py).
    skip_policy.register(config)

# TEST_BUILD: the build folder whose envd runs (make asan sets build-asan).
ENVD = REPO / os.environ.get("TEST_BUILD", "build") / "envd"
AGENTD = REPO / os.environ.get("TEST_BUILD", "build") / "agentd"
GOLDEN = REPO / "tests" / "data" / "cartpole_v1_public.jsonl"
START_TIMEOUT = 5.0
STOP_TIMEOUT = 5.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class EnvdProcess:
    """One build/envd process on a loopback endpoint."""

    def __init__(self, log_dir: Path, *args: str, endpoint: str | None = None):
        self.endpoint = endpoint or f"tcp://127.0.0.1:{free_port()}"
        self.args = list(args)
        self.log_dir = log_dir
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def start(self) -> "EnvdProcess":
        if not ENVD.exists():
            pytest.fail(f"{ENVD} is missing: run `make` first")
        self.starts += 1
        self.log_path = self.log_dir / f"envd-{self.starts}.log"
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([str(ENVD), "--bind", self.endpoint, *self.args],
                                     stdout=self._log, stderr=subprocess.STDOUT)
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        ctx = zmq.Context.instance()
        deadline = time.monotonic() + START_TIMEOUT
        req = pb.Request(major=1, id=1)
        req.ping.payload = b"ready?"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"envd exited with {self.proc.returncode} at start:\n{self.log()}")
            sock = ctx.socket(zmq.DEALER)
            sock.setsockopt(zmq.LINGER, 0)
            sock.setsockopt(zmq.RCVTIMEO, 200)
            try:
                sock.connect(self.endpoint)
                sock.send(req.SerializeToString())
                rep = pb.Response.FromString(sock.recv())
                if rep.ping.payload == b"ready?":
                    return
            except zmq.Again:
                pass
            finally:
                sock.close(0)
        self.kill()
        pytest.fail(f"envd did not answer on {self.endpoint} within {START_TIMEOUT} s:\n{self.log()}")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> int:
        """SIGTERM, then wait (bounded); returns the exit status."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"envd ignored SIGTERM for {STOP_TIMEOUT} s")
        finally:
            self._log.close()

    def kill(self) -> None:
        """SIGKILL: the server vanishes without a word, as in a crash."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(STOP_TIMEOUT)
        if hasattr(self, "_log"):
            self._log.close()

    def pause(self) -> None:
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.proc.pid, signal.SIGCONT)


def _stop_clean(server: EnvdProcess) -> None:
    rc = server.stop()
    assert rc == 0, f"envd exited with status {rc} after SIGTERM:\n{server.log()}"


@pytest.fixture(scope="session")
def envd(tmp_path_factory):
    """The shared envd for most tests (default settings)."""
    server = EnvdProcess(tmp_path_factory.mktemp("envd")).start()
    yield server
    _stop_clean(server)


@pytest.fixture(scope="session")
def envd_short_ttl(tmp_path_factory):
    """An envd that reclaims sessions idle for 0.3 s."""
    server = EnvdProcess(tmp_path_factory.mktemp("envd-ttl"), "--session-ttl", "0.3").start()
    yield server
    _stop_clean(server)


@pytest.fixture
def envd_private(tmp_path):
    """An envd of the test's own, which the test may kill, pause or restart."""
    server = EnvdProcess(tmp_path).start()
    yield server
    if server.proc.poll() is None:
        server.resume()
        server.stop()


@pytest.fixture(scope="session")
def endpoint(envd) -> str:
    return envd.endpoint


@pytest.fixture(scope="session")
def endpoints3(envd, tmp_path_factory):
    """Three envd servers (the shared one and two more), for vector envs
    spread over several servers."""
    more = [EnvdProcess(tmp_path_factory.mktemp(f"envd-{k}")).start() for k in (2, 3)]
    yield [envd.endpoint] + [s.endpoint for s in more]
    for server in more:
        _stop_clean(server)


@pytest.fixture(scope="session")
def golden() -> list[dict]:
    with open(GOLDEN) as f:
        cases = [json.loads(line) for line in f if line.strip()]
    assert len(cases) > 100, "golden file looks truncated"
    return cases


@pytest.fixture(scope="session")
def golden_by_id(golden) -> dict[str, dict]:
    return {c["case_id"]: c for c in golden}
