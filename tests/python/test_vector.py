"""EnvdVectorEnv against a live envd, checked step by step against a
reference built from single EnvdEnvs (one per sub-env, the same seeds and
actions) driven with Gymnasium's SyncVectorEnv autoreset rules. The single
env is itself checked bit-exact against Gymnasium in test_golden.py."""

from __future__ import annotations

import threading

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


def spread(endpoints3, servers):
    """``endpoints=`` for a vector env over the first ``servers`` envds."""
    return {"endpoints": endpoints3[:servers]}


@pytest.mark.parametrize("servers", [1, 2, 3])
@pytest.mark.parametrize("mode", ["next_step", "same_step"])
@pytest.mark.parametrize("make_options", [{}, {"max_episode_steps": 20}], ids=["default", "limit20"])
def test_vector_env_matches_single_envs_under_gymnasium_autoreset(endpoint, endpoints3, servers, mode,
                                                                  make_options):
    n, steps = 6, 160
    rng = np.random.default_rng(1234)
    ref = ReferenceVector(endpoint, n, mode, **make_options)
    envs = envd_client.EnvdVectorEnv("CartPole-v1", n, autoreset_mode=mode,
                                     **spread(endpoints3, servers), **make_options)
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


@pytest.mark.parametrize("servers", [1, 3])
@pytest.mark.parametrize("mode", ["next_step", "same_step"])
def test_reset_mask_resets_only_those_rows_and_returns_every_row(endpoint, endpoints3, mode, servers):
    n = 5
    rng = np.random.default_rng(7)
    ref = ReferenceVector(endpoint, n, mode)
    with envd_client.EnvdVectorEnv("CartPole-v1", n, autoreset_mode=mode,
                                   **spread(endpoints3, servers)) as envs:
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


@pytest.mark.parametrize("servers", [1, 2, 3])
def test_disabled_mode_refuses_to_step_finished_rows_until_they_are_reset(endpoint, endpoints3, servers):
    n = 3
    ref = ReferenceVector(endpoint, n, "disabled")
    with envd_client.EnvdVectorEnv("CartPole-v1", n, autoreset_mode="disabled",
                                   **spread(endpoints3, servers)) as envs:
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


# ---------------------------------------------------------------- several servers
def run_script(envs, env_id, seed, steps, dtype=np.float32):
    """One fixed script: a seeded reset, then seeds with None entries (those
    streams continue), steps with seeded random
    actions (out-of-bounds Box ones too), a masked reset in the middle.
    Returns everything the env returned, to compare bit for bit."""
    n = envs.num_envs
    rng = np.random.default_rng(seed)
    out = []
    out.append(envs.reset(seed=seed)[0])
    out.append(envs.reset(seed=[seed + 50 + i if i % 3 else None for i in range(n)])[0])
    space = envs.single_action_space
    for t in range(steps):
        if isinstance(space, envd_client.spaces.Discrete):
            actions = rng.integers(0, space.n, size=n)
        else:
            actions = rng.uniform(-3.0, 3.0, size=(n, 1)).astype(dtype)
        if envs.autoreset_mode == AutoresetMode.DISABLED and envs._done.any():
            out.append(envs.reset(options={"reset_mask": envs._done.copy()})[0])
        obs, rew, term, trunc, infos = envs.step(actions)
        out += [obs, rew, term, trunc]
        if "final_obs" in infos:
            out += [infos["_final_obs"]] + [x for x in infos["final_obs"] if x is not None]
        else:
            assert infos == {}
        if t == steps // 2:
            mask = np.zeros(n, bool)
            mask[::2] = True
            out.append(envs.reset(seed=[7 * i if mask[i] else None for i in range(n)],
                                  options={"reset_mask": mask})[0])
    return out


@pytest.mark.parametrize("mode", ["next_step", "same_step", "disabled"])
@pytest.mark.parametrize("env_id,dtype", [("CartPole-v1", None), ("Acrobot-v1", None),
                                          ("Pendulum-v1", np.float32), ("Pendulum-v1", np.float64),
                                          ("MountainCarContinuous-v0", np.float32)])
def test_several_servers_give_the_single_servers_results_bit_for_bit(endpoint, endpoints3, mode,
                                                                     env_id, dtype):
    n, steps = 7, 90  # 7 rows over 3 servers: blocks of 3, 2, 2
    results = []
    for where in ({"endpoint": endpoint}, {"endpoints": endpoints3[:2]}, {"endpoints": endpoints3}):
        with envd_client.EnvdVectorEnv(env_id, n, autoreset_mode=mode, max_episode_steps=30,
                                       **where) as envs:
            results.append(run_script(envs, env_id, 21, steps, dtype))
    single = results[0]
    for multi in results[1:]:
        assert len(multi) == len(single)
        for k, (a, b) in enumerate(zip(single, multi)):
            assert a.dtype == b.dtype and a.shape == b.shape, k
            assert a.tobytes() == b.tobytes(), k


