"""CURVE through the Python client, and envd's plaintext-on-loopback default.

A CURVE envd (keys from ``envd --keygen`` in the test's temporary folder,
bound to loopback tcp) serves an authorised EnvdEnv a golden episode bit
for bit and an authorised EnvdVectorEnv; a client whose key is not in
--curve-clients, and a plaintext client, get nothing (their requests time
out), envd logs the refusal and counts it in envd_auth_failures_total,
and the authorised client's stats show nothing was served to them.
SIGHUP rereads --curve-clients: a key added there is admitted, a key taken
away is refused on its next connection, and a broken key file keeps the
keys loaded before. agentd trains over CURVE with an authorised key pair
and gives up, refused, with a key envd does not hold.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import zmq

import envd_client
from conftest import AGENTD, ENVD, free_port

pytestmark = pytest.mark.skipif(not zmq.has("curve"), reason="libzmq without CURVE")

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "cartpole_v1_public.jsonl"


def keygen(prefix: Path) -> None:
    subprocess.run([str(ENVD), "--keygen", str(prefix)], check=True, capture_output=True, timeout=30)


@pytest.fixture
def curve_envd(tmp_path):
    for name in ("server", "agent", "rogue"):
        keygen(tmp_path / name)
    assert (tmp_path / "agent.key").stat().st_mode & 0o777 == 0o600
    clients = tmp_path / "clients"
    clients.mkdir()
    shutil.copy(tmp_path / "agent.pub", clients)
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    mport = free_port()
    log = tmp_path / "envd.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(ENVD), "--bind", endpoint, "--metrics", f"127.0.0.1:{mport}",
                                 "--curve-secret", str(tmp_path / "server.key"),
                                 "--curve-clients", str(clients)], stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while " ready: " not in log.read_text() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert " ready: " in log.read_text(), log.read_text()
    yield endpoint, tmp_path, mport, log, proc
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0, log.read_text()


def auth_failures(mport: int) -> int:
    text = urllib.request.urlopen(f"http://127.0.0.1:{mport}/metrics", timeout=10).read().decode()
    return int(re.search(r"^envd_auth_failures_total (\d+)$", text, re.M).group(1))


def agent_keys(d: Path) -> dict:
    return dict(server_public_key=d / "server.pub", secret_key=d / "agent.key")


def test_authorised_env_replays_golden_episode_bit_exact(curve_envd):
    endpoint, d, mport, _, _ = curve_envd
    case = json.loads(GOLDEN.read_text().splitlines()[0])
    seg = case["segments"][0]
    with envd_client.EnvdEnv("CartPole-v1", endpoint, timeout=10.0, **agent_keys(d)) as env:
        obs, _ = env.reset(seed=int(seg["reset_seed_str"]))
        want = np.array([int(h, 16) for h in seg["initial_obs_hex"]], dtype=np.uint32)
        assert np.array_equal(obs.view(np.uint32), want)
        for rec in seg["steps"]:
            obs, reward, term, trunc, _ = env.step(rec["action"])
            want = np.array([int(h, 16) for h in rec["obs_hex"]], dtype=np.uint32)
            assert np.array_equal(obs.view(np.uint32), want), rec["t"]
            assert (reward, term, trunc) == (rec["reward"], rec["terminated"], rec["truncated"])
    # Keys as Z85 text, public key given explicitly, through the vector env.
    z = {k: envd_client.client.load_curve_key(d / f) for k, f in
         (("server_public_key", "server.pub"), ("public_key", "agent.pub"), ("secret_key", "agent.key"))}
    with envd_client.EnvdVectorEnv("CartPole-v1", 4, endpoint, timeout=10.0, **z) as venv:
        obs, _ = venv.reset(seed=1)
        assert obs.shape == (4, 4)
    assert auth_failures(mport) == 0


def test_unauthorised_key_is_refused_logged_counted(curve_envd):
    endpoint, d, mport, log, _ = curve_envd
    with envd_client.Client(endpoint, timeout=1.0, server_public_key=d / "server.pub",
                            secret_key=d / "rogue.key") as rogue:
        with pytest.raises(envd_client.errors.EnvdTimeout) as info:
            rogue.make("CartPole-v1", 1)
    assert "does not know this client's public key never answers" in str(info.value)
    rogue_pub = envd_client.client.load_curve_key(d / "rogue.pub").decode()
    assert "refused client" in log.read_text() and rogue_pub in log.read_text()
    assert auth_failures(mport) >= 1
    with envd_client.Client(endpoint, timeout=10.0, **agent_keys(d)) as c:
        st = c.stats()
        assert st.sessions_created == 0 and st.requests == 0


def test_plaintext_client_cannot_talk_to_curve_server(curve_envd):
    endpoint, d, mport, _, _ = curve_envd
    with envd_client.Client(endpoint, timeout=1.0) as plain:
        with pytest.raises(envd_client.errors.EnvdTimeout):
            plain.make("CartPole-v1", 1)
    with envd_client.Client(endpoint, timeout=10.0, **agent_keys(d)) as c:
        st = c.stats()
        assert st.sessions_created == 0 and st.requests == 0


def test_bad_key_arguments_are_refused(tmp_path):
    keygen(tmp_path / "k")
    with pytest.raises(envd_client.errors.InvalidArgument):
        envd_client.Client("tcp://127.0.0.1:1", server_public_key=tmp_path / "k.pub")
    with pytest.raises(envd_client.errors.InvalidArgument):
        envd_client.Client("tcp://127.0.0.1:1", server_public_key="x" * 39,
                           secret_key=tmp_path / "k.key")


def test_plaintext_on_reachable_address_needs_insecure(tmp_path):
    r = subprocess.run([str(ENVD), "--bind", "tcp://0.0.0.0:0"], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 2
    for needle in ("tcp://0.0.0.0:0", "--curve-secret", "--insecure", "ENVD_INSECURE=1"):
        assert needle in r.stderr, r.stderr


def admitted(endpoint: str, d: Path, name: str) -> bool:
    """A fresh connection with NAME's key pair gets an answer."""
    with envd_client.Client(endpoint, timeout=1.0, server_public_key=d / "server.pub",
                            secret_key=d / f"{name}.key") as c:
        try:
            c.ping()
            return True
        except envd_client.errors.EnvdTimeout:
            return False


