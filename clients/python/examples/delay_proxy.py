#!/usr/bin/env python3
"""A slow envd on demand: a ZeroMQ forwarder that holds each request a while.

    python3 clients/python/examples/delay_proxy.py --backend tcp://127.0.0.1:5555 \
        --bind tcp://127.0.0.1:5556 --delay 0.02

Clients connect to ``--bind`` as they would to envd; every request waits
``--delay`` seconds there and then goes on to ``--backend`` (a real envd),
whose replies come back at once. To envd each client keeps a connection of
its own (one DEALER per client routing id), so several clients, and several
requests in flight from one, behave as without the proxy, only later. The
async example (``async_two_servers.py``) and the tests use it, in a thread,
as :class:`DelayProxy`, to make one of two servers slow. ``gate`` (tests
only) holds the j-th request until ``gate(j)`` is true, to prove an order
of events without measuring time.
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import threading
import time
from typing import Callable

import zmq


class DelayProxy:
    """ROUTER ``endpoint`` -> (``delay`` seconds) -> envd at ``backend``."""

    def __init__(self, backend: str, delay: float = 0.0, bind: str = "tcp://127.0.0.1",
                 gate: Callable[[int], bool] | None = None):
        self.backend, self.delay, self.gate = backend, float(delay), gate
        self.requests = 0  # requests received so far
        self._bind = bind
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="delay-proxy", daemon=True)
        self._thread.start()
        if not self._ready.wait(10) or self._error is not None:
            raise RuntimeError(f"delay proxy did not start: {self._error}")

    def _run(self) -> None:
        ctx = zmq.Context.instance()
        front = ctx.socket(zmq.ROUTER)
        front.setsockopt(zmq.LINGER, 0)
        backs: dict[bytes, zmq.Socket] = {}  # client routing id -> its DEALER to envd
        owner: dict[zmq.Socket, bytes] = {}
        held: list = []  # (due, seq, routing id, body, number)
        seq = itertools.count()
        try:
            if self._bind.count(":") >= 2:  # tcp://host:port
                front.bind(self._bind)
                self.endpoint = self._bind
            else:
                port = front.bind_to_random_port(self._bind)
                self.endpoint = f"{self._bind}:{port}"
        except zmq.ZMQError as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        poller = zmq.Poller()
        poller.register(front, zmq.POLLIN)
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                wait = 20 if not held else max(0, min(20, int((held[0][0] - now) * 1000) + 1))
                for sock, _ in poller.poll(wait):
                    if sock is front:
                        rid, body = front.recv_multipart()
                        self.requests += 1
                        heapq.heappush(held, (now + self.delay, next(seq), rid, body, self.requests))
                    else:
                        front.send_multipart([owner[sock], sock.recv()])
                now = time.monotonic()
                while held and held[0][0] <= now and (self.gate is None or self.gate(held[0][4])):
                    _, _, rid, body, _ = heapq.heappop(held)
                    back = backs.get(rid)
                    if back is None:
                        back = backs[rid] = ctx.socket(zmq.DEALER)
                        back.setsockopt(zmq.LINGER, 0)
                        back.connect(self.backend)
                        owner[back] = rid
                        poller.register(back, zmq.POLLIN)
                    back.send(body)
        finally:
            front.close(0)
            for back in backs.values():
                back.close(0)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> bool:
        self.close()
        return False


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backend", required=True, help="the envd to forward to")
    p.add_argument("--bind", default="tcp://127.0.0.1:5556", help="where clients connect")
    p.add_argument("--delay", type=float, default=0.01, help="seconds each request is held")
    args = p.parse_args()
    proxy = DelayProxy(args.backend, args.delay, args.bind)
    print(f"forwarding {proxy.endpoint} -> {args.backend} with {args.delay:g} s per request "
          "(Ctrl-C stops)", flush=True)
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        proxy.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
