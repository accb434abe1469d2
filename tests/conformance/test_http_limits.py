"""The metrics listener under descriptor pressure (docs/security.md, "HTTP
connections and descriptors").

build/envd runs under `prlimit --nofile=64:64` with --metrics on an
ephemeral loopback port. Twice as many idle HTTP connections as the limit
are opened and left silent; envd must keep descriptors for ZeroMQ all the
same: a ZeroMQ client that connects during the attack is served and plays a
seeded golden episode bit for bit, as does a neighbour that connected
before it and steps between the attacking connections. Afterwards every
idle connection has been closed by envd within a bounded wait, /metrics
accounts for each of them (refused at the cap, or timed out) and envd
still answers ping.

The timeouts are given as their environment twins: an envd built before
they existed ignores them and fails here on the point itself, a ZeroMQ
client it cannot accept.
"""

from __future__ import annotations

import json
import selectors
import socket
import sys
import time
import urllib.request
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from procs import GOLDEN, Envd, free_port  # noqa: E402
from test_conformance import GOLDEN_CASE, Golden  # noqa: E402

NOFILE = 64
ATTACK = 2 * NOFILE          # idle connections opened: more than the limit
HEADER_TIMEOUT_S = 4.0
IDLE_TIMEOUT_S = 2.0
CLOSE_WAIT_S = HEADER_TIMEOUT_S + 20  # bound on waiting for envd to close them


@pytest.fixture
def golden_case():
    with open(GOLDEN) as f:
        return next(c for c in map(json.loads, f) if c["case_id"] == GOLDEN_CASE)


def start_envd(tmp_path, monkeypatch, nofile: str) -> Envd:
    monkeypatch.setenv("ENVD_METRICS_HEADER_TIMEOUT", str(HEADER_TIMEOUT_S))
    monkeypatch.setenv("ENVD_METRICS_IDLE_TIMEOUT", str(IDLE_TIMEOUT_S))
    mport = free_port()
    s = Envd(tmp_path, "--metrics", f"127.0.0.1:{mport}",
             prefix=("prlimit", f"--nofile={nofile}", "--"))
    s.mport = mport
    return s


def metrics(port: int) -> dict[str, float]:
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    out = {}
    for line in body.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def wait_closed(socks: list[socket.socket], timeout: float) -> int:
    """Waits until envd has closed each socket (EOF or reset); returns how
    many are still open when the time is up."""
    sel = selectors.DefaultSelector()
    for s in socks:
        sel.register(s, selectors.EVENT_READ)
    left = len(socks)
    deadline = time.monotonic() + timeout
    while left and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=0.2):
            try:
                data = key.fileobj.recv(256)
            except ConnectionError:
                data = b""
            assert data == b"", f"an idle connection was sent {data!r}"
            sel.unregister(key.fileobj)
            left -= 1
    sel.close()
    return left


def test_idle_http_connections_beyond_the_fd_limit_leave_zeromq_served(tmp_path, monkeypatch,
                                                                        golden_case):
    with start_envd(tmp_path, monkeypatch, f"{NOFILE}:{NOFILE}") as server:
        neighbour = Golden(server, golden_case)
        idle: list[socket.socket] = []
        try:
            for i in range(ATTACK):
                idle.append(socket.create_connection(("127.0.0.1", server.mport), timeout=10))
                if i % 8 == 7:
                    neighbour.step()
            assert server.ping(timeout_ms=5000), \
                f"a new ZeroMQ client was not served during the attack:\n{server.log()}"
            newcomer = Golden(server, golden_case)  # connects while the idle ones are open
            while not newcomer.done:
                newcomer.step()
            newcomer.sock.close(0)
            while not neighbour.done:
                neighbour.step()
            left = wait_closed(idle, CLOSE_WAIT_S)
            assert left == 0, f"{left} idle HTTP connections still open after {CLOSE_WAIT_S} s"
        finally:
            for s in idle:
                s.close()
            neighbour.sock.close(0)
        m = metrics(server.mport)
        cap = m["envd_http_connections_max"]
        assert 1 <= cap < NOFILE / 2, m
        assert m["envd_http_connections_open"] == 1, m  # the scrape itself
        assert m["envd_http_connections_timed_out_total"] >= cap, m
        assert m["envd_http_connections_refused_total"] > 0, m
        assert (m["envd_http_connections_refused_total"]
                + m["envd_http_connections_timed_out_total"]) == ATTACK, m
        assert m["envd_http_listener_paused_total"] == 0, m
        assert server.ping(), "envd stopped answering after the attack"
        assert server.proc.poll() is None, server.log()


def test_slow_headers_are_cut_at_the_header_timeout(tmp_path, monkeypatch):
    """One byte every quarter second never trips the idle timeout (2 s), but
    the request is never complete: envd closes it at the header timeout."""
    with start_envd(tmp_path, monkeypatch, f"{NOFILE}:{NOFILE}") as server:
        request = b"GET /metrics HTTP/1.0\r\nX-Slow: " + b"." * 100
        s = socket.create_connection(("127.0.0.1", server.mport), timeout=10)
        closed_after = None
        try:
            for i, byte in enumerate(request):
                try:
                    s.sendall(bytes([byte]))
                except ConnectionError:
                    closed_after = i
                    break
                if wait_closed([s], 0.25) == 0:
                    closed_after = i + 1
                    break
        finally:
            s.close()
        assert closed_after is not None, "envd never closed a request that did not end"
        assert closed_after < len(request)
        m = metrics(server.mport)
        assert m["envd_http_connections_timed_out_total"] == 1, m
        assert server.ping()


def test_the_soft_descriptor_limit_is_raised_to_the_hard_one(tmp_path, monkeypatch):
    with start_envd(tmp_path, monkeypatch, f"{NOFILE}:{4 * NOFILE}") as server:
        with open(f"/proc/{server.proc.pid}/limits") as f:
            line = next(ln for ln in f if ln.startswith("Max open files"))
        assert line.split()[3:5] == [str(4 * NOFILE)] * 2, line
        assert f"RLIMIT_NOFILE raised from {NOFILE} to the hard limit {4 * NOFILE}" in server.log()
