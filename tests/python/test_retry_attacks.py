"""Attacks on envd's reply cache for resent requests (docs/protocol.md,
"Retries"; docs/security.md), over real sockets to a live envd.

A victim sends a state-changing request with its client_id, keeps the
reply, and later resends the very same bytes from a fresh socket, as the
Lazy Pirate clients do after a lost reply; the resend must come back byte
for byte from the cache, without executing again (envd's env_steps does
not move). Between the request and its resend an attacker:

- floods envd with thousands of tiny requests under fresh client_ids,
  from one connection and from many connections: the victim's entry must
  survive (other connections' traffic never evicts it), and after a
  one-connection flood a new client must still get an entry (a connection
  holds at most 1/64 of the cache);
- under CURVE, reuses the victim's client_id with another authorised key:
  it must not read the victim's cached replies (the make reply with its
  session ids) nor lock the victim out with a huge request id, neither in
  the cache nor in the marks of a session whose id it knows.

Meanwhile a neighbour client plays a seeded 500-step golden episode
(tests/data/cartpole_v1_public.jsonl) a few steps after every attack; it
must stay bit-identical, and envd must answer afterwards. Every loop and
wait is bounded; only loopback is used.
"""

from __future__ import annotations

import json
import shutil
import signal
import struct
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import zmq

import envd_client
from conftest import ENVD, EnvdProcess, _stop_clean, free_port
from envd_client._proto import pb

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "cartpole_v1_public.jsonl"
GOLDEN_CASE = "public/balance/1"
RECV_MS = 10000
FLOOD = 5000  # the flood: 5000 tiny requests under fresh client_ids
CHUNK = 500  # flood requests in flight at once (below the sockets' HWM of 1000)
# client_ids of the flood: one home slot in an index of up to 2^13 slots
# that did not mix them, the worst case for probing.
FLOOD_IDS = [(i + 1) << 13 for i in range(FLOOD)]


# ------------------------------------------------------------------ helpers


def dealer(endpoint: str, curve=None) -> zmq.Socket:
    """A fresh DEALER (a fresh ZeroMQ routing id); curve = (server, pub, sec) Z85."""
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVTIMEO, RECV_MS)
    sock.setsockopt(zmq.SNDTIMEO, RECV_MS)
    if curve is not None:
        sock.curve_serverkey, sock.curve_publickey, sock.curve_secretkey = curve
    sock.connect(endpoint)
    return sock


def request(client_id: int, rid: int, **op) -> bytes:
    (name, msg), = op.items()
    r = pb.Request(major=1, minor=1, id=rid, client_id=client_id)
    getattr(r, name).CopyFrom(msg)
    return r.SerializeToString()


def exchange(sock: zmq.Socket, data: bytes) -> bytes:
    sock.send(data)
    return sock.recv_multipart()[-1]


def decode(raw: bytes) -> pb.Response:
    return pb.Response.FromString(raw)


def ok(raw: bytes) -> pb.Response:
    rep = decode(raw)
    assert rep.status.code == pb.OK, f"{pb.Code.Name(rep.status.code)}: {rep.status.message}"
    return rep


def env_steps(endpoint: str, curve=None) -> int:
    sock = dealer(endpoint, curve)
    try:
        return ok(exchange(sock, request(0, 1, stats=pb.StatsRequest()))).stats.env_steps
    finally:
        sock.close(0)


class Victim:
    """A client with a fixed client_id and increasing ids, sending raw bytes
    so that a resend is exactly the bytes sent before."""

    def __init__(self, endpoint: str, client_id: int, curve=None):
        self.endpoint, self.client_id, self.curve = endpoint, client_id, curve
        self.sock = dealer(endpoint, curve)
        self.next_id = 0

    def send(self, **op) -> tuple[bytes, bytes]:
        """(request bytes, reply bytes), the reply checked OK."""
        self.next_id += 1
        data = request(self.client_id, self.next_id, **op)
        raw = exchange(self.sock, data)
        ok(raw)
        return data, raw

    def resend(self, data: bytes) -> bytes:
        """The same bytes from a fresh socket, as after a lost reply."""
        self.sock.close(0)
        self.sock = dealer(self.endpoint, self.curve)
        return exchange(self.sock, data)

    def close(self):
        self.sock.close(0)


