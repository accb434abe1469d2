"""Resent requests never act twice (docs/protocol.md, "Retries").

A proxy thread forwards between the client and a live envd and drops
chosen replies on the way back: envd executed the request, only its answer
is lost. The client times out a slice of its timeout, sends the same
request (same id, same client_id) from a fresh socket, and envd answers it
from its reply cache. The episodes must then be exactly what they are with
no loss at all: the golden Gymnasium trajectory, and a batch run replayed
without the proxy.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest
import zmq

import envd_client

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "cartpole_v1_public.jsonl"
# Slices of 1 s: generous on a loaded machine, and a lost reply costs 1 s.
TIMEOUT, ATTEMPTS = 8.0, 8


class LossyProxy:
    """ROUTER (for the client) <-> DEALER (to envd), dropping the replies
    whose 1-based numbers are in ``drop``. Replies go to the routing id of
    the last request, i.e. to the client's newest socket."""

    def __init__(self, backend: str, drop):
        self.backend, self.drop = backend, set(drop)
        self.requests = self.replies = self.dropped = 0
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        assert self._ready.wait(10), "proxy did not start"

    def _run(self):
        ctx = zmq.Context.instance()
        front, back = ctx.socket(zmq.ROUTER), ctx.socket(zmq.DEALER)
        front.setsockopt(zmq.LINGER, 0)
        back.setsockopt(zmq.LINGER, 0)
        port = front.bind_to_random_port("tcp://127.0.0.1")
        back.connect(self.backend)
        self.endpoint = f"tcp://127.0.0.1:{port}"
        self._ready.set()
        poller = zmq.Poller()
        poller.register(front, zmq.POLLIN)
        poller.register(back, zmq.POLLIN)
        rid = None
        try:
            while not self._stop.is_set():
                events = dict(poller.poll(20))
                if front in events:
                    rid, body = front.recv_multipart()
                    back.send(body)
                    self.requests += 1
                if back in events:
                    body = back.recv()
                    self.replies += 1
                    if self.replies in self.drop:
                        self.dropped += 1
                    else:
                        front.send_multipart([rid, body])
        finally:
            front.close(0)
            back.close(0)

    def close(self):
        self._stop.set()
        self._thread.join(10)
        assert not self._thread.is_alive()


@pytest.fixture
def lossy(endpoint):
    proxies = []

    def make(drop):
        p = LossyProxy(endpoint, drop)
        proxies.append(p)
        return p

    yield make
    for p in proxies:
        p.close()


def bits(hexes) -> np.ndarray:
    return np.array([int(h, 16) for h in hexes], dtype=np.uint32)


def test_lost_replies_are_resent_and_the_golden_episode_is_unchanged(lossy):
    case = json.loads(GOLDEN.read_text().splitlines()[0])
    assert case["case_id"] == "public/random/0"
    proxy = lossy(drop=[1, 3, 9, 20])
    with envd_client.Client(proxy.endpoint, timeout=TIMEOUT, attempts=ATTEMPTS) as c:
        env = envd_client.EnvdEnv(case["env_id"], client=c, **case["make_kwargs"])
        for k, seg in enumerate(case["segments"]):
            obs, _ = env.reset(seed=None if seg["reset_seed_str"] is None else int(seg["reset_seed_str"]))
            np.testing.assert_array_equal(obs.view(np.uint32), bits(seg["initial_obs_hex"]))
            for st in seg["steps"]:
                obs, reward, terminated, truncated, _ = env.step(st["action"])
                where = f"segment {k} step {st['t']}"
                np.testing.assert_array_equal(obs.view(np.uint32), bits(st["obs_hex"]), err_msg=where)
                assert (reward, terminated, truncated) == (st["reward"], st["terminated"],
                                                            st["truncated"]), where
        env.close()
        assert proxy.dropped == 4
        assert c.resends >= 4 and c.reconnects == 0
        # Every copy that reached envd was answered once; the extra copies
        # are the resends.
        assert proxy.requests - (proxy.replies - proxy.dropped) >= 4


def batch_run(client, n_steps=40, seeds=(11, 12, 13, 14)):
    """make, seeded reset_batch, then step_batch with fixed actions (next-step
    autoreset): every reply's bytes that matter, in order."""
    ids = list(client.make("CartPole-v1", count=len(seeds)).sessions)
    out = [client.reset_batch(ids, list(seeds)).tobytes()]
    rng = np.random.default_rng(5)
    for _ in range(n_steps):
        rep = client.step_batch(ids, rng.integers(0, 2, len(ids)))
        out.append(rep.observations.data + rep.rewards + rep.terminated + rep.truncated
                   + rep.autoreset)
    client.close_sessions(ids)
    return out


def test_lost_step_batch_replies_leave_the_batch_run_unchanged(endpoint, lossy):
    with envd_client.Client(endpoint, timeout=TIMEOUT) as direct:
        want = batch_run(direct)
    proxy = lossy(drop=[2, 7, 8, 30])
    with envd_client.Client(proxy.endpoint, timeout=TIMEOUT, attempts=ATTEMPTS) as c:
        got = batch_run(c)
        assert c.resends >= 4
    assert proxy.dropped == 4
    assert got == want


def test_without_resends_a_lost_reply_is_a_timeout(lossy):
    proxy = lossy(drop=[1])
    with envd_client.Client(proxy.endpoint, timeout=0.5, attempts=1) as c:
        with pytest.raises(envd_client.EnvdTimeout):
            c.ping(b"lost")
        assert c.resends == 0 and c.reconnects == 1
        assert c.ping(b"next") == b"next"


def test_attempts_is_checked():
    with pytest.raises(envd_client.InvalidArgument):
        envd_client.Client("tcp://127.0.0.1:1", attempts=0)
