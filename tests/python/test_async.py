"""EnvdVectorEnv's EnvPool-style async API (batch_size, async_reset, send,
recv) against live envds, two of them, one behind a delay proxy.

The reference for every transition is the same sub-env stepped
synchronously with the same actions: a sub-env's stream of results does
not depend on when it was stepped or which server answered first. Which
sessions recv() returns first is checked with a gated proxy (requests to
the slow server are held until the test releases them), so no test reads
a clock.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

import envd_client
from delay_proxy import DelayProxy


def per_env_actions(env_id: str, n: int, length: int, dtype=np.float32):
    """Sub-env i's t-th action, fixed in advance: the async and the
    synchronous runs give each sub-env the same sequence."""
    rng = np.random.default_rng(99)
    if env_id == "Pendulum-v1":
        return rng.uniform(-3.0, 3.0, size=(n, length, 1)).astype(dtype)
    k = {"CartPole-v1": 2, "Acrobot-v1": 3}[env_id]
    return rng.integers(0, k, size=(n, length))


def sync_streams(endpoint, env_id, n, steps, actions, mode, **make_options):
    """Each sub-env's results, stepped in lock-step: (obs, reward, term,
    trunc, final obs or None) per step, the reset first."""
    streams = [[] for _ in range(n)]
    with envd_client.EnvdVectorEnv(env_id, n, endpoint, autoreset_mode=mode, **make_options) as envs:
        obs, _ = envs.reset(seed=5)
        for i in range(n):
            streams[i].append((obs[i].tobytes(), 0.0, False, False, None))
        for t in range(steps):
            obs, rew, term, trunc, infos = envs.step(actions[:, t])
            for i in range(n):
                final = None
                if "final_obs" in infos and infos["_final_obs"][i]:
                    final = infos["final_obs"][i].tobytes()
                streams[i].append((obs[i].tobytes(), float(rew[i]), bool(term[i]), bool(trunc[i]), final))
    return streams


@pytest.fixture
def slow_second(endpoints3):
    """Two servers: the first as it is, the second behind a proxy that
    holds each request 5 ms (some 20 times a loopback round trip)."""
    with DelayProxy(endpoints3[1], delay=0.005) as proxy:
        yield [endpoints3[0], proxy.endpoint]


@pytest.mark.parametrize("mode", ["next_step", "same_step"])
@pytest.mark.parametrize("env_id,batch_size", [("CartPole-v1", 3), ("Acrobot-v1", 5),
                                               ("Pendulum-v1", 2), ("CartPole-v1", 8)])
def test_every_sub_envs_transitions_equal_synchronous_stepping(endpoint, slow_second, mode, env_id,
                                                               batch_size):
    """Every received sub-env is sent its next action at once, so the fast
    server's sub-envs run ahead of the slow one's; each stream's first
    ``length`` transitions must be the lock-step run's."""
    n, length, budget = 8, 40, 20000
    actions = per_env_actions(env_id, n, budget)
    limit = {"max_episode_steps": 15}  # many episodes end, so autoreset happens inside the streams
    ref = sync_streams(endpoint, env_id, n, length, actions, mode, **limit)
    got = [[] for _ in range(n)]
    with envd_client.EnvdVectorEnv(env_id, n, endpoints=slow_second, batch_size=batch_size,
                                   autoreset_mode=mode, **limit) as envs:
        envs.async_reset(seed=5)
        sent = np.zeros(n, int)
        while min(len(g) for g in got) <= length:
            obs, rew, term, trunc, info = envs.recv()
            ids = info["env_id"]
            assert obs.shape == (batch_size,) + envs.single_observation_space.shape
            assert rew.dtype == np.float64 and term.dtype == trunc.dtype == np.bool_
            assert ids.dtype == np.int64 and len(set(ids.tolist())) == batch_size
            for k, i in enumerate(ids):
                final = None
                if "final_obs" in info and info["_final_obs"][k]:
                    final = info["final_obs"][k].tobytes()
                got[i].append((obs[k].tobytes(), float(rew[k]), bool(term[k]), bool(trunc[k]), final))
            assert sent.max() < budget, "a sub-env ran past its action budget"
            envs.send(actions[ids, sent[ids]], ids)
            sent[ids] += 1
    for i in range(n):
        assert got[i][:length + 1] == ref[i], i
    assert sum(r[2] or r[3] for s in ref for r in s) >= n  # episodes really ended


