"""EnvdVectorEnv against a live envd, checked step by step against a
reference built from single EnvdEnvs (one per sub-env, the same seeds and
actions) driven with Gymnasium's SyncVectorEnv autoreset rules. The single
env is itself checked bit-exact against Gymnasium in test_golden.py."""

from __future__ import annotations

import numpy as np
import pytest

import envd_client
from envd_client import AutoresetMode


class ReferenceVector:
    """gymnasium.vector.SyncVectorEnv's step/reset rules over EnvdEnvs."""

    def __init__(self, endpoint, n, mode, **make_options):
        self.envs = [envd_client.EnvdEnv("CartPole-v1", endpoint, **make_options) for _ in range(n)]
        self.mode = mode
        self.n = n
        self.autoreset = np.zeros(n, bool)
        self.obs = [None] * n

    def reset(self, seeds, mask=None):
        for i, env in enumerate(self.envs):
            if mask is None or mask[i]:
                self.obs[i], _ = env.reset(seed=seeds[i])
                self.autoreset[i] = False
        return np.stack(self.obs)

    def step(self, actions):
        rew = np.zeros(self.n)
        term = np.zeros(self.n, bool)
        trunc = np.zeros(self.n, bool)
        final = {}
        for i, env in enumerate(self.envs):
            if self.mode == "next_step" and self.autoreset[i]:
                self.obs[i], _ = env.reset()
            else:
                self.obs[i], rew[i], term[i], trunc[i], _ = env.step(int(actions[i]))
                if self.mode == "same_step" and (term[i] or trunc[i]):
                    final[i] = self.obs[i]
                    self.obs[i], _ = env.reset()
        self.autoreset = term | trunc
        return np.stack(self.obs), rew, term, trunc, final

    def close(self):
        for env in self.envs:
            env.close()


def same_bits(a, b):
    return np.array_equal(np.asarray(a).view(np.uint32), np.asarray(b).view(np.uint32))


def check_infos(infos, final, n, mode):
    if mode != "same_step" or not final:
        assert infos == {}
        return
    mask = np.zeros(n, bool)
    mask[list(final)] = True
    assert set(infos) == {"final_obs", "_final_obs", "final_info", "_final_info"}
    np.testing.assert_array_equal(infos["_final_obs"], mask)
    np.testing.assert_array_equal(infos["_final_info"], mask)
    assert infos["final_info"] == {}
    assert infos["final_obs"].dtype == object and infos["final_obs"].shape == (n,)
    for i in range(n):
        if i in final:
            assert infos["final_obs"][i].dtype == np.float32
            assert same_bits(infos["final_obs"][i], final[i]), i
        else:
            assert infos["final_obs"][i] is None


@pytest.mark.parametrize("mode", ["next_step", "same_step"])
@pytest.mark.parametrize("make_options", [{}, {"max_episode_steps": 20}], ids=["default", "limit20"])
def test_vector_env_matches_single_envs_under_gymnasium_autoreset(endpoint, mode, make_options):
    n, steps = 6, 160
    rng = np.random.default_rng(1234)
    ref = ReferenceVector(endpoint, n, mode, **make_options)
    envs = envd_client.EnvdVectorEnv("CartPole-v1", n, endpoint, autoreset_mode=mode, **make_options)
    try:
        obs, infos = envs.reset(seed=10)
        assert infos == {}
        assert same_bits(obs, ref.reset([10 + i for i in range(n)]))
        ends = truncs = 0
        for t in range(steps):
            actions = rng.integers(0, 2, size=n)
            obs, rew, term, trunc, infos = envs.step(actions)
            r_obs, r_rew, r_term, r_trunc, final = ref.step(actions)
            assert obs.shape == (n, 4) and obs.dtype == np.float32
            assert same_bits(obs, r_obs), t
            np.testing.assert_array_equal(rew, r_rew)
            np.testing.assert_array_equal(term, r_term)
            np.testing.assert_array_equal(trunc, r_trunc)
            assert rew.dtype == np.float64 and term.dtype == np.bool_ and trunc.dtype == np.bool_
            check_infos(infos, final, n, mode)
            ends += int((term | trunc).sum())
            truncs += int(trunc.sum())
        assert ends > n  # autoreset really happened, many times
        if make_options:
            assert truncs > 0
    finally:
        envs.close()
        ref.close()


def test_reset_seed_list_with_none_entries_continues_those_streams(endpoint):
    n = 4
    ref = ReferenceVector(endpoint, n, "next_step")
    with envd_client.EnvdVectorEnv("CartPole-v1", n, endpoint) as envs:
        assert same_bits(envs.reset(seed=[5, 6, 7, 8])[0], ref.reset([5, 6, 7, 8]))
        seeds = [None, 60, None, 80]
        assert same_bits(envs.reset(seed=seeds)[0], ref.reset(seeds))
        assert same_bits(envs.reset()[0], ref.reset([None] * n))
    ref.close()


