#!/usr/bin/env python3
"""bench_python.py — CartPole env steps/s from Python: through envd, and in-process.

Prints, in one run (about 30 s):

* EnvdVectorEnv throughput (env steps/s) at 1, 64, 256 and 1024 envs over
  tcp loopback: one step_batch round trip per vector step;
* EnvdEnv.step latency (p50/p99) for a single env;
* where the time of one 1024-env step goes on the client (request encode,
  reply decode to numpy) versus the wire and envd;
* the same CartPole physics in-process in pure Python: a scalar loop (math
  module), and numpy-vectorised over N envs with autoreset, for comparison.

The goal the figures are checked against: >= 1M env steps/s at 1024 envs.
This is a benchmark, never a test: it prints figures and exits 0 unless
something is broken (envd does not start, or the in-process physics does
not reproduce the golden trajectory it is checked on).

    python3 bench/bench_python.py                    # starts build/envd on a free loopback port
    python3 bench/bench_python.py --endpoint tcp://127.0.0.1:5555   # an envd you started
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import zmq

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "clients" / "python"))

import envd_client  # noqa: E402
from envd_client._proto import PROTOBUF_IMPLEMENTATION, pb  # noqa: E402

GOAL_ENVS = 1024
GOAL_STEPS_PER_S = 1_000_000


# ------------------------------------------------------------------ envd
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_envd(binary: Path) -> tuple[subprocess.Popen, str]:
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    proc = subprocess.Popen([str(binary), "--bind", endpoint, "--log-level", "warn"])
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"bench_python: envd exited with {proc.returncode} at start")
        try:
            with envd_client.Client(endpoint, timeout=0.2) as c:
                c.ping(b"up?")
            return proc, endpoint
        except envd_client.EnvdTimeout:
            pass
    proc.kill()
    sys.exit("bench_python: envd did not answer within 5 s")


def stop_envd(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


# ------------------------------------------------------------------ through envd
def bench_vector(endpoint: str, n: int, seconds: float, copy: bool = True) -> dict:
    rng = np.random.default_rng(n)
    table = rng.integers(0, 2, size=(64, n), dtype=np.int64)  # actions, drawn before timing
    with envd_client.EnvdVectorEnv("CartPole-v1", n, endpoint, timeout=10.0, copy=copy) as envs:
        envs.reset(seed=0)
        for i in range(50):  # warm-up
            envs.step(table[i % 64])
        calls = 0
        t0 = time.perf_counter()
        deadline = t0 + seconds
        while True:
            envs.step(table[calls & 63])
            calls += 1
            if (calls & 7) == 0 and time.perf_counter() >= deadline:
                break
        elapsed = time.perf_counter() - t0
    return {"envs": n, "calls": calls, "seconds": elapsed, "steps_per_s": calls * n / elapsed,
            "us_per_call": elapsed / calls * 1e6}


def bench_latency(endpoint: str, seconds: float, max_steps: int = 20000) -> dict:
    rng = np.random.default_rng(1)
    actions = rng.integers(0, 2, size=max_steps).tolist()
    lat = np.empty(max_steps)
    with envd_client.EnvdEnv("CartPole-v1", endpoint, timeout=10.0) as env:
        env.reset(seed=0)
        for i in range(100):
            if any(env.step(actions[i])[2:4]):
                env.reset()
        n = 0
        deadline = time.perf_counter() + seconds
        while n < max_steps:
            t0 = time.perf_counter()
            _, _, term, trunc, _ = env.step(actions[n])
            lat[n] = time.perf_counter() - t0
            n += 1
            if term or trunc:
                env.reset()
            if time.perf_counter() >= deadline:
                break
    lat = lat[:n] * 1e6
    return {"steps": n, "p50_us": float(np.percentile(lat, 50)), "p99_us": float(np.percentile(lat, 99)),
            "mean_us": float(lat.mean()), "steps_per_s": 1e6 / float(lat.mean())}


def bench_breakdown(endpoint: str, n: int, reps: int = 2000) -> dict:
    """Client-side cost of one step of n envs: the encode (actions bytes into
    the prebuilt request, serialize) and the decode (parse the reply, numpy
    views and copies), timed on their own. The rest of a round trip is
    ZeroMQ, the kernel's loopback and envd."""
    with envd_client.EnvdVectorEnv("CartPole-v1", n, endpoint, timeout=10.0) as envs:
        envs.reset(seed=0)
        a = np.random.default_rng(0).integers(0, 2, size=n, dtype=np.int64)
        req = envs._shards[0].step_req  # one server: its prebuilt request
        tensor = req.step_batch.actions
        req.major, req.id = 1, 1 << 40  # an id the client never uses
        t0 = time.perf_counter()
        for _ in range(reps):
            tensor.data = a.tobytes()
            data = req.SerializeToString()
        encode = (time.perf_counter() - t0) / reps
        envs.client._sock.send(data)
        raw = envs.client._sock.recv()
        assert pb.Response.FromString(raw).status.code == 0
        t0 = time.perf_counter()
        for _ in range(reps):
            rep = pb.Response.FromString(raw).step_batch
            obs = np.frombuffer(rep.observations.data, np.float32).reshape(n, 4).copy()
            np.frombuffer(rep.rewards, np.float64).copy()
            np.frombuffer(rep.terminated, np.bool_).copy()
            np.frombuffer(rep.truncated, np.bool_).copy()
        decode = (time.perf_counter() - t0) / reps
        assert obs.shape == (n, 4)
    return {"envs": n, "request_bytes": len(data), "reply_bytes": len(raw),
            "encode_us": encode * 1e6, "decode_us": decode * 1e6}


