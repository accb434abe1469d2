"""Bad-input conformance: malformed and abusive requests against a live envd.

One build/envd runs on an ephemeral loopback port with small limits (TTL,
sessions, batch, message size) so that every limit is reachable. Each row of
CASES builds the frames of one request (crafted bytes where the generated
module cannot express them), sends them from a fresh DEALER, and states the
status code and a fragment of the message the reply must carry.

Meanwhile a second client drives a seeded golden episode
(tests/data/cartpole_v1_public.jsonl, GOLDEN_CASE, 500 steps) on its own
session: one step after every bad request, and the rest at the end. Its
trajectory must stay bit-identical to the reference, and envd must still
answer ping when the suite is done. Rows run in table order (pytest keeps
the order of parametrize).
"""

from __future__ import annotations

import json
import struct
import sys
import time
from pathlib import Path

import pytest
import zmq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from procs import GOLDEN, Envd, call, dealer, pb  # noqa: E402

TTL_S = 2.0
MAX_SESSIONS = 16
MAX_BATCH = 4
MAX_MESSAGE = 4096
GOLDEN_CASE = "public/balance/1"
REPLY_TIMEOUT_MS = 5000

# ------------------------------------------------------------ raw encoding
# Just enough protobuf to write what the generated module refuses to write:
# unknown fields, wrong wire types, unknown oneof members.


def varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def f_varint(field: int, value: int) -> bytes:
    return varint(field << 3 | 0) + varint(value)


def f_bytes(field: int, data: bytes) -> bytes:
    return varint(field << 3 | 2) + varint(len(data)) + data


def f_fixed64(field: int, value: int) -> bytes:
    return varint(field << 3 | 1) + struct.pack("<Q", value)


def f_fixed32(field: int, value: int) -> bytes:
    return varint(field << 3 | 5) + struct.pack("<I", value)


HEADER = f_varint(1, 1) + f_varint(3, 42)  # major 1, id 42


def req(**kw) -> pb.Request:
    r = pb.Request(major=1, minor=0, id=42)
    for k, v in kw.items():
        getattr(r, k).CopyFrom(v)
    return r


def ser(r: pb.Request) -> list[bytes]:
    return [r.SerializeToString()]


def opts(**kw) -> list[pb.Option]:
    out = []
    for k, v in kw.items():
        o = pb.Option(key=k)
        if isinstance(v, bool):
            o.bool_value = v
        elif isinstance(v, int):
            o.int_value = v
        elif isinstance(v, float):
            o.double_value = v
        else:
            o.string_value = v
        out.append(o)
    return out


def tensor(dtype: int, shape: list[int], data: bytes) -> pb.Tensor:
    return pb.Tensor(dtype=dtype, shape=shape, data=data)


def step_batch(sessions, actions: pb.Tensor, mode: int = 0) -> list[bytes]:
    return ser(req(step_batch=pb.StepBatchRequest(sessions=sessions, actions=actions,
                                                  autoreset_mode=mode)))


def i64(*vals) -> pb.Tensor:
    return tensor(pb.INT64, [len(vals)], struct.pack(f"<{len(vals)}q", *vals))


# ------------------------------------------------------------- the fixtures


class Helper:
    """Sessions for the rows to abuse, made over a well-behaved client."""

    def __init__(self, server: Envd):
        self.server = server
        self.sock = dealer(server.endpoint, REPLY_TIMEOUT_MS)
        self.next_id = 1000
        self.made: list[int] = []  # closed after each row

    def call(self, **kw) -> pb.Response:
        self.next_id += 1
        r = req(**kw)
        r.id = self.next_id
        return call(self.sock, r)

    def make(self, count: int = 1, reset: bool = True, env_id: str = "CartPole-v1") -> list[int]:
        rep = self.call(make=pb.MakeRequest(env_id=env_id, count=count))
        assert rep.status.code == pb.OK, rep.status.message
        ids = list(rep.make.sessions)
        self.made += ids
        if reset:
            for s in ids:
                rep = self.call(reset=pb.ResetRequest(session=s, seed=1))
                assert rep.status.code == pb.OK, rep.status.message
        return ids

    def close(self, ids) -> int:
        return self.call(close=pb.CloseRequest(sessions=ids)).close.closed


