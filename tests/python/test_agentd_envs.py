"""agentd on every environment it can learn: per-environment defaults
(agent/presets.c), Gymnasium's reward thresholds as --target-return, and
continuous-action environments refused at start.

The defaults --help shows follow --env-id (flag or AGENTD_ENV_ID), and a
flag still overrides a preset's default. A short real run against a live
envd trains on Acrobot-v1 with the preset's threshold and reports it in
summary.json.
"""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest

from conftest import AGENTD, EnvdProcess

CLEAN_ENV = {k: v for k, v in os.environ.items() if not k.startswith("AGENTD_")}


def agentd(*args: str, env: dict[str, str] | None = None, timeout: float = 30):
    return subprocess.run([str(AGENTD), *args], capture_output=True, text=True, timeout=timeout,
                          env={**CLEAN_ENV, **(env or {})})


def default_of(help_text: str, flag: str) -> str:
    m = re.search(rf"--{flag}(?:\[=BOOL\])? .*\n\s+\[env AGENTD_\S+; default ([^\]]+)\]", help_text)
    assert m, f"--{flag} not in --help"
    return m.group(1)


@pytest.mark.parametrize("env_id,target", [("CartPole-v1", "475"), ("CartPole-v0", "195"),
                                           ("Acrobot-v1", "-100"), ("MountainCar-v0", "-110")])
def test_target_return_defaults_to_gymnasiums_threshold(env_id, target):
    r = agentd("--env-id", env_id, "--help")
    assert r.returncode == 0, r.stderr
    assert default_of(r.stdout, "target-return") == target
    assert default_of(r.stdout, "env-id") == "CartPole-v1"  # the table's own default


def test_presets_change_defaults_and_the_env_twin_selects_them():
    cp = agentd("--help").stdout
    mc = agentd("--help", env={"AGENTD_ENV_ID": "MountainCar-v0"}).stdout
    assert default_of(cp, "hidden") == "64,64"
    assert default_of(mc, "hidden") != default_of(cp, "hidden")
    assert default_of(mc, "target-return") == "-110"
    # the last --env-id wins over the twin, as for every option
    last = agentd("--help", "--env-id", "Acrobot-v1", env={"AGENTD_ENV_ID": "MountainCar-v0"}).stdout
    assert default_of(last, "target-return") == "-100"


def test_the_measured_defaults_of_each_environment():
    # docs/agentd.md, "Defaults per environment": what each row changes, and nothing else
    cp = agentd("--help").stdout
    ac = agentd("--help", "--env-id", "Acrobot-v1").stdout
    mc = agentd("--help", "--env-id", "MountainCar-v0").stdout
    changed = {"Acrobot-v1": {"eval-every": "1000"},
               "MountainCar-v0": {"sessions": "1", "groups": "1", "hidden": "256,256",
                                  "lr": "4e-3", "gamma": "0.98", "batch-size": "128",
                                  "buffer-size": "10000", "train-freq": "16",
                                  "gradient-steps": "8", "target-update": "300",
                                  "eps-end": "0.07", "eps-decay-steps": "24000",
                                  "eval-every": "1000"}}
    flags = sorted({f for c in changed.values() for f in c} | {"learning-starts", "tau",
                                                                "double-dqn", "eps-start",
                                                                "total-steps", "eval-episodes"})
    for env_id, text in (("Acrobot-v1", ac), ("MountainCar-v0", mc)):
        for flag in flags:
            want = changed[env_id].get(flag, default_of(cp, flag))
            assert default_of(text, flag) == want, (env_id, flag)


@pytest.mark.parametrize("env_id", ["Pendulum-v1", "MountainCarContinuous-v0"])
def test_continuous_action_environments_are_refused_at_start(env_id):
    r = agentd("--env-id", env_id)
    assert r.returncode == 2
    assert f"{env_id} has a continuous (Box) action space" in r.stderr
    assert "DQN needs discrete actions" in r.stderr


def test_an_unknown_environment_needs_a_target_return():
    r = agentd("--env-id", "LunarLander-v3")
    assert r.returncode == 2
    assert "LunarLander-v3 has no known reward threshold: give --target-return" in r.stderr


def test_a_short_acrobot_run_trains_with_the_presets_target(envd, tmp_path):
    logdir = tmp_path / "logs"
    r = agentd("--env", envd.endpoint, "--env-id", "Acrobot-v1", "--total-steps", "3000",
               "--eval-every", "0", "--eval-episodes", "4", "--progress", "0", "--logdir",
               str(logdir), "--lr", "1e-3", timeout=120)
    assert r.returncode == 3, r.stderr  # the budget is far too small to solve it
    s = json.loads((logdir / "summary.json").read_text())
    assert s["env_id"] == "Acrobot-v1"
    assert s["target_return"] == -100
    assert s["env_steps"] >= 3000
    assert s["hyperparameters"]["lr"] == 0.001  # a flag over the preset
    assert s["final_eval"]["episodes"] == 4


def test_a_server_whose_batch_limit_is_below_the_evaluation_fails_for_good(tmp_path):
    # An evaluation makes --eval-episodes sessions at once: a server that
    # takes fewer per batch can never evaluate, so it is refused at once,
    # naming both numbers, not dropped and probed again and again.
    server = EnvdProcess(tmp_path, "--max-batch", "20").start()
    try:
        r = agentd("--env", server.endpoint, "--sessions", "16", "--eval-episodes", "100",
                   "--progress", "0", timeout=60)
        assert r.returncode == 1, r.stderr
        assert "cannot serve this run: it takes at most 20 sessions per batch, " \
               "--eval-episodes is 100" in r.stderr
        assert "dropped" not in r.stderr
        # Within the limit the run trains and its evaluations ride along.
        r = agentd("--env", server.endpoint, "--sessions", "16", "--eval-episodes", "20",
                   "--total-steps", "3000", "--eval-every", "1000", "--target-return", "1e9",
                   "--progress", "0", timeout=120)
        assert r.returncode == 3, r.stderr
        assert "eval at 1000 env steps" in r.stderr
        assert "dropped" not in r.stderr
    finally:
        server.stop()
