"""The examples in clients/python/examples run against a live envd (with
bounded episodes and steps) and say what they did."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import free_port

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "clients" / "python" / "examples"


def run(script: str, *args: str, expect_rc: int = 0) -> str:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the examples find the package themselves
    proc = subprocess.run([sys.executable, str(EXAMPLES / script), *args], capture_output=True,
                          text=True, timeout=120, env=env, cwd=REPO)
    assert proc.returncode == expect_rc, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


def test_random_agent_runs_its_episodes(endpoint):
    out = run("random_agent.py", "--endpoint", endpoint, "--episodes", "4", "--max-steps", "200")
    assert len(re.findall(r"^episode \d+: return \d+ in \d+ steps", out, re.M)) == 4
    assert "mean return over 4 episodes" in out


@pytest.mark.parametrize("mode", ["next_step", "same_step", "disabled"])
def test_vector_rollout_runs_in_every_autoreset_mode(endpoint, mode):
    out = run("vector_rollout.py", "--endpoint", endpoint, "--num-envs", "16", "--steps", "300",
              "--autoreset-mode", mode, "--epsilon", "0.5")
    assert "16 envs x 300 steps" in out and "4800 env steps" in out
    assert re.search(r"\d+ episodes finished, mean return", out), out
    if mode == "same_step":
        delivered = int(re.search(r"infos\['final_obs'\]: (\d+)", out).group(1))
        finished = int(re.search(r"(\d+) episodes finished", out).group(1))
        assert delivered == finished > 0


def test_remote_envd_reports_server_and_plays(endpoint):
    out = run("remote_envd.py", "--endpoint", endpoint, "--episodes", "2", "--pings", "20")
    assert f"connected to {endpoint}: envd" in out and "protocol 1.2" in out
    assert "CartPole-v1" in out and "max_batch" in out
    assert len(re.findall(r"^episode \d \(seed \d\): return \d+", out, re.M)) == 2
    assert "ping: median" in out and "active sessions" in out


def test_remote_envd_reports_an_unreachable_server_within_its_timeout():
    out = run("remote_envd.py", "--endpoint", f"tcp://127.0.0.1:{free_port()}", "--timeout", "0.3",
              expect_rc=1)
    assert "no answer from" in out


def test_sb3_ppo_rolls_out_the_sb3_vec_env_then_trains_or_says_sb3_is_missing(endpoint):
    from envd_client.sb3 import HAVE_SB3

    out = run("sb3_ppo.py", "--endpoint", endpoint, "--num-envs", "4", "--check-steps", "150",
              "--timesteps", "256", "--eval-episodes", "1", expect_rc=0 if HAVE_SB3 else 3)
    assert "EnvdSB3VecEnv: 4 envs, observations (4, 4) float32, action space Discrete(2)" in out
    m = re.search(r"random rollout: 150 steps, (\d+) episodes ended \(\d+ by the time limit\), "
                  r"terminal_observation in (\d+) of (\d+) done infos", out)
    assert m and int(m.group(1)) > 0 and m.group(1) == m.group(2) == m.group(3), out
    if HAVE_SB3:
        assert re.search(r"PPO after \d+ steps: mean return \d+\.\d", out), out
    else:
        assert "stable-baselines3 is not installed, so PPO cannot train here" in out


def test_async_two_servers_trains_and_the_slow_server_holds_nobody_up(endpoints3):
    out = run("async_two_servers.py", "--endpoint", endpoints3[0], "--endpoint", endpoints3[1],
              "--delay", "0.01", "--steps", "20000", "--seed", "1")
    fast, slow = (int(x) for x in re.search(
        r"server 0 \(direct\): (\d+) env steps; server 1 \(slow\): (\d+) env steps", out).groups())
    assert fast > slow > 0 and fast + slow >= 20000, out
    curve = [float(x) for x in re.findall(r"mean return +([\d.]+)$", out, re.M)]
    assert len(curve) >= 3 and curve[-1] > 2 * curve[0], out   # it learned
    score = float(re.search(r"greedy evaluation .*: mean return ([\d.]+)", out).group(1))
    assert score >= 150, out  # a zero or random linear policy scores 9-30
