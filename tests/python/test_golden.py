"""Gymnasium's golden trajectories replayed through envd from the Python client.

One golden file per environment (tests/data/, format in
../shared/golden/README.md: ``cartpole-golden/1`` for CartPole-v1,
``classic-golden/1`` for Acrobot-v1, MountainCar-v0,
MountainCarContinuous-v0 and Pendulum-v1), each recorded from
``gymnasium.make(env_id, **make_kwargs)``. Every case is replayed on a live
envd over a loopback socket through EnvdEnv, as a user would: make options
from ``make_kwargs``, ``reset(seed=..., options=...)`` per segment (an
unseeded reset continues the stream: reseed chains, mid-episode resets,
the same seed twice, seeds up to 2**64-1), then each recorded action, the
Box ones as arrays of the recorded dtype built from their bits (float32,
or float64 where the case sends float64, which changes Gymnasium's
arithmetic), out-of-bounds values included, and steps after the episode
ended. Observations and rewards are compared as bits (-0.0 is not 0.0),
flags exactly, with Gymnasium's types.

The batch path replays the same files through EnvdVectorEnv: every case
whose first segment can share a request with others (same make options,
reset options and action dtype) is one row of a step_batch, checked until
its episode ends.

Two optional Acrobot cases set attributes on ``env.unwrapped``
(``book_or_nips``, ``torque_noise_max``), which no ``gymnasium.make``
argument and so no envd make option can do: check_acrobot.c replays them
through the C class; here a test shows envd refuses them as make options,
as ``gymnasium.make`` does.
"""

from __future__ import annotations

import collections
import json
import struct
from pathlib import Path

import numpy as np
import pytest

import envd_client

DATA = Path(__file__).resolve().parents[1] / "data"
FILES = {
    "CartPole-v1": "cartpole_v1_public.jsonl",
    "Acrobot-v1": "acrobot_v1_public.jsonl",
    "MountainCar-v0": "mountain_car_v0_public.jsonl",
    "MountainCarContinuous-v0": "mountain_car_continuous_v0_public.jsonl",
    "Pendulum-v1": "pendulum_v1_public.jsonl",
}
# Cases per file (../shared/golden/README.md), so a truncated file fails.
COUNTS = {"CartPole-v1": 84, "Acrobot-v1": 79, "MountainCar-v0": 69,
          "MountainCarContinuous-v0": 80, "Pendulum-v1": 81}
CASES = {env_id: [json.loads(line) for line in (DATA / name).read_text().splitlines() if line.strip()]
         for env_id, name in FILES.items()}
ALL = [c for cases in CASES.values() for c in cases]
REPLAYABLE = [c for c in ALL if not c.get("unwrapped_attrs")]
BOX = {"MountainCarContinuous-v0", "Pendulum-v1"}


def bits(hexes) -> np.ndarray:
    return np.array([int(h, 16) for h in hexes], dtype=np.uint32)


def f64_bits(x: float) -> int:
    return struct.unpack("<Q", struct.pack("<d", x))[0]


def reward_bits(step) -> int:
    """The recorded reward's bits: classic-golden/1 gives them, the CartPole
    format gives the exact number."""
    return int(step["reward_hex"], 16) if "reward_hex" in step else f64_bits(step["reward"])


def action_of(case, step):
    """The recorded action as Gymnasium got it: an int, or an array of the
    case's dtype rebuilt from the recorded bits."""
    if "action_hex" not in step:
        return step["action"]
    if case["action_dtype"] == "float32":
        return bits(step["action_hex"]).view(np.float32)
    assert case["action_dtype"] == "float64"
    return np.array([int(h, 16) for h in step["action_hex"]], dtype=np.uint64).view(np.float64)


def seed_of(segment):
    s = segment["reset_seed_str"]
    return None if s is None else int(s)


def case_id(c) -> str:
    return f"{c['env_id']}:{c['case_id']}"


@pytest.fixture(scope="module")
def client(endpoint):
    with envd_client.Client(endpoint, timeout=5.0) as c:
        yield c


@pytest.mark.parametrize("env_id", FILES)
def test_golden_file_is_whole_and_covers_the_cases_this_suite_relies_on(env_id):
    cases = CASES[env_id]
    assert len(cases) == COUNTS[env_id]
    kinds = collections.Counter(c["case_id"].split("/")[1] for c in cases)
    for kind in ("random", "reseed-chain", "mid-episode-reset", "same-seed-twice"):
        assert kinds[kind] > 0, kind
    segs = [s for c in cases for s in c["segments"]]
    assert any(len(c["segments"]) > 2 for c in cases)                    # reseed chains
    assert any(s["reset_seed"] is None for s in segs)                    # streams continue
    assert any(s["steps_after_done"] > 0 for s in segs)                  # stepping past the end
    assert any(s.get("end") == "cut" for s in segs)                      # mid-episode resets
    assert any(s["end"] in ("truncated", "both") for s in segs)          # the TimeLimit
    if env_id == "CartPole-v1":
        assert any(c["make_kwargs"].get("sutton_barto_reward") for c in cases)
        return
    assert max(int(c["seed_str"]) for c in cases) == 2**64 - 1           # large seeds
    assert any(s["reset_options"] for s in segs)                         # reset options
    if env_id in ("MountainCar-v0", "MountainCarContinuous-v0", "Pendulum-v1"):
        assert any(c["make_kwargs"] for c in cases)                      # make options
    if env_id in BOX:
        assert {c["action_dtype"] for c in cases} == {"float32", "float64"}
        space = envd_client.spaces.Box(-1.0 if env_id != "Pendulum-v1" else -2.0,
                                       1.0 if env_id != "Pendulum-v1" else 2.0, (1,))
        assert any(not space.contains(action_of(c, st).astype(np.float32))  # out of bounds
                   for c in cases for s in c["segments"] for st in s["steps"])


