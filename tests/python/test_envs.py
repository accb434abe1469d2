"""The classic-control suite through EnvdEnv and EnvdVectorEnv, with or
without gymnasium: the contracts gymnasium's check_env and a user rely on,
checked against hand values (the float32 bounds of the semantics notes in
../shared/docs/, Gymnasium's registrations) and round trips, plus Box
actions: the dtype the caller gave travels, bad ones get a clear
InvalidArgument and change nothing. (test_gymnasium.py runs check_env
itself where gymnasium is installed; test_golden.py replays the recorded
trajectories.)
"""

from __future__ import annotations

import numpy as np
import pytest

import envd_client
from envd_client import spaces

INF = 0x7F800000
# env id: (observation high bits, low bits, action space, TimeLimit, reward threshold)
SUITE = {
    "CartPole-v1": ([0x4099999A, INF, 0x3ED67750, INF], None, 2, 500, 475.0),
    "CartPole-v0": ([0x4099999A, INF, 0x3ED67750, INF], None, 2, 200, 195.0),
    "Acrobot-v1": ([0x3F800000] * 4 + [0x41490FDB, 0x41E231D6], None, 3, 500, -100.0),
    "MountainCar-v0": ([0x3F19999A, 0x3D8F5C29], [0xBF99999A, 0xBD8F5C29], 3, 200, -110.0),
    "MountainCarContinuous-v0": ([0x3F19999A, 0x3D8F5C29], [0xBF99999A, 0xBD8F5C29],
                                 (0xBF800000, 0x3F800000), 999, 90.0),
    "Pendulum-v1": ([0x3F800000, 0x3F800000, 0x41000000], None, (0xC0000000, 0x40000000), 200, None),
}
IDS = list(SUITE)
BOX_IDS = [e for e in IDS if isinstance(SUITE[e][2], tuple)]


def u32(x) -> np.ndarray:
    return np.asarray(x, np.uint32)


def f32(bits_) -> np.ndarray:
    return u32(bits_).view(np.float32)


@pytest.fixture(scope="module")
def client(endpoint):
    with envd_client.Client(endpoint, timeout=5.0) as c:
        yield c


@pytest.mark.parametrize("env_id", IDS)
def test_spaces_are_gymnasiums_with_the_exact_float32_bounds(client, env_id):
    high, low, act, _, _ = SUITE[env_id]
    low = [b ^ 0x80000000 for b in high] if low is None else low  # Box(-high, high)
    with envd_client.EnvdEnv(env_id, client=client) as env:
        obs = env.observation_space
        assert isinstance(obs, spaces.Box) and obs.dtype == np.float32 and obs.shape == (len(high),)
        assert obs.low.dtype == obs.high.dtype == np.float32
        np.testing.assert_array_equal(obs.high.view(np.uint32), u32(high))
        np.testing.assert_array_equal(obs.low.view(np.uint32), u32(low))
        assert obs == spaces.Box(f32(low), f32(high), dtype=np.float32)
        if isinstance(act, int):
            assert env.action_space == spaces.Discrete(act)
            assert env.action_space.dtype == np.int64 and env.action_space.shape == ()
        else:
            a = env.action_space
            assert isinstance(a, spaces.Box) and a.shape == (1,) and a.dtype == np.float32
            assert a.low.view(np.uint32)[0] == act[0] and a.high.view(np.uint32)[0] == act[1]
            # Gymnasium's own construction: Box(low=-m, high=m, shape=(1,), dtype=np.float32)
            m = float(f32(act[1]))
            assert a == spaces.Box(-m, m, shape=(1,), dtype=np.float32)
            assert a.is_bounded() and repr(a) == f"Box({-m}, {m}, (1,), float32)"


@pytest.mark.parametrize("env_id", IDS)
def test_spec_and_registration_carry_gymnasiums_time_limit_and_threshold(client, env_id):
    _, _, _, steps, threshold = SUITE[env_id]
    assert envd_client.registration.REGISTERED_ENVS[env_id] == (steps, threshold)
    with envd_client.EnvdEnv(env_id, client=client) as env:
        assert env.spec.id == f"envd/{env_id}"
        assert env.spec.max_episode_steps == steps
        assert env.spec.reward_threshold == threshold
    with envd_client.EnvdEnv(env_id, client=client, max_episode_steps=3) as env:
        env.reset(seed=0)
        flags = [env.step(env.action_space.sample())[3] for _ in range(3)]
        assert env.spec.max_episode_steps == 3 and flags[-1] is True