# ------------------------------------------------------------------ in-process CartPole
GRAVITY, MASSPOLE, TOTAL_MASS, LENGTH = 9.8, 0.1, 1.1, 0.5
POLEMASS_LENGTH, FORCE_MAG, TAU = 0.05, 10.0, 0.02
THETA_LIMIT = 12 * 2 * math.pi / 360
X_LIMIT = 2.4


def py_step(state, action):
    """Gymnasium's CartPole step in plain Python floats (semantics note, section 4)."""
    x, x_dot, theta, theta_dot = state
    force = FORCE_MAG if action == 1 else -FORCE_MAG
    c, s = math.cos(theta), math.sin(theta)
    temp = (force + POLEMASS_LENGTH * (theta_dot * theta_dot) * s) / TOTAL_MASS
    thetaacc = (GRAVITY * s - c * temp) / (LENGTH * (4.0 / 3.0 - MASSPOLE * (c * c) / TOTAL_MASS))
    xacc = temp - POLEMASS_LENGTH * thetaacc * c / TOTAL_MASS
    new = (x + TAU * x_dot, x_dot + TAU * xacc, theta + TAU * theta_dot, theta_dot + TAU * thetaacc)
    terminated = new[0] < -X_LIMIT or new[0] > X_LIMIT or new[2] < -THETA_LIMIT or new[2] > THETA_LIMIT
    return new, terminated


def check_py_physics_against_golden() -> int:
    """The comparison is only fair if the in-process loop computes the real
    thing: replay golden episodes with it and compare float32 bits."""
    checked = 0
    with open(REPO / "tests" / "data" / "cartpole_v1_public.jsonl") as f:
        for line in f:
            case = json.loads(line)
            if not case["case_id"].startswith("public/random/"):
                continue
            seg = case["segments"][0]
            state = tuple(np.frombuffer(bytes.fromhex("".join(seg["initial_state_f64_hex"])), ">f8").tolist())
            for st in seg["steps"]:
                state, term = py_step(state, st["action"])
                got = np.array(state, np.float32).view(np.uint32)
                want = np.array([int(h, 16) for h in st["obs_hex"]], np.uint32)
                if not np.array_equal(got, want) or term != st["terminated"]:
                    sys.exit(f"bench_python: in-process physics diverges from {case['case_id']} at t={st['t']}")
                checked += 1
    return checked


def bench_py_scalar(seconds: float) -> dict:
    rng = np.random.default_rng(2)
    actions = rng.integers(0, 2, size=4096).tolist()
    uniform = np.random.default_rng(3).uniform(-0.05, 0.05, size=(4096, 4)).tolist()
    state, steps, resets = tuple(uniform[0]), 0, 0
    t0 = time.perf_counter()
    deadline = t0 + seconds
    while True:
        for _ in range(256):
            state, term = py_step(state, actions[steps & 4095])
            steps += 1
            if term:
                resets += 1
                state = tuple(uniform[resets & 4095])
        if time.perf_counter() >= deadline:
            break
    elapsed = time.perf_counter() - t0
    return {"envs": 1, "steps_per_s": steps / elapsed}


def np_step(state, actions):
    """The same physics on (N, 4) float64 arrays."""
    x, x_dot, theta, theta_dot = state.T
    force = np.where(actions == 1, FORCE_MAG, -FORCE_MAG)
    c, s = np.cos(theta), np.sin(theta)
    temp = (force + POLEMASS_LENGTH * (theta_dot * theta_dot) * s) / TOTAL_MASS
    thetaacc = (GRAVITY * s - c * temp) / (LENGTH * (4.0 / 3.0 - MASSPOLE * (c * c) / TOTAL_MASS))
    xacc = temp - POLEMASS_LENGTH * thetaacc * c / TOTAL_MASS
    new = np.stack([x + TAU * x_dot, x_dot + TAU * xacc, theta + TAU * theta_dot,
                    theta_dot + TAU * thetaacc], axis=1)
    terminated = (np.abs(new[:, 0]) > X_LIMIT) | (np.abs(new[:, 2]) > THETA_LIMIT)
    return new, terminated