class Golden:
    """The second client: one seeded reference episode, step by step."""

    def __init__(self, server: Envd, case: dict):
        self.sock = dealer(server.endpoint, REPLY_TIMEOUT_MS)
        self.case = case
        seg = case["segments"][0]
        assert len(case["segments"]) == 1 and seg["end"] == "truncated"
        self.steps = seg["steps"][: seg["done_at"]]
        self.t = 0
        self.id = 1
        rep = self._call(make=pb.MakeRequest(env_id=case["env_id"], options=opts(**case["make_kwargs"])))
        self.session = rep.make.sessions[0]
        rep = self._call(reset=pb.ResetRequest(session=self.session, seed=seg["reset_seed"]))
        assert rep.reset.observation.data == obs_bytes(seg["initial_obs_hex"])

    def _call(self, **kw) -> pb.Response:
        self.id += 1
        r = req(**kw)
        r.id = self.id
        rep = call(self.sock, r)
        assert rep.status.code == pb.OK, f"golden client: {rep.status.message}"
        return rep

    @property
    def done(self) -> bool:
        return self.t == len(self.steps)

    def step(self) -> None:
        """One reference step, bit for bit; past the end, a touch that keeps
        the session alive without moving it."""
        if self.done:
            self._call(describe=pb.DescribeRequest(session=self.session))
            return
        ref = self.steps[self.t]
        rep = self._call(step=pb.StepRequest(session=self.session, action=ref["action"]))
        got = rep.step
        where = f"{GOLDEN_CASE} t={ref['t']}"
        assert got.observation.dtype == pb.FLOAT32 and list(got.observation.shape) == [4], where
        assert got.observation.data == obs_bytes(ref["obs_hex"]), where
        assert struct.pack("<d", got.reward) == struct.pack("<d", ref["reward"]), where
        assert (got.terminated, got.truncated) == (ref["terminated"], ref["truncated"]), where
        self.t += 1


def obs_bytes(hexes: list[str]) -> bytes:
    """The golden file's big-endian float32 hex words as the wire's little-endian bytes."""
    return b"".join(bytes.fromhex(h)[::-1] for h in hexes)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with Envd(tmp_path_factory.mktemp("conformance"), "--session-ttl", str(TTL_S),
              "--max-sessions", str(MAX_SESSIONS), "--max-batch", str(MAX_BATCH),
              "--max-message-size", str(MAX_MESSAGE)) as s:
        yield s
        assert s.proc.poll() is None, f"envd died:\n{s.log()}"


@pytest.fixture(scope="module")
def helper(server):
    h = Helper(server)
    yield h
    h.sock.close(0)


@pytest.fixture(scope="module")
def golden(server):
    with open(GOLDEN) as f:
        case = next(c for c in map(json.loads, f) if c["case_id"] == GOLDEN_CASE)
    g = Golden(server, case)
    yield g
    g.sock.close(0)


# ------------------------------------------------------------ row builders
# Each builder takes (helper, golden) and returns the frames to send; the
# golden session itself is never the target of a bad request, except where a
# row proves that a refused request leaves it untouched.


def b_reclaimed(h: Helper, g: Golden) -> list[bytes]:
    (sid,) = h.make()
    reclaimed0 = h.server.stats().sessions_reclaimed
    deadline = time.monotonic() + 10 * TTL_S + 10
    while h.server.stats().sessions_reclaimed == reclaimed0:
        assert time.monotonic() < deadline, "the idle session was never reclaimed"
        g.step()  # keeps the golden session fresh while the other one idles
        time.sleep(TTL_S / 8)
    return ser(req(step=pb.StepRequest(session=sid, action=0)))


def b_closed(h: Helper, g: Golden) -> list[bytes]:
    (sid,) = h.make()
    assert h.close([sid]) == 1
    return ser(req(step=pb.StepRequest(session=sid, action=0)))


