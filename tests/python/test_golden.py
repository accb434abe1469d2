"""Replay of the public CartPole-v1 golden file through the Python client.

Each golden case (recorded from gymnasium.make("CartPole-v1")) is replayed
on a live envd through EnvdEnv: every observation must match bit for bit
(compared as uint32 patterns against the recorded hex), and every reward,
terminated and truncated flag exactly, with Gymnasium's Python types. The
file covers second resets continuing the stream, a mid-episode reset, the
same seed twice, stepping past the end (overrun) and the sutton_barto
reward (a make option).
"""

from __future__ import annotations

import collections
import json
from pathlib import Path

import numpy as np
import pytest

import envd_client

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "cartpole_v1_public.jsonl"
CASES = [json.loads(line) for line in GOLDEN.read_text().splitlines() if line.strip()]


def bits(hexes) -> np.ndarray:
    return np.array([int(h, 16) for h in hexes], dtype=np.uint32)


def seed_of(segment):
    s = segment["reset_seed_str"]
    return None if s is None else int(s)


@pytest.fixture(scope="module")
def client(endpoint):
    with envd_client.Client(endpoint, timeout=5.0) as c:
        yield c


def test_golden_file_covers_the_cases_this_suite_relies_on():
    kinds = collections.Counter(c["case_id"].split("/")[1] for c in CASES)
    for kind in ("random", "reseed-chain", "mid-episode-reset", "same-seed-twice",
                 "always0-overrun", "random-overrun-reenter", "sutton-barto"):
        assert kinds[kind] > 0, kind
    assert any(c["make_kwargs"].get("sutton_barto_reward") for c in CASES)
    assert any(len(c["segments"]) > 1 for c in CASES)
    assert any(s["steps_after_done"] > 0 for c in CASES for s in c["segments"])
    assert any(s["end"] == "truncated" for c in CASES for s in c["segments"])


@pytest.mark.parametrize("case", CASES, ids=[c["case_id"] for c in CASES])
def test_envd_env_replays_golden_case_bit_exact(case, client):
    env = envd_client.EnvdEnv(case["env_id"], client=client, **case["make_kwargs"])
    try:
        for k, seg in enumerate(case["segments"]):
            obs, info = env.reset(seed=seed_of(seg))
            assert obs.dtype == np.float32 and obs.shape == (4,)
            assert info == {}
            np.testing.assert_array_equal(obs.view(np.uint32), bits(seg["initial_obs_hex"]),
                                          err_msg=f"segment {k} reset")
            for st in seg["steps"]:
                obs, reward, terminated, truncated, info = env.step(st["action"])
                where = f"segment {k} step {st['t']}"
                np.testing.assert_array_equal(obs.view(np.uint32), bits(st["obs_hex"]), err_msg=where)
                assert type(reward) is float and reward == st["reward"], where
                assert type(terminated) is bool and terminated == st["terminated"], where
                assert type(truncated) is bool and truncated == st["truncated"], where
                assert info == {}, where
    finally:
        env.close()


def test_vector_env_replays_golden_episodes_bit_exact(endpoint):
    """The batch path too: one row per golden random case, stepped together
    with the recorded actions; each row is checked until its episode ends
    (after that, next-step autoreset takes the row elsewhere)."""
    cases = [c for c in CASES if c["case_id"].startswith("public/random/")][:16]
    segs = [c["segments"][0] for c in cases]
    n = len(segs)
    with envd_client.EnvdVectorEnv("CartPole-v1", n, endpoint) as envs:
        obs, _ = envs.reset(seed=[seed_of(s) for s in segs])
        for i, s in enumerate(segs):
            np.testing.assert_array_equal(obs[i].view(np.uint32), bits(s["initial_obs_hex"]))
        horizon = max(len(s["steps"]) for s in segs)
        checked = 0
        for t in range(horizon):
            actions = np.array([s["steps"][t]["action"] if t < len(s["steps"]) else 0 for s in segs])
            obs, rewards, terminated, truncated, _ = envs.step(actions)
            for i, s in enumerate(segs):
                if t < len(s["steps"]):
                    st = s["steps"][t]
                    np.testing.assert_array_equal(obs[i].view(np.uint32), bits(st["obs_hex"]),
                                                  err_msg=f"{cases[i]['case_id']} t={t + 1}")
                    assert rewards[i] == st["reward"]
                    assert terminated[i] == st["terminated"] and truncated[i] == st["truncated"]
                    checked += 1
        assert checked == sum(len(s["steps"]) for s in segs)