def test_recv_returns_the_fast_servers_sessions_while_the_other_is_held(endpoints3):
    """Server B's requests are held by a gate the test opens: recv() with
    batch_size = A's share returns A's sessions, again and again, and B's
    come once released; nothing waits for the slowest server."""
    release = threading.Event()
    with DelayProxy(endpoints3[1], gate=lambda j: j == 1 or release.is_set()) as b:
        with envd_client.EnvdVectorEnv("CartPole-v1", 6, endpoints=[endpoints3[0], b.endpoint],
                                       batch_size=3, timeout=30.0) as envs:
            envs.async_reset(seed=0)
            fast = [0, 1, 2]
            for _ in range(4):
                obs, rew, term, trunc, info = envs.recv()
                assert sorted(info["env_id"].tolist()) == fast
                envs.send(np.zeros(3, np.int64), info["env_id"])
            release.set()  # in flight now: A's last step and B's reset, either may come first
            obs, _, _, _, info = envs.recv()
            if sorted(info["env_id"].tolist()) == fast:
                obs, _, _, _, info = envs.recv()
            assert sorted(info["env_id"].tolist()) == [3, 4, 5]
            assert b.requests == 1 + 1  # the make, then the reset: B held up nobody
            with envd_client.EnvdEnv("CartPole-v1", endpoints3[0]) as one:
                first, _ = one.reset(seed=3)  # sub-env 3 was reset with seed 0 + 3
            k = info["env_id"].tolist().index(3)
            assert obs[k].tobytes() == first.tobytes()


def test_async_reset_hands_out_every_sub_env_once_with_the_seeded_observations(endpoints3):
    n = 7
    with envd_client.EnvdVectorEnv("Acrobot-v1", n, endpoints=endpoints3[:2], batch_size=2) as envs, \
            envd_client.EnvdVectorEnv("Acrobot-v1", n, endpoints3[0]) as ref:
        expected, _ = ref.reset(seed=40)
        envs.async_reset(seed=40)
        seen = {}
        for _ in range(3):
            obs, rew, term, trunc, info = envs.recv()
            assert (rew == 0).all() and not term.any() and not trunc.any()
            for k, i in enumerate(info["env_id"].tolist()):
                assert i not in seen
                seen[i] = obs[k]
        # 6 of 7 handed out; one more is ready, but recv needs batch_size = 2
        with pytest.raises(envd_client.FailedPrecondition, match="nothing in flight: 1 sub-env"):
            envs.recv()
        last = [i for i in range(n) if i not in seen]
        envs.send(np.zeros(2, np.int64), [sorted(seen)[0], sorted(seen)[1]])
        obs, _, _, _, info = envs.recv()
        assert last[0] in info["env_id"].tolist()
        seen[last[0]] = obs[info["env_id"].tolist().index(last[0])]
        for i in range(n):
            assert seen[i].tobytes() == expected[i].tobytes(), i


