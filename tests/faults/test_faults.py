"""Faults survived, with the real processes: envd killed under load, agentd
killed (its sessions reclaimed, its checkpoint resumed), agentd killed at
random moments while it checkpoints, and a client that never reads.

Every process runs on loopback with ephemeral ports; every wait is bounded;
only PIDs started here are signalled. Timings are never asserted except as
generous upper bounds that turn a hang into a failure.
"""

from __future__ import annotations

import csv
import random
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
import zmq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from procs import AGENTD, Envd, call, dealer, free_port, pb  # noqa: E402

import envd_client  # noqa: E402  (procs put clients/python on the path)


def wait_for(pred, timeout: float, what: str, every: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        time.sleep(every)


class Agentd:
    def __init__(self, tmp: Path, endpoint: str, *args: str, name: str = "agentd"):
        self.log_path = tmp / f"{name}.log"
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([str(AGENTD), "--env", endpoint, "--progress", "0", *args],
                                     stdout=self._log, stderr=subprocess.STDOUT)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self._log.close()

    def wait(self, timeout: float) -> int:
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"agentd still running after {timeout} s:\n{self.log()[-2000:]}")
        self._log.close()
        return rc


def run_agentd(tmp: Path, endpoint: str, *args: str, timeout: float = 60, name: str = "run"):
    a = Agentd(tmp, endpoint, *args, name=name)
    return a.wait(timeout), a.log()


# Small and quick: few sessions, tiny evaluations.
AGENT_ARGS = ("--sessions", "8", "--eval-every", "0", "--eval-episodes", "2",
              "--learning-starts", "200", "--train-freq", "64", "--gradient-steps", "4",
              "--buffer-size", "20000", "--eps-decay-steps", "1000000", "--hidden", "32",
              "--timeout-ms", "500", "--give-up", "3")


# ------------------------------------------------------------ envd killed


def test_envd_sigkill_under_load_python_client_times_out(tmp_path):
    server = Envd(tmp_path).start()
    errors: list[BaseException] = []
    steps = [0]

    def drive():
        try:
            with envd_client.Client(server.endpoint, timeout=1.0) as c:
                (s,) = c.make("CartPole-v1").sessions
                c.reset(s, seed=0)
                while True:
                    _, _, terminated, _ = c.step(s, steps[0] % 2)
                    steps[0] += 1
                    if terminated:
                        c.reset(s)
        except BaseException as exc:  # noqa: BLE001 - the error under test
            errors.append(exc)

    t = threading.Thread(target=drive, daemon=True)
    t.start()
    wait_for(lambda: steps[0] > 200 or errors, 20, "the Python client to be stepping")
    assert not errors, errors
    server.kill()
    t.join(15)
    assert not t.is_alive(), "the Python client hung after envd was killed"
    assert len(errors) == 1 and isinstance(errors[0], envd_client.EnvdTimeout), errors


def test_envd_sigkill_under_load_c_client_gives_up(tmp_path):
    """agentd's C client (common/client.c, through the fleet) sees timeouts,
    drops the server, and agentd stops with status 1 after --give-up."""
    server = Envd(tmp_path).start()
    a = Agentd(tmp_path, server.endpoint, *AGENT_ARGS, "--total-steps", "100000000")
    wait_for(lambda: server.stats().env_steps > 2000, 30, "agentd to be stepping")
    server.kill()
    t0 = time.monotonic()
    rc = a.wait(30)
    log = a.log()
    assert rc == 1, f"agentd exited {rc}:\n{log[-2000:]}"
    assert "giving up" in log or "no envd answered" in log, log[-2000:]
    print(f"agentd gave up {time.monotonic() - t0:.1f} s after envd was killed")


# ------------------------------------------------------------ agentd killed


