"""The ``envd/`` ids in Gymnasium's registry, and their time limits.

``gymnasium.make(id, max_episode_steps=N, **kwargs)`` does not hand ``N``
to the entry point: it calls the registered entry point with the spec's
kwargs updated by ``kwargs`` and wraps the result in ``TimeLimit(N)`` (the
registered limit when N is None, none when N is -1). These tests do what
gymnasium.make does, step by step, without gymnasium: load the entry point
named in :func:`registrations`, call it with those kwargs, and count steps
as TimeLimit does. envd's own limit must then never cut an episode short
(test_gymnasium.py does the same through gymnasium itself, where installed).
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest

import envd_client
from envd_client.env import VECTOR_ENTRY_POINT
from envd_client.registration import LIMIT_LEFT_TO_GYMNASIUM, registrations


def balance(obs) -> int:
    """A PD controller that keeps CartPole up for thousands of steps."""
    return int(0.1 * obs[0] + 0.5 * obs[1] + 10 * obs[2] + 2 * obs[3] > 0)


def entry_point_of(env_id: str):
    (reg,) = [r for r in registrations() if r["id"] == env_id]
    module, _, attr = reg["entry_point"].partition(":")  # as gymnasium's load_env_creator
    return getattr(importlib.import_module(module), attr), reg


def gymnasium_make(env_id: str, max_episode_steps: int | None = None, **kwargs):
    """gymnasium.make's path, without gymnasium: (env, the TimeLimit it would apply)."""
    creator, reg = entry_point_of(env_id)
    env = creator(**{**reg["kwargs"], **kwargs})
    limit = max_episode_steps if max_episode_steps is not None else reg["max_episode_steps"]
    return env, (None if limit == -1 else limit)


def run_episode(env, seed: int, time_limit: int | None, cap: int):
    """One episode under a TimeLimit as Gymnasium's: (observations, flags) per step."""
    obs, _ = env.reset(seed=seed)
    trajectory = []
    for t in range(1, cap + 1):
        obs, _, terminated, truncated, _ = env.step(balance(obs))
        if time_limit is not None and t >= time_limit:
            truncated = True
        trajectory.append((obs, terminated, truncated))
        if terminated or truncated:
            break
    return trajectory


def test_registered_ids_carry_gymnasiums_limits_and_thresholds():
    regs = {r["id"]: r for r in registrations()}
    assert (regs["envd/CartPole-v1"]["max_episode_steps"], regs["envd/CartPole-v1"]["reward_threshold"]) == (500, 475.0)
    assert (regs["envd/CartPole-v0"]["max_episode_steps"], regs["envd/CartPole-v0"]["reward_threshold"]) == (200, 195.0)
    for r in regs.values():
        assert r["kwargs"] == {"env_id": r["id"][len("envd/"):]}


def test_max_episode_steps_1000_gives_1000_step_episodes_as_envd_with_that_limit(endpoint):
    env, limit = gymnasium_make("envd/CartPole-v1", max_episode_steps=1000, endpoint=endpoint)
    ref = envd_client.EnvdEnv("CartPole-v1", endpoint, max_episode_steps=1000)
    try:
        assert isinstance(env, envd_client.EnvdEnv) and limit == 1000
        assert env.spec.max_episode_steps == LIMIT_LEFT_TO_GYMNASIUM  # envd's own, out of the way
        got = run_episode(env, seed=0, time_limit=limit, cap=2000)
        want = run_episode(ref, seed=0, time_limit=None, cap=2000)
        assert len(got) == len(want) == 1000
        for (a, ta, ua), (b, tb, ub) in zip(got, want):
            assert np.array_equal(a.view(np.uint32), b.view(np.uint32))
            assert (ta, ua) == (tb, ub)
        assert got[-1][1:] == (False, True) and not any(u for _, _, u in got[:-1])
    finally:
        env.close()
        ref.close()


def test_envd_does_not_truncate_where_only_gymnasiums_limit_should(endpoint):
    env, limit = gymnasium_make("envd/CartPole-v1", max_episode_steps=-1, endpoint=endpoint)
    try:
        assert limit is None
        traj = run_episode(env, seed=1, time_limit=None, cap=1500)
        assert len(traj) == 1500 and not any(t or u for _, t, u in traj)  # past 500: envd's default
    finally:
        env.close()


