"""EnvdEnv against a live envd: spaces, spec, seeding, actions, closing,
and the OldGymAPI wrapper. These run with or without gymnasium: without
it they exercise envd_client's stand-in base classes and spaces."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import envd_client
from envd_client import _gym

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "cartpole_v1_public.jsonl"
CASES = {c["case_id"]: c for c in map(json.loads, GOLDEN.read_text().splitlines())}

HIGH_BITS = [0x4099999A, 0x7F800000, 0x3ED67750, 0x7F800000]
LOW_BITS = [0xC099999A, 0xFF800000, 0xBED67750, 0xFF800000]


def bits(hexes):
    return np.array([int(h, 16) for h in hexes], dtype=np.uint32)


def numpy_reset(seed: int, low: float = -0.05, high: float = 0.05) -> np.ndarray:
    """CartPole's reset drawn with numpy itself: Gymnasium's
    np_random.uniform(low, high, size=4) narrowed to float32."""
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed)))
    return rng.uniform(low, high, size=(4,)).astype(np.float32)


@pytest.fixture
def env(endpoint):
    e = envd_client.EnvdEnv("CartPole-v1", endpoint=endpoint)
    yield e
    e.close()


# ---------------------------------------------------------------- base class
def test_env_subclasses_gymnasium_env_or_the_compatible_base(env):
    if envd_client.HAVE_GYMNASIUM:
        import gymnasium

        assert isinstance(env, gymnasium.Env)
    else:
        assert isinstance(env, _gym._CompatEnv)
    assert env.unwrapped is env
    assert env.render_mode is None and env.metadata["render_modes"] == []


# ---------------------------------------------------------------- spaces
def test_observation_space_is_float32_box_with_exact_bounds_including_infinities(env):
    space = env.observation_space
    assert isinstance(space, envd_client.spaces.Box)
    assert space.shape == (4,) and space.dtype == np.float32
    assert space.low.dtype == np.float32 and space.high.dtype == np.float32
    np.testing.assert_array_equal(space.high.view(np.uint32), np.array(HIGH_BITS, np.uint32))
    np.testing.assert_array_equal(space.low.view(np.uint32), np.array(LOW_BITS, np.uint32))
    assert not space.is_bounded()
    assert list(space.bounded_below) == [True, False, True, False]


def test_action_space_is_discrete_two_int64(env):
    space = env.action_space
    assert isinstance(space, envd_client.spaces.Discrete)
    assert space.n == 2 and space.start == 0
    assert space.dtype == np.int64 and space.shape == ()
    for good in (0, 1, np.int64(1), np.int32(0), np.array(1)):
        assert space.contains(good), good
    for bad in (2, -1, 1.0, "1", np.array([1]), np.float32(1)):
        assert not space.contains(bad), bad
    assert 1 in space and 2 not in space


def test_spaces_sample_inside_themselves_and_reproducibly_after_seed(env):
    for space in (env.observation_space, env.action_space):
        assert space.seed(7) == [7]
        a = [space.sample() for _ in range(20)]
        space.seed(7)
        b = [space.sample() for _ in range(20)]
        np.testing.assert_array_equal(np.array(a), np.array(b))
        assert all(space.contains(x) for x in a)
    samples = np.array([env.action_space.sample() for _ in range(200)])
    assert set(samples.tolist()) == {0, 1}
    obs = np.array([env.observation_space.sample() for _ in range(200)])
    assert np.isfinite(obs).all() and obs.dtype == np.float32


def test_spaces_compare_equal_across_envs(endpoint, env):
    with envd_client.EnvdEnv("CartPole-v1", endpoint=endpoint) as other:
        assert other.observation_space == env.observation_space
        assert other.action_space == env.action_space


def test_observations_are_contained_in_the_observation_space(env):
    obs, _ = env.reset(seed=3)
    assert obs in env.observation_space
    assert obs.astype(np.float64) not in env.observation_space  # dtype must be float32


# ---------------------------------------------------------------- spec
@pytest.mark.parametrize("env_id,steps,threshold", [("CartPole-v1", 500, 475.0), ("CartPole-v0", 200, 195.0)])
def test_spec_carries_time_limit_and_reward_threshold_from_envd(endpoint, env_id, steps, threshold):
    with envd_client.EnvdEnv(env_id, endpoint=endpoint) as e:
        assert e.spec.id == f"envd/{env_id}"
        assert e.spec.max_episode_steps == steps
        assert e.spec.reward_threshold == threshold
        assert e.spec.kwargs["env_id"] == env_id and e.spec.kwargs["endpoint"] == endpoint


def test_max_episode_steps_make_option_sets_spec_and_truncates(endpoint):
    with envd_client.EnvdEnv("CartPole-v1", endpoint=endpoint, max_episode_steps=7) as e:
        assert e.spec.max_episode_steps == 7
        assert e.spec.kwargs["max_episode_steps"] == 7
        e.reset(seed=0)
        flags = [e.step(i % 2)[3] for i in range(9)]  # alternating actions keep the pole up
        assert flags == [False] * 6 + [True] * 3


def test_make_returns_an_envd_env_and_accepts_the_envd_prefix(endpoint):
    for env_id in ("CartPole-v1", "envd/CartPole-v1"):
        with envd_client.make(env_id, endpoint=endpoint) as e:
            assert isinstance(e, envd_client.EnvdEnv) and e.env_id == "CartPole-v1"
            obs, _ = e.reset(seed=0)
            np.testing.assert_array_equal(obs, numpy_reset(0))


def test_render_mode_is_refused(endpoint):
    with pytest.raises(envd_client.InvalidArgument, match="render"):
        envd_client.EnvdEnv("CartPole-v1", endpoint=endpoint, render_mode="human")


# ---------------------------------------------------------------- seeding
def test_reset_with_seed_is_reproducible_and_matches_numpy(env):
    a, _ = env.reset(seed=42)
    env.step(1)
    b, _ = env.reset(seed=42)
    np.testing.assert_array_equal(a.view(np.uint32), b.view(np.uint32))
    np.testing.assert_array_equal(a, numpy_reset(42))


def test_reset_without_seed_continues_the_stream(endpoint):
    chain = CASES["public/reseed-chain/100"]["segments"]
    with envd_client.EnvdEnv(endpoint=endpoint) as e1, envd_client.EnvdEnv(endpoint=endpoint) as e2:
        e1.reset(seed=100)
        e2.reset(seed=100)
        for _ in range(5):
            e2.step(0)  # steps draw nothing from the stream
        o1, _ = e1.reset()
        o2, _ = e2.reset()
        np.testing.assert_array_equal(o1.view(np.uint32), bits(chain[1]["initial_obs_hex"]))
        np.testing.assert_array_equal(o2.view(np.uint32), o1.view(np.uint32))


def test_first_unseeded_resets_differ_between_envs(endpoint):
    with envd_client.EnvdEnv(endpoint=endpoint) as e1, envd_client.EnvdEnv(endpoint=endpoint) as e2:
        assert not np.array_equal(e1.reset()[0], e2.reset()[0])  # OS entropy, 2**-128 to collide


def test_check_env_seed_sequence_holds(env):
    """What gymnasium's check_env asserts: seed 123, unseeded, seed 123,
    unseeded gives equal pairs."""
    a0, _ = env.reset(seed=123)
    a1, _ = env.reset()
    b0, _ = env.reset(seed=123)
    b1, _ = env.reset()
    np.testing.assert_array_equal(a0, b0)
    np.testing.assert_array_equal(a1, b1)
    assert not np.array_equal(a0, a1)


def test_reset_seeds_the_local_np_random_as_gymnasium(env):
    env.reset(seed=123)
    rng = env.unwrapped._np_random
    assert isinstance(rng, np.random.Generator)
    expected = np.random.Generator(np.random.PCG64(np.random.SeedSequence(123)))
    assert rng.bit_generator.state == expected.bit_generator.state
    assert env.np_random_seed == 123
    state = env.np_random.bit_generator.state
    env.reset()  # no seed: the local generator is left alone
    assert env.np_random.bit_generator.state == state
    env.reset(seed=124)
    assert env.np_random.bit_generator.state != state


def test_largest_uint64_seed_matches_the_reference_vector(env):
    obs, _ = env.reset(seed=2**64 - 1)  # semantics note section 9
    np.testing.assert_array_equal(obs.view(np.uint32),
                                  np.array([0x3C937A55, 0x3D0D7090, 0xBD49C488, 0x3D219D77], np.uint32))


@pytest.mark.parametrize("seed", [2**64, -1, np.int64(3), 1.5, "7"])
def test_seeds_envd_cannot_take_are_refused(env, seed):
    env.reset(seed=1)
    errors = (envd_client.InvalidArgument,)
    if envd_client.HAVE_GYMNASIUM:
        import gymnasium

        errors += (gymnasium.error.Error,)
    with pytest.raises(errors):
        env.reset(seed=seed)
    obs, _ = env.reset(seed=0)  # still usable
    np.testing.assert_array_equal(obs, numpy_reset(0))


def test_reset_options_low_high_move_the_initial_state(env):
    obs, _ = env.reset(seed=5, options={"low": -0.2, "high": 0.1})
    np.testing.assert_array_equal(obs, numpy_reset(5, -0.2, 0.1))
    obs, _ = env.reset(seed=5, options={"low": 0, "high": 0})
    np.testing.assert_array_equal(obs, np.zeros(4, np.float32))


def test_unknown_reset_options_are_ignored_whatever_their_value(env):
    """Gymnasium's CartPole reads only low and high; None travels as a key
    with no value, which envd ignores like any other unknown option."""
    want = numpy_reset(9)
    for options in ({"x": None}, {"colour": "red", "render": True}, {"high": 0.05, "y": None}):
        obs, _ = env.reset(seed=9, options=options)
        np.testing.assert_array_equal(obs, want)


def test_reset_option_low_of_none_is_invalid_as_in_gymnasium(env):
    # Gymnasium: float(None) in maybe_parse_reset_bounds raises ValueError.
    with pytest.raises(envd_client.InvalidArgument, match="low must be a number, not none"):
        env.reset(seed=9, options={"low": None})


def test_reset_options_low_above_high_are_invalid(env):
    with pytest.raises(envd_client.InvalidArgument):
        env.reset(seed=5, options={"low": 0.1, "high": -0.1})


# ---------------------------------------------------------------- actions
def test_integer_like_actions_are_accepted(endpoint):
    ref = CASES["public/always1/0"]["segments"][0]["steps"]
    with envd_client.EnvdEnv(endpoint=endpoint) as e:
        e.reset(seed=0)
        for i, action in enumerate([1, np.int64(1), np.array(1), True, np.uint8(1)]):
            obs = e.step(action)[0]
            np.testing.assert_array_equal(obs.view(np.uint32), bits(ref[i]["obs_hex"]))


@pytest.mark.parametrize("action", [2, -1, 1.0, np.float32(0), np.array([1]), "1", None])
def test_invalid_actions_raise_invalid_argument_and_change_nothing(endpoint, action):
    ref = CASES["public/always1/0"]["segments"][0]["steps"]
    with envd_client.EnvdEnv(endpoint=endpoint) as e:
        e.reset(seed=0)
        with pytest.raises(envd_client.InvalidArgument):
            e.step(action)
        obs = e.step(1)[0]
        np.testing.assert_array_equal(obs.view(np.uint32), bits(ref[0]["obs_hex"]))


def test_returned_observations_are_writable_copies(env):
    obs, _ = env.reset(seed=0)
    obs[0] = 99.0
    obs2 = env.step(0)[0]
    assert obs2.flags.writeable and obs2[0] != 99.0


# ---------------------------------------------------------------- closing
def _session_is_gone(endpoint, session) -> bool:
    with envd_client.Client(endpoint) as c:
        try:
            c.reset(session, seed=0)
        except envd_client.NotFound:
            return True
    return False


def test_close_closes_the_session_on_the_server_and_is_idempotent(endpoint):
    e = envd_client.EnvdEnv(endpoint=endpoint)
    e.reset(seed=0)
    session = e.session
    assert not _session_is_gone(endpoint, session)
    e.close()
    e.close()
    assert _session_is_gone(endpoint, session)
    assert e.client.closed
    with pytest.raises(envd_client.FailedPrecondition):
        e.step(0)
    with pytest.raises(envd_client.FailedPrecondition):
        e.reset()


def test_context_manager_closes_the_session(endpoint):
    with envd_client.EnvdEnv(endpoint=endpoint) as e:
        e.reset(seed=0)
        session = e.session
    assert _session_is_gone(endpoint, session)


def test_a_shared_client_stays_open_after_the_env_closes(endpoint):
    with envd_client.Client(endpoint) as c:
        with envd_client.EnvdEnv(client=c) as e:
            e.reset(seed=0)
        assert not c.closed and c.ping(b"still here") == b"still here"


def test_garbage_collected_env_releases_its_session(endpoint):
    import gc
    import time

    e = envd_client.EnvdEnv(endpoint=endpoint)
    session = e.session
    del e
    gc.collect()
    deadline = time.monotonic() + 2.0
    while not _session_is_gone(endpoint, session):
        assert time.monotonic() < deadline, "the finalizer did not close the session"
        time.sleep(0.02)


# ---------------------------------------------------------------- OldGymAPI
def test_old_gym_api_reset_returns_obs_and_seed_method_seeds_it(endpoint):
    with envd_client.OldGymAPI(envd_client.EnvdEnv(endpoint=endpoint)) as env:
        assert env.seed(0) == [0]
        obs = env.reset()
        assert isinstance(obs, np.ndarray)
        np.testing.assert_array_equal(obs, numpy_reset(0))
        assert env.unwrapped is env and env.action_space.n == 2
        obs = env.reset(seed=42)
        np.testing.assert_array_equal(obs, numpy_reset(42))


def test_old_gym_api_step_is_a_4_tuple_with_done_and_timelimit_flag(endpoint):
    # always1 from seed 0 terminates at t=8 (golden); a limit of 5 truncates first.
    with envd_client.OldGymAPI(envd_client.EnvdEnv(endpoint=endpoint)) as env:
        env.reset(seed=0)
        for t in range(1, 9):
            obs, reward, done, info = env.step(1)
            assert done == (t == 8)
        assert info["TimeLimit.truncated"] is False
    with envd_client.OldGymAPI(envd_client.EnvdEnv(endpoint=endpoint, max_episode_steps=5)) as env:
        env.reset(seed=0)
        for t in range(1, 6):
            obs, reward, done, info = env.step(1)
            assert done == (t == 5) and (("TimeLimit.truncated" in info) == done)
        assert info["TimeLimit.truncated"] is True and reward == 1.0