@pytest.mark.parametrize("env_id", IDS)
def test_check_env_contracts_hold_without_gymnasium(client, env_id):
    """What gymnasium.utils.env_checker.check_env checks, here for the
    stand-ins too: reset and step return types, observations inside the
    space, seeded determinism, sampled actions accepted."""
    with envd_client.EnvdEnv(env_id, client=client) as env:
        obs, info = env.reset(seed=123)
        assert isinstance(obs, np.ndarray) and obs.dtype == np.float32 and info == {}
        assert obs.shape == env.observation_space.shape and obs in env.observation_space
        env.action_space.seed(123)
        action = env.action_space.sample()
        assert action in env.action_space
        out = env.step(action)
        assert len(out) == 5
        obs1, reward, terminated, truncated, info = out
        assert obs1 in env.observation_space and obs1.dtype == np.float32
        assert type(reward) is float and np.isfinite(reward)
        assert type(terminated) is bool and type(truncated) is bool and info == {}
        state = env.np_random.bit_generator.state
        again, _ = env.reset(seed=123)  # check_step_determinism: same seed, same step
        assert np.array_equal(again.view(np.uint32), obs.view(np.uint32))
        assert np.array_equal(env.step(action)[0].view(np.uint32), obs1.view(np.uint32))
        assert env.np_random.bit_generator.state == state
        env.reset(seed=123, options={})  # check_reset_options
        for _ in range(30):
            o, r, term, trunc, _ = env.step(env.action_space.sample())
            assert o in env.observation_space
            if term or trunc:
                env.reset()


@pytest.mark.parametrize("env_id", IDS)
def test_vector_env_spaces_batch_the_single_ones_and_take_sampled_actions(client, env_id):
    n = 3
    with envd_client.EnvdVectorEnv(env_id, n, client=client) as envs:
        single = envs.single_action_space
        assert envs.observation_space.shape == (n,) + envs.single_observation_space.shape
        np.testing.assert_array_equal(envs.observation_space.low[n - 1].view(np.uint32),
                                      envs.single_observation_space.low.view(np.uint32))
        if isinstance(single, spaces.Discrete):
            assert isinstance(envs.action_space, spaces.MultiDiscrete)
            np.testing.assert_array_equal(envs.action_space.nvec, np.full(n, single.n))
        else:
            assert isinstance(envs.action_space, spaces.Box)
            assert envs.action_space.shape == (n, 1) and envs.action_space.dtype == np.float32
            np.testing.assert_array_equal(envs.action_space.high[:, 0], np.full(n, single.high[0]))
        obs, _ = envs.reset(seed=5)
        assert obs.shape == envs.observation_space.shape and obs.dtype == np.float32
        actions = envs.action_space.sample()
        assert actions in envs.action_space
        obs, rew, term, trunc, infos = envs.step(actions)
        assert obs in envs.observation_space and rew.dtype == np.float64 and infos == {}
        assert term.shape == trunc.shape == (n,)


# ---------------------------------------------------------------- Box actions
def golden_step(client, env_id, action, seed=7):
    with envd_client.EnvdEnv(env_id, client=client) as env:
        env.reset(seed=seed)
        return env.step(action)


@pytest.mark.parametrize("env_id", BOX_IDS)
def test_float32_and_float64_actions_travel_in_their_own_dtype(client, env_id):
    """0.3 as float32 and as float64 are different numbers, and envd
    computes with each as Gymnasium does: a float64 action must not be
    narrowed on the way (Pendulum: 0.001*u**2 in double or in float32)."""
    a32 = golden_step(client, env_id, np.array([0.3], np.float32))
    a64 = golden_step(client, env_id, np.array([0.3], np.float64))
    assert a32[1] != a64[1]
    # Even float32's own value, sent as float64, steps otherwise (Pendulum:
    # the reward; MountainCarContinuous: the velocity).
    narrowed = golden_step(client, env_id, np.array([0.3], np.float32).astype(np.float64))
    assert (narrowed[0].tobytes(), narrowed[1]) != (a32[0].tobytes(), a32[1])
    # Python numbers are read as numpy reads them: float64, as np.clip does.
    for same64 in ([0.3], (0.3,), np.array([0.3])):
        got = golden_step(client, env_id, same64)
        assert got[1] == a64[1] and np.array_equal(got[0], a64[0])
    ints = golden_step(client, env_id, np.array([1], np.int32))
    assert ints[1] == golden_step(client, env_id, np.array([1.0]))[1]