def bench_py_numpy(n: int, seconds: float) -> dict:
    rng = np.random.default_rng(n)
    table = rng.integers(0, 2, size=(64, n))
    state = rng.uniform(-0.05, 0.05, size=(n, 4))
    elapsed_steps = np.zeros(n, np.int64)
    calls = 0
    t0 = time.perf_counter()
    deadline = t0 + seconds
    while True:
        state, terminated = np_step(state, table[calls & 63])
        elapsed_steps += 1
        done = terminated | (elapsed_steps >= 500)
        if done.any():  # reset finished rows in place, as an autoresetting vector env would
            state[done] = rng.uniform(-0.05, 0.05, size=(int(done.sum()), 4))
            elapsed_steps[done] = 0
        obs = state.astype(np.float32)
        calls += 1
        if (calls & 7) == 0 and time.perf_counter() >= deadline:
            break
    assert obs.shape == (n, 4)
    elapsed = time.perf_counter() - t0
    return {"envs": n, "steps_per_s": calls * n / elapsed, "us_per_call": elapsed / calls * 1e6}


class PyCartPoleEnv:
    """A Gymnasium-style env in plain Python: the physics above behind
    reset/step with float32 observations and a 500-step TimeLimit, as
    gymnasium's CartPoleEnv + TimeLimit present them."""

    def __init__(self, seed: int):
        self._rng = np.random.default_rng(seed)
        self._state = None
        self._elapsed = 0

    def reset(self):
        self._state = tuple(self._rng.uniform(-0.05, 0.05, size=4).tolist())
        self._elapsed = 0
        return np.array(self._state, dtype=np.float32), {}

    def step(self, action):
        self._state, terminated = py_step(self._state, action)
        self._elapsed += 1
        return (np.array(self._state, dtype=np.float32), 1.0, terminated,
                self._elapsed >= 500, {})


class PySyncVectorEnv:
    """The shape of gymnasium's SyncVectorEnv (next-step autoreset): one
    Python env object per sub-env, stepped in a loop, results batched into
    arrays."""

    def __init__(self, n: int):
        self.envs = [PyCartPoleEnv(i) for i in range(n)]
        self._obs = np.zeros((n, 4), np.float32)
        self._rew = np.zeros(n, np.float64)
        self._term = np.zeros(n, np.bool_)
        self._trunc = np.zeros(n, np.bool_)
        self._autoreset = np.zeros(n, np.bool_)

    def reset(self):
        for i, env in enumerate(self.envs):
            self._obs[i], _ = env.reset()
        return self._obs.copy(), {}

    def step(self, actions):
        for i, env in enumerate(self.envs):
            if self._autoreset[i]:
                self._obs[i], _ = env.reset()
                self._rew[i], self._term[i], self._trunc[i] = 0.0, False, False
            else:
                self._obs[i], self._rew[i], self._term[i], self._trunc[i], _ = env.step(actions[i])
        self._autoreset = self._term | self._trunc
        return self._obs.copy(), self._rew.copy(), self._term.copy(), self._trunc.copy(), {}


def bench_py_syncvec(n: int, seconds: float) -> dict:
    table = np.random.default_rng(n).integers(0, 2, size=(64, n)).tolist()
    envs = PySyncVectorEnv(n)
    envs.reset()
    calls = 0
    t0 = time.perf_counter()
    deadline = t0 + seconds
    while True:
        envs.step(table[calls & 63])
        calls += 1
        if time.perf_counter() >= deadline:
            break
    elapsed = time.perf_counter() - t0
    return {"envs": n, "steps_per_s": calls * n / elapsed, "us_per_call": elapsed / calls * 1e6}


