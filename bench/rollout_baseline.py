#!/usr/bin/python3
"""rollout_baseline.py — the Python yardstick of `make bench-rollout`'s acting figure.

EnvdVectorEnv (clients/python) over NUM_ENVS CartPole-v1 sessions of one
envd, stepped with the greedy actions of a 4-64-64-2 ReLU MLP in numpy
(float32, random He-initialised weights: the architecture of agentd's
default --hidden 64,64; what it has learnt does not change the cost), as a
Python user's acting loop would be: one forward pass over all sessions,
argmax, one step_batch, autoreset by envd (next_step). Prints env steps/s
over SECONDS after a warm-up, in the format agentd --no-train uses:

    python: acted N env steps in T s: R steps/s on NUM_ENVS sessions

    rollout_baseline.py --endpoint tcp://127.0.0.1:5555 [--num-envs 1024] [--seconds 3]

A benchmark helper: it prints a figure, it checks nothing.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "clients" / "python"))
import envd_client  # noqa: E402


class MLP:
    """obs (N, 4) -> Q (N, 2) through two hidden ReLU layers of 64."""

    def __init__(self, sizes=(4, 64, 64, 2), seed=1):
        rng = np.random.default_rng(seed)
        self.layers = [(rng.standard_normal((i, o), dtype=np.float32) * np.float32(np.sqrt(2 / i)),
                        np.zeros(o, dtype=np.float32)) for i, o in zip(sizes[:-1], sizes[1:])]

    def greedy(self, obs):
        x = obs
        for k, (w, b) in enumerate(self.layers):
            x = x @ w + b
            if k < len(self.layers) - 1:
                np.maximum(x, 0, out=x)
        return np.argmax(x, axis=1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--num-envs", type=int, default=1024)
    ap.add_argument("--seconds", type=float, default=3.0)
    args = ap.parse_args()
    net = MLP()
    with envd_client.EnvdVectorEnv("CartPole-v1", args.num_envs, args.endpoint, timeout=10.0) as envs:
        obs, _ = envs.reset(seed=1)
        for _ in range(20):  # warm-up
            obs, *_ = envs.step(net.greedy(obs))
        steps = 0
        t0 = time.perf_counter()
        deadline = t0 + args.seconds
        while True:
            obs, *_ = envs.step(net.greedy(obs))
            steps += 1
            if (steps & 7) == 0 and time.perf_counter() >= deadline:
                break
        dt = time.perf_counter() - t0
    n = steps * args.num_envs
    print(f"python: acted {n} env steps in {dt:.2f} s: {n / dt:.0f} steps/s on {args.num_envs} sessions")


if __name__ == "__main__":
    main()