@pytest.mark.parametrize("env_id", BOX_IDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_vector_env_box_actions_equal_single_envs_in_either_dtype(client, env_id, dtype):
    n, steps = 4, 60
    rng = np.random.default_rng(11)
    with envd_client.EnvdVectorEnv(env_id, n, client=client, max_episode_steps=25) as envs:
        singles = [envd_client.EnvdEnv(env_id, client=client, max_episode_steps=25) for _ in range(n)]
        try:
            obs, _ = envs.reset(seed=40)
            ref = [e.reset(seed=40 + i)[0] for i, e in enumerate(singles)]
            assert np.array_equal(obs.view(np.uint32), np.stack(ref).view(np.uint32))
            done = np.zeros(n, bool)
            ends = 0
            for t in range(steps):
                actions = rng.uniform(-3.0, 3.0, size=(n, 1)).astype(dtype)  # out of bounds too
                obs, rew, term, trunc, _ = envs.step(actions)
                for i, e in enumerate(singles):  # next-step autoreset by hand
                    if done[i]:
                        o, r, te, tr = e.reset()[0], 0.0, False, False
                    else:
                        o, r, te, tr, _ = e.step(actions[i])
                    assert np.array_equal(obs[i].view(np.uint32), o.view(np.uint32)), (t, i)
                    assert rew[i] == r and term[i] == te and trunc[i] == tr, (t, i)
                done = term | trunc
                ends += int(done.sum())
            assert ends >= n  # the time limit of 25 ended every row's episode, then autoreset
        finally:
            for e in singles:
                e.close()


def test_client_step_and_step_batch_take_box_arrays(client):
    rep = client.make("Pendulum-v1", 2)
    ids = list(rep.sessions)
    try:
        client.reset_batch(ids, [3, 4])
        a = np.array([[0.5], [-0.25]], np.float64)
        sb = client.step_batch(ids, a)
        rewards = np.frombuffer(sb.rewards, np.float64)
        with envd_client.EnvdEnv("Pendulum-v1", client=client) as e:
            e.reset(seed=4)
            assert e.step(np.array([-0.25]))[1] == rewards[1]
        obs, reward, *_ = client.step(ids[0], np.array([0.5], np.float32))
        assert obs.shape == (3,) and isinstance(reward, float)
    finally:
        client.close_sessions(ids)


BAD_LOCAL = [
    (np.zeros(2, np.float32), "shape"),
    (np.zeros((1, 1), np.float32), "shape"),
    (np.float32(0.5), "shape"),
    (0.5, "shape"),
    (np.zeros(1, np.float16), "float16"),
    (np.zeros(1, np.complex64), "complex64"),
    (np.array(["1.0"]), "float32 or float64 array"),
    (["x"], "not an array of numbers"),
    ([object()], "not an array of numbers"),
]


@pytest.mark.parametrize("env_id", BOX_IDS)
@pytest.mark.parametrize("bad,why", BAD_LOCAL, ids=[repr(b) for b, _ in BAD_LOCAL])
def test_bad_box_actions_are_refused_before_sending_and_change_nothing(client, env_id, bad, why):
    with envd_client.EnvdEnv(env_id, client=client) as env, \
            envd_client.EnvdEnv(env_id, client=client) as twin:
        env.reset(seed=1)
        twin.reset(seed=1)
        with pytest.raises(envd_client.InvalidArgument, match=why) as err:
            env.step(bad)
        assert isinstance(err.value, ValueError)
        good = np.array([0.1], np.float32)
        assert np.array_equal(env.step(good)[0], twin.step(good)[0])


@pytest.mark.parametrize("env_id", BOX_IDS)
@pytest.mark.parametrize("value,name", [(np.nan, "NaN"), (np.inf, "[+]inf"), (-np.inf, "-inf")])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_non_finite_box_actions_get_envds_invalid_argument_and_change_nothing(client, env_id, value,
                                                                              name, dtype):
    with envd_client.EnvdEnv(env_id, client=client) as env, \
            envd_client.EnvdEnv(env_id, client=client) as twin:
        env.reset(seed=2)
        twin.reset(seed=2)
        with pytest.raises(envd_client.InvalidArgument, match=f"{name}.*must be finite"):
            env.step(np.array([value], dtype))
        good = np.array([-0.4], dtype)
        a, b = env.step(good), twin.step(good)
        assert np.array_equal(a[0], b[0]) and a[1] == b[1]


@pytest.mark.parametrize("env_id", BOX_IDS)
def test_bad_batched_box_actions_are_refused_and_no_row_moves(client, env_id):
    n = 3
    with envd_client.EnvdVectorEnv(env_id, n, client=client) as envs, \
            envd_client.EnvdVectorEnv(env_id, n, client=client) as twin:
        envs.reset(seed=9)
        twin.reset(seed=9)
        nan_row = np.zeros((n, 1), np.float32)
        nan_row[2, 0] = np.nan
        with pytest.raises(envd_client.InvalidArgument, match="NaN"):
            envs.step(nan_row)
        for bad in (np.zeros(n, np.float32), np.zeros((n, 2), np.float32), np.zeros((n + 1, 1)),
                    np.zeros((n, 1), np.float16), np.zeros(n, np.int64)):
            with pytest.raises(envd_client.InvalidArgument, match="shape|float16"):
                envs.step(bad)
        good = np.full((n, 1), 0.2, np.float32)
        assert np.array_equal(envs.step(good)[0], twin.step(good)[0])


def test_wrong_kind_of_action_is_refused_by_envd_for_either_space(client):
    """The client's own checks aside, envd refuses a Box action for a
    Discrete space and the reverse (as 1.2 says), and the session stays."""
    rep = client.make("Acrobot-v1", 1)
    sid = rep.sessions[0]
    cont = client.make("Pendulum-v1", 1).sessions[0]
    try:
        client.reset(sid, seed=0)
        client.reset(cont, seed=0)
        with pytest.raises(envd_client.InvalidArgument, match="Discrete.*not a Box action"):
            client.step(sid, np.array([1.0], np.float32))
        with pytest.raises(envd_client.InvalidArgument, match="Box action space.*not an integer"):
            client.step(cont, 1)
        with pytest.raises(envd_client.InvalidArgument, match=r"outside \[0, 3\)"):
            client.step(sid, -1)
        assert client.step(sid, 1)[0].shape == (6,)
    finally:
        client.close_sessions([sid, cont])


@pytest.mark.parametrize("env_id", [e for e in IDS if e not in BOX_IDS])
def test_discrete_envs_still_refuse_float_actions_locally(client, env_id):
    with envd_client.EnvdEnv(env_id, client=client) as env:
        env.reset(seed=0)
        for bad in (1.0, np.array([1]), np.float32(1)):
            with pytest.raises(envd_client.InvalidArgument):
                env.step(bad)
        n = env.action_space.n
        with pytest.raises(envd_client.InvalidArgument, match="outside"):
            env.step(int(n))


def test_compat_box_follows_gymnasiums_construction_rules():
    """The stand-in Box (used without gymnasium) as Gymnasium builds one:
    scalar bounds give shape (1,), array bounds their own shape, bounds
    narrowed to the dtype, equality on shape, dtype and bounds."""
    b = spaces.Box(-2.0, 2.0, dtype=np.float32)
    assert b.shape == (1,) and b.low.dtype == np.float32 and b.high[0] == np.float32(2.0)
    assert spaces.Box(-1.0, 1.0, shape=(3, 2)).shape == (3, 2)
    assert spaces.Box(np.zeros(4), 1.0).shape == (4,) and spaces.Box(0.0, np.ones(2)).shape == (2,)
    assert b != spaces.Box(-2.0, 2.0, dtype=np.float64) and b != spaces.Box(-2.0, 2.0, shape=(2,))
    assert b == spaces.Box(np.array([-2.0], np.float32), np.array([2.0], np.float32))
    assert np.array([2.0], np.float32) in b and np.array([2.5], np.float32) not in b
    assert np.array([1.0], np.float64) not in b  # float64 cannot be cast safely to float32
    assert b.seed(3) == [3]
    first = [b.sample() for _ in range(5)]
    b.seed(3)
    assert all(np.array_equal(x, b.sample()) for x in first)
    assert all(x.dtype == np.float32 and x in b for x in first)
    with pytest.raises(ValueError):
        b.sample(mask=np.ones(1))
