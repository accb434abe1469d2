#!/usr/bin/env python3
"""A random agent on EnvdEnv: the Gymnasium loop, with the physics in envd.

    python3 clients/python/examples/random_agent.py --endpoint tcp://127.0.0.1:5555 --episodes 5

Prints each episode's return and length. A random policy keeps CartPole up
for about 20 steps; --max-steps bounds every episode anyway.
"""

import argparse
import sys
from pathlib import Path

try:
    import envd_client
except ImportError:  # run from a checkout without installing: use the package beside us
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import envd_client


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--endpoint", default=envd_client.DEFAULT_ENDPOINT)
    p.add_argument("--env-id", default="CartPole-v1")
    p.add_argument("--episodes", type=int, default=5)
    p.add_argument("--max-steps", type=int, default=1000, help="bound on steps per episode")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timeout", type=float, default=5.0)
    args = p.parse_args()

    with envd_client.EnvdEnv(args.env_id, endpoint=args.endpoint, timeout=args.timeout) as env:
        env.action_space.seed(args.seed)
        returns = []
        for episode in range(args.episodes):
            # Seed the first reset only: later resets continue the stream, as in Gymnasium.
            obs, info = env.reset(seed=args.seed if episode == 0 else None)
            total, steps = 0.0, 0
            while steps < args.max_steps:
                obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
                total += reward
                steps += 1
                if terminated or truncated:
                    break
            returns.append(total)
            end = "terminated" if terminated else "truncated" if truncated else "cut"
            print(f"episode {episode}: return {total:.0f} in {steps} steps ({end})")
        print(f"mean return over {len(returns)} episodes: {sum(returns) / len(returns):.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