def test_sessions_spread_in_even_contiguous_blocks_and_close_everywhere(endpoints3):
    with envd_client.EnvdVectorEnv("CartPole-v1", 8, endpoints=endpoints3) as envs:
        assert [(s.lo, s.hi) for s in envs._shards] == [(0, 3), (3, 6), (6, 8)]
        assert envs.server_of.tolist() == [0, 0, 0, 1, 1, 1, 2, 2]
        assert envs.endpoints == endpoints3 and envs.spec.kwargs["endpoints"] == endpoints3
        assert "servers=3" in repr(envs)
        per_server = []
        for ep, shard in zip(endpoints3, envs._shards):
            with envd_client.Client(ep) as c:
                for sid in shard.sessions.tolist():  # each session lives on its own server
                    c.reset(sid, seed=0)
            per_server.append(shard.sessions.tolist())
    for ep, sessions in zip(endpoints3, per_server):
        with envd_client.Client(ep) as c:
            for sid in sessions:
                with pytest.raises(envd_client.NotFound):
                    c.reset(sid)


def test_every_server_gets_its_request_before_any_reply_is_awaited(endpoints3):
    """Once armed, proxy A holds its j-th request until proxy B has
    received its j-th: a client that waited for A's reply before sending
    to B would never get one (it would time out). No clock is read by the
    test. (The makes, one server after the other, come before arming.)"""
    from delay_proxy import DelayProxy

    armed = threading.Event()
    with DelayProxy(endpoints3[1]) as b, \
            DelayProxy(endpoints3[0], gate=lambda j: not armed.is_set() or b.requests >= j) as a:
        with envd_client.EnvdVectorEnv("CartPole-v1", 4, endpoints=[a.endpoint, b.endpoint],
                                       timeout=30.0) as envs:
            assert a.requests == b.requests == 1  # the makes
            armed.set()
            envs.reset(seed=0)
            for _ in range(5):
                envs.step(np.zeros(4, np.int64))
            assert a.requests == b.requests == 7
            assert envs.client.resends == 0 and envs._shards[1].client.resends == 0
            armed.clear()  # the closes go one server after the other again


@pytest.mark.parametrize("bad_row", [0, 4, 6])
def test_a_bad_action_on_any_server_is_refused_before_any_row_moves(endpoint, endpoints3, bad_row):
    n = 7
    with envd_client.EnvdVectorEnv("Pendulum-v1", n, endpoints=endpoints3) as envs, \
            envd_client.EnvdVectorEnv("Pendulum-v1", n, endpoint) as twin:
        envs.reset(seed=4)
        twin.reset(seed=4)
        bad = np.zeros((n, 1), np.float32)
        bad[bad_row] = np.nan
        with pytest.raises(envd_client.InvalidArgument, match=f"actions\\[{bad_row}\\]"):
            envs.step(bad)
        good = np.full((n, 1), 0.5, np.float32)
        assert envs.step(good)[0].tobytes() == twin.step(good)[0].tobytes()
    with envd_client.EnvdVectorEnv("Acrobot-v1", n, endpoints=endpoints3) as envs, \
            envd_client.EnvdVectorEnv("Acrobot-v1", n, endpoint) as twin:
        envs.reset(seed=4)
        twin.reset(seed=4)
        bad = np.ones(n, np.int64)
        bad[bad_row] = 3
        with pytest.raises(envd_client.InvalidArgument, match=r"outside \[0, 3\)"):
            envs.step(bad)
        good = np.ones(n, np.int64)
        assert envs.step(good)[0].tobytes() == twin.step(good)[0].tobytes()


@pytest.mark.parametrize("kwargs,match", [
    ({"endpoints": []}, "empty"),
    ({"endpoints": "tcp://127.0.0.1:1"}, "list"),
    ({"endpoints": ["tcp://127.0.0.1:1", "tcp://127.0.0.1:2"], "endpoint": "tcp://127.0.0.1:3"}, "not both"),
    ({"endpoints": ["tcp://127.0.0.1:1"] * 3, "num_envs": 2}, "at least one session each"),
])
def test_bad_endpoint_lists_are_refused_before_connecting(kwargs, match):
    kwargs = {"num_envs": 4, **kwargs}
    with pytest.raises(envd_client.InvalidArgument, match=match):
        envd_client.EnvdVectorEnv("CartPole-v1", **kwargs)
