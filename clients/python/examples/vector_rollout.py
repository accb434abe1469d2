#!/usr/bin/env python3
"""A vectorised rollout on EnvdVectorEnv: N CartPoles stepped in one request.

    python3 clients/python/examples/vector_rollout.py --endpoint tcp://127.0.0.1:5555 \
        --num-envs 64 --steps 500 --autoreset-mode next_step

Runs a simple balancing heuristic (push towards the side the pole leans to)
with a little exploration, and keeps per-episode returns the way a learner
would: in next_step mode a row whose previous step ended is being reset by
this step (its reward is 0 and it starts a new episode); in same_step mode
the terminal observation of a finished row is in infos["final_obs"].
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


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--endpoint", default=envd_client.DEFAULT_ENDPOINT)
    p.add_argument("--num-envs", type=int, default=64)
    p.add_argument("--steps", type=int, default=500, help="vector steps to take")
    p.add_argument("--autoreset-mode", default="next_step", choices=["next_step", "same_step", "disabled"])
    p.add_argument("--epsilon", type=float, default=0.1, help="probability of a random action")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timeout", type=float, default=5.0)
    args = p.parse_args()

    rng = np.random.default_rng(args.seed)
    with envd_client.EnvdVectorEnv("CartPole-v1", args.num_envs, args.endpoint, args.timeout,
                                   autoreset_mode=args.autoreset_mode) as envs:
        obs, _ = envs.reset(seed=args.seed)
        n = envs.num_envs
        episode_return = np.zeros(n)
        finished = []          # returns of finished episodes
        final_obs_seen = 0     # same_step: terminal observations delivered in infos
        t0 = time.perf_counter()
        for _ in range(args.steps):
            actions = (obs[:, 2] + obs[:, 3] > 0).astype(np.int64)   # lean right -> push right
            explore = rng.random(n) < args.epsilon
            actions[explore] = rng.integers(0, 2, size=int(explore.sum()))
            obs, rewards, terminated, truncated, infos = envs.step(actions)
            episode_return += rewards
            done = terminated | truncated
            if args.autoreset_mode == "same_step" and "final_obs" in infos:
                final_obs_seen += int(infos["_final_obs"].sum())
            finished.extend(episode_return[done].tolist())
            episode_return[done] = 0.0
            # next_step: a done row's next step is its reset (reward 0, flags
            # false), so its new episode's return starts from zero there.
            if args.autoreset_mode == "disabled" and done.any():
                obs, _ = envs.reset(options={"reset_mask": done})
        elapsed = time.perf_counter() - t0

    steps = args.steps * n
    print(f"{n} envs x {args.steps} steps ({args.autoreset_mode}): {steps} env steps "
          f"in {elapsed:.2f} s = {steps / elapsed:,.0f} steps/s")
    if finished:
        print(f"{len(finished)} episodes finished, mean return {np.mean(finished):.1f}, "
              f"max {np.max(finished):.0f}")
    else:
        print("no episode finished")
    if args.autoreset_mode == "same_step":
        print(f"terminal observations delivered in infos['final_obs']: {final_obs_seen}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