def b_make_flood(h: Helper, g: Golden) -> list[bytes]:
    """Fills the session table with makes of one, then sends one more."""
    made = []
    while True:
        rep = h.call(make=pb.MakeRequest(env_id="CartPole-v1"))
        if rep.status.code != pb.OK:
            assert rep.status.code == pb.RESOURCE_EXHAUSTED, rep.status.message
            break
        made += rep.make.sessions
        assert len(made) <= MAX_SESSIONS, "the session limit was never enforced"
    h.flood = made
    return ser(req(make=pb.MakeRequest(env_id="CartPole-v1")))


def unflood(h: Helper) -> None:
    assert h.close(h.flood) == len(h.flood)


def with_session(fn, reset=True, count=1, env_id="CartPole-v1"):
    return lambda h, g: fn(*h.make(count, reset=reset, env_id=env_id))


def box_step(sid: int, t: pb.Tensor) -> list[bytes]:
    return ser(req(step=pb.StepRequest(session=sid, box_action=t)))


def f32(*vals) -> pb.Tensor:
    return tensor(pb.FLOAT32, [len(vals)], struct.pack(f"<{len(vals)}f", *vals))


def f64(*vals) -> pb.Tensor:
    return tensor(pb.FLOAT64, [len(vals)], struct.pack(f"<{len(vals)}d", *vals))


PEND, MCC, ACRO = "Pendulum-v1", "MountainCarContinuous-v0", "Acrobot-v1"