def test_only_the_cases_that_set_unwrapped_attributes_are_left_to_the_c_replay():
    left = [case_id(c) for c in ALL if c.get("unwrapped_attrs")]
    assert left == ["Acrobot-v1:public/nips-dynamics/10", "Acrobot-v1:public/torque-noise/11"]
    assert len(REPLAYABLE) == sum(COUNTS.values()) - 2


@pytest.mark.parametrize("attrs", [c["unwrapped_attrs"] for c in ALL if c.get("unwrapped_attrs")],
                         ids=lambda a: ",".join(a))
def test_unwrapped_attributes_are_no_make_options_as_in_gymnasium(client, attrs):
    with pytest.raises(envd_client.InvalidArgument, match="no make option"):
        envd_client.EnvdEnv("Acrobot-v1", client=client, **attrs)


@pytest.mark.parametrize("case", REPLAYABLE, ids=case_id)
def test_envd_env_replays_golden_case_bit_exact(case, client):
    env = envd_client.EnvdEnv(case["env_id"], client=client, **case["make_kwargs"])
    try:
        assert env.spec.max_episode_steps == case.get("max_episode_steps", 500)
        n_obs = env.observation_space.shape
        for k, seg in enumerate(case["segments"]):
            obs, info = env.reset(seed=seed_of(seg), options=seg.get("reset_options"))
            assert obs.dtype == np.float32 and obs.shape == n_obs
            assert info == {}
            np.testing.assert_array_equal(obs.view(np.uint32), bits(seg["initial_obs_hex"]),
                                          err_msg=f"segment {k} reset")
            for st in seg["steps"]:
                action = action_of(case, st)
                sent = np.copy(action)
                obs, reward, terminated, truncated, info = env.step(action)
                where = f"segment {k} step {st['t']}"
                np.testing.assert_array_equal(obs.view(np.uint32), bits(st["obs_hex"]), err_msg=where)
                assert type(reward) is float and f64_bits(reward) == reward_bits(st), where
                assert type(terminated) is bool and terminated == st["terminated"], where
                assert type(truncated) is bool and truncated == st["truncated"], where
                assert info == {}, where
                if isinstance(action, np.ndarray):
                    assert np.array_equal(action, sent)  # the caller's array is untouched
    finally:
        env.close()


def batch_groups():
    """Cases whose first segment can share one step_batch: same env, make
    options, reset options and action dtype, seeded. One group per key."""
    groups = collections.defaultdict(list)
    for c in REPLAYABLE:
        seg = c["segments"][0]
        if seg["reset_seed"] is None:
            continue
        key = (c["env_id"], json.dumps(c["make_kwargs"], sort_keys=True),
               json.dumps(seg.get("reset_options"), sort_keys=True), c.get("action_dtype", "int64"))
        groups[key].append(c)
    return [g for g in groups.values() if len(g) >= 2]


GROUPS = batch_groups()


def test_every_env_and_box_dtype_has_a_batched_replay():
    assert {g[0]["env_id"] for g in GROUPS} == set(FILES)
    assert {(g[0]["env_id"], g[0]["action_dtype"]) for g in GROUPS if g[0]["env_id"] in BOX} == \
        {(e, d) for e in BOX for d in ("float32", "float64")}


@pytest.mark.parametrize("group", GROUPS, ids=lambda g: f"{case_id(g[0])}+{len(g) - 1}")
def test_vector_env_replays_golden_episodes_bit_exact(endpoint, group):
    """One row per case, stepped together with the recorded actions; each
    row is checked until its first segment ends (after that, next-step
    autoreset takes the row elsewhere, so its recorded action is replaced
    by another valid one)."""
    segs = [c["segments"][0] for c in group]
    n = len(segs)
    env_id = group[0]["env_id"]
    with envd_client.EnvdVectorEnv(env_id, n, endpoint, **group[0]["make_kwargs"]) as envs:
        obs, _ = envs.reset(seed=[seed_of(s) for s in segs], options=segs[0].get("reset_options"))
        for i, s in enumerate(segs):
            np.testing.assert_array_equal(obs[i].view(np.uint32), bits(s["initial_obs_hex"]))
        live = [len(s["steps"]) if s["end"] == "cut" else s["done_at"] for s in segs]
        spare = action_of(group[0], segs[0]["steps"][0])
        checked = 0
        for t in range(max(live)):
            actions = np.stack([np.asarray(action_of(c, s["steps"][t]) if t < live[i] else spare)
                                for i, (c, s) in enumerate(zip(group, segs))])
            obs, rewards, terminated, truncated, _ = envs.step(actions)
            for i, s in enumerate(segs):
                if t < live[i]:
                    st = s["steps"][t]
                    where = f"{case_id(group[i])} t={t + 1}"
                    np.testing.assert_array_equal(obs[i].view(np.uint32), bits(st["obs_hex"]),
                                                  err_msg=where)
                    assert f64_bits(rewards[i]) == reward_bits(st), where
                    assert terminated[i] == st["terminated"] and truncated[i] == st["truncated"], where
                    checked += 1
        assert checked == sum(live) > 0
