"""Failures: server status codes as exceptions, reclaimed sessions, a server
that vanishes or stalls (timeouts, Lazy Pirate recovery), stale replies."""

from __future__ import annotations

import time
import warnings

import numpy as np
import pytest
import envd_client
from envd_client import errors
from envd_client._proto import pb

from conftest import free_port


def numpy_reset(seed):
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed)))
    return rng.uniform(-0.05, 0.05, size=(4,)).astype(np.float32)


# ---------------------------------------------------------------- the hierarchy
@pytest.mark.parametrize("code,cls", [
    (pb.INVALID_ARGUMENT, envd_client.InvalidArgument), (pb.NOT_FOUND, envd_client.NotFound),
    (pb.FAILED_PRECONDITION, envd_client.FailedPrecondition),
    (pb.RESOURCE_EXHAUSTED, envd_client.ResourceExhausted),
    (pb.VERSION_MISMATCH, envd_client.VersionMismatch), (pb.UNAVAILABLE, envd_client.Unavailable),
    (pb.INTERNAL, envd_client.Internal)])
def test_every_status_code_has_its_exception_class(code, cls):
    err = errors.error_for_code(code, "what went wrong")
    assert type(err) is cls and isinstance(err, envd_client.EnvdError)
    assert err.code == code and err.message == "what went wrong"
    assert errors.CODE_NAMES[code] == pb.Code.Name(code) and err.code_name in str(err)


def test_timeout_is_a_builtin_timeout_error():
    assert issubclass(envd_client.EnvdTimeout, TimeoutError)
    assert issubclass(envd_client.EnvdTimeout, envd_client.EnvdError)


# ---------------------------------------------------------------- server codes
def test_unknown_env_id_raises_not_found(endpoint):
    with pytest.raises(envd_client.NotFound) as info:
        envd_client.EnvdEnv("NoSuchEnv-v0", endpoint=endpoint)
    assert info.value.code == pb.NOT_FOUND and "NoSuchEnv-v0" in info.value.message
    with pytest.raises(envd_client.NotFound):
        envd_client.EnvdVectorEnv("NoSuchEnv-v0", 2, endpoint)


def test_bad_action_raises_invalid_argument_with_the_servers_message(endpoint):
    with envd_client.EnvdEnv(endpoint=endpoint) as env:
        env.reset(seed=0)
        with pytest.raises(envd_client.InvalidArgument) as info:
            env.step(2)
        assert info.value.code == pb.INVALID_ARGUMENT and "action 2" in info.value.message


@pytest.mark.parametrize("options", [{"no_such_option": 1}, {"sutton_barto_reward": "yes"},
                                     {"max_episode_steps": 0}])
def test_bad_make_options_raise_invalid_argument(endpoint, options):
    with pytest.raises(envd_client.InvalidArgument):
        envd_client.EnvdEnv(endpoint=endpoint, **options)


def test_unencodable_option_values_are_refused_client_side(endpoint):
    with pytest.raises(envd_client.InvalidArgument, match="bool, int, float, str or None"):
        envd_client.EnvdEnv(endpoint=endpoint, max_episode_steps=[5])


def test_step_before_reset_raises_failed_precondition(endpoint):
    with envd_client.EnvdEnv(endpoint=endpoint) as env:
        with pytest.raises(envd_client.FailedPrecondition):
            env.step(0)


def test_batch_over_the_servers_limit_raises_resource_exhausted(endpoint):
    with envd_client.Client(endpoint) as c:
        limit = c.hello().limits.max_batch
    with pytest.raises(envd_client.ResourceExhausted):
        envd_client.EnvdVectorEnv("CartPole-v1", limit + 1, endpoint)


def test_other_major_version_raises_version_mismatch(endpoint):
    with envd_client.Client(endpoint) as c:
        req = pb.Request(major=2, id=77)
        req.ping.payload = b"x"
        with pytest.raises(envd_client.VersionMismatch):
            c._start_bytes(req.SerializeToString(), 77)
            c.poll()
        assert c.ping(b"ok") == b"ok"