def test_reset_int_seed_gives_seed_plus_i_per_sub_env(endpoint):
    with envd_client.EnvdVectorEnv("CartPole-v1", 3, endpoint) as envs:
        obs, _ = envs.reset(seed=100)
        for i in range(3):
            with envd_client.EnvdEnv("CartPole-v1", endpoint) as e:
                assert same_bits(obs[i], e.reset(seed=100 + i)[0])
        expected = np.random.Generator(np.random.PCG64(np.random.SeedSequence(100)))
        assert envs.np_random.bit_generator.state == expected.bit_generator.state


@pytest.mark.parametrize("mode", ["next_step", "same_step"])
def test_reset_mask_resets_only_those_rows_and_returns_every_row(endpoint, mode):
    n = 5
    rng = np.random.default_rng(7)
    ref = ReferenceVector(endpoint, n, mode)
    with envd_client.EnvdVectorEnv("CartPole-v1", n, endpoint, autoreset_mode=mode) as envs:
        envs.reset(seed=0)
        ref.reset(list(range(n)))
        for _ in range(4):
            actions = rng.integers(0, 2, size=n)
            before, *_ = envs.step(actions)
            ref.step(actions)
        mask = np.array([False, True, False, True, False])
        seeds = [None, 111, None, None, None]
        obs, infos = envs.reset(seed=seeds, options={"reset_mask": mask})
        assert infos == {}
        r_obs = ref.reset(seeds, mask)
        assert same_bits(obs, r_obs)
        assert same_bits(obs[~mask], before[~mask])  # untouched rows keep their observation
        for t in range(40):  # the unmasked rows go on with their episodes
            actions = rng.integers(0, 2, size=n)
            obs, rew, term, trunc, infos = envs.step(actions)
            r_obs, r_rew, r_term, r_trunc, final = ref.step(actions)
            assert same_bits(obs, r_obs), t
            np.testing.assert_array_equal(rew, r_rew)
            np.testing.assert_array_equal(term | trunc, r_term | r_trunc)
            check_infos(infos, final, n, mode)
    ref.close()


def test_disabled_mode_refuses_to_step_finished_rows_until_they_are_reset(endpoint):
    n = 3
    ref = ReferenceVector(endpoint, n, "disabled")
    with envd_client.EnvdVectorEnv("CartPole-v1", n, endpoint, autoreset_mode="disabled") as envs:
        assert envs.metadata["autoreset_mode"] == AutoresetMode.DISABLED
        envs.reset(seed=0)
        ref.reset([0, 1, 2])
        actions = np.ones(n, np.int64)  # the pole falls within ~10 steps
        for t in range(60):
            obs, rew, term, trunc, infos = envs.step(actions)
            r_obs, *_ = ref.step(actions)
            assert same_bits(obs, r_obs) and infos == {}
            done = term | trunc
            if done.any():
                break
        assert done.any()
        with pytest.raises(envd_client.FailedPrecondition, match="reset_mask"):
            envs.step(actions)
        obs, _ = envs.reset(options={"reset_mask": done})
        assert same_bits(obs, ref.reset([None] * n, done))
        obs, *_ = envs.step(np.zeros(n, np.int64))
        assert same_bits(obs, ref.step(np.zeros(n, np.int64))[0])
    ref.close()


@pytest.mark.parametrize("bad", [
    np.array([True, False]),                 # wrong shape
    np.array([1, 0, 1]),                     # not bool
    np.zeros(3, bool),                       # selects nothing
    [True, False, True],                     # not an array
])
def test_invalid_reset_masks_are_refused(endpoint, bad):
    with envd_client.EnvdVectorEnv("CartPole-v1", 3, endpoint) as envs:
        envs.reset(seed=0)
        with pytest.raises(envd_client.InvalidArgument):
            envs.reset(options={"reset_mask": bad})


def test_action_dtypes_are_equivalent(endpoint):
    n = 4
    pattern = np.array([1, 0, 0, 1])
    results = []
    for actions in (pattern.astype(np.int64), pattern.astype(np.int32), pattern.astype(np.uint8),
                    pattern.astype(bool), pattern.astype(np.int16), pattern.tolist()):
        with envd_client.EnvdVectorEnv("CartPole-v1", n, endpoint) as envs:
            envs.reset(seed=3)
            results.append(envs.step(actions)[0])
    for r in results[1:]:
        assert same_bits(r, results[0])