# (name, builder, expected code, message fragment). Builders returning None
# in place of a code expect no reply at all.
CASES = [
    # ---- bytes that are not a request
    ("garbage bytes", lambda h, g: [b"\xff" * 64], pb.INVALID_ARGUMENT, "do not decode"),
    ("random bytes", lambda h, g: [bytes(range(7, 250, 3))], pb.INVALID_ARGUMENT, "do not decode"),
    ("truncated request", lambda h, g: [ser(req(ping=pb.PingRequest(payload=b"x" * 40)))[0][:-10]],
     pb.INVALID_ARGUMENT, "do not decode"),
    ("truncated varint", lambda h, g: [HEADER + b"\x80\x80"], pb.INVALID_ARGUMENT, "do not decode"),
    ("length beyond the end", lambda h, g: [HEADER + b"\x92\x01\x7f" + b"\x00" * 3],
     pb.INVALID_ARGUMENT, "do not decode"),
    ("zero-length message", lambda h, g: [b""], pb.INVALID_ARGUMENT, "empty message"),
    ("oversized message", lambda h, g: ser(req(ping=pb.PingRequest(payload=b"p" * (MAX_MESSAGE + 100)))),
     pb.RESOURCE_EXHAUSTED, f"exceeds the limit of {MAX_MESSAGE}"),
    ("far beyond the size limit: dropped unanswered",
     lambda h, g: ser(req(ping=pb.PingRequest(payload=b"p" * (3 * MAX_MESSAGE)))), None, ""),
    ("multi-part message", lambda h, g: ser(req(stats=pb.StatsRequest())) * 2,
     pb.INVALID_ARGUMENT, "multi-part message: 2 body frames"),
    ("multi-part after a REQ delimiter", lambda h, g: [b""] + ser(req(stats=pb.StatsRequest())) * 3,
     pb.INVALID_ARGUMENT, "multi-part message: 3 body frames"),
    ("empty body after a REQ delimiter", lambda h, g: [b"", b""], pb.INVALID_ARGUMENT, "empty message"),
    # ---- unknown fields and operations
    ("unknown fields in a valid ping are ignored",
     lambda h, g: [HEADER + f_varint(99, 5) + f_bytes(1000, b"future") + f_fixed32(7, 1)
                   + f_bytes(18, f_bytes(1, b"echo") + f_varint(50, 1))],
     pb.OK, ""),
    ("unknown fields in a valid step are ignored",
     with_session(lambda s: [HEADER + f_bytes(14, f_fixed64(1, s) + f_varint(2, 1) + f_bytes(9, b"?"))
                             + f_fixed64(4000, 1)]),
     pb.OK, ""),
    ("unknown operation (field 25)", lambda h, g: [HEADER + f_bytes(25, b"")],
     pb.INVALID_ARGUMENT, "unknown or missing operation"),
    ("unknown operation with a body (field 200)", lambda h, g: [HEADER + f_bytes(200, f_varint(1, 3))],
     pb.INVALID_ARGUMENT, "unknown or missing operation"),
    ("no operation", lambda h, g: [HEADER], pb.INVALID_ARGUMENT, "unknown or missing operation"),
    # ---- protocol versions
    ("major 0 (missing)", lambda h, g: [f_varint(3, 42) + f_bytes(19, b"")],
     pb.VERSION_MISMATCH, "protocol version 0.0 not supported"),
    ("major 2", lambda h, g: [f_varint(1, 2) + f_varint(3, 42) + f_bytes(19, b"")],
     pb.VERSION_MISMATCH, "protocol version 2.0 not supported"),
    ("major 2^32-1", lambda h, g: [f_varint(1, 2**32 - 1) + f_varint(3, 42) + f_bytes(19, b"")],
     pb.VERSION_MISMATCH, "protocol version 4294967295.0"),
    ("major 2 with an unknown operation",
     lambda h, g: [f_varint(1, 2) + f_varint(3, 42) + f_bytes(77, b"")],
     pb.VERSION_MISMATCH, "not supported"),
    # ---- sessions that are not yours to use
    ("foreign session id", lambda h, g: ser(req(step=pb.StepRequest(session=0x0123456789ABCDEF, action=0))),
     pb.NOT_FOUND, "session 0123456789abcdef not found"),
    ("session id 0", lambda h, g: ser(req(reset=pb.ResetRequest(session=0))), pb.NOT_FOUND, "not found"),
    ("closed session", b_closed, pb.NOT_FOUND, "not found"),
    ("reclaimed session", b_reclaimed, pb.NOT_FOUND, "reclaimed"),
    ("describe a foreign session",
     lambda h, g: ser(req(describe=pb.DescribeRequest(session=0xDEADBEEF))), pb.NOT_FOUND, "not found"),
    ("foreign session in a batch",
     with_session(lambda s: step_batch([s, 0xFEEDFACE], i64(0, 1))), pb.NOT_FOUND, "not found"),
    # ---- actions of the wrong type or range
    ("step action 2", with_session(lambda s: ser(req(step=pb.StepRequest(session=s, action=2)))),
     pb.INVALID_ARGUMENT, "action 2 is outside [0, 2)"),
    ("step action -1", with_session(lambda s: ser(req(step=pb.StepRequest(session=s, action=-1)))),
     pb.INVALID_ARGUMENT, "action -1 is outside"),
    ("step action 2^62", with_session(lambda s: ser(req(step=pb.StepRequest(session=s, action=2**62)))),
     pb.INVALID_ARGUMENT, "is outside [0, 2)"),
    ("step action as length-delimited (wire-type mismatch)",
     with_session(lambda s: [HEADER + f_bytes(14, f_fixed64(1, s) + f_bytes(2, b"\x01"))]),
     pb.INVALID_ARGUMENT, "do not decode"),
    ("step session as a varint (wire-type mismatch)",
     with_session(lambda s: [HEADER + f_bytes(14, f_varint(1, s) + f_varint(2, 0))]),
     pb.INVALID_ARGUMENT, "do not decode"),
    # ---- Box actions (protocol 1.2) and the kinds mixed up, per action-space kind
    ("Box action for a Discrete space (step)",
     with_session(lambda s: box_step(s, f32(0.5))),
     pb.INVALID_ARGUMENT, "Discrete(2) action space: send an integer action"),
    ("integer action for a Box space (step)",
     with_session(lambda s: ser(req(step=pb.StepRequest(session=s, action=1))), env_id=PEND),
     pb.INVALID_ARGUMENT, "Pendulum-v1 has a Box action space of shape [1]"),
    ("Box action of the wrong shape", with_session(lambda s: box_step(s, f32(0.5, 0.5)), env_id=PEND),
     pb.INVALID_ARGUMENT, "Box actions need shape [1]"),
    ("Box action of two dimensions",
     with_session(lambda s: box_step(s, tensor(pb.FLOAT32, [1, 1], struct.pack("<f", 0.5))), env_id=MCC),
     pb.INVALID_ARGUMENT, "Box actions need shape [1]"),
    ("Box action as INT64", with_session(lambda s: box_step(s, i64(1)), env_id=PEND),
     pb.INVALID_ARGUMENT, "must be FLOAT32 or FLOAT64, not INT64"),
    ("Box action NaN (float32)", with_session(lambda s: box_step(s, f32(float("nan"))), env_id=PEND),
     pb.INVALID_ARGUMENT, "action[0] is NaN: a Box action must be finite"),
    ("Box action +inf (float64)", with_session(lambda s: box_step(s, f64(float("inf"))), env_id=MCC),
     pb.INVALID_ARGUMENT, "action[0] is +inf"),
    ("Box action -inf (float32)", with_session(lambda s: box_step(s, f32(float("-inf"))), env_id=PEND),
     pb.INVALID_ARGUMENT, "action[0] is -inf"),
    ("Box action with data bytes that do not match its shape",
     with_session(lambda s: box_step(s, tensor(pb.FLOAT64, [1], b"\x00" * 4)), env_id=PEND),
     pb.INVALID_ARGUMENT, "step.box_action: 4 data bytes do not match"),
    ("out-of-bounds Box action is clipped, not refused",
     with_session(lambda s: box_step(s, f32(1e30)), env_id=PEND), pb.OK, ""),
    ("Box step before reset", with_session(lambda s: box_step(s, f32(0.0)), reset=False, env_id=PEND),
     pb.FAILED_PRECONDITION, "step before the first reset"),
    ("Acrobot action -1 (Gymnasium would index a list with it)",
     with_session(lambda s: ser(req(step=pb.StepRequest(session=s, action=-1))), env_id=ACRO),
     pb.INVALID_ARGUMENT, "action -1 is outside [0, 3)"),
    ("Acrobot action 3", with_session(lambda s: ser(req(step=pb.StepRequest(session=s, action=3))), env_id=ACRO),
     pb.INVALID_ARGUMENT, "action 3 is outside [0, 3)"),
    ("step_batch integer actions for a Box space",
     with_session(lambda a, b: step_batch([a, b], i64(0, 1)), count=2, env_id=PEND),
     pb.INVALID_ARGUMENT, "Box actions need shape [2, 1]"),
    ("step_batch INT64 actions of shape [N, 1] for a Box space",
     with_session(lambda a, b: step_batch([a, b], tensor(pb.INT64, [2, 1], struct.pack("<2q", 0, 1))),
                  count=2, env_id=MCC),
     pb.INVALID_ARGUMENT, "must be FLOAT32 or FLOAT64, not INT64"),
    ("step_batch Box actions with a NaN row: nothing moves",
     with_session(lambda a, b, c: step_batch([a, b, c], tensor(pb.FLOAT32, [3, 1],
                                                                struct.pack("<3f", 0.1, 0.2, float("nan")))),
                  count=3, env_id=PEND),
     pb.INVALID_ARGUMENT, "action[0] is NaN: a Box action must be finite (row 2"),
    ("step_batch Box actions float64 of shape [N, 1]",
     with_session(lambda a, b: step_batch([a, b], tensor(pb.FLOAT64, [2, 1], struct.pack("<2d", 0.1, -5.0))),
                  count=2, env_id=MCC),
     pb.OK, ""),
    ("step_batch mixing a Box and a Discrete environment",
     lambda h, g: step_batch([h.make(1)[0], h.make(1, env_id=PEND)[0]], i64(0, 1)),
     pb.INVALID_ARGUMENT, "batch mixes environments"),
    ("step_batch FLOAT32 actions",
     with_session(lambda a, b: step_batch([a, b], tensor(pb.FLOAT32, [2], struct.pack("<2f", 0, 1))), count=2),
     pb.INVALID_ARGUMENT, "INT64, INT32 or UINT8 for CartPole-v1's Discrete(2) space, not FLOAT32"),
    ("step_batch FLOAT64 actions",
     with_session(lambda a, b: step_batch([a, b], tensor(pb.FLOAT64, [2], struct.pack("<2d", 0, 1))), count=2),
     pb.INVALID_ARGUMENT, "INT64, INT32 or UINT8"),
    ("step_batch unknown dtype 99",
     with_session(lambda s: step_batch([s], tensor(99, [1], b"\x00"))), pb.INVALID_ARGUMENT, "unknown dtype 99"),
    ("step_batch UINT8 action out of range",
     with_session(lambda a, b: step_batch([a, b], tensor(pb.UINT8, [2], b"\x01\x07")), count=2),
     pb.INVALID_ARGUMENT, "action 7 is outside [0, 2) (row 1"),
    ("step_batch INT32 negative action",
     with_session(lambda s: step_batch([s], tensor(pb.INT32, [1], struct.pack("<i", -5)))),
     pb.INVALID_ARGUMENT, "action -5 is outside"),
    ("step_batch data shorter than its shape",
     with_session(lambda a, b: step_batch([a, b], tensor(pb.INT64, [2], b"\x00" * 9)), count=2),
     pb.INVALID_ARGUMENT, "step_batch.actions"),
    ("step_batch missing actions",
     with_session(lambda s: ser(req(step_batch=pb.StepBatchRequest(sessions=[s])))),
     pb.INVALID_ARGUMENT, "missing tensor"),
    ("step_batch unknown autoreset mode",
     with_session(lambda s: step_batch([s], i64(0), mode=7)), pb.INVALID_ARGUMENT, "unknown autoreset mode 7"),
    # ---- order and batch shape
    ("step before reset",
     with_session(lambda s: ser(req(step=pb.StepRequest(session=s, action=0))), reset=False),
     pb.FAILED_PRECONDITION, "step before the first reset"),
    ("step_batch before reset",
     with_session(lambda s: step_batch([s], i64(1)), reset=False),
     pb.FAILED_PRECONDITION, "step before the first reset"),
    ("step_batch fewer actions than sessions",
     with_session(lambda a, b, c: step_batch([a, b, c], i64(0, 1)), count=3),
     pb.INVALID_ARGUMENT, "actions must have shape [3]"),
    ("step_batch more actions than sessions",
     with_session(lambda a: step_batch([a], i64(0, 1, 0))),
     pb.INVALID_ARGUMENT, "actions must have shape [1]"),
    ("step_batch over max_batch",
     lambda h, g: step_batch(h.make(MAX_BATCH) + h.make(1), i64(*[0] * (MAX_BATCH + 1))),
     pb.RESOURCE_EXHAUSTED, f"exceeds the limit of {MAX_BATCH}"),
    ("duplicate session in a batch",
     with_session(lambda a, b: step_batch([a, b, a], i64(0, 0, 0)), count=2),
     pb.INVALID_ARGUMENT, "appears twice in one batch (row 2)"),
    ("duplicate session in reset_batch",
     with_session(lambda s: ser(req(reset_batch=pb.ResetBatchRequest(sessions=[s, s])))),
     pb.INVALID_ARGUMENT, "appears twice"),
    ("reset_batch seeds count mismatch",
     with_session(lambda a, b: ser(req(reset_batch=pb.ResetBatchRequest(sessions=[a, b], seeds=[1]))), count=2),
     pb.INVALID_ARGUMENT, "1 seeds for 2 sessions"),
    ("reset_batch seeded mask mismatch",
     with_session(lambda a, b: ser(req(reset_batch=pb.ResetBatchRequest(sessions=[a, b], seeds=[1, 2],
                                                                        seeded=b"\x01"))), count=2),
     pb.INVALID_ARGUMENT, "seeded mask has 1 bytes for 2 seeds"),
    # ---- seeds and options of the wrong type
    ("reset seed as length-delimited (wire-type mismatch)",
     with_session(lambda s: [HEADER + f_bytes(13, f_fixed64(1, s) + f_bytes(2, b"12345"))]),
     pb.INVALID_ARGUMENT, "do not decode"),
    ("sutton_barto_reward as a string",
     lambda h, g: ser(req(make=pb.MakeRequest(env_id="CartPole-v1", options=opts(sutton_barto_reward="yes")))),
     pb.INVALID_ARGUMENT, "sutton_barto_reward must be a bool"),
    ("max_episode_steps as a double",
     lambda h, g: ser(req(make=pb.MakeRequest(env_id="CartPole-v1", options=opts(max_episode_steps=200.0)))),
     pb.INVALID_ARGUMENT, "max_episode_steps must be an int"),
    ("max_episode_steps 0",
     lambda h, g: ser(req(make=pb.MakeRequest(env_id="CartPole-v1", options=opts(max_episode_steps=0)))),
     pb.INVALID_ARGUMENT, "max_episode_steps"),
    ("unknown make option",
     lambda h, g: ser(req(make=pb.MakeRequest(env_id="CartPole-v1", options=opts(gravity=3.0)))),
     pb.INVALID_ARGUMENT, "no make option 'gravity'"),
    ("unknown make option with no value",
     lambda h, g: ser(req(make=pb.MakeRequest(env_id="CartPole-v1", options=[pb.Option(key="x")]))),
     pb.INVALID_ARGUMENT, "no make option 'x'"),
    ("max_episode_steps with no value",
     lambda h, g: ser(req(make=pb.MakeRequest(env_id="CartPole-v1", options=[pb.Option(key="max_episode_steps")]))),
     pb.INVALID_ARGUMENT, "max_episode_steps must be an int, not none"),
    ("unknown reset option with no value is ignored",
     with_session(lambda s: ser(req(reset=pb.ResetRequest(session=s, seed=3, options=[pb.Option(key="x")])))),
     pb.OK, ""),
    ("reset option low with no value",
     with_session(lambda s: ser(req(reset=pb.ResetRequest(session=s, seed=3, options=[pb.Option(key="low")])))),
     pb.INVALID_ARGUMENT, "reset option low must be a number, not none"),
    ("reset option low as a string",
     with_session(lambda s: ser(req(reset=pb.ResetRequest(session=s, seed=3, options=opts(low="-0.1"))))),
     pb.INVALID_ARGUMENT, "reset option low must be a number"),
    ("reset low above high",
     with_session(lambda s: ser(req(reset=pb.ResetRequest(session=s, seed=3, options=opts(low=0.2, high=0.1))))),
     pb.INVALID_ARGUMENT, "low (0.20000000000000001) > high"),
    ("make env id not valid UTF-8",
     lambda h, g: [HEADER + f_bytes(11, f_bytes(1, b"Cart\xffPole"))], pb.INVALID_ARGUMENT, "not valid UTF-8"),
    # ---- strings with a NUL byte (protobuf-c would cut them there)
    ("option key with a NUL byte",
     lambda h, g: ser(req(make=pb.MakeRequest(env_id="CartPole-v1", options=opts(**{"max_episode_steps\0x": 10})))),
     pb.INVALID_ARGUMENT, "make.options[0].key contains a NUL byte"),
    ("env id with a NUL byte",
     lambda h, g: ser(req(make=pb.MakeRequest(env_id="CartPole-v1\0"))),
     pb.INVALID_ARGUMENT, "make.env_id contains a NUL byte"),
    ("describe env id with a NUL byte",
     lambda h, g: ser(req(describe=pb.DescribeRequest(env_id="CartPole-v1\0junk"))),
     pb.INVALID_ARGUMENT, "describe.env_id contains a NUL byte"),
    ("reset option key with a NUL byte",
     with_session(lambda s: ser(req(reset=pb.ResetRequest(session=s, seed=3, options=opts(**{"high\0x": 0.1}))))),
     pb.INVALID_ARGUMENT, "reset.options[0].key contains a NUL byte"),
    ("reset string option with a NUL byte",
     with_session(lambda s: ser(req(reset=pb.ResetRequest(session=s, seed=3, options=opts(colour="red\0"))))),
     pb.INVALID_ARGUMENT, "reset.options[0].string_value contains a NUL byte"),
    ("reset_batch option key with a NUL byte",
     with_session(lambda s: ser(req(reset_batch=pb.ResetBatchRequest(sessions=[s], options=opts(**{"low\0": -0.1}))))),
     pb.INVALID_ARGUMENT, "reset_batch.options[0].key contains a NUL byte"),
    ("unknown env id", lambda h, g: ser(req(make=pb.MakeRequest(env_id="LunarLander-v3"))),
     pb.NOT_FOUND, "unknown env id 'LunarLander-v3'"),
    ("make count over max_batch", lambda h, g: ser(req(make=pb.MakeRequest(env_id="CartPole-v1", count=MAX_BATCH + 1))),
     pb.RESOURCE_EXHAUSTED, f"make of {MAX_BATCH + 1} sessions exceeds"),
    ("make flood past the session limit", b_make_flood, pb.RESOURCE_EXHAUSTED, "session limit"),
]