def test_bad_endpoint_and_timeout_are_invalid_arguments():
    with pytest.raises(envd_client.InvalidArgument):
        envd_client.Client("not-an-endpoint")
    for bad in (0, -1, "5", None):
        with pytest.raises(envd_client.InvalidArgument):
            envd_client.Client("tcp://127.0.0.1:9", timeout=bad)


# ---------------------------------------------------------------- session TTL
def test_session_reclaimed_by_ttl_raises_not_found_and_reset_recreates_it(envd_short_ttl):
    ep = envd_short_ttl.endpoint
    with envd_client.EnvdEnv(endpoint=ep) as env:
        env.reset(seed=0)
        env.step(1)
        time.sleep(0.7)  # TTL 0.3 s, reaped every 30 ms
        with pytest.raises(envd_client.NotFound) as info:
            env.step(1)
        assert "reclaimed" in info.value.message
        old = env.session
        with pytest.warns(envd_client.EnvdSessionLost):
            obs, _ = env.reset(seed=0)
        assert env.session != old
        np.testing.assert_array_equal(obs, numpy_reset(0))
        env.step(1)


def test_vector_sessions_reclaimed_by_ttl_raise_not_found_and_reset_recreates_them(envd_short_ttl):
    ep = envd_short_ttl.endpoint
    with envd_client.EnvdVectorEnv("CartPole-v1", 3, ep) as envs:
        envs.reset(seed=0)
        time.sleep(0.7)
        with pytest.raises(envd_client.NotFound):
            envs.step(np.zeros(3, np.int64))
        with pytest.raises(envd_client.NotFound):  # a masked reset cannot recreate
            envs.reset(options={"reset_mask": np.array([True, False, False])})
        with pytest.warns(envd_client.EnvdSessionLost):
            obs, _ = envs.reset(seed=0)
        np.testing.assert_array_equal(obs[2], numpy_reset(2))
        envs.step(np.zeros(3, np.int64))


# ---------------------------------------------------------------- server gone
TIMEOUT = 0.5
SLACK = 1.0


def timed(fn):
    t0 = time.monotonic()
    with pytest.raises(TimeoutError) as info:
        fn()
    elapsed = time.monotonic() - t0
    assert TIMEOUT * 0.9 <= elapsed <= TIMEOUT + SLACK, elapsed
    assert isinstance(info.value, envd_client.EnvdTimeout) and info.value.code is None
    return info.value


def test_killed_server_raises_timeout_and_the_same_client_recovers_after_restart(envd_private):
    env = envd_client.EnvdEnv(endpoint=envd_private.endpoint, timeout=TIMEOUT)
    env.reset(seed=0)
    envd_private.kill()
    err = timed(lambda: env.step(0))
    assert envd_private.endpoint in err.message
    assert "It answered before: envd may have stopped" in err.message
    assert env.client.reconnects == 1
    timed(lambda: env.client.ping(b"anyone?"))  # still bounded, still no hang
    assert env.client.reconnects == 2

    envd_private.start()  # a new envd on the same endpoint
    assert env.client.ping(b"back") == b"back"
    with pytest.raises(envd_client.NotFound):  # the new server never saw our session
        env.step(0)
    with pytest.warns(envd_client.EnvdSessionLost):
        obs, _ = env.reset(seed=0)
    np.testing.assert_array_equal(obs, numpy_reset(0))
    assert env.step(1)[1] == 1.0
    env.close()


def test_killed_server_vector_env_times_out_and_recovers(envd_private):
    envs = envd_client.EnvdVectorEnv("CartPole-v1", 4, envd_private.endpoint, timeout=TIMEOUT)
    envs.reset(seed=0)
    envd_private.kill()
    timed(lambda: envs.step(np.zeros(4, np.int64)))
    envd_private.start()
    with pytest.warns(envd_client.EnvdSessionLost):
        obs, _ = envs.reset(seed=0)
    np.testing.assert_array_equal(obs[3], numpy_reset(3))
    envs.step(np.zeros(4, np.int64))
    envs.close()


def test_close_does_not_hang_when_the_server_is_gone(envd_private):
    env = envd_client.EnvdEnv(endpoint=envd_private.endpoint, timeout=TIMEOUT)
    envd_private.kill()
    t0 = time.monotonic()
    env.close()  # best effort: the session dies with the server anyway
    assert time.monotonic() - t0 <= TIMEOUT + SLACK
    env.close()