# ------------------------------------------------------------------ main
def main() -> int:
    p = argparse.ArgumentParser(description="CartPole env steps/s from Python, through envd and in-process")
    p.add_argument("--envd", default=str(REPO / "build" / "envd"), help="envd binary to start")
    p.add_argument("--endpoint", help="use this running envd instead of starting one")
    p.add_argument("--sizes", default="1,64,256,1024", help="vector sizes")
    p.add_argument("--seconds", type=float, default=2.5, help="timed seconds per case")
    args = p.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    proc = None
    endpoint = args.endpoint
    if endpoint is None:
        proc, endpoint = start_envd(Path(args.envd))
    try:
        print(f"bench_python: CartPole-v1, envd at {endpoint} ({'started here' if proc else 'given'})")
        print(f"  python {platform.python_version()}, numpy {np.__version__}, pyzmq {zmq.__version__} "
              f"(libzmq {zmq.zmq_version()}), protobuf runtime: {PROTOBUF_IMPLEMENTATION}, "
              f"gymnasium: {'yes' if envd_client.HAVE_GYMNASIUM else 'no (stand-in base classes)'}, "
              f"{os.cpu_count()} CPUs")
        print()
        print("EnvdVectorEnv.step over tcp loopback (one step_batch per call, copy=True):")
        print(f"  {'envs':>6} {'calls/s':>10} {'us/call':>9} {'env steps/s':>13}")
        vec = {}
        for n in sizes:
            r = bench_vector(endpoint, n, args.seconds)
            vec[n] = r
            print(f"  {n:>6} {r['calls'] / r['seconds']:>10,.0f} {r['us_per_call']:>9.1f} {r['steps_per_s']:>13,.0f}")
        if GOAL_ENVS in sizes:
            r = bench_vector(endpoint, GOAL_ENVS, min(args.seconds, 1.5), copy=False)
            print(f"  {GOAL_ENVS:>6} {r['calls'] / r['seconds']:>10,.0f} {r['us_per_call']:>9.1f} "
                  f"{r['steps_per_s']:>13,.0f}   (copy=False: read-only views of the reply)")
        print()
        lat = bench_latency(endpoint, args.seconds)
        print(f"EnvdEnv.step latency, single env ({lat['steps']} steps): p50 {lat['p50_us']:.1f} us, "
              f"p99 {lat['p99_us']:.1f} us, mean {lat['mean_us']:.1f} us = {lat['steps_per_s']:,.0f} steps/s")
        print()
        bn = max(sizes)
        b = bench_breakdown(endpoint, bn)
        wire = vec[bn]["us_per_call"] - b["encode_us"] - b["decode_us"]
        print(f"Where a {bn}-env step goes (request {b['request_bytes']} B, reply {b['reply_bytes']} B):")
        print(f"  client encode {b['encode_us']:.1f} us + client decode {b['decode_us']:.1f} us "
              f"+ ZeroMQ/loopback/envd {wire:.1f} us = {vec[bn]['us_per_call']:.1f} us per call")
        print()
        checked = check_py_physics_against_golden()
        print(f"In-process CartPole in pure Python (physics checked bit-exact on {checked} golden steps):")
        s = bench_py_scalar(args.seconds * 0.8)
        print(f"  scalar loop (math.sin/cos), 1 env: {s['steps_per_s']:>13,.0f} env steps/s")
        local = {}
        for n in sizes:
            r = bench_py_numpy(n, args.seconds * 0.6)
            local[n] = r
            print(f"  numpy-vectorised, {n:>4} envs:      {r['steps_per_s']:>13,.0f} env steps/s "
                  f"({r['us_per_call']:.1f} us/call)")
        sync = {}
        for n in sizes:
            r = bench_py_syncvec(n, args.seconds * 0.6)
            sync[n] = r
            print(f"  SyncVectorEnv-style, {n:>4} envs:   {r['steps_per_s']:>13,.0f} env steps/s "
                  f"({r['us_per_call']:.1f} us/call; one Python env object per sub-env)")
        print()
        print("Summary (env steps/s):")
        print(f"  {'envs':>6} {'EnvdVectorEnv':>14} {'SyncVectorEnv-style':>20} {'ratio':>7} "
              f"{'in-process numpy':>17} {'ratio':>7}")
        for n in sizes:
            print(f"  {n:>6} {vec[n]['steps_per_s']:>14,.0f} {sync[n]['steps_per_s']:>20,.0f} "
                  f"{vec[n]['steps_per_s'] / sync[n]['steps_per_s']:>7.2f} "
                  f"{local[n]['steps_per_s']:>17,.0f} {vec[n]['steps_per_s'] / local[n]['steps_per_s']:>7.2f}")
        if GOAL_ENVS in vec:
            got = vec[GOAL_ENVS]["steps_per_s"]
            verdict = "met" if got >= GOAL_STEPS_PER_S else "NOT met"
            print(f"Goal: >= {GOAL_STEPS_PER_S:,} env steps/s at {GOAL_ENVS} envs over tcp loopback: "
                  f"{verdict} ({got:,.0f})")
    finally:
        if proc is not None:
            stop_envd(proc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