def test_agentd_sigkill_sessions_reclaimed_and_resume_from_checkpoint(tmp_path):
    ttl = 1.0
    with Envd(tmp_path, "--session-ttl", str(ttl)) as server:
        base = server.stats().active_sessions
        rss0 = server.rss_kib()
        ckpt = tmp_path / "agent.ckpt"
        a = Agentd(tmp_path, server.endpoint, *AGENT_ARGS, "--total-steps", "100000000",
                   "--save", str(ckpt), "--save-every", "2000", name="first")
        wait_for(lambda: ckpt.exists() and server.stats().env_steps > 5000, 60,
                 "a checkpoint and some training")
        assert server.stats().active_sessions > base
        rss_loaded = server.rss_kib()
        a.kill()
        t0 = time.monotonic()
        wait_for(lambda: server.stats().active_sessions == base, 10 * ttl + 15,
                 "envd to reclaim the killed agentd's sessions")
        reclaim_s = time.monotonic() - t0
        rss1 = server.rss_kib()
        print(f"sessions back to {base} {reclaim_s:.1f} s after SIGKILL (ttl {ttl} s); "
              f"envd RSS {rss0} KiB at start, {rss_loaded} KiB loaded, {rss1} KiB after")
        assert server.stats().sessions_reclaimed >= 8
        assert rss1 <= rss0 * 1.2 + 8 * 1024, f"RSS {rss1} KiB vs {rss0} KiB at start"

        # The checkpoint holds the last saved counters ...
        rc, log = run_agentd(tmp_path, server.endpoint, "--load", str(ckpt), "--eval-only",
                             "--eval-episodes", "2", name="eval")
        assert rc == 0, log
        saved = int(re.search(r"evaluating \S+ at (\d+) env steps", log).group(1))
        assert saved >= 2000

        # ... and a restarted agentd resumes from them, not from 0.
        logdir = tmp_path / "resumed"
        rc, log = run_agentd(tmp_path, server.endpoint, *AGENT_ARGS, "--load", str(ckpt),
                             "--total-steps", str(saved + 1000), "--log-every", "200",
                             "--logdir", str(logdir), name="resume")
        assert rc == 3, f"status {rc} (budget spent is 3):\n{log[-2000:]}"
        m = re.search(r"resumed \S+ at (\d+) env steps, (\d+) gradient steps", log)
        assert m and int(m.group(1)) == saved and int(m.group(2)) > 0, log[-2000:]
        with open(logdir / "progress.csv") as f:
            rows = list(csv.DictReader(f))
        first = rows[0]
        assert int(first["env_steps"]) >= saved
        # epsilon is linear in env steps (eps-decay-steps 1e6 from 1 to 0.04)
        eps = float(first["epsilon"])
        want = 1.0 - 0.96 * int(first["env_steps"]) / 1e6
        assert eps < 1.0 and abs(eps - want) < 1e-3, (eps, want, first)


def test_agentd_killed_during_checkpoints_previous_one_always_loads(tmp_path):
    """SIGKILL at random moments of a run that saves every 64 steps; after
    each kill the checkpoint must load (--eval-only)."""
    rnd = random.Random(0xC0FFEE)
    kills = 20
    with Envd(tmp_path) as server:
        ckpt = tmp_path / "agent.ckpt"
        last = -1
        for i in range(kills):
            load = ("--load", str(ckpt)) if ckpt.exists() else ()
            a = Agentd(tmp_path, server.endpoint, *AGENT_ARGS, *load, "--total-steps", "100000000",
                       "--save", str(ckpt), "--save-every", "64", "--save-replay", name=f"k{i}")
            wait_for(lambda: ckpt.exists(), 30, "the first checkpoint")
            time.sleep(rnd.uniform(0.05, 0.6))
            a.kill()
            rc, log = run_agentd(tmp_path, server.endpoint, "--load", str(ckpt), "--eval-only",
                                 "--eval-episodes", "1", name=f"e{i}")
            assert rc == 0, f"kill {i}: the checkpoint does not load:\n{log[-2000:]}"
            saved = int(re.search(r"evaluating \S+ at (\d+) env steps", log).group(1))
            assert saved >= last, f"kill {i}: checkpoint went back from {last} to {saved}"
            last = saved
        print(f"{kills} kills; the last checkpoint is at {last} env steps")


# ------------------------------------------------------------ slow client


def metric(port: int, name: str) -> float:
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    return float(re.search(rf"^{name} (\S+)$", body, re.M).group(1))


def test_client_that_never_reads_does_not_block_others(tmp_path):
    mport = free_port()
    with Envd(tmp_path, "--hwm", "100", "--metrics", f"127.0.0.1:{mport}") as server:
        rss0 = server.rss_kib()
        hog = zmq.Context.instance().socket(zmq.DEALER)
        hog.setsockopt(zmq.LINGER, 0)
        hog.setsockopt(zmq.RCVHWM, 10)
        hog.setsockopt(zmq.RCVBUF, 4096)
        hog.setsockopt(zmq.SNDHWM, 0)
        hog.connect(server.endpoint)
        req = pb.Request(major=1, id=1)
        req.ping.payload = b"h" * 8000
        data = req.SerializeToString()
        other = dealer(server.endpoint, 5000)
        try:
            sent = 0
            rounds = 0
            for burst in range(40):
                for _ in range(500):
                    hog.send(data)
                    sent += 1
                p = pb.Request(major=1, id=100 + burst)
                p.ping.payload = b"other"
                rep = call(other, p)  # raises zmq.Again after 5 s: blocked
                assert rep.ping.payload == b"other"
                rounds += 1
            wait_for(lambda: metric(mport, "envd_replies_dropped_total") > 0, 30,
                     "envd to drop replies to the client that never reads")
            dropped = metric(mport, "envd_replies_dropped_total")
            rss1 = server.rss_kib()
            print(f"{sent} requests from a client that never reads: {dropped:.0f} replies dropped, "
                  f"{rounds} round trips of another client answered; RSS {rss0} -> {rss1} KiB")
            # at most ~hwm replies of 8 KB queued for the hog, whatever it sent
            assert rss1 < rss0 + 64 * 1024, f"RSS grew from {rss0} to {rss1} KiB"
            assert server.ping()
        finally:
            hog.close(0)
            other.close(0)
