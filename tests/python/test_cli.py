"""envd's command line: environment twins, flags over them, usage errors.

Every option of envd has an ENVD_* twin (for containers); the twins are
read first and flags override them, and a --bind flag replaces the
ENVD_BIND list instead of adding to it. What envd took is read back from
a live envd: its hello reply (limits) and its log (endpoints). A value
that does not parse is a usage error: exit 2 and a line naming the flag
or variable and the value, before anything is bound.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

import envd_client
from conftest import AGENTD, ENVD, free_port


def start_envd(tmp_path: Path, *args: str, env: dict[str, str] | None = None):
    """envd with extra environment variables; waits for its ready line."""
    log = tmp_path / f"envd-{time.monotonic_ns()}.log"
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("ENVD_")}
    full_env.update(env or {})
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(ENVD), *args], stdout=out, stderr=subprocess.STDOUT, env=full_env)
    deadline = time.monotonic() + 20
    while " ready: " not in log.read_text() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert " ready: " in log.read_text(), log.read_text()
    return proc, log


def stop_envd(proc: subprocess.Popen, log: Path) -> None:
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0, log.read_text()


def test_twins_are_read_and_flags_override_them(tmp_path):
    port = free_port()
    proc, log = start_envd(tmp_path, "--max-batch", "9",
                           env={"ENVD_BIND": f"tcp://127.0.0.1:{port}", "ENVD_MAX_SESSIONS": "7",
                                "ENVD_MAX_BATCH": "5", "ENVD_SESSION_TTL": "2.5"})
    try:
        with envd_client.Client(f"tcp://127.0.0.1:{port}", timeout=10.0) as c:
            h = c.hello().limits
            assert (h.max_sessions, h.max_batch, h.session_ttl_ms) == (7, 9, 2500)
            with pytest.raises(envd_client.errors.ResourceExhausted):
                c.make("CartPole-v1", 8)
    finally:
        stop_envd(proc, log)


def test_bind_flags_replace_the_twins_list(tmp_path):
    p1, p2, p3 = free_port(), free_port(), free_port()
    env = {"ENVD_BIND": f"tcp://127.0.0.1:{p1}, tcp://127.0.0.1:{p2}"}
    proc, log = start_envd(tmp_path, env=env)
    text = log.read_text()
    stop_envd(proc, log)
    assert f"listening on tcp://127.0.0.1:{p1}" in text and f"listening on tcp://127.0.0.1:{p2}" in text

    proc, log = start_envd(tmp_path, "--bind", f"tcp://127.0.0.1:{p3}", env=env)
    try:
        with envd_client.Client(f"tcp://127.0.0.1:{p3}", timeout=10.0) as c:
            assert c.ping(b"x") == b"x"
        text = log.read_text()
        assert f":{p1}" not in text and f":{p2}" not in text, text
    finally:
        stop_envd(proc, log)


@pytest.mark.parametrize("args, env, needle", [
    (["--max-sessions", "0"], {}, "--max-sessions: '0' is not a whole number between 1 and"),
    (["--max-batch", "2.5"], {}, "--max-batch: '2.5' is not a whole number"),
    (["--session-ttl", "nan"], {}, "--session-ttl: 'nan' is not a number"),
    ([], {"ENVD_MAX_BATCH": "abc"}, "ENVD_MAX_BATCH: 'abc' is not a whole number"),
    ([], {"ENVD_INSECURE": "maybe"}, "ENVD_INSECURE: 'maybe' is not a boolean"),
    (["--log-level", "loud"], {}, "--log-level: 'loud' is not error, warn, info or debug"),
    (["--metrics-max-connections", "0"], {},
     "--metrics-max-connections: '0' is not a whole number between 1 and 100000"),
    ([], {"ENVD_METRICS_IDLE_TIMEOUT": "0"},
     "ENVD_METRICS_IDLE_TIMEOUT: '0' is not a number between 0.001 and 3600"),
    (["--bind", ""], {}, "--bind: '' is not an endpoint"),
    (["--bind", "127.0.0.1:5555"], {}, "--bind: '127.0.0.1:5555' is not an endpoint: expected "
     "tcp://HOST:PORT, ipc://PATH or inproc://NAME"),
    (["--bind", "tcp://127.0.0.1"], {}, "--bind: 'tcp://127.0.0.1' is not tcp://HOST:PORT"),
    (["--bind", "udp://127.0.0.1:9"], {}, "--bind: 'udp://127.0.0.1:9' is not an endpoint"),
    ([], {"ENVD_BIND": "tcp://127.0.0.1:1,ipc://"}, "ENVD_BIND: 'ipc://': nothing after ipc://"),
    (["--metrics", "abc"], {}, "--metrics: 'abc': expected PORT, :PORT or HOST:PORT"),
    (["--metrics", ":99999"], {}, "--metrics: ':99999': expected PORT, :PORT or HOST:PORT"),
    (["--metrics", "127.0.0.1:99999"], {}, "--metrics: '127.0.0.1:99999': port must be a number"),
    (["--metrics", "localhost:9100"], {},
     "--metrics: 'localhost:9100': 'localhost' is not an IP address"),
    ([], {"ENVD_METRICS": "9100x"}, "ENVD_METRICS: '9100x': expected PORT, :PORT or HOST:PORT"),
    (["--max-batch"], {}, "option '--max-batch' requires an argument"),
    (["--insecure=maybe"], {}, "option '--insecure' doesn't allow an argument"),
    (["--curve-secret", "/nonexistent.key"], {}, "--curve-secret and --curve-clients go together"),
    (["--no-such-flag"], {}, "Try 'envd --help'."),
    (["stray"], {}, "envd: unexpected argument 'stray'"),
])
def test_usage_errors_exit_2_and_say_what_was_wrong(args, env, needle):
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("ENVD_")}
    full_env.update(env)
    r = subprocess.run([str(ENVD), "--bind", f"tcp://127.0.0.1:{free_port()}", *args],
                       capture_output=True, text=True, timeout=30, env=full_env)
    assert r.returncode == 2, r.stderr
    assert needle in r.stderr, r.stderr
    assert "listening on" not in r.stderr


def test_help_lists_every_flag_with_its_twin_and_version_prints():
    r = subprocess.run([str(ENVD), "--help"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0
    for flag in ("bind", "metrics", "metrics-max-connections", "metrics-header-timeout",
                 "metrics-idle-timeout", "max-sessions", "session-ttl", "max-batch", "max-message-size",
                 "hwm", "retry-clients", "retry-bytes", "retry-ttl", "log-level", "curve-secret", "curve-clients", "insecure"):
        twin = "ENVD_" + flag.upper().replace("-", "_")
        at = r.stdout.index(f"--{flag}")
        assert f"[env {twin}" in r.stdout[at:at + 400], flag
    v = subprocess.run([str(ENVD), "--version"], capture_output=True, text=True, timeout=30)
    assert v.returncode == 0 and v.stdout.startswith("envd ")


def test_agentd_refuses_an_empty_endpoint():
    r = subprocess.run([str(AGENTD), "--env", ""], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2
    assert "--env: '' is not an endpoint" in r.stderr


@pytest.mark.parametrize("args, env, needle", [
    (["--no-such-flag"], {}, "Try 'agentd --help'."),
    (["stray"], {}, "agentd: unexpected argument 'stray'"),
    (["--lr"], {}, "option '--lr' requires an argument"),
    (["--lr", "abc"], {}, "--lr: 'abc' is not a number between 1e-09 and 1"),
    (["--buffer-size", "1e10"], {}, "--buffer-size: '1e10' is not a whole number between 1 and 1000000000"),
    (["--double-dqn=maybe"], {}, "--double-dqn: 'maybe' is not a boolean"),
    (["--hidden", "64,0"], {}, "--hidden: '64,0' is not 1 to 8 widths"),
    (["--log-level", "loud"], {}, "--log-level: 'loud' is not error, warn, info or debug"),
    (["--env", "envd:5555"], {}, "--env: 'envd:5555' is not an endpoint: expected tcp://HOST:PORT"),
    (["--env", "tcp://127.0.0.1:*"], {}, "--env: 'tcp://127.0.0.1:*' is not tcp://HOST:PORT with a "
     "port from 1 to 65535"),
    ([], {"AGENTD_ENV": "tcp://127.0.0.1:5555,tcp://127.0.0.1"},
     "AGENTD_ENV: 'tcp://127.0.0.1' is not tcp://HOST:PORT"),
    (["--env-dns", "envd"], {}, "--env-dns: 'envd': expected HOST:PORT"),
    (["--eval-only"], {}, "--eval-only needs --load PATH"),
    (["--eval-only", "--no-train", "--load", "x.ckpt"], {}, "--eval-only and --no-train exclude each other"),
    (["--retry-min-ms", "10", "--retry-max-ms", "5"], {}, "--retry-min-ms is above --retry-max-ms"),
    (["--batch-size", "100", "--buffer-size", "10"], {}, "--batch-size is larger than --buffer-size"),
    (["--eps-start", "0.1", "--eps-end", "0.5"], {}, "--eps-end is above --eps-start"),
    (["--curve-key", "a.key"], {}, "--curve-server-key and --curve-key go together"),
    (["--env-id", "Pendulum-v1"], {}, "Pendulum-v1 has a continuous (Box) action space"),
    (["--env-id", "Nope-v0"], {}, "Nope-v0 has no known reward threshold: give --target-return R"),
])
def test_agentd_usage_errors_exit_2_and_say_what_was_wrong(args, env, needle):
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTD_")}
    full_env.update(env)
    r = subprocess.run([str(AGENTD), "--give-up", "1", *args], capture_output=True, text=True,
                       timeout=30, env=full_env)
    assert r.returncode == 2, r.stderr
    assert needle in r.stderr, r.stderr
    assert "training" not in r.stderr and "did not answer" not in r.stderr, r.stderr


def _listening_on(port: int) -> set[str]:
    """The local addresses of TCP sockets listening on port (/proc/net/tcp, tcp6)."""
    found = set()
    for name in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/net/{name}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            addr, hexport = local.split(":")
            if state == "0A" and int(hexport, 16) == port:
                if len(addr) == 8:
                    found.add(".".join(str(b) for b in reversed(bytes.fromhex(addr))))
                else:
                    found.add(addr)
    return found


@pytest.mark.parametrize("form", ["{port}", ":{port}"])
def test_metrics_port_alone_serves_on_loopback(tmp_path, form):
    """--metrics 9100 and --metrics :9100, as exporters are often given:
    127.0.0.1:9100, no warning about exposure, /metrics answers there."""
    import urllib.request

    port = free_port()
    proc, log = start_envd(tmp_path, "--bind", f"tcp://127.0.0.1:{free_port()}", "--metrics",
                           form.format(port=port))
    try:
        text = log.read_text()
        assert f"metrics on http://127.0.0.1:{port}/metrics" in text, text
        assert "not on loopback" not in text, text
        assert _listening_on(port) == {"127.0.0.1"}, _listening_on(port)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
            assert r.status == 200
            assert "\nenvd_sessions_active 0\n" in r.read().decode()
    finally:
        stop_envd(proc, log)


@pytest.mark.parametrize("args,env,needle", [
    (["--attempts", "0"], {}, "--attempts: '0' is not a whole number between 1 and 100"),
    ([], {"AGENTD_ATTEMPTS": "101"},
     "AGENTD_ATTEMPTS: '101' is not a whole number between 1 and 100"),
])
def test_agentd_attempts_out_of_range_is_a_usage_error(args, env, needle):
    r = subprocess.run([str(AGENTD), *args], capture_output=True, text=True, timeout=30,
                       env={**os.environ, **env})
    assert r.returncode == 2
    assert needle in r.stderr


def test_retry_flags_bound_the_reply_cache(tmp_path):
    """--retry-ttl: a resend within it is answered from the cache, byte for
    byte; after it, envd says the request already ran. --retry-clients 1:
    a second client's reply evicts the first one's."""
    import zmq
    from envd_client._proto import pb

    port = free_port()
    proc, log = start_envd(tmp_path, "--bind", f"tcp://127.0.0.1:{port}", "--retry-ttl", "0.5",
                           "--retry-clients", "1")
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVTIMEO, 10000)
    sock.connect(f"tcp://127.0.0.1:{port}")

    def exchange(data: bytes) -> bytes:
        sock.send(data)
        return sock.recv()

    def request(client_id: int, rid: int, **op) -> bytes:
        req = pb.Request(major=1, minor=1, id=rid, client_id=client_id)
        for name, fields in op.items():
            getattr(req, name).CopyFrom(fields)
        return req.SerializeToString()

    try:
        made = pb.Response.FromString(exchange(request(7, 1, make=pb.MakeRequest(env_id="CartPole-v1"))))
        sid = made.make.sessions[0]
        exchange(request(7, 2, reset=pb.ResetRequest(session=sid)))
        step = request(7, 3, step=pb.StepRequest(session=sid, action=1))
        first = exchange(step)
        assert exchange(step) == first                      # within the TTL: the cached reply
        time.sleep(0.8)
        late = pb.Response.FromString(exchange(step))       # past the TTL: refused, not stepped
        assert late.status.code == pb.FAILED_PRECONDITION, late
        assert "already executed" in late.status.message

        step4 = request(7, 4, step=pb.StepRequest(session=sid, action=0))
        exchange(step4)
        other = pb.Response.FromString(exchange(request(8, 1, make=pb.MakeRequest(env_id="CartPole-v1"))))
        assert other.status.code == pb.OK                   # client 8's reply evicts client 7's
        evicted = pb.Response.FromString(exchange(step4))
        assert evicted.status.code == pb.FAILED_PRECONDITION, evicted
    finally:
        sock.close(0)
        stop_envd(proc, log)
