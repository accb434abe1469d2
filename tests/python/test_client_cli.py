"""`python3 -m envd_client ENDPOINT`: the Python client's own command line.

(tests/python/test_cli.py is about envd's and agentd's command lines.)
It runs as a user would run it, in a subprocess, against a live envd whose
limits and counters the test sets, and its report is compared with what
the protocol itself returns for the same server. Exit status 0 when the
server answered, 1 when it cannot be reached, 2 for usage errors.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import numpy as np
import pytest

import envd_client
from conftest import REPO, EnvdProcess, free_port


def cli(*args: str, timeout: float = 60):
    env = dict(os.environ, PYTHONPATH=str(REPO / "clients" / "python"))
    return subprocess.run([sys.executable, "-m", "envd_client", *args], capture_output=True,
                          text=True, timeout=timeout, env=env, cwd=REPO)


@pytest.fixture
def busy_envd(tmp_path):
    """An envd with set limits, 3 open sessions of CartPole-v1 and 5
    stepped env steps (reset is not a step)."""
    server = EnvdProcess(tmp_path, "--max-batch", "77", "--session-ttl", "42.5").start()
    envs = envd_client.EnvdVectorEnv("CartPole-v1", 3, server.endpoint)
    envs.reset(seed=0)
    envs.step(np.zeros(3, np.int64))  # 3 steps
    envs.close()
    env = envd_client.EnvdEnv("CartPole-v1", server.endpoint)
    env.reset(seed=1)
    env.step(0)
    env.step(1)  # 2 steps
    yield server, env
    env.close()
    assert server.stop() == 0, server.log()


def test_reports_version_environments_limits_and_stats_of_a_live_server(busy_envd):
    server, _env = busy_envd
    r = cli(server.endpoint)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    out = r.stdout

    with envd_client.Client(server.endpoint) as c:
        hello = c.hello()
        assert f"envd at {server.endpoint}: {hello.server_version}, protocol {hello.major}.{hello.minor}" in out
        assert f"environments ({len(hello.env_ids)}):" in out
        for env_id in hello.env_ids:
            line = next(ln for ln in out.splitlines() if ln.strip().startswith(env_id + " "))
            d = c.describe(env_id=env_id)
            assert f"max_episode_steps {d.spec.max_episode_steps}" in line, line
            if d.action_space.WhichOneof("kind") == "discrete":
                assert f"action Discrete({d.action_space.discrete.n})" in line, line
            shape = tuple(d.observation_space.box.shape)
            assert f"observation Box{shape} float32" in line, line

    cartpole = next(ln for ln in out.splitlines() if ln.strip().startswith("CartPole-v1 "))
    assert re.search(r"observation Box\(4,\) float32, action Discrete\(2\), "
                     r"max_episode_steps 500, reward_threshold 475$", cartpole), cartpole
    assert "limits: max_batch 77, max_sessions 100000, session_ttl 42.5 s" in out
    # 4 sessions made, 3 closed again; 3 + 2 env steps
    assert re.search(r"^stats: 1 active sessions, 4 created, 0 reclaimed, 5 env steps, \d+ requests, "
                     r"0 errors, up \d+\.\d s$", out, re.M), out
    assert re.search(r"^ping: median \d+ us, max \d+ us over 5$", out, re.M), out


def test_creates_nothing_on_the_server(envd):
    with envd_client.Client(envd.endpoint) as c:
        before = c.stats()
        assert cli(envd.endpoint).returncode == 0
        after = c.stats()
    assert (after.sessions_created, after.active_sessions, after.env_steps) == \
        (before.sessions_created, before.active_sessions, before.env_steps)


def test_no_server_exits_1_naming_the_endpoint_and_what_to_check():
    ep = f"tcp://127.0.0.1:{free_port()}"
    r = cli(ep, "--timeout", "0.3")
    assert r.returncode == 1, r.stdout + r.stderr
    assert r.stdout == ""
    assert f"{ep} did not answer within 0.3 s" in r.stderr
    assert f"check that envd runs there (envd --bind {ep})" in r.stderr
    assert "python3 -m envd_client ENDPOINT" not in r.stderr  # that is what ran


def test_an_unresolvable_host_exits_1_at_once():
    r = cli("tcp://no-such-host.invalid:5555")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "cannot resolve host 'no-such-host.invalid'" in r.stderr
    assert "did not answer" not in r.stderr


@pytest.mark.parametrize("args, needle", [
    (["--no-such-flag"], "unrecognized arguments: --no-such-flag"),
    (["not-an-endpoint"], "cannot connect to 'not-an-endpoint'"),
    (["tcp://127.0.0.1:5555", "--timeout", "-1"], "timeout must be a number of seconds > 0"),
    (["tcp://127.0.0.1:5555", "--timeout", "soon"], "invalid float value: 'soon'"),
    (["tcp://127.0.0.1:5555", "--secret-key", "/nonexistent/agent.key"], "CURVE needs server_public_key"),
    (["tcp://127.0.0.1:5555", "extra"], "unrecognized arguments: extra"),
])
def test_usage_errors_exit_2_and_say_what_was_wrong(args, needle):
    r = cli(*args)
    assert r.returncode == 2, r.stdout + r.stderr
    assert needle in r.stderr, r.stderr
    assert r.stdout == ""


def test_help_names_the_exit_statuses():
    r = cli("--help")
    assert r.returncode == 0
    assert "Exit status: 0 the server answered, 1 unreachable or refused, 2 usage error." in \
        " ".join(r.stdout.split())