@pytest.mark.parametrize("actions", [np.ones(4), np.ones(3, np.int64), np.ones((4, 1), np.int64),
                                     np.array([0, 1, 2, 0]), np.array([0, -1, 0, 0])])
def test_bad_actions_raise_invalid_argument_and_no_row_moves(endpoint, actions):
    n = 4
    with envd_client.EnvdVectorEnv("CartPole-v1", n, endpoint) as envs, \
            envd_client.EnvdVectorEnv("CartPole-v1", n, endpoint) as twin:
        envs.reset(seed=9)
        twin.reset(seed=9)
        with pytest.raises(envd_client.InvalidArgument):
            envs.step(actions)
        good = np.array([1, 0, 1, 0])
        assert same_bits(envs.step(good)[0], twin.step(good)[0])


def test_step_before_reset_is_a_failed_precondition(endpoint):
    with envd_client.EnvdVectorEnv("CartPole-v1", 2, endpoint) as envs:
        with pytest.raises(envd_client.FailedPrecondition):
            envs.step(np.zeros(2, np.int64))


def test_copy_true_returns_writable_arrays_copy_false_read_only_views(endpoint):
    with envd_client.EnvdVectorEnv("CartPole-v1", 3, endpoint) as envs:
        envs.reset(seed=0)
        out = envs.step(np.zeros(3, np.int64))
        for arr in out[:4]:
            assert arr.flags.writeable and arr.flags.c_contiguous
    with envd_client.EnvdVectorEnv("CartPole-v1", 3, endpoint, copy=False) as envs:
        obs, _ = envs.reset(seed=0)
        out = envs.step(np.zeros(3, np.int64))
        for arr in out[:4]:
            assert not arr.flags.writeable
        assert out[0].shape == (3, 4) and out[0].dtype == np.float32


def test_spaces_and_attributes(endpoint):
    n = 5
    with envd_client.EnvdVectorEnv("CartPole-v1", n, endpoint, autoreset_mode="same_step") as envs, \
            envd_client.EnvdEnv("CartPole-v1", endpoint) as single:
        assert envs.num_envs == n
        assert envs.single_observation_space == single.observation_space
        assert envs.single_action_space == single.action_space
        assert envs.observation_space.shape == (n, 4) and envs.observation_space.dtype == np.float32
        np.testing.assert_array_equal(envs.observation_space.high[3], single.observation_space.high)
        assert isinstance(envs.action_space, envd_client.spaces.MultiDiscrete)
        np.testing.assert_array_equal(envs.action_space.nvec, np.full(n, 2))
        assert envs.action_space.contains(envs.action_space.sample())
        assert envs.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
        assert envs.autoreset_mode.value == "SameStep"
        assert envs.spec.id == "envd/CartPole-v1" and envs.spec.max_episode_steps == 500
        assert envs.unwrapped is envs
        if envd_client.HAVE_GYMNASIUM:
            import gymnasium

            assert isinstance(envs, gymnasium.vector.VectorEnv)


@pytest.mark.parametrize("mode,expected", [
    ("next_step", AutoresetMode.NEXT_STEP), ("NextStep", AutoresetMode.NEXT_STEP),
    ("same_step", AutoresetMode.SAME_STEP), (AutoresetMode.SAME_STEP, AutoresetMode.SAME_STEP),
    ("disabled", AutoresetMode.DISABLED)])
def test_autoreset_mode_accepts_names_values_and_the_enum(endpoint, mode, expected):
    with envd_client.EnvdVectorEnv("CartPole-v1", 1, endpoint, autoreset_mode=mode) as envs:
        assert envs.autoreset_mode is expected


def test_unknown_autoreset_mode_is_refused_before_connecting():
    with pytest.raises(envd_client.InvalidArgument):
        envd_client.EnvdVectorEnv("CartPole-v1", 1, "tcp://127.0.0.1:1", autoreset_mode="sometimes")


def test_close_closes_every_session_and_is_idempotent(endpoint):
    envs = envd_client.EnvdVectorEnv("CartPole-v1", 4, endpoint)
    envs.reset(seed=0)
    sessions = envs.sessions.tolist()
    envs.close()
    envs.close()
    assert envs.closed
    with envd_client.Client(endpoint) as c:
        for s in sessions:
            with pytest.raises(envd_client.NotFound):
                c.reset(s)
    with pytest.raises(envd_client.FailedPrecondition):
        envs.step(np.zeros(4, np.int64))


def test_make_vec_builds_a_vector_env(endpoint):
    with envd_client.make_vec("envd/CartPole-v1", num_envs=2, endpoint=endpoint,
                              autoreset_mode="same_step") as envs:
        assert isinstance(envs, envd_client.EnvdVectorEnv) and envs.num_envs == 2
        assert envs.reset(seed=0)[0].shape == (2, 4)