def test_send_and_recv_refuse_what_they_cannot_do(endpoints3):
    with envd_client.EnvdVectorEnv("CartPole-v1", 4, endpoints=endpoints3[:2], batch_size=2) as envs:
        with pytest.raises(envd_client.FailedPrecondition, match="nothing in flight"):
            envs.recv()
        envs.async_reset(seed=1)
        with pytest.raises(envd_client.FailedPrecondition, match=r"sub-envs \[0, 3\] are busy"):
            envs.send(np.zeros(2, np.int64), [0, 3])          # reset in flight, not received
        with pytest.raises(envd_client.FailedPrecondition, match="async results are pending"):
            envs.step(np.zeros(4, np.int64))
        with pytest.raises(envd_client.FailedPrecondition, match="async results are pending"):
            envs.reset()
        with pytest.raises(envd_client.FailedPrecondition, match="requests in flight"):
            envs.async_reset()
        _, _, _, _, info = envs.recv()
        ids = info["env_id"]
        for bad_ids, match in (([0, 0], "twice"), ([4], r"\[0, 4\)"), ([-1], r"\[0, 4\)"),
                               ([], "non-empty"), ([[0, 1]], "1-D"), ([0.0], "ints")):
            with pytest.raises(envd_client.InvalidArgument, match=match):
                envs.send(np.zeros(max(1, len(bad_ids)), np.int64), bad_ids)
        with pytest.raises(envd_client.InvalidArgument, match="shape"):
            envs.send(np.zeros(3, np.int64), ids)             # one action per env_id
        envs.send(np.zeros(2, np.int64), ids)
        with pytest.raises(envd_client.FailedPrecondition, match="busy"):
            envs.send(np.zeros(2, np.int64), ids)             # sent, not yet received
        _, _, _, _, first = envs.recv()                       # the other two resets
        _, _, _, _, second = envs.recv()                      # then the two steps
        assert sorted(first["env_id"].tolist() + ids.tolist()) == [0, 1, 2, 3]
        assert sorted(second["env_id"].tolist()) == sorted(ids.tolist())


def test_an_error_reply_is_raised_by_recv_and_its_sub_envs_are_free_again(endpoints3):
    n = 4
    with envd_client.EnvdVectorEnv("Pendulum-v1", n, endpoints=endpoints3[:2], batch_size=2) as envs, \
            envd_client.EnvdVectorEnv("Pendulum-v1", n, endpoints3[0]) as twin:
        twin.reset(seed=8)
        envs.async_reset(seed=8)
        got = {}
        for _ in range(2):
            obs, _, _, _, info = envs.recv()
            got.update(zip(info["env_id"].tolist(), obs))
        nan = np.full((2, 1), np.nan, np.float32)
        envs.send(nan, [0, 1])                                # refused by envd, seen at recv
        with pytest.raises(envd_client.InvalidArgument, match="NaN"):
            envs.recv()
        good = np.full((n, 1), 0.25, np.float32)
        envs.send(good, np.arange(n))                         # every sub-env is free again
        moved = {}
        for _ in range(2):
            obs, _, _, _, info = envs.recv()
            moved.update(zip(info["env_id"].tolist(), obs))
        expected = twin.step(good)[0]
        for i in range(n):  # the NaN moved nothing: one step from the reset, as the twin
            assert moved[i].tobytes() == expected[i].tobytes(), i


def test_sync_api_works_again_once_everything_is_received(endpoints3):
    with envd_client.EnvdVectorEnv("CartPole-v1", 4, endpoints=endpoints3[:2], batch_size=4) as envs:
        envs.async_reset(seed=2)
        obs, _, _, _, info = envs.recv()
        by_id = obs[np.argsort(info["env_id"])]
        envs.send(np.ones(4, np.int64), np.arange(4))
        stepped, _, _, _, info = envs.recv()
        a, _ = envs.reset(seed=2)                # the same seeds: the same initial states
        assert a.tobytes() == by_id.tobytes()
        b, *_ = envs.step(np.ones(4, np.int64))  # and the same first step
        assert b.tobytes() == stepped[np.argsort(info["env_id"])].tobytes()


@pytest.mark.parametrize("bad", [0, 5, 1.5, "2"])
def test_batch_size_must_lie_in_one_to_num_envs(endpoint, bad):
    with pytest.raises(envd_client.InvalidArgument, match="batch_size"):
        envd_client.EnvdVectorEnv("CartPole-v1", 4, endpoint, batch_size=bad)