CLEANUP = {"make flood past the session limit": unflood}


def recv_reply(sock: zmq.Socket) -> pb.Response | None:
    try:
        frames = sock.recv_multipart()
    except zmq.Again:
        return None
    return pb.Response.FromString(frames[-1])


@pytest.mark.parametrize("name,build,code,fragment", CASES, ids=[c[0] for c in CASES])
def test_bad_request(server, helper, golden, name, build, code, fragment):
    frames = build(helper, golden)
    sock = dealer(server.endpoint, REPLY_TIMEOUT_MS if code is not None else 1500)
    try:
        sock.send_multipart(frames)
        rep = recv_reply(sock)
    finally:
        sock.close(0)
        if name in CLEANUP:
            CLEANUP[name](helper)
        helper.close(helper.made)
        helper.made = []
    if code is None:
        assert rep is None, f"expected no reply, got {rep}"
    else:
        assert rep is not None, "no reply within the timeout"
        assert rep.status.code == code, \
            f"{pb.Code.Name(rep.status.code)} ({rep.status.message!r}), expected {pb.Code.Name(code)}"
        assert fragment in rep.status.message, rep.status.message
        assert rep.major == 1
        if code != pb.OK:
            assert rep.WhichOneof("op") is None
    golden.step()
    assert server.proc.poll() is None, f"envd died:\n{server.log()}"