def test_the_registered_limit_applies_without_max_episode_steps(endpoint):
    env, limit = gymnasium_make("envd/CartPole-v0", endpoint=endpoint)
    try:
        assert limit == 200
        traj = run_episode(env, seed=2, time_limit=limit, cap=1000)
        assert len(traj) == 200 and traj[-1][1:] == (False, True)
    finally:
        env.close()


def test_an_explicit_envd_limit_in_the_kwargs_is_kept(endpoint):
    creator, _ = entry_point_of("envd/CartPole-v1")
    with creator(env_id="CartPole-v1", endpoint=endpoint, max_episode_steps=30) as env:
        assert env.spec.max_episode_steps == 30
        assert len(run_episode(env, seed=0, time_limit=None, cap=100)) == 30


def test_make_vec_passes_max_episode_steps_to_envd(endpoint):
    """gymnasium.make_vec's default mode calls the vector entry point with
    num_envs and the kwargs, max_episode_steps among them (the registered
    one when not given): that is envd's make option."""
    module, _, attr = VECTOR_ENTRY_POINT.partition(":")
    creator = getattr(importlib.import_module(module), attr)
    with creator(num_envs=2, env_id="CartPole-v1", endpoint=endpoint, max_episode_steps=1000) as envs:
        assert envs.spec.max_episode_steps == 1000
        obs, _ = envs.reset(seed=0)
        for t in range(1, 1001):
            obs, _, term, trunc, _ = envs.step(np.array([balance(o) for o in obs]))
            assert not term.any() and trunc.all() == (t == 1000) and trunc.any() == (t == 1000), t


def test_render_mode_is_refused_as_by_the_class(endpoint):
    creator, _ = entry_point_of("envd/CartPole-v1")
    assert creator.metadata == {"render_modes": []}
    with pytest.raises(envd_client.InvalidArgument, match="do not render"):
        creator(env_id="CartPole-v1", endpoint=endpoint, render_mode="human")


SUITE_LIMITS = {"CartPole-v1": (500, 475.0), "CartPole-v0": (200, 195.0), "Acrobot-v1": (500, -100.0),
                "MountainCar-v0": (200, -110.0), "MountainCarContinuous-v0": (999, 90.0),
                "Pendulum-v1": (200, None)}


def test_every_environment_envd_serves_is_registered_with_gymnasiums_limits():
    regs = {r["id"]: r for r in registrations()}
    assert set(regs) == {f"envd/{e}" for e in SUITE_LIMITS}
    for env_id, (steps, threshold) in SUITE_LIMITS.items():
        reg = regs[f"envd/{env_id}"]
        assert (reg["max_episode_steps"], reg["reward_threshold"]) == (steps, threshold), env_id
        assert reg["kwargs"] == {"env_id": env_id}


@pytest.mark.parametrize("env_id,action,limit", [
    ("Pendulum-v1", np.array([0.5], np.float32), None),          # never terminates: 200
    ("Pendulum-v1", np.array([-2.0], np.float64), 450),          # past envd's default 200
    ("MountainCarContinuous-v0", np.array([0.0], np.float32), 1200),  # no push: never at the flag
    ("MountainCar-v0", 1, 300),
    ("Acrobot-v1", 1, 700),
])
def test_box_and_discrete_suite_envs_run_exactly_the_time_limit(endpoint, env_id, action, limit):
    env, time_limit = gymnasium_make(f"envd/{env_id}", max_episode_steps=limit, endpoint=endpoint)
    try:
        assert time_limit == (limit or SUITE_LIMITS[env_id][0])
        env.reset(seed=0)
        for t in range(1, time_limit + 1):
            _, _, terminated, truncated, _ = env.step(action)
            assert not terminated and not truncated, t  # envd's own limit is out of the way
        assert env.spec.max_episode_steps == LIMIT_LEFT_TO_GYMNASIUM
    finally:
        env.close()
