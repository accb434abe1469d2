"""Hostile peers at the ZeroMQ transport, against a live envd.

Two attacks that no request can express, each while a second client plays
a seeded golden episode that must stay bit-identical:

- routing ids: ZeroMQ names each anonymous peer of a ROUTER with a counter
  seeded from the C library's rand(), which nothing seeds, so a peer can
  compute the ids envd will give the next peers and take them first. Stock
  libzmq 4.3.4 then aborts envd (`Assertion failed: ok`) when the next
  anonymous peer arrives. The patched libzmq envd links
  (third_party/libzmq) gives that peer the next free id instead.
- a multipart message that never ends: raw ZMTP frames with the MORE flag.
  libzmq buffers a message whole before delivering it and counts its
  high-water mark in whole messages, so stock libzmq let one connection
  grow envd's memory without bound. The patched libzmq holds
  ZMQ_MAXMSGSIZE against the whole message (each frame charged its 64-byte
  msg_t) and disconnects the peer past it. The test streams 1 GiB of
  such frames, big and empty, reconnecting each time envd cuts it off, and
  envd's peak RSS (VmHWM) must grow by less than 256 MiB.

Every loop is bounded in bytes, connections and time.
"""

from __future__ import annotations

import ctypes
import json
import socket
import struct
import sys
import time
from pathlib import Path

import pytest
import zmq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from procs import GOLDEN, Envd, call, dealer, pb  # noqa: E402
from test_conformance import GOLDEN_CASE, Golden  # noqa: E402

GIB = 1 << 30
HWM_GROWTH_LIMIT_KIB = 256 << 10
ABORT_GROWTH_KIB = 768 << 10  # stock libzmq: stop before the machine suffers


def vm_kib(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} for pid {pid}")


@pytest.fixture()
def server(tmp_path):
    with Envd(tmp_path) as s:
        yield s
        assert s.proc.poll() is None, f"envd died:\n{s.log()}"


def golden_player(server: Envd) -> Golden:
    with open(GOLDEN) as f:
        case = next(c for c in map(json.loads, f) if c["case_id"] == GOLDEN_CASE)
    return Golden(server, case)


def ping(sock: zmq.Socket, n: int) -> None:
    req = pb.Request(major=1, id=n)
    req.ping.payload = b"p%d" % n
    rep = call(sock, req)
    assert rep.status.code == pb.OK and rep.ping.payload == b"p%d" % n


# ---------------------------------------------------------------- routing ids


def next_router_ids(count: int) -> list[bytes]:
    """The routing ids a fresh ROUTER gives its first anonymous peers.

    libzmq 4.3.4 starts the counter at generate_random(): two rand() calls,
    (high << 31 | low) as uint32, without srand(), and names a peer
    [0x00, counter as big-endian uint32]. glibc's rand() in a process that
    never called srand() is seeded with 1, which this recomputes.
    """
    libc = ctypes.CDLL(None)
    libc.srand(1)
    low = libc.rand() & 0xFFFFFFFF
    high = libc.rand() & 0xFFFFFFFF
    first = ((high << 31) | low) & 0xFFFFFFFF
    return [b"\x00" + struct.pack(">I", (first + k) & 0xFFFFFFFF) for k in range(count)]


def test_peers_taking_the_next_routing_ids_do_not_abort_envd(server):
    golden = golden_player(server)  # an anonymous peer: it took the first id
    squatters, anonymous = [], []
    try:
        # Take the ids the next anonymous peers would be given. The first
        # few went to the pings that waited for envd to start and to the
        # neighbour; libzmq ignores a peer that asks for an id in use.
        unanswered = 0
        for k, rid in enumerate(next_router_ids(48)):
            s = dealer(server.endpoint, timeout_ms=1000, routing_id=rid)
            try:
                ping(s, 100 + k)  # answered: the id is attached to this peer
            except zmq.Again:
                unanswered += 1  # the neighbour's id
            squatters.append(s)
        assert unanswered <= 1
        golden.step()
        for k in range(32):
            s = dealer(server.endpoint)  # anonymous: envd names it
            ping(s, 200 + k)
            anonymous.append(s)
            golden.step()
        for k, s in enumerate(squatters):
            try:
                ping(s, 300 + k)  # the squatters are still served
            except zmq.Again:
                unanswered -= 1
        assert unanswered >= 0
        while not golden.done:
            golden.step()
    finally:
        for s in squatters + anonymous:
            s.close(0)
        golden.sock.close(0)
    assert server.proc.poll() is None, f"envd died:\n{server.log()}"
    assert server.ping()


