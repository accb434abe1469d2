"""EnvdEnv: one envd session behind the Gymnasium ``Env`` API.

Each EnvdEnv owns one session on the server (created by ``make`` in the
constructor, closed by :meth:`EnvdEnv.close`) and, unless given one, its own
:class:`~envd_client.client.Client`. The physics, the TimeLimit and the
random stream all live in envd; this class is the Gymnasium face of them:

* ``reset(seed=s)`` sends the seed, so envd builds the same stream
  Gymnasium would; ``reset()`` continues it. The local ``np_random`` is
  seeded as well (``super().reset(seed=seed)``), because Gymnasium's
  ``check_env`` inspects ``env.unwrapped._np_random``.
* ``step`` takes the action as the space defines it (an integer for
  Discrete, an array for Box, sent in the caller's float32 or float64:
  :mod:`envd_client.actions`) and returns float32 observations decoded
  straight from the reply's bytes, a Python float reward and Python bool
  flags, as ``gymnasium.make(env_id)`` does, bit for bit.
* If envd no longer knows the session at ``reset`` (reclaimed after its idle
  TTL, or envd restarted), ``reset`` makes a new session with the same
  options and warns. ``step`` on a lost session raises NotFound.
* Pickling (Gymnasium's AsyncVectorEnv with the spawn or forkserver
  context, ``copy.deepcopy``) keeps the constructor arguments, not the
  session: unpickling opens a new connection and makes a new session with
  the same endpoint, timeout, CURVE keys and make options, which must be
  reset before it steps, like any new env.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from ._gym import Env, EnvSpec
from ._proto import pb
from .actions import BOX_DTYPES, box_array, discrete_index
from .client import CLOSE_TIMEOUT, DEFAULT_ENDPOINT, DEFAULT_TIMEOUT, Client, check_seed, encode_options
from .errors import EnvdError, FailedPrecondition, Internal, InvalidArgument, NotFound
from .spaces import Discrete, from_proto

__all__ = ["EnvdEnv", "EnvdSessionLost"]

ENTRY_POINT = "envd_client.env:EnvdEnv"
VECTOR_ENTRY_POINT = "envd_client.vector:EnvdVectorEnv"


class EnvdSessionLost(RuntimeWarning):
    """Warned when a reset found its session gone and made a new one."""


def make_spec(reply_spec, kwargs: dict[str, Any]):
    """The EnvSpec of an envd environment: id ``envd/<env id>``, and the
    time limit and reward threshold envd reports."""
    threshold = reply_spec.reward_threshold if reply_spec.HasField("reward_threshold") else None
    return EnvSpec(
        id=f"envd/{reply_spec.env_id}",
        entry_point=ENTRY_POINT,
        reward_threshold=threshold,
        max_episode_steps=reply_spec.max_episode_steps or None,
        kwargs=kwargs,
    )


def open_sessions(client: Client | None, endpoint: str, timeout: float, keys: dict[str, Any],
                  env_id: str, count: int, make_options: dict[str, Any]):
    """Makes ``count`` sessions of ``env_id`` for EnvdEnv and EnvdVectorEnv.

    ``client`` None means a new :class:`Client` of ``endpoint``,
    ``timeout`` and the CURVE ``keys``, closed again if this fails. Returns
    ``(client, owns_client, make reply, observation space, action space)``.
    """
    owns_client = client is None
    if owns_client:
        client = Client(endpoint, timeout, **keys)
    try:
        rep = client.make(env_id, count, make_options)
        observation_space = from_proto(rep.observation_space)
        if observation_space.dtype != np.float32:
            raise Internal(f"{env_id}: observations of dtype {observation_space.dtype}; "
                           "protocol v1 carries float32 only")
    except BaseException:
        if owns_client:
            client.close()
        raise
    return client, owns_client, rep, observation_space, from_proto(rep.action_space)


def box_shape(action_space) -> tuple | None:
    """None for a Discrete action space, the shape of a Box one."""
    return None if isinstance(action_space, Discrete) else tuple(action_space.shape)


class EnvdEnv(Env):
    """A Gymnasium environment whose dynamics run in envd.

    ``EnvdEnv(env_id="CartPole-v1", endpoint="tcp://127.0.0.1:5555",
    timeout=5.0, **make_options)``; make options are the env's constructor
    options on the server, e.g. ``sutton_barto_reward=True`` or
    ``max_episode_steps=1000`` (see docs/protocol.md). ``client=`` shares
    an existing :class:`Client` (the env then does not close it).
    """

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(self, env_id: str = "CartPole-v1", endpoint: str = DEFAULT_ENDPOINT,
                 timeout: float = DEFAULT_TIMEOUT, *, render_mode: str | None = None,
                 client: Client | None = None, server_public_key: Any = None,
                 public_key: Any = None, secret_key: Any = None, **make_options: Any):
        self._closed = True  # until a session exists: close() and __del__ then do nothing
        if render_mode is not None:
            raise InvalidArgument(f"envd environments do not render (render_mode={render_mode!r})")
        self.render_mode = None
        self.env_id = env_id
        self._make_options = dict(make_options)
        keys = {"server_public_key": server_public_key, "public_key": public_key,
                "secret_key": secret_key}
        # What a pickle carries: the keys as given (a key file stays a path),
        # or a shared client's own.
        self._keys = keys if client is None else client.curve_keys()
        (self.client, self._owns_client, rep, self.observation_space,
         self.action_space) = open_sessions(client, endpoint, timeout, keys, env_id, 1,
                                            self._make_options)
        self._box_shape = box_shape(self.action_space)
        self._adopt(rep)
        self._obs_shape = self.observation_space.shape
        self._obs_nbytes = 4 * math.prod(self._obs_shape)
        self.metadata = {"render_modes": []}
        self.spec = make_spec(rep.spec, {"env_id": env_id, "endpoint": self.client.endpoint,
                                         "timeout": self.client.timeout, **self._make_options})

    def _adopt(self, make_reply) -> None:
        """Takes the session of a make reply and prebuilds the step request."""
        self.session = int(make_reply.sessions[0])
        self._step_req = pb.Request()
        self._step_req.step.session = self.session
        if self._box_shape is not None:
            self._step_req.step.box_action.shape.extend(self._box_shape)
        self._closed = False

    @property
    def endpoint(self) -> str:
        return self.client.endpoint

    def _check_open(self) -> None:
        if self._closed:
            raise FailedPrecondition("this EnvdEnv is closed")

    # ------------------------------------------------------------ Gymnasium API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        self._check_open()
        if seed is not None and isinstance(seed, int):
            check_seed(seed)  # refuse what envd cannot carry before touching np_random
        super().reset(seed=seed)
        req = pb.Request()
        req.reset.session = self.session
        if seed is not None:
            req.reset.seed = int(seed)
        encode_options(req.reset.options, options)
        try:
            rep = self.client.call(req)
        except NotFound as exc:
            self._recreate(exc)
            req.reset.session = self.session
            rep = self.client.call(req)
        return self._decode_obs(rep.reset.observation.data), {}

    def step(self, action: Any):
        if self._box_shape is None:
            a = discrete_index(action)
            if self._closed:
                self._check_open()
            req = self._step_req
            try:
                req.step.action = a
            except ValueError:
                raise InvalidArgument(f"action {a} does not fit in int64") from None
        else:
            a = box_array(action, self._box_shape)
            if self._closed:
                self._check_open()
            req = self._step_req
            t = req.step.box_action
            t.dtype = BOX_DTYPES[a.dtype]
            t.data = a.tobytes()
        rep = self.client.call(req).step
        return self._decode_obs(rep.observation.data), rep.reward, rep.terminated, rep.truncated, {}

    def render(self):
        raise NotImplementedError("envd environments do not render")

    def close(self) -> None:
        """Closes the session on the server (best effort: a server that is
        gone or has already reclaimed the session is not an error) and the
        client if this env made it. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        try:
            self.client.close_sessions([self.session], timeout=min(self.client.timeout, CLOSE_TIMEOUT))
        except EnvdError:
            pass
        finally:
            if self._owns_client:
                self.client.close()

    def __del__(self):
        # No waiting in a finalizer: send the close and let the socket try
        # to deliver it for a moment after we are gone.
        if getattr(self, "_closed", True):
            return
        self._closed = True
        try:
            req = pb.Request()
            req.close.sessions.append(self.session)
            self.client.send_nowait(req)
            if self._owns_client:
                self.client.close(linger_ms=100)
        except Exception:
            pass

    def __reduce__(self):
        """Pickles the constructor arguments: unpickling makes a new client
        and a new session (see the module text)."""
        kwargs = {"env_id": self.env_id, "endpoint": self.client.endpoint,
                  "timeout": self.client.timeout, **self._keys, **self._make_options}
        return (_from_pickle, (type(self), kwargs))

    def __repr__(self) -> str:
        return f"<EnvdEnv {self.env_id} session={self.session:016x} at {self.client.endpoint}>" \
            if hasattr(self, "session") else "<EnvdEnv (no session)>"

    # ------------------------------------------------------------ helpers
    def _decode_obs(self, data: bytes) -> np.ndarray:
        if len(data) != self._obs_nbytes:
            raise Internal(f"observation of {len(data)} bytes, expected {self._obs_nbytes}")
        # frombuffer views the reply's immutable bytes; the copy is the
        # caller's own writable array, as Gymnasium returns.
        return np.frombuffer(data, np.float32).reshape(self._obs_shape).copy()

    def _recreate(self, exc: NotFound) -> None:
        old = self.session
        rep = self.client.make(self.env_id, 1, self._make_options)
        self._adopt(rep)
        warnings.warn(
            f"envd session {old:016x} was gone ({exc.message}); reset() made a new one "
            f"({self.session:016x}). An unseeded reset now starts a fresh random stream.",
            EnvdSessionLost, stacklevel=3)



def _from_pickle(cls, kwargs: dict[str, Any]):
    return cls(**kwargs)
