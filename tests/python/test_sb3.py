"""EnvdSB3VecEnv against Stable-Baselines3's documented VecEnv contract.

SB3 cannot be installed here, so the contract is checked as SB3 states it
(docs "VecEnv API vs Gym API" and DummyVecEnv, which steps each env, sets
``TimeLimit.truncated = truncated and not terminated`` on every info, and on
``done`` stores the last observation as ``terminal_observation`` and resets
that env at once), against independent EnvdEnvs stepped by hand with the
same seeds and actions: observations bit for bit, rewards, dones, infos,
the observation after ``done`` being the next episode's first. The tests
that need SB3 itself (subclassing its VecEnv, its checker, PPO) skip as a
third-party skip where it is missing.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import envd_client
import skip_policy
from conftest import REPO
from envd_client.sb3 import HAVE_SB3, EnvdSB3VecEnv

N = 4
LIMIT = 25  # short episodes: truncations as well as terminations


def bits(a) -> list:
    return np.asarray(a, np.float32).view(np.uint32).tolist()


@pytest.fixture
def sb3_and_refs(endpoint):
    venv = EnvdSB3VecEnv("CartPole-v1", N, endpoint, max_episode_steps=LIMIT)
    refs = [envd_client.EnvdEnv("CartPole-v1", endpoint, max_episode_steps=LIMIT) for _ in range(N)]
    yield venv, refs
    venv.close()
    for r in refs:
        r.close()


def test_steps_as_dummy_vec_env_would_over_envd_envs_stepped_by_hand(sb3_and_refs):
    venv, refs = sb3_and_refs
    assert venv.seed(10) == [10, 11, 12, 13]
    obs = venv.reset()  # observations only, no info tuple
    assert isinstance(obs, np.ndarray) and obs.shape == (N, 4) and obs.dtype == np.float32
    assert venv.reset_infos == [{}] * N
    for i, r in enumerate(refs):
        o, _ = r.reset(seed=10 + i)
        assert bits(obs[i]) == bits(o)

    rng = np.random.default_rng(3)
    seen = {"terminated": 0, "truncated": 0}
    for t in range(200):
        actions = rng.integers(0, 2, size=N)
        obs, rewards, dones, infos = venv.step(actions)
        assert rewards.dtype == np.float32 and rewards.shape == (N,)
        assert dones.dtype == np.bool_ and dones.shape == (N,)
        assert isinstance(infos, list) and len(infos) == N
        for i, r in enumerate(refs):
            o, reward, terminated, truncated, _ = r.step(int(actions[i]))
            done = terminated or truncated
            assert rewards[i] == np.float32(reward)
            assert bool(dones[i]) == done, (t, i)
            assert infos[i]["TimeLimit.truncated"] is (truncated and not terminated)
            if done:
                seen["terminated" if terminated else "truncated"] += 1
                assert bits(infos[i]["terminal_observation"]) == bits(o), (t, i)
                o, _ = r.reset()  # the stream continues, as DummyVecEnv's reset()
                assert set(infos[i]) == {"TimeLimit.truncated", "terminal_observation"}
            else:
                assert set(infos[i]) == {"TimeLimit.truncated"}
            assert bits(obs[i]) == bits(o), (t, i)  # after done: the next episode's first
    assert seen["terminated"] > 5 and seen["truncated"] > 5, seen


def test_step_async_then_step_wait_is_step(sb3_and_refs):
    venv, refs = sb3_and_refs
    venv.seed(0)
    venv.reset()
    with pytest.raises(envd_client.FailedPrecondition, match="step_async"):
        venv.step_wait()
    for i, r in enumerate(refs):
        r.reset(seed=i)
    for _ in range(40):
        venv.step_async(np.ones(N, np.int64))
        obs, rewards, dones, infos = venv.step_wait()
        for i, r in enumerate(refs):
            o, _, term, trunc, _ = r.step(1)
            if term or trunc:
                o, _ = r.reset()
            assert bits(obs[i]) == bits(o)
    venv.step_async(np.zeros(N, np.int64))
    venv.reset()  # a reset cancels the pending step
    with pytest.raises(envd_client.FailedPrecondition):
        venv.step_wait()


def test_seeds_and_options_apply_to_the_next_reset_only(endpoint):
    with EnvdSB3VecEnv("CartPole-v1", N, endpoint) as venv, \
            envd_client.EnvdEnv("CartPole-v1", endpoint) as ref:
        want = [bits(ref.reset(seed=5 + i)[0]) for i in range(N)]
        venv.seed(5)
        first = venv.reset()
        assert [bits(o) for o in first] == want
        again = venv.reset()  # no seed now: every stream continues
        assert all(bits(a) != w for a, w in zip(again, want))
        venv.seed(5)
        assert [bits(o) for o in venv.reset()] == want

        seeds = venv.seed(None)  # a random base, consecutive seeds
        assert seeds == list(range(seeds[0], seeds[0] + N)) and 0 <= seeds[0] < 2**32

        venv.seed(1)
        venv.set_options({"low": -0.001, "high": 0.001})
        small = venv.reset()
        assert np.abs(small).max() <= 0.001
        assert [bits(o) for o in small] == [bits(ref.reset(seed=1 + i, options={"low": -0.001, "high": 0.001})[0])
                                             for i in range(N)]
        venv.seed(1)
        assert [bits(o) for o in venv.reset()] == [bits(ref.reset(seed=1 + i)[0]) for i in range(N)]

        per_env = [{"low": -0.001 * (i + 1), "high": 0.001 * (i + 1)} for i in range(N)]
        per_env[3] = per_env[0]  # rows 0 and 3 share a reset request
        venv.seed(2)
        venv.set_options(per_env)
        mixed = venv.reset()
        for i in range(N):
            assert bits(mixed[i]) == bits(ref.reset(seed=2 + i, options=per_env[i])[0]), i
        with pytest.raises(envd_client.InvalidArgument, match="2 option dicts for 4 envs"):
            venv.set_options([{}, {}])


def test_sub_envs_through_get_attr_set_attr_env_method(endpoint):
    with EnvdSB3VecEnv("CartPole-v1", 3, endpoint) as venv:
        assert venv.num_envs == 3 and venv.render_mode is None
        assert venv.metadata == {"render_modes": []}
        assert venv.observation_space == venv.venv.single_observation_space
        assert venv.action_space.n == 2 and venv.observation_space.shape == (4,)
        assert venv.get_attr("render_mode") == [None, None, None]
        sessions = venv.get_attr("session")
        assert sessions == [int(s) for s in venv.venv.sessions] and len(set(sessions)) == 3
        assert venv.get_attr("session", indices=[2, 0]) == [sessions[2], sessions[0]]
        assert venv.get_attr("env_id", indices=1) == ["CartPole-v1"]
        assert venv.spec.id == "envd/CartPole-v1"

        venv.set_attr("mu", 0.5, indices=1)
        assert venv.get_attr("mu", indices=1) == [0.5]
        with pytest.raises(AttributeError):
            venv.get_attr("mu")
        assert venv.has_attr("session") and not venv.has_attr("no_such_attribute")
        assert venv.env_method("get_wrapper_attr", "env_id") == ["CartPole-v1"] * 3
        venv.env_method("set_wrapper_attr", "mu", 0.25, indices=[0, 2])
        assert venv.get_attr("mu") == [0.25, 0.5, 0.25]
        assert venv.env_is_wrapped(object) == [False, False, False]
        assert venv.env_is_wrapped(object, indices=2) == [False]

        venv.seed(0)
        before = venv.reset()
        with envd_client.EnvdEnv("CartPole-v1", endpoint) as ref:
            (o, info), = venv.env_method("reset", seed=42, indices=1)
            assert info == {} and bits(o) == bits(ref.reset(seed=42)[0])
        obs, *_ = venv.step(np.zeros(3, np.int64))  # rows 0 and 2 kept their episodes
        with envd_client.EnvdEnv("CartPole-v1", endpoint) as ref:
            ref.reset(seed=0)
            assert bits(obs[0]) == bits(ref.step(0)[0])
        assert bits(before[0]) != bits(obs[0])

        with pytest.warns(UserWarning, match="do not render"):
            assert venv.render() is None


def test_close_closes_the_sessions_and_is_idempotent(endpoint):
    with envd_client.Client(endpoint) as c:
        active = c.stats().active_sessions
        venv = EnvdSB3VecEnv("CartPole-v1", 5, endpoint)
        assert c.stats().active_sessions == active + 5
        venv.close()
        venv.close()
        assert c.stats().active_sessions == active
    with pytest.raises(envd_client.FailedPrecondition):
        venv.step(np.zeros(5, np.int64))


def test_imports_and_works_without_sb3(endpoint):
    """With stable_baselines3 hidden (as where it is not installed) the
    module imports and the class is SB3's contract on a stand-in base."""
    code = ("import sys; sys.modules['stable_baselines3'] = None\n"
            "import numpy as np, envd_client.sb3 as m\n"
            "assert not m.HAVE_SB3\n"
            f"v = m.EnvdSB3VecEnv('CartPole-v1', 2, {endpoint!r})\n"
            "v.seed(0); o = v.reset(); r = v.step(np.zeros(2, np.int64))\n"
            "print(type(v).__mro__[1].__name__, o.shape, len(r), v.unwrapped is v)\n"
            "v.close()\n")
    env = dict(os.environ, PYTHONPATH=str(REPO / "clients" / "python"))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["_VecEnvStandIn", "(2,", "4)", "4", "True"]


