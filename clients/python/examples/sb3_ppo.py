#!/usr/bin/env python3
"""Train Stable-Baselines3's PPO on CartPole-v1 running in envd.

    python3 clients/python/examples/sb3_ppo.py --endpoint tcp://127.0.0.1:5555 --num-envs 8

The environment is ``EnvdSB3VecEnv``: SB3's VecEnv contract over one envd
batch, so every PPO rollout step is one request for all the envs:

    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import VecMonitor
    from envd_client.sb3 import EnvdSB3VecEnv

    venv = VecMonitor(EnvdSB3VecEnv("CartPole-v1", num_envs=8, endpoint=...))
    PPO("MlpPolicy", venv).learn(100_000)

First it rolls the VecEnv out with random actions for --check-steps steps
and says what SB3 would see (episodes ended, terminal observations, time
limit truncations): that part needs no SB3. Then it trains PPO for
--timesteps and plays --eval-episodes greedy episodes. Without
stable-baselines3 (pip install "stable-baselines3>=2.4" gymnasium) it
says so and exits with status 3 after the rollout.
"""

import argparse
import sys
from pathlib import Path

import numpy as np

try:
    import envd_client
except ImportError:  # run from a checkout without installing: use the package beside us
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import envd_client
from envd_client.sb3 import HAVE_SB3, EnvdSB3VecEnv

NO_SB3 = 3  # exit status when stable-baselines3 is missing


def check_rollout(venv, steps: int, seed: int) -> None:
    """Random actions through the SB3 contract, counted as SB3 reads them."""
    rng = np.random.default_rng(seed)
    venv.seed(seed)
    obs = venv.reset()
    ended = truncated = with_terminal = 0
    for _ in range(steps):
        obs, rewards, dones, infos = venv.step(rng.integers(0, 2, venv.num_envs))
        for done, info in zip(dones, infos):
            if done:
                ended += 1
                truncated += info["TimeLimit.truncated"]
                with_terminal += "terminal_observation" in info
    print(f"EnvdSB3VecEnv: {venv.num_envs} envs, observations {obs.shape} {obs.dtype}, "
          f"action space {venv.action_space}")
    print(f"random rollout: {steps} steps, {ended} episodes ended ({truncated} by the time limit), "
          f"terminal_observation in {with_terminal} of {ended} done infos")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--endpoint", default=envd_client.DEFAULT_ENDPOINT, help="envd's ZeroMQ endpoint")
    p.add_argument("--num-envs", type=int, default=8)
    p.add_argument("--check-steps", type=int, default=200, help="random steps before training")
    p.add_argument("--timesteps", type=int, default=100_000, help="PPO training steps")
    p.add_argument("--eval-episodes", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    try:
        venv = EnvdSB3VecEnv("CartPole-v1", args.num_envs, args.endpoint)
    except envd_client.EnvdError as exc:
        print(f"cannot use envd at {args.endpoint}: {exc}", file=sys.stderr)
        return 1
    with venv:
        check_rollout(venv, args.check_steps, args.seed)
        if not HAVE_SB3:
            print("stable-baselines3 is not installed, so PPO cannot train here: "
                  "pip install \"stable-baselines3>=2.4\" gymnasium, then run this again",
                  file=sys.stderr)
            return NO_SB3

        from stable_baselines3 import PPO
        from stable_baselines3.common.evaluation import evaluate_policy
        from stable_baselines3.common.vec_env import VecMonitor

        monitored = VecMonitor(venv)  # episode returns in SB3's logs
        model = PPO("MlpPolicy", monitored, seed=args.seed, verbose=1, device="cpu")
        model.learn(total_timesteps=args.timesteps)
        mean, std = evaluate_policy(model, monitored, n_eval_episodes=args.eval_episodes,
                                    deterministic=True)
        print(f"PPO after {model.num_timesteps} steps: mean return {mean:.1f} +/- {std:.1f} "
              f"over {args.eval_episodes} episodes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
