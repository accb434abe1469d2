"""A connection to envd: protocol v1 requests over a ZeroMQ DEALER socket.

:class:`Client` owns one DEALER socket. Every request gets a fresh id and
the client waits for the reply with that id, discarding stale replies to
requests it gave up on. The ``timeout`` is cut into ``attempts`` slices:
when a slice passes with no reply, the client closes the socket (linger 0,
so the unanswered copy is dropped), opens a new one to the same endpoint
and sends the very same request again, same ``id`` and same
``client_id`` — the "Lazy Pirate" pattern. envd recognizes the resend and
answers it without acting twice (docs/protocol.md, "Retries"), so a step
is never taken twice. When the whole timeout passes, the socket is
replaced once more and :class:`EnvdTimeout` is raised, with a hint of what
to check (is envd running at that endpoint?). The client is then usable
again, and a late reply to an abandoned request can never be taken for the
answer to a later one. A ``tcp://`` host name is resolved once, in the
constructor: one that does not resolve raises :class:`Unavailable` at once
instead of letting ZeroMQ retry it silently until every request times out.

One request is in flight at a time and a client is not thread-safe: give
each thread (or each environment) its own. :meth:`Client.call` is
:meth:`Client.start` (send) then :meth:`Client.poll` (wait, resending as
above); EnvdVectorEnv starts one request on each server's client before
polling any. The environment classes keep prebuilt requests, so the step
path does no more than set two fields, serialize, send, receive and parse.
"""

from __future__ import annotations

import math
import numbers
import os
import socket
import time
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import zmq
import zmq.utils.z85

from ._proto import pb
from .actions import BOX_DTYPES, discrete_array
from .errors import (
    EnvdTimeout,
    FailedPrecondition,
    Internal,
    InvalidArgument,
    Unavailable,
    error_for_code,
)

__all__ = ["Client", "DEFAULT_ENDPOINT", "DEFAULT_TIMEOUT", "PROTOCOL_MAJOR", "PROTOCOL_MINOR"]

DEFAULT_ENDPOINT = "tcp://127.0.0.1:5555"
DEFAULT_TIMEOUT = 5.0
PROTOCOL_MAJOR = 1
PROTOCOL_MINOR = 2  # 1.1: Request.client_id; 1.2: Box actions
DEFAULT_ATTEMPTS = 3  # sends per request within one timeout

UINT64_MAX = (1 << 64) - 1
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1

# The last sentence of a timeout's hint (python3 -m envd_client leaves it out).
CLI_HINT = "`python3 -m envd_client ENDPOINT` checks a server."

# Closing sessions is housekeeping: never wait long for it.
CLOSE_TIMEOUT = 1.0


def encode_options(field, options: Mapping[str, Any] | None) -> None:
    """Appends ``options`` to a repeated ``envd.v1.Option`` field.

    bool, int, float and str values (and their numpy scalar forms) map to
    the Option oneof, and None to a key with no value (which envd ignores
    where Gymnasium ignores the key, and refuses where the env reads it);
    anything else is an InvalidArgument, raised before anything is sent.
    """
    if not options:
        return
    for key, value in options.items():
        if not isinstance(key, str):
            raise InvalidArgument(f"option names must be strings, got {key!r}")
        opt = field.add()
        opt.key = key
        # bool first: it is an int subclass, and np.bool_ is no Integral.
        if value is None:
            pass
        elif isinstance(value, (bool, np.bool_)):
            opt.bool_value = bool(value)
        elif isinstance(value, numbers.Integral):
            if not INT64_MIN <= int(value) <= INT64_MAX:
                raise InvalidArgument(f"option {key}={value} does not fit in int64")
            opt.int_value = int(value)
        elif isinstance(value, numbers.Real):
            opt.double_value = float(value)
        elif isinstance(value, str):
            opt.string_value = value
        else:
            raise InvalidArgument(
                f"option {key}={value!r}: envd options are bool, int, float, str or None, "
                f"not {type(value).__name__}"
            )