# ---------------------------------------------------------------- with SB3 itself
needs_sb3 = pytest.mark.skipif(
    not HAVE_SB3, reason=skip_policy.THIRD_PARTY + "stable-baselines3 is not installed; this test "
    "runs SB3's own checker and PPO on EnvdSB3VecEnv")


@needs_sb3
def test_is_an_sb3_vec_env_and_passes_its_checker(endpoint):
    from stable_baselines3.common.vec_env import VecEnv, VecMonitor

    with EnvdSB3VecEnv("CartPole-v1", 2, endpoint) as venv:
        assert isinstance(venv, VecEnv)
        try:
            from stable_baselines3.common.vec_env_checker import check_vecenv
        except ImportError:
            check_vecenv = None  # SB3 before the checker
        if check_vecenv is not None:
            check_vecenv(venv, warn=True)
        monitored = VecMonitor(venv)
        monitored.reset()
        monitored.step(np.zeros(2, np.int64))


@needs_sb3
def test_ppo_learns_a_few_steps_on_envd(endpoint):
    from stable_baselines3 import PPO

    with EnvdSB3VecEnv("CartPole-v1", 4, endpoint) as venv:
        model = PPO("MlpPolicy", venv, n_steps=32, batch_size=64, n_epochs=1, seed=0, device="cpu")
        model.learn(total_timesteps=256)
        assert model.num_timesteps >= 256
        action, _ = model.predict(venv.reset(), deterministic=True)
        assert action.shape == (4,)
