"""Checks that need gymnasium itself: check_env for every environment envd
serves, gymnasium.make of the registered envd/ ids (Gymnasium's spaces,
specs and time limits), bit-exact agreement with Gymnasium's own
environments, EnvdVectorEnv against gymnasium.vector.SyncVectorEnv (Box
actions and several servers included), and pickled EnvdEnvs in
AsyncVectorEnv(context="spawn").

Where gymnasium (>= 1.0) is not installed this module is skipped as a whole,
with the reason reported (`pytest -rs`): a third-party skip, the one kind
the suite allows without ALLOW_SKIP=1 (tests/skip_policy.py). Everything
the client does without gymnasium is covered by the other modules.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import envd_client
import skip_policy

if not envd_client.HAVE_GYMNASIUM:
    pytest.skip(skip_policy.THIRD_PARTY + "gymnasium >= 1.0 is not installed; these tests "
                "compare against gymnasium itself", allow_module_level=True)

import gymnasium  # noqa: E402

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "cartpole_v1_public.jsonl"
CASES = [json.loads(line) for line in GOLDEN.read_text().splitlines() if line.strip()]


def bits(hexes):
    return np.array([int(h, 16) for h in hexes], dtype=np.uint32)


def svml_trig() -> bool:
    """numpy 1.22-1.24 on AVX512_SKX computes sin/cos with SVML, not libm, so
    Gymnasium's own CartPole drifts from libm after ~100 steps (semantics
    note, section 7)."""
    major, minor = (int(x) for x in np.__version__.split(".")[:2])
    if (major, minor) >= (1, 25):
        return False
    try:
        from numpy.core._multiarray_umath import __cpu_features__
    except ImportError:
        return True
    return bool(__cpu_features__.get("AVX512_SKX"))


SUITE = ["CartPole-v1", "CartPole-v0", "Acrobot-v1", "MountainCar-v0", "MountainCarContinuous-v0",
         "Pendulum-v1"]
BOX_IDS = ["MountainCarContinuous-v0", "Pendulum-v1"]


def numpy2() -> bool:
    """The golden reference is Gymnasium on NumPy 2 (NEP 50): under 1.x the
    continuous environments compute some terms in float64 and give other
    bits (../shared/golden/README.md)."""
    return int(np.__version__.split(".")[0]) >= 2


def same_box(a, b) -> bool:
    return (a == b and a.dtype == b.dtype
            and np.array_equal(a.low.view(np.uint32), b.low.view(np.uint32))
            and np.array_equal(a.high.view(np.uint32), b.high.view(np.uint32)))


@pytest.mark.parametrize("env_id", SUITE)
def test_check_env_passes(endpoint, env_id):
    from gymnasium.utils.env_checker import check_env

    env = envd_client.EnvdEnv(env_id, endpoint=endpoint)
    try:
        check_env(env, skip_render_check=True)
    finally:
        env.close()


@pytest.mark.parametrize("env_id", SUITE)
def test_registered_id_makes_an_envd_env_with_gymnasiums_spaces_and_spec(endpoint, env_id):
    env = gymnasium.make(f"envd/{env_id}", endpoint=endpoint)
    ref = gymnasium.make(env_id)
    try:
        assert isinstance(env.unwrapped, envd_client.EnvdEnv)
        assert same_box(env.observation_space, ref.observation_space)
        if env_id in BOX_IDS:
            assert same_box(env.action_space, ref.action_space)
        else:
            assert env.action_space == ref.action_space
            assert env.action_space.dtype == ref.action_space.dtype
        assert env.spec.max_episode_steps == ref.spec.max_episode_steps
        assert env.spec.reward_threshold == ref.spec.reward_threshold
        from gymnasium.utils.env_checker import check_env

        check_env(env.unwrapped, skip_render_check=True)
    finally:
        env.close()
        ref.close()


@pytest.mark.parametrize("env_id", ["Acrobot-v1", "MountainCar-v0", *BOX_IDS])
def test_same_seed_and_actions_give_gymnasiums_own_env_bit_for_bit(endpoint, env_id):
    if env_id in BOX_IDS and not numpy2():
        pytest.skip(skip_policy.THIRD_PARTY + f"numpy >= 2 is not installed; {env_id} on "
                    f"numpy {np.__version__} computes with other promotion rules")
    env = gymnasium.make(f"envd/{env_id}", endpoint=endpoint)
    ref = gymnasium.make(env_id)
    rng = np.random.default_rng(1)
    horizon = 20 if svml_trig() and env_id == "Acrobot-v1" else 250
    try:
        for episode in range(3):
            seed = 70 + episode if episode != 1 else None
            a, _ = env.reset(seed=seed)
            b, _ = ref.reset(seed=seed)
            assert np.array_equal(a.view(np.uint32), b.view(np.uint32))
            for t in range(horizon):
                if env_id in BOX_IDS:
                    high = float(ref.action_space.high[0])
                    dtype = np.float64 if episode == 2 else np.float32
                    action = rng.uniform(-1.5 * high, 1.5 * high, size=(1,)).astype(dtype)
                else:
                    action = int(rng.integers(ref.action_space.n))
                ra, rb = env.step(action), ref.step(action)
                assert np.array_equal(ra[0].view(np.uint32), rb[0].view(np.uint32)), (episode, t)
                assert float(ra[1]) == float(rb[1]) and ra[2:4] == rb[2:4], (episode, t)
                if ra[2] or ra[3]:
                    break
    finally:
        env.close()
        ref.close()


@pytest.mark.parametrize("case", [c for c in CASES if not c["make_kwargs"]][:12],
                         ids=lambda c: c["case_id"])
def test_gymnasium_make_envd_replays_golden_case(endpoint, case):
    env = gymnasium.make("envd/CartPole-v1", endpoint=endpoint)
    try:
        for seg in case["segments"]:
            seed = seg["reset_seed_str"]
            obs, _ = env.reset(seed=None if seed is None else int(seed))
            np.testing.assert_array_equal(obs.view(np.uint32), bits(seg["initial_obs_hex"]))
            for st in seg["steps"]:
                obs, reward, term, trunc, _ = env.step(st["action"])
                np.testing.assert_array_equal(obs.view(np.uint32), bits(st["obs_hex"]))
                assert (reward, term, trunc) == (st["reward"], st["terminated"], st["truncated"])
    finally:
        env.close()


def test_same_seed_and_actions_give_gymnasiums_cartpole_bit_for_bit(endpoint):
    env = envd_client.EnvdEnv("CartPole-v1", endpoint=endpoint)
    ref = gymnasium.make("CartPole-v1")
    rng = np.random.default_rng(0)
    horizon = 20 if svml_trig() else 600
    try:
        for episode in range(5):
            seed = 1000 + episode if episode % 2 == 0 else None  # None: the stream continues
            a, _ = env.reset(seed=seed)
            b, _ = ref.reset(seed=seed)
            assert np.array_equal(a.view(np.uint32), b.view(np.uint32))
            for t in range(horizon):
                action = int(rng.integers(2))
                ra = env.step(action)
                rb = ref.step(action)
                assert np.array_equal(ra[0].view(np.uint32), rb[0].view(np.uint32)), (episode, t)
                assert ra[1:4] == rb[1:4] and type(ra[1]) is type(rb[1])
                if ra[2] or ra[3]:
                    break
    finally:
        env.close()
        ref.close()


def _modes():
    if not hasattr(gymnasium.vector, "AutoresetMode"):
        return ["next_step"]  # gymnasium 1.0: next-step autoreset only
    return ["next_step", "same_step", "disabled"]


@pytest.mark.parametrize("servers", [1, 2, 3])
@pytest.mark.parametrize("env_id", ["CartPole-v1", "Acrobot-v1", *BOX_IDS])
@pytest.mark.parametrize("mode", _modes())
def test_vector_env_matches_gymnasium_sync_vector_env(endpoint, endpoints3, mode, env_id, servers):
    n = 4
    fns = [lambda: gymnasium.make(f"envd/{env_id}", endpoint=endpoint, max_episode_steps=25)] * n
    if hasattr(gymnasium.vector, "AutoresetMode"):
        ref = gymnasium.vector.SyncVectorEnv(fns, autoreset_mode=gymnasium.vector.AutoresetMode(
            {"next_step": "NextStep", "same_step": "SameStep", "disabled": "Disabled"}[mode]))
    else:
        ref = gymnasium.vector.SyncVectorEnv(fns)
    envs = envd_client.EnvdVectorEnv(env_id, n, endpoints=endpoints3[:servers], autoreset_mode=mode,
                                     max_episode_steps=25)
    rng = np.random.default_rng(5)
    try:
        assert isinstance(envs, gymnasium.vector.VectorEnv)
        assert envs.observation_space == ref.observation_space
        assert envs.action_space == ref.action_space
        a, _ = envs.reset(seed=3)
        b, _ = ref.reset(seed=3)
        assert np.array_equal(a.view(np.uint32), b.view(np.uint32))
        done = np.zeros(n, bool)
        for t in range(120):
            if mode == "disabled" and done.any():  # both need the finished rows reset by hand
                a, _ = envs.reset(options={"reset_mask": done})
                b, _ = ref.reset(options={"reset_mask": done})
                assert np.array_equal(a.view(np.uint32), b.view(np.uint32)), t
            if env_id in BOX_IDS:
                actions = rng.uniform(-3.0, 3.0, size=(n, 1)).astype(np.float32)
            else:
                actions = rng.integers(0, envs.single_action_space.n, size=n)
            ra = envs.step(actions)
            rb = ref.step(actions)
            done = ra[2] | ra[3]
            assert np.array_equal(ra[0].view(np.uint32), rb[0].view(np.uint32)), t
            for x, y in zip(ra[1:4], rb[1:4]):
                np.testing.assert_array_equal(x, y)
            ia, ib = ra[4], rb[4]
            assert set(ia) == set(ib), (t, ia, ib)
            for key in ("_final_obs", "_final_info"):
                if key in ib:
                    np.testing.assert_array_equal(ia[key], ib[key])
            if "final_obs" in ib:
                for x, y in zip(ia["final_obs"], ib["final_obs"]):
                    assert (x is None and y is None) or np.array_equal(x.view(np.uint32), y.view(np.uint32))
    finally:
        envs.close()
        ref.close()


def _balance(obs) -> int:
    return int(0.1 * obs[0] + 0.5 * obs[1] + 10 * obs[2] + 2 * obs[3] > 0)


@pytest.mark.parametrize("limit, want", [(1000, 1000), (None, 500), (50, 50)])
def test_gymnasium_make_max_episode_steps_sets_the_episode_length(endpoint, limit, want):
    kwargs = {} if limit is None else {"max_episode_steps": limit}
    env = gymnasium.make("envd/CartPole-v1", endpoint=endpoint, **kwargs)
    try:
        assert env.spec.max_episode_steps == want
        obs, _ = env.reset(seed=0)
        for t in range(1, 2001):
            obs, _, terminated, truncated, _ = env.step(_balance(obs))
            if terminated or truncated:
                break
        assert (t, terminated, truncated) == (want, False, True)
    finally:
        env.close()



@pytest.mark.parametrize("limit, want", [(None, 200), (300, 300), (7, 7)])
def test_gymnasium_make_time_limit_holds_for_a_box_env(endpoint, limit, want):
    """Pendulum never terminates: every episode is the TimeLimit's."""
    kwargs = {} if limit is None else {"max_episode_steps": limit}
    env = gymnasium.make("envd/Pendulum-v1", endpoint=endpoint, **kwargs)
    try:
        assert env.spec.max_episode_steps == want
        env.reset(seed=0)
        for t in range(1, 1001):
            _, _, terminated, truncated, _ = env.step(np.array([0.5], np.float32))
            if terminated or truncated:
                break
        assert (t, terminated, truncated) == (want, False, True)
    finally:
        env.close()


def test_async_vector_env_with_spawn_pickles_envd_envs(endpoint):
    """AsyncVectorEnv(context="spawn") pickles what it sends to its workers;
    an EnvdEnv made in the parent and pickled opens its own session there."""
    made = [envd_client.EnvdEnv("CartPole-v1", endpoint) for _ in range(2)]
    fns = [lambda e=e: e for e in made]
    envs = gymnasium.vector.AsyncVectorEnv(fns, context="spawn")
    ref = envd_client.EnvdVectorEnv("CartPole-v1", 2, endpoint)
    try:
        a, _ = envs.reset(seed=7)
        b, _ = ref.reset(seed=7)
        assert np.array_equal(a.view(np.uint32), b.view(np.uint32))
        for _ in range(30):
            ra, rb = envs.step(np.array([1, 0])), ref.step(np.array([1, 0]))
            assert np.array_equal(ra[0].view(np.uint32), rb[0].view(np.uint32))
    finally:
        envs.close()
        ref.close()
        for e in made:
            e.close()