def test_unknown_reset_options_are_ignored(server, helper):
    """As in Gymnasium, reset options other than low and high change nothing,
    whatever their value (none, a string, a bool, a number): the observation
    is the one of the same seed without options, bit for bit, from reset
    and from reset_batch."""
    (sid,) = helper.make(reset=False)
    try:
        plain = helper.call(reset=pb.ResetRequest(session=sid, seed=11))
        assert plain.status.code == pb.OK, plain.status.message
        unknown = [pb.Option(key="x"), *opts(colour="red", render=True, gravity=3.0)]
        for o in unknown + [unknown]:
            options = o if isinstance(o, list) else [o]
            rep = helper.call(reset=pb.ResetRequest(session=sid, seed=11, options=options))
            assert rep.status.code == pb.OK, f"{options}: {rep.status.message}"
            assert rep.reset.observation.data == plain.reset.observation.data, options
            rep = helper.call(reset_batch=pb.ResetBatchRequest(sessions=[sid], seeds=[11], options=options))
            assert rep.status.code == pb.OK, f"{options}: {rep.status.message}"
            assert rep.reset_batch.observations.data == plain.reset.observation.data, options
    finally:
        helper.close(helper.made)
        helper.made = []


def test_decodable_bad_requests_echo_their_id(server):
    """An error reply to a request that decoded carries the request's id; one
    that did not decode carries id 0."""
    sock = dealer(server.endpoint, REPLY_TIMEOUT_MS)
    try:
        sock.send(HEADER + f_bytes(25, b""))
        assert recv_reply(sock).id == 42
        sock.send(b"\xff" * 8)
        assert recv_reply(sock).id == 0
    finally:
        sock.close(0)


def test_golden_episode_survives_and_envd_still_answers(server, golden):
    assert golden.t >= len(CASES) - 1, "the golden client was not interleaved"
    while not golden.done:
        golden.step()
    assert server.ping(), "envd does not answer ping after the suite"
    assert server.proc.poll() is None