def check_replayed(victim: Victim, data: bytes, want: bytes) -> None:
    """The resend of data is answered with the very bytes first sent, and
    nothing is executed again."""
    steps = env_steps(victim.endpoint, victim.curve)
    got = victim.resend(data)
    rep = decode(got)
    assert got == want, f"resend answered {pb.Code.Name(rep.status.code)}: {rep.status.message!r}"
    assert env_steps(victim.endpoint, victim.curve) == steps, "the resend was executed again"


def obs_bits(hexes) -> np.ndarray:
    return np.array([int(h, 16) for h in hexes], dtype=np.uint32)


class Neighbour:
    """A bystander playing the seeded golden episode GOLDEN_CASE a few steps
    at a time; every step is compared bit for bit."""

    def __init__(self, endpoint: str, **keys):
        case = next(c for c in map(json.loads, GOLDEN.read_text().splitlines())
                    if c["case_id"] == GOLDEN_CASE)
        seg = case["segments"][0]
        self.steps = seg["steps"][: seg["done_at"]]
        self.t = 0
        self.env = envd_client.EnvdEnv(case["env_id"], endpoint, timeout=10.0, **case["make_kwargs"],
                                       **keys)
        obs, _ = self.env.reset(seed=seg["reset_seed"])
        np.testing.assert_array_equal(obs.view(np.uint32), obs_bits(seg["initial_obs_hex"]))

    def advance(self, n: int = 20) -> None:
        for _ in range(min(n, len(self.steps) - self.t)):
            st = self.steps[self.t]
            obs, reward, terminated, truncated, _ = self.env.step(st["action"])
            where = f"{GOLDEN_CASE} t={st['t']}"
            np.testing.assert_array_equal(obs.view(np.uint32), obs_bits(st["obs_hex"]), err_msg=where)
            assert struct.pack("<d", reward) == struct.pack("<d", st["reward"]), where
            assert (terminated, truncated) == (st["terminated"], st["truncated"]), where
            self.t += 1

    def finish(self) -> None:
        self.advance(len(self.steps))
        assert self.t == len(self.steps)
        self.env.close()


def flood_one_connection(endpoint: str, ids, curve=None) -> None:
    """One connection, one tiny state-changing request (close nothing) per
    fresh client_id, CHUNK in flight at a time; every one answered OK."""
    sock = dealer(endpoint, curve)
    try:
        for k in range(0, len(ids), CHUNK):
            chunk = ids[k:k + CHUNK]
            for cid in chunk:
                sock.send(request(cid, 1, close=pb.CloseRequest()))
            for _ in chunk:
                ok(sock.recv_multipart()[-1])
    finally:
        sock.close(0)


def flood_many_connections(endpoint: str, ids, per_connection: int) -> None:
    """The same flood from a fresh connection for every per_connection ids."""
    for k in range(0, len(ids), per_connection):
        flood_one_connection(endpoint, ids[k:k + per_connection])


def victim_with_session(endpoint: str, client_id: int):
    """A victim that made and reset one session: (victim, session id)."""
    v = Victim(endpoint, client_id)
    _, raw = v.send(make=pb.MakeRequest(env_id="CartPole-v1"))
    (sid,) = decode(raw).make.sessions
    v.send(reset=pb.ResetRequest(session=sid, seed=100))
    return v, sid


# --------------------------------------------------------- flood, plaintext


@pytest.fixture
def plain_envd(tmp_path):
    server = EnvdProcess(tmp_path).start()  # default cache: 4096 clients
    yield server
    _stop_clean(server)


@pytest.fixture
def small_cache_envd(tmp_path):
    server = EnvdProcess(tmp_path, "--retry-clients", "64").start()
    yield server
    _stop_clean(server)


def test_one_connection_flood_of_fresh_client_ids_does_not_evict_a_victims_reply(plain_envd):
    endpoint = plain_envd.endpoint
    neighbour = Neighbour(endpoint)
    victim, sid = victim_with_session(endpoint, 0x5EED_0000_0000_0001)
    step, reply = victim.send(step=pb.StepRequest(session=sid, action=1))
    neighbour.advance()

    flood_one_connection(endpoint, FLOOD_IDS)
    neighbour.advance()
    check_replayed(victim, step, reply)

    # The flood holds a share of the cache, not the cache: a new client's
    # reply is still kept (its make, resent, returns the same sessions).
    late = Victim(endpoint, 0x5EED_0000_0000_0002)
    make, made = late.send(make=pb.MakeRequest(env_id="CartPole-v1"))
    check_replayed(late, make, made)
    # And the victim goes on: its next request is executed, not refused.
    victim.send(step=pb.StepRequest(session=sid, action=0))
    neighbour.advance()
    for v in (victim, late):
        v.close()
    neighbour.finish()
    assert plain_envd.proc.poll() is None and env_steps(endpoint) > 0