# ------------------------------------------------------- endless multipart


class RawZmtp:
    """A ZMTP 3.0 peer over a plain TCP socket (NULL mechanism, DEALER)."""

    def __init__(self, endpoint: str, timeout: float = 5.0):
        host, port = endpoint[len("tcp://"):].rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        greeting = b"\xff" + b"\x00" * 8 + b"\x7f" + b"\x03\x00" + b"NULL".ljust(20, b"\x00") + b"\x00" * 32
        self.sock.sendall(greeting)
        self._read(64)
        props = b"\x0bSocket-Type" + struct.pack(">I", 6) + b"DEALER"
        body = b"\x05READY" + props
        self.sock.sendall(b"\x04" + bytes([len(body)]) + body)
        flags, size = self._read(2)
        assert flags == 0x04, f"expected READY, got flags {flags:#x}"
        self._read(size)

    def _read(self, n: int) -> bytes:
        out = b""
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                raise ConnectionError("closed during the handshake")
            out += chunk
        return out

    def stream(self, block: bytes, budget: int, check) -> int:
        """Sends block again and again until budget bytes or envd hangs up,
        calling check(bytes sent) after each block; returns the bytes sent."""
        sent = 0
        try:
            while sent < budget:
                self.sock.sendall(block)
                sent += len(block)
                check(sent)
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            pass
        return sent

    def close(self) -> None:
        self.sock.close()


def more_frames(payload: int, count: int) -> bytes:
    """count frames of payload bytes, each with the MORE flag."""
    if payload > 255:
        frame = b"\x03" + struct.pack(">Q", payload) + b"\xab" * payload
    else:
        frame = b"\x01" + bytes([payload]) + b"\xab" * payload
    return frame * count


@pytest.mark.parametrize("payload,count", [(1 << 20, 4), (0, 1 << 19)],
                         ids=["1MiB-frames", "empty-frames"])
def test_a_multipart_message_that_never_ends_holds_bounded_memory(server, payload, count):
    block = more_frames(payload, count)  # ~4 MiB or 1 MiB of wire bytes
    golden = golden_player(server)
    hwm0 = vm_kib(server.proc.pid, "VmHWM")
    sent = connections = 0
    deadline = time.monotonic() + 120

    def check_rss(streamed: int) -> None:
        grown = vm_kib(server.proc.pid, "VmRSS") - hwm0
        assert grown < ABORT_GROWTH_KIB, \
            f"envd's RSS grew by {grown >> 10} MiB after {streamed >> 20} MiB of unfinished messages"

    try:
        while sent < GIB:
            assert time.monotonic() < deadline, f"only {sent >> 20} MiB streamed in 120 s"
            peer = RawZmtp(server.endpoint)
            connections += 1
            sent += peer.stream(block, GIB - sent, lambda n: check_rss(sent + n))
            peer.close()
            golden.step()
        while not golden.done:
            golden.step()
    finally:
        golden.sock.close(0)
    growth = vm_kib(server.proc.pid, "VmHWM") - hwm0
    print(f"\n{sent >> 20} MiB streamed over {connections} connections; VmHWM +{growth >> 10} MiB")
    assert connections > 1, "envd never cut the stream off"
    assert growth < HWM_GROWTH_LIMIT_KIB, f"envd's peak RSS grew by {growth >> 10} MiB"
    assert server.ping()
