#!/usr/bin/env python3
"""Training on two envd servers, one of them slow, with the async API.

    python3 clients/python/examples/async_two_servers.py \
        --endpoint tcp://127.0.0.1:5555 --endpoint tcp://127.0.0.1:5556 --delay 0.01

A linear CartPole-v1 policy (push right when obs @ theta > 0) learned by
evolution strategies, in numpy: every sub-env plays whole episodes with a
perturbation theta + sigma * eps of its own, and every ``--population``
finished episodes move theta along the return-weighted mean of their
perturbations. The sub-envs are spread over the two servers; the second is
reached through a forwarder that holds each request ``--delay`` seconds
(``delay_proxy.py``: a slow host, a distant rack). With
``EnvdVectorEnv(..., batch_size=M)`` the loop is EnvPool's:
``recv()`` hands back the first M sub-envs whose results have arrived,
``send(actions, env_id)`` steps exactly those, so the fast server's
sub-envs never wait for the slow one's; both contribute what they can. It
prints, per server, the env steps it served, the learning curve, and a
final greedy evaluation of theta.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

try:
    import envd_client
except ImportError:  # run from a checkout without installing: use the package beside us
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import envd_client

sys.path.insert(0, str(Path(__file__).resolve().parent))
from delay_proxy import DelayProxy  # noqa: E402


def evaluate(endpoint: str, theta: np.ndarray, episodes: int, seed: int) -> float:
    """Mean return of the greedy linear policy over seeded episodes."""
    total = 0.0
    with envd_client.EnvdEnv("CartPole-v1", endpoint) as env:
        for k in range(episodes):
            obs, _ = env.reset(seed=seed + k)
            done = False
            while not done:
                obs, reward, terminated, truncated, _ = env.step(int(obs @ theta > 0))
                total += reward
                done = terminated or truncated
    return total / episodes


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--endpoint", action="append", help="an envd; give two (default: one, twice)")
    p.add_argument("--delay", type=float, default=0.01, help="seconds the second server's forwarder holds each request")
    p.add_argument("--num-envs", type=int, default=16)
    p.add_argument("--batch-size", type=int, default=4, help="sub-envs per recv()")
    p.add_argument("--steps", type=int, default=40000, help="env step budget")
    p.add_argument("--population", type=int, default=16, help="episodes per update")
    p.add_argument("--sigma", type=float, default=0.5)
    p.add_argument("--lr", type=float, default=0.5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timeout", type=float, default=5.0)
    args = p.parse_args()
    endpoints = args.endpoint or [envd_client.DEFAULT_ENDPOINT]
    if len(endpoints) == 1:
        endpoints = endpoints * 2
    if len(endpoints) != 2:
        p.error("give two --endpoint (or one, used for both servers)")

    rng = np.random.default_rng(args.seed)
    n = args.num_envs
    theta = np.zeros(4)
    eps = rng.standard_normal((n, 4))          # each sub-env's current perturbation
    ret = np.zeros(n)                          # its current episode's return
    starting = np.ones(n, bool)                # its next result is a reset
    finished_eps, finished_ret = [], []
    curve = []                                 # (env steps, mean return) per update
    steps = 0
    proxy = DelayProxy(endpoints[1], args.delay)
    t0 = time.perf_counter()
    with envd_client.EnvdVectorEnv("CartPole-v1", n, endpoints=[endpoints[0], proxy.endpoint],
                                   batch_size=args.batch_size, timeout=args.timeout) as envs:
        served = np.zeros(2, int)              # env steps per server
        envs.async_reset(seed=args.seed)
        while steps < args.steps:
            obs, rewards, terminated, truncated, info = envs.recv()
            ids = info["env_id"]
            actions = np.zeros(len(ids), np.int64)
            for k, i in enumerate(ids):
                if starting[i]:                # a fresh episode: a fresh perturbation
                    starting[i] = False
                    ret[i] = 0.0
                    eps[i] = rng.standard_normal(4)
                else:
                    ret[i] += rewards[k]
                    steps += 1
                    served[envs.server_of[i]] += 1
                    if terminated[k] or truncated[k]:
                        finished_eps.append(eps[i].copy())
                        finished_ret.append(ret[i])
                        starting[i] = True     # next_step autoreset: the next send resets it
                actions[k] = int(obs[k] @ (theta + args.sigma * eps[i]) > 0)
            if len(finished_ret) >= args.population:
                r = np.array(finished_ret)
                e = np.array(finished_eps)
                if r.std() > 0:
                    theta += args.lr / (len(r) * args.sigma) * ((r - r.mean()) / r.std()) @ e
                curve.append((steps, r.mean()))
                finished_eps, finished_ret = [], []
            envs.send(actions, ids)
    wall = time.perf_counter() - t0
    proxy.close()
    print(f"{n} sub-envs over 2 servers, batch_size {args.batch_size}, "
          f"second server {args.delay * 1000:g} ms slower per request")
    print(f"server 0 (direct): {served[0]} env steps; server 1 (slow): {served[1]} env steps; "
          f"{steps} in {wall:.1f} s")
    shown = sorted(set(range(0, len(curve), max(1, len(curve) // 8))) | {len(curve) - 1})
    for k in (k for k in shown if k >= 0):
        print(f"update {k + 1:3d}: {curve[k][0]:6d} env steps, mean return {curve[k][1]:6.1f}")
    score = evaluate(endpoints[0], theta, 10, 10_000)
    print(f"greedy evaluation of theta = {np.round(theta, 3).tolist()}: mean return {score:.1f} "
          "over 10 episodes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