def test_many_connection_flood_does_not_evict_a_victims_reply(small_cache_envd):
    """With 64 entries in all (one per connection), a flood from 160
    connections fills the cache; the victim's entry stays."""
    endpoint = small_cache_envd.endpoint
    neighbour = Neighbour(endpoint)
    victim, sid = victim_with_session(endpoint, 0x5EED_0000_0000_0003)
    step, reply = victim.send(step=pb.StepRequest(session=sid, action=1))
    neighbour.advance()

    flood_many_connections(endpoint, FLOOD_IDS[:800], per_connection=5)
    neighbour.advance()
    check_replayed(victim, step, reply)
    victim.close()
    neighbour.finish()
    assert small_cache_envd.proc.poll() is None and env_steps(endpoint) > 0


# ------------------------------------------------------------ CURVE binding


@pytest.fixture
def curve_envd(tmp_path):
    names = ("server", "victim", "mallory", "neighbour")
    for name in names:
        subprocess.run([str(ENVD), "--keygen", str(tmp_path / name)], check=True,
                       capture_output=True, timeout=30)
    clients = tmp_path / "clients"
    clients.mkdir()
    for name in names[1:]:  # all three authorised: mallory is an insider
        shutil.copy(tmp_path / f"{name}.pub", clients)
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    log = tmp_path / "envd.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(ENVD), "--bind", endpoint, "--curve-secret", str(tmp_path / "server.key"),
                                 "--curve-clients", str(clients)], stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while " ready: " not in log.read_text() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert " ready: " in log.read_text(), log.read_text()
    load = envd_client.client.load_curve_key
    server_pub = load(tmp_path / "server.pub")
    curve = {n: (server_pub, load(tmp_path / f"{n}.pub"), load(tmp_path / f"{n}.key")) for n in names[1:]}
    yield endpoint, tmp_path, curve
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0, log.read_text()


@pytest.mark.skipif(not zmq.has("curve"), reason="libzmq without CURVE")
def test_another_key_reusing_a_client_id_neither_reads_nor_locks_out_its_replies(curve_envd):
    endpoint, d, curve = curve_envd
    neighbour = Neighbour(endpoint, server_public_key=d / "server.pub", secret_key=d / "neighbour.key")
    cid = 0x5EED_0000_0000_0004
    victim = Victim(endpoint, cid, curve["victim"])
    make, make_reply = victim.send(make=pb.MakeRequest(env_id="CartPole-v1", count=2))
    sid, sid2 = decode(make_reply).make.sessions
    mallory = Victim(endpoint, cid, curve["mallory"])  # the victim's client_id, its own key

    # Reading: a request of mallory's own under the victim's (client_id, id)
    # is executed as mallory's, not answered with the victim's make reply.
    raw = exchange(mallory.sock, request(cid, 1, close=pb.CloseRequest(sessions=[1])))
    assert raw != make_reply, "another key read the victim's cached make reply (its session ids)"
    assert ok(raw).close.closed == 0
    check_replayed(victim, make, make_reply)
    for i, s in enumerate((sid, sid2)):
        victim.send(reset=pb.ResetRequest(session=s, seed=100 + i))
    step, step_reply = victim.send(step=pb.StepRequest(session=sid, action=1))
    neighbour.advance()

    # Locking out: huge ids under the victim's client_id, in the cache and
    # in the marks of a victim session whose id mallory has learnt.
    huge = 2**63
    ok(exchange(mallory.sock, request(cid, huge, close=pb.CloseRequest())))
    ok(exchange(mallory.sock, request(cid, huge + 1, reset=pb.ResetRequest(session=sid2, seed=2))))
    neighbour.advance()

    check_replayed(victim, step, step_reply)
    # The victim's next requests, on both sessions, are executed and cached.
    step, step_reply = victim.send(step=pb.StepRequest(session=sid, action=0))
    check_replayed(victim, step, step_reply)
    reset, reset_reply = victim.send(reset=pb.ResetRequest(session=sid2, seed=3))
    check_replayed(victim, reset, reset_reply)
    neighbour.advance()
    for v in (victim, mallory):
        v.close()
    neighbour.finish()
    assert env_steps(endpoint, curve["neighbour"]) > 0