def check_seed(seed: Any) -> int:
    """A seed envd can carry: a Python int in [0, 2**64). Gymnasium also
    accepts larger ints; envd's protocol does not (docs/protocol.md)."""
    if not isinstance(seed, int):
        raise InvalidArgument(f"seed must be a Python int >= 0 or None, got {seed!r}")
    if not 0 <= seed <= UINT64_MAX:
        raise InvalidArgument(f"seed {seed} is outside [0, 2**64): envd seeds are uint64")
    return seed


def decode_tensor(t, dtype=np.float32) -> np.ndarray:
    """A read-only numpy view of a Tensor's bytes (no copy)."""
    shape = tuple(t.shape)
    arr = np.frombuffer(t.data, dtype)
    if arr.size != math.prod(shape):
        raise Internal(f"tensor of shape {shape} carries {len(t.data)} bytes")
    return arr.reshape(shape)


def check_endpoint_host(endpoint: str) -> None:
    """Resolves the host of a ``tcp://HOST:PORT`` endpoint once, so that a
    misspelt host fails at once: ZeroMQ itself would retry the name in the
    background forever and every request would just time out. IP literals
    and the other transports (``ipc://``, ``inproc://``) need no lookup."""
    if not isinstance(endpoint, str) or not endpoint.startswith("tcp://"):
        return
    address = endpoint[len("tcp://"):].rpartition(";")[2]  # "SOURCE;HOST:PORT" binds a source
    if address.startswith("["):
        host, _, rest = address[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        return  # malformed: zmq_connect says what is wrong with it
    try:
        socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        reason = exc.strerror if isinstance(exc, socket.gaierror) and exc.strerror else str(exc)
        raise Unavailable(f"cannot resolve host {host!r} of endpoint {endpoint}: {reason}; "
                          "check the host name in the endpoint") from None


def load_curve_key(key: str | bytes | os.PathLike) -> bytes:
    """A CURVE key as 40 bytes of Z85 text: ``key`` is either that text or
    the path of a key file written by ``envd --keygen`` (NAME.pub or
    NAME.key; lines starting with '#' are comments)."""
    if isinstance(key, (str, bytes)) and len(key) == 40 and not os.path.exists(key):
        text = key.encode() if isinstance(key, str) else key
    else:
        try:
            with open(key, "rb") as f:
                lines = [ln.strip() for ln in f.read().splitlines()]
        except (OSError, TypeError) as exc:
            raise InvalidArgument(f"CURVE key {key!r}: neither 40 characters of Z85 text "
                                  f"nor a readable key file ({exc})") from None
        keys = [ln for ln in lines if ln and not ln.startswith(b"#")]
        if not keys:
            raise InvalidArgument(f"{os.fsdecode(key)}: no key found")
        text = keys[0]
    try:
        if len(text) != 40 or len(zmq.utils.z85.decode(text)) != 32:
            raise ValueError
    except ValueError:
        raise InvalidArgument("a CURVE key is 40 characters of Z85 text "
                              "(or the path of a key file)") from None
    return text


class _Pending:
    """The request in flight: its id and bytes (resent as they are), when
    it was first sent, its timeout and the slice reached."""

    __slots__ = ("rid", "data", "start", "timeout", "attempt")

    def __init__(self, rid: int, data: bytes, start: float, timeout: float):
        self.rid, self.data, self.start, self.timeout, self.attempt = rid, data, start, timeout, 0


class Client:
    """A DEALER connection to one envd endpoint.

    ``timeout`` (seconds, > 0) bounds every request, resends included;
    ``attempts`` (>= 1) is how many times a request may be sent within it
    (1: never resend). Operations mirror the
    protocol (docs/protocol.md): :meth:`hello`, :meth:`make`,
    :meth:`describe`, :meth:`reset`, :meth:`step`, :meth:`reset_batch`,
    :meth:`step_batch`, :meth:`close_sessions`, :meth:`ping`,
    :meth:`stats`. Failures raise the :mod:`envd_client.errors` classes.

    CURVE (docs/security.md): ``server_public_key`` is envd's public key and
    ``secret_key`` this client's secret key (``public_key`` is derived from
    it when not given); each is Z85 text or a key-file path. A server that
    does not authorise the client never answers: requests time out.
    """

    def __init__(self, endpoint: str = DEFAULT_ENDPOINT, timeout: float = DEFAULT_TIMEOUT,
                 *, context: zmq.Context | None = None, attempts: int = DEFAULT_ATTEMPTS,
                 server_public_key: str | bytes | os.PathLike | None = None,
                 public_key: str | bytes | os.PathLike | None = None,
                 secret_key: str | bytes | os.PathLike | None = None):
        if not isinstance(timeout, numbers.Real) or not 0 < timeout < 1e6:
            raise InvalidArgument(f"timeout must be a number of seconds > 0, got {timeout!r}")
        if not isinstance(attempts, numbers.Integral) or not 1 <= attempts <= 1000:
            raise InvalidArgument(f"attempts must be an integer from 1 to 1000, got {attempts!r}")
        self.attempts = int(attempts)
        # Random and fixed for this object: envd keys resends by it, since
        # each new socket gets a new ZeroMQ routing id. Never 0 (= no
        # protection).
        self.client_id = int.from_bytes(os.urandom(8), "little") or 1
        self.endpoint = endpoint
        self.timeout = float(timeout)
        self._ctx = context if context is not None else zmq.Context.instance()
        self._curve = None
        if server_public_key is not None or secret_key is not None or public_key is not None:
            if server_public_key is None or secret_key is None:
                raise InvalidArgument("CURVE needs server_public_key and secret_key")
            if not zmq.has("curve"):
                raise InvalidArgument("this libzmq was built without CURVE")
            sec = load_curve_key(secret_key)
            pub = load_curve_key(public_key) if public_key is not None else zmq.curve_public(sec)
            self._curve = (load_curve_key(server_public_key), pub, sec)
        self._sock = None
        self._next_id = 0
        self._pending: _Pending | None = None  # the request in flight
        self.reconnects = 0  # sockets replaced after a request timed out
        self.resends = 0  # requests sent again on a new socket within their timeout
        self.replies = 0  # replies received: 0 means the endpoint never answered
        check_endpoint_host(endpoint)
        self._open()

    # ------------------------------------------------------------ socket
    def _open(self) -> None:
        sock = self._ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        if self._curve is not None:  # reapplied on every Lazy Pirate reopen
            sock.curve_serverkey, sock.curve_publickey, sock.curve_secretkey = self._curve
        try:
            sock.connect(self.endpoint)
        except zmq.ZMQError as exc:
            sock.close(0)
            raise InvalidArgument(f"cannot connect to {self.endpoint!r}: {exc}") from None
        self._sock = sock

    def _reopen(self, timed_out: bool = True) -> None:
        """Lazy Pirate: drop the socket with whatever it still holds."""
        if self._sock is not None:
            self._sock.close(0)
            self._sock = None
        if timed_out:
            self.reconnects += 1
        else:
            self.resends += 1
        self._open()

    @property
    def closed(self) -> bool:
        return self._sock is None

    def curve_keys(self) -> dict[str, bytes | None]:
        """The CURVE keys as Z85 text, as keyword arguments for a new Client
        (all None for plaintext)."""
        server, public, secret = self._curve if self._curve is not None else (None, None, None)
        return {"server_public_key": server, "public_key": public, "secret_key": secret}

    def close(self, linger_ms: int = 0) -> None:
        """Closes the socket; safe to call twice."""
        self._pending = None
        if self._sock is not None:
            self._sock.close(linger_ms)
            self._sock = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __repr__(self) -> str:
        state = "closed" if self._sock is None else "open"
        return f"<envd_client.Client {self.endpoint} timeout={self.timeout}s {state}>"

    # ------------------------------------------------------------ exchange
    def call(self, req, timeout: float | None = None):
        """Sends ``req`` (an ``envd.v1.Request`` with its op set) and returns
        the ``envd.v1.Response``; raises on an error status or no reply.

        Fills in ``major``, ``minor``, ``client_id`` and a fresh ``id``; the
        caller may keep ``req`` and send it again with other field values.
        """
        self.start(req, timeout)
        return self.poll()

    def start(self, req, timeout: float | None = None) -> None:
        """Sends ``req`` without waiting: the first half of :meth:`call`.
        :meth:`poll` then waits for its reply (resending it as ``call``
        does). One request is in flight per client (starting another
        abandons the first): a vector env with several servers starts one
        on each server's client before polling any."""
        if self._sock is None:
            raise FailedPrecondition(f"client for {self.endpoint} is closed")
        self._next_id += 1
        req.major = PROTOCOL_MAJOR
        req.minor = PROTOCOL_MINOR
        req.id = self._next_id
        req.client_id = self.client_id
        self._start_bytes(req.SerializeToString(), self._next_id, timeout)

    def _start_bytes(self, data: bytes, rid: int, timeout: float | None = None) -> None:
        # A request still marked in flight here was abandoned (a
        # KeyboardInterrupt in poll): its late reply is dropped as stale.
        self._pending = None
        self._send(self._sock, data)
        self._pending = _Pending(rid, data, time.monotonic(),
                                 timeout if timeout is not None else self.timeout)

    @property
    def socket(self):
        """The DEALER socket, for waiting on several clients at once
        (``zmq.Poller``). A resend replaces it: read it anew for each wait."""
        return self._sock

    @property
    def busy(self) -> bool:
        """True while a request started with :meth:`start` awaits its reply."""
        return self._pending is not None

    def slice_end(self) -> float:
        """When (``time.monotonic()``) the request in flight is next due for
        a resend or its timeout."""
        p = self._pending
        return p.start + p.timeout * (p.attempt + 1) / self.attempts

    def poll(self, until: float | None = None):
        """Waits for the reply to the request in flight, at most until the
        ``time.monotonic()`` value ``until`` (None: until it arrives or the
        request times out). Returns the ``envd.v1.Response``, or None if
        ``until`` came first (the request stays in flight); raises on an
        error status or a timeout, after which the client is free again.
        Replies already waiting are read before any resend is decided, so a
        caller held up elsewhere (another server's reply) never resends a
        request whose answer has arrived."""
        p = self._pending
        if p is None:
            raise FailedPrecondition(f"client for {self.endpoint} has no request in flight")
        while True:
            now = time.monotonic()
            slice_end = self.slice_end()
            stop = slice_end if until is None else min(slice_end, until)
            if self._sock.poll(max(0, math.ceil((stop - now) * 1000)), zmq.POLLIN):
                rep = self._take_reply(p.rid)
                if rep is not None:
                    self._pending = None
                    return self._check(rep)
                continue
            now = time.monotonic()
            if now >= slice_end:
                self._slice_passed(p, now)
            elif until is not None and now >= until:
                return None

    def _slice_passed(self, p: "_Pending", now: float) -> None:
        if p.attempt + 1 >= self.attempts or now >= p.start + p.timeout:
            self._pending = None
            self._reopen()
            raise EnvdTimeout(
                f"{self.endpoint} did not answer within {p.timeout:g} s "
                f"({p.attempt + 1} send{'s' if p.attempt else ''}; the connection was "
                f"reset and the client is usable again). {self._timeout_hint()}"
            )
        # Lazy Pirate resend: the same bytes from a new socket; a caller held
        # up elsewhere skips the slices already gone.
        p.attempt = max(p.attempt + 1, min(self.attempts - 1,
                                           int((now - p.start) * self.attempts / p.timeout)))
        self._reopen(timed_out=False)
        self._send(self._sock, p.data)

    def _take_reply(self, rid: int):
        """Reads one message: the Response to request ``rid``, or None for
        anything else (a late reply to an abandoned request, bytes that are
        not a Response), which is dropped."""
        raw = self._sock.recv(zmq.NOBLOCK)
        rep = pb.Response()
        try:
            rep.ParseFromString(raw)
        except Exception:
            return None
        self.replies += 1
        # id 0 is how envd answers a request it could not decode; with one
        # request in flight, that request is ours.
        if rep.id == rid or (rep.id == 0 and rep.status.code != 0):
            return rep
        return None

    @staticmethod
    def _check(rep):
        code = rep.status.code
        if code != 0:
            raise error_for_code(code, rep.status.message)
        if rep.major != PROTOCOL_MAJOR:
            raise Internal(f"reply speaks protocol {rep.major}.{rep.minor}, not {PROTOCOL_MAJOR}.x")
        return rep

    def _timeout_hint(self) -> str:
        """What a person should check, in the EnvdTimeout message."""
        if self.replies:
            return ("It answered before: envd may have stopped or restarted, or be "
                    "overloaded or paused.")
        hint = (f"No reply has ever come from it: check that envd runs there "
                f"(envd --bind {self.endpoint}) and that nothing blocks the port")
        if self._curve is not None:
            hint += ("; with CURVE, a server that does not know this client's public key "
                     "never answers")
        return hint + ". " + CLI_HINT

    def _send(self, sock, data: bytes) -> None:
        try:
            sock.send(data, zmq.NOBLOCK)
        except zmq.Again:
            # Only possible with a full queue: that connection is stuck.
            self._pending = None
            self._reopen()
            raise Unavailable(f"cannot queue a request to {self.endpoint}: send queue full") from None

    def sibling(self) -> "Client":
        """A new client of the same endpoint, timeout, attempts, CURVE keys
        and ZeroMQ context, with its own socket and ``client_id``: a second
        request in flight to the same server (EnvdVectorEnv's async API)."""
        return Client(self.endpoint, self.timeout, context=self._ctx, attempts=self.attempts,
                      **self.curve_keys())

    def send_nowait(self, req) -> None:
        """Sends a request without waiting for (or ever reading) its reply.
        Used for best-effort cleanup from ``__del__``."""
        if self._sock is None:
            return
        self._next_id += 1
        req.major = PROTOCOL_MAJOR
        req.minor = PROTOCOL_MINOR
        req.id = self._next_id
        req.client_id = self.client_id
        try:
            self._sock.send(req.SerializeToString(), zmq.NOBLOCK)
        except zmq.ZMQError:
            pass

    # ------------------------------------------------------------ operations
    def hello(self, client_name: str = "envd_client (python)"):
        """Server version, protocol version, env ids and limits
        (``envd.v1.HelloReply``)."""
        req = pb.Request()
        req.hello.client = client_name
        return self.call(req).hello

    def make(self, env_id: str, count: int = 1, options: Mapping[str, Any] | None = None):
        """Creates ``count`` sessions; returns the ``envd.v1.MakeReply``
        (session ids, spaces, spec)."""
        req = pb.Request()
        req.make.env_id = env_id
        req.make.count = count
        encode_options(req.make.options, options)
        return self.call(req).make

    def describe(self, env_id: str | None = None, session: int | None = None):
        if (env_id is None) == (session is None):
            raise InvalidArgument("describe takes exactly one of env_id and session")
        req = pb.Request()
        if env_id is not None:
            req.describe.env_id = env_id
        else:
            req.describe.session = session
        return self.call(req).describe

    def reset(self, session: int, seed: int | None = None,
              options: Mapping[str, Any] | None = None) -> np.ndarray:
        req = pb.Request()
        req.reset.session = session
        if seed is not None:
            req.reset.seed = check_seed(seed)
        encode_options(req.reset.options, options)
        return decode_tensor(self.call(req).reset.observation).copy()

    def step(self, session: int, action: Any):
        """One step: ``(obs, reward, terminated, truncated)``. An integer
        action is a Discrete one; a float32 or float64 array is a Box
        action, sent in its dtype and shape (envd checks them against the
        session's space)."""
        req = pb.Request()
        req.step.session = session
        if isinstance(action, np.ndarray) and action.dtype in BOX_DTYPES:
            fill_tensor(req.step.box_action, action)
        else:
            req.step.action = action
        rep = self.call(req).step
        return decode_tensor(rep.observation).copy(), rep.reward, rep.terminated, rep.truncated

    def reset_batch(self, sessions: Sequence[int], seeds: Sequence[int | None] | None = None,
                    options: Mapping[str, Any] | None = None) -> np.ndarray:
        """Resets many sessions; ``seeds`` is None or one entry per session,
        where None continues that session's stream. Returns (N, obs...)."""
        req = pb.Request()
        fill_reset_batch(req.reset_batch, sessions, seeds, options)
        return decode_tensor(self.call(req).reset_batch.observations).copy()

    def step_batch(self, sessions: Sequence[int], actions, autoreset_mode: int = 0):
        """Steps many sessions; returns the raw ``envd.v1.StepBatchReply``.
        Integer actions (shape [N]) are Discrete; a float32 or float64 array
        of shape [N, *shape] carries Box actions."""
        req = pb.Request()
        sb = req.step_batch
        sb.sessions.extend(int(s) for s in sessions)
        if isinstance(actions, np.ndarray) and actions.dtype in BOX_DTYPES:
            fill_tensor(sb.actions, actions)
        else:
            a, sb.actions.dtype = discrete_array(actions, len(sb.sessions))
            sb.actions.shape.append(a.shape[0])
            sb.actions.data = a.tobytes()
        sb.autoreset_mode = autoreset_mode
        return self.call(req).step_batch

    def close_sessions(self, sessions: Iterable[int], timeout: float | None = None) -> int:
        """Closes sessions (unknown ids are ignored); returns how many were open."""
        req = pb.Request()
        req.close.sessions.extend(int(s) for s in sessions)
        return self.call(req, timeout=timeout).close.closed

    def ping(self, payload: bytes = b"") -> bytes:
        req = pb.Request()
        req.ping.payload = payload
        return self.call(req).ping.payload

    def stats(self):
        req = pb.Request()
        req.stats.SetInParent()
        return self.call(req).stats


def fill_tensor(t, a: np.ndarray) -> None:
    """Sets an ``envd.v1.Tensor`` to a float32 or float64 array's dtype,
    shape and bytes (native order: envd's hosts are little-endian, as the
    observations' ``np.frombuffer`` assumes too)."""
    t.dtype = BOX_DTYPES[a.dtype]
    del t.shape[:]
    t.shape.extend(a.shape)
    t.data = np.ascontiguousarray(a).tobytes()


def fill_reset_batch(rb, sessions: Sequence[int], seeds: Sequence[int | None] | None,
                     options: Mapping[str, Any] | None) -> None:
    """Fills an ``envd.v1.ResetBatchRequest``: seeds with None entries
    become a ``seeded`` mask (docs/protocol.md, reset_batch)."""
    rb.sessions.extend(int(s) for s in sessions)
    if seeds is not None:
        if len(seeds) != len(rb.sessions):
            raise InvalidArgument(f"{len(seeds)} seeds for {len(rb.sessions)} sessions")
        if any(s is not None for s in seeds):
            rb.seeds.extend(0 if s is None else check_seed(s) for s in seeds)
            if any(s is None for s in seeds):
                rb.seeded = bytes(0 if s is None else 1 for s in seeds)
    encode_options(rb.options, options)