def test_stalled_server_times_out_and_its_late_reply_is_never_taken_for_a_later_one(envd_private):
    """SIGSTOP makes envd hold a request unanswered; after SIGCONT it answers
    to the socket the client abandoned, and the next requests get their own
    replies."""
    with envd_client.EnvdEnv(endpoint=envd_private.endpoint, timeout=TIMEOUT) as env:
        env.reset(seed=0)
        envd_private.pause()
        try:
            timed(lambda: env.client.ping(b"first"))
        finally:
            envd_private.resume()
        for payload in (b"second", b"third"):
            assert env.client.ping(payload) == payload
        obs, _ = env.reset(seed=0)
        np.testing.assert_array_equal(obs, numpy_reset(0))


def test_stale_replies_on_the_same_socket_are_discarded(endpoint):
    with envd_client.Client(endpoint) as c:
        for stale_id in (c._next_id + 1000, 5):
            req = pb.Request(major=1, id=stale_id)
            req.ping.payload = b"stale"
            c._sock.send(req.SerializeToString())  # a request whose reply nobody waits for
        assert c.ping(b"fresh") == b"fresh"
        assert c.ping(b"fresher") == b"fresher"
        # the stale replies did not cost a timeout or a reconnect
        assert c.reconnects == 0


def test_undecodable_request_gets_an_id_zero_error_taken_as_its_answer(endpoint):
    """envd answers bytes it cannot decode with id 0; with one request in
    flight that error is the answer to it, not a stale reply to wait past."""
    with envd_client.Client(endpoint, timeout=TIMEOUT) as c:
        t0 = time.monotonic()
        with pytest.raises(envd_client.InvalidArgument):
            c._start_bytes(b"\xff\xff\xff", 12345)
            c.poll()
        assert time.monotonic() - t0 < TIMEOUT
        assert c.ping(b"ok") == b"ok"


def test_no_server_at_all_times_out_at_construction_and_says_what_to_check():
    port_nobody_listens_on = f"tcp://127.0.0.1:{free_port()}"
    t0 = time.monotonic()
    with pytest.raises(envd_client.EnvdTimeout) as info:
        envd_client.EnvdEnv(endpoint=port_nobody_listens_on, timeout=TIMEOUT)
    assert time.monotonic() - t0 <= TIMEOUT + SLACK
    msg = str(info.value)
    assert f"{port_nobody_listens_on} did not answer within {TIMEOUT:g} s" in msg
    assert f"check that envd runs there (envd --bind {port_nobody_listens_on})" in msg
    assert "CURVE" not in msg  # the key hint is for clients that use keys
    assert msg.endswith("`python3 -m envd_client ENDPOINT` checks a server.")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the half-built env must not complain when collected
        import gc

        gc.collect()


@pytest.mark.parametrize("make", [
    lambda ep: envd_client.Client(ep),
    lambda ep: envd_client.EnvdEnv(endpoint=ep),
    lambda ep: envd_client.EnvdVectorEnv("CartPole-v1", 2, ep),
], ids=["Client", "EnvdEnv", "EnvdVectorEnv"])
def test_an_unresolvable_host_fails_at_construction_naming_it(make):
    """A .invalid name never resolves (RFC 6761); the lookup answers locally
    and no request is sent, so there is no timeout to wait for."""
    ep = "tcp://no-such-host.invalid:5555"
    with pytest.raises(envd_client.Unavailable) as info:
        make(ep)
    msg = str(info.value)
    assert "cannot resolve host 'no-such-host.invalid'" in msg and ep in msg
    assert not isinstance(info.value, envd_client.EnvdTimeout)


@pytest.mark.parametrize("ep", ["tcp://127.0.0.1:{port}", "tcp://localhost:{port}",
                                "tcp://[::1]:{port}", "tcp://127.0.0.1;127.0.0.1:{port}"])
def test_resolvable_and_literal_hosts_pass_the_lookup(ep):
    with envd_client.Client(ep.format(port=free_port()), timeout=TIMEOUT) as c:
        assert not c.closed and c.replies == 0
