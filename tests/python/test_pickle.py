"""EnvdEnv pickles as its constructor arguments.

Gymnasium's AsyncVectorEnv with the spawn or forkserver context, and
copy.deepcopy, pickle environments. An EnvdEnv's pickle holds the endpoint,
timeout, CURVE keys and make options; unpickling opens a new connection
and makes a new session, which then behaves exactly as the original under
the same seed and actions (compared step by step here, in this process and
in spawned ones). With gymnasium installed, test_gymnasium.py runs the same
through AsyncVectorEnv(context="spawn").
"""

from __future__ import annotations

import copy
import multiprocessing
import pickle

import numpy as np
import pytest

import envd_client

ACTIONS = [1, 0, 0, 1, 1, 1, 0, 1, 0, 0] * 5


def rollout(env, seed: int, actions=ACTIONS):
    """(obs bits, reward, terminated, truncated) per step, reset included."""
    obs, _ = env.reset(seed=seed)
    out = [(obs.view(np.uint32).tolist(), None, None, None)]
    for a in actions:
        obs, r, term, trunc, _ = env.step(a)
        out.append((obs.view(np.uint32).tolist(), r, term, trunc))
        if term or trunc:
            obs, _ = env.reset()
            out.append((obs.view(np.uint32).tolist(), None, None, None))
    return out


def rollout_in_child(env, seed: int):
    """Runs in a spawned process: the env arrives pickled."""
    try:
        return env.session, rollout(env, seed)
    finally:
        env.close()


def test_round_trip_makes_a_new_session_with_the_same_options(endpoint):
    env = envd_client.EnvdEnv("CartPole-v1", endpoint, timeout=3.0, max_episode_steps=12,
                              sutton_barto_reward=True)
    with envd_client.Client(endpoint) as c:
        created = c.stats().sessions_created
        copy_ = pickle.loads(pickle.dumps(env))
        assert c.stats().sessions_created == created + 1
    try:
        assert isinstance(copy_, envd_client.EnvdEnv) and copy_.session != env.session
        assert (copy_.endpoint, copy_.client.timeout) == (endpoint, 3.0)
        assert copy_.spec.max_episode_steps == 12 and copy_.spec.kwargs == env.spec.kwargs
        want = rollout(env, seed=5)
        got = rollout(copy_, seed=5)
        assert got == want
        rewards = {r for _, r, _, _ in got if r is not None}
        assert rewards <= {0.0, -1.0}  # sutton_barto_reward travelled
        assert any(trunc for *_, trunc in got)  # so did max_episode_steps=12
    finally:
        env.close()
        copy_.close()


def test_an_unpickled_env_is_new_and_must_be_reset_first(endpoint):
    with envd_client.EnvdEnv("CartPole-v1", endpoint) as env:
        env.reset(seed=0)
        env.step(1)
        with pickle.loads(pickle.dumps(env)) as copy_:
            with pytest.raises(envd_client.FailedPrecondition):
                copy_.step(1)  # the episode is not carried: a new session
            copy_.reset(seed=0)
            copy_.step(1)


def test_deepcopy_and_a_shared_client(endpoint):
    with envd_client.Client(endpoint, timeout=2.5) as shared:
        env = envd_client.EnvdEnv("CartPole-v1", client=shared)
        dup = copy.deepcopy(env)
        try:
            assert dup.client is not shared and dup._owns_client
            assert (dup.endpoint, dup.client.timeout) == (endpoint, 2.5)
            assert rollout(dup, seed=9) == rollout(env, seed=9)
        finally:
            dup.close()
            env.close()
        assert not shared.closed  # closing the copy closed its own client only
        assert shared.ping(b"still") == b"still"


def test_a_closed_env_pickles_too(endpoint):
    env = envd_client.EnvdEnv("CartPole-v1", endpoint)
    env.close()
    with pickle.loads(pickle.dumps(env)) as copy_:
        copy_.reset(seed=0)


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_a_spawned_process_steps_a_pickled_env(endpoint, method):
    ctx = multiprocessing.get_context(method)
    envs = [envd_client.EnvdEnv("CartPole-v1", endpoint, max_episode_steps=20) for _ in range(2)]
    try:
        with ctx.Pool(2) as pool:
            results = pool.starmap(rollout_in_child, [(e, 100 + i) for i, e in enumerate(envs)], chunksize=1)
        for i, (session, got) in enumerate(results):
            assert session not in (e.session for e in envs)
            assert got == rollout(envs[i], seed=100 + i)
    finally:
        for e in envs:
            e.close()