def reload_keys(proc: subprocess.Popen, log: Path, expect: str) -> None:
    """SIGHUP, then wait for the reload's outcome line in envd's log."""
    before = log.read_text().count(expect)
    proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while log.read_text().count(expect) == before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert log.read_text().count(expect) > before, log.read_text()


def test_sighup_rereads_client_keys(curve_envd):
    endpoint, d, _, log, proc = curve_envd
    clients = d / "clients"
    assert admitted(endpoint, d, "agent") and not admitted(endpoint, d, "rogue")

    shutil.copy(d / "rogue.pub", clients)
    reload_keys(proc, log, "2 authorised client keys")
    assert admitted(endpoint, d, "rogue") and admitted(endpoint, d, "agent")

    # A key file that does not parse: the reload fails as a whole and the
    # two keys loaded before stay in force.
    (clients / "broken.pub").write_text("not a key\n")
    reload_keys(proc, log, "keeping the 2 keys loaded before")
    assert admitted(endpoint, d, "rogue") and admitted(endpoint, d, "agent")

    (clients / "broken.pub").unlink()
    (clients / "agent.pub").unlink()
    reload_keys(proc, log, "1 authorised client keys")
    assert admitted(endpoint, d, "rogue") and not admitted(endpoint, d, "agent")
    assert proc.poll() is None


def run_agentd(d: Path, endpoint: str, key: str, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(AGENTD), "--env", endpoint, "--curve-server-key", str(d / "server.pub"),
                           "--curve-key", str(d / f"{key}.key"), "--sessions", "8", "--progress", "0",
                           *extra], capture_output=True, text=True, timeout=120)


def test_agentd_trains_over_curve(curve_envd):
    endpoint, d, mport, _, _ = curve_envd
    # The run check_agentd makes in plaintext: seed 3 reaches 150 within 30000 steps.
    r = run_agentd(d, endpoint, "agent", "--seed", "3", "--target-return", "150", "--total-steps",
                   "30000", "--eval-every", "2000", "--eval-episodes", "20")
    assert r.returncode == 0, r.stderr
    assert "solved CartPole-v1" in r.stdout + r.stderr
    assert auth_failures(mport) == 0


def test_agentd_with_an_unknown_key_is_refused_and_gives_up(curve_envd):
    endpoint, d, mport, log, _ = curve_envd
    r = run_agentd(d, endpoint, "rogue", "--timeout-ms", "300", "--give-up", "2")
    assert r.returncode == 1, r.stderr
    assert auth_failures(mport) >= 1
    rogue_pub = envd_client.client.load_curve_key(d / "rogue.pub").decode()
    assert rogue_pub in log.read_text()


def test_pickled_curve_env_keeps_its_key_files_and_reconnects(curve_envd):
    import pickle

    endpoint, d, mport, _, _ = curve_envd
    with envd_client.EnvdEnv("CartPole-v1", endpoint, timeout=10.0, **agent_keys(d)) as env:
        data = pickle.dumps(env)
        assert envd_client.client.load_curve_key(d / "agent.key") not in data  # the path, not the key
        with pickle.loads(data) as copy_:
            assert copy_._keys["secret_key"] == d / "agent.key"
            a, _ = env.reset(seed=4)
            b, _ = copy_.reset(seed=4)
            assert np.array_equal(a.view(np.uint32), b.view(np.uint32))
    with envd_client.Client(endpoint, timeout=10.0, **agent_keys(d)) as c:  # shared: its Z85 keys travel
        with envd_client.EnvdEnv("CartPole-v1", client=c) as env, pickle.loads(pickle.dumps(env)) as copy_:
            assert copy_.client is not c
            copy_.reset(seed=0)
    assert auth_failures(mport) == 0


def test_async_lanes_to_a_curve_server_use_the_same_keys(curve_envd):
    """The async API opens more clients to a server (one per request in
    flight); each must authenticate with the vector env's keys."""
    endpoint, d, _, _, _ = curve_envd
    with envd_client.EnvdVectorEnv("CartPole-v1", 4, endpoint, timeout=10.0, batch_size=2,
                                   **agent_keys(d)) as envs:
        envs.async_reset(seed=0)
        for _ in range(6):  # each send while other results are in flight needs another lane
            _, _, _, _, info = envs.recv()
            envs.send(np.ones(2, np.int64), info["env_id"])
        lanes = envs._shards[0].lanes
        assert len(lanes) >= 2 and all(lane.curve_keys() == lanes[0].curve_keys() for lane in lanes)
        assert lanes[0].curve_keys()["secret_key"] is not None
