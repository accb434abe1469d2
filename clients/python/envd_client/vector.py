"""EnvdVectorEnv: N envd sessions behind the gymnasium 1.x ``VectorEnv`` API.

One ``make`` creates the N sessions; every ``step`` is one ``step_batch``
request and every ``reset`` one ``reset_batch``, so the cost per call is
one round trip whatever N is. Autoreset happens inside envd, in the mode
chosen at construction (docs/protocol.md, "Autoreset modes"), with
Gymnasium's semantics:

* ``next_step`` (default): a sub-env whose episode ended on the previous
  step is reset by this one; its action is ignored, reward 0, flags false.
* ``same_step``: a sub-env whose episode ends is reset at once; its row
  holds the new first observation and ``infos["final_obs"]`` (an object
  array, None elsewhere) the terminal one, with ``_final_obs`` /
  ``final_info`` / ``_final_info`` as SyncVectorEnv fills them.
* ``disabled``: no autoreset; stepping a finished sub-env is refused, reset
  it with ``reset(options={"reset_mask": mask})``.

The hot path: the request (N session ids, packed) is built once; a step
sets the actions tensor's bytes (N integers for a Discrete space, an
[N, *shape] float32 or float64 block for a Box one, in the dtype the caller
gave) and the request id, serializes, and the
reply's blocks become numpy arrays with ``np.frombuffer`` — no per-element
Python work. With ``copy=True`` (the default, as SyncVectorEnv) each
returned array is the caller's own writable copy; ``copy=False`` returns
read-only views of the reply.
"""

from __future__ import annotations

import math
import numbers
import warnings
from typing import Any, Sequence

import numpy as np

from ._gym import AutoresetMode, VectorEnv
from ._proto import pb
from .client import (
    CLOSE_TIMEOUT,
    DEFAULT_ENDPOINT,
    DEFAULT_TIMEOUT,
    Client,
    check_seed,
    fill_reset_batch,
)
from .actions import BOX_DTYPES, box_array, discrete_array
from .env import EnvdSessionLost, box_shape, make_spec, open_sessions
from .errors import EnvdError, FailedPrecondition, Internal, InvalidArgument, NotFound
from .spaces import batch_space

__all__ = ["EnvdVectorEnv", "AutoresetMode"]

_MODES = {
    AutoresetMode.NEXT_STEP: pb.NEXT_STEP,
    AutoresetMode.SAME_STEP: pb.SAME_STEP,
    AutoresetMode.DISABLED: pb.DISABLED,
}
_MODE_NAMES = {
    "next_step": AutoresetMode.NEXT_STEP, "nextstep": AutoresetMode.NEXT_STEP,
    "same_step": AutoresetMode.SAME_STEP, "samestep": AutoresetMode.SAME_STEP,
    "disabled": AutoresetMode.DISABLED,
}


def parse_autoreset_mode(mode: Any):
    """An AutoresetMode from the enum itself (ours or gymnasium's), its
    value ("NextStep") or a snake_case name ("next_step")."""
    if isinstance(mode, AutoresetMode):
        return mode
    value = getattr(mode, "value", mode)  # another AutoresetMode enum with the same values
    if isinstance(value, str):
        found = _MODE_NAMES.get(value.lower())
        if found is not None:
            return found
    raise InvalidArgument(
        f"autoreset_mode must be 'next_step', 'same_step' or 'disabled' (or an AutoresetMode), got {mode!r}")


class EnvdVectorEnv(VectorEnv):
    """``num_envs`` envd sessions of one environment, stepped in one request.

    ``EnvdVectorEnv(env_id="CartPole-v1", num_envs=N, endpoint=...,
    timeout=5.0, autoreset_mode="next_step", copy=True, **make_options)``.
    ``num_envs`` is bounded by envd's ``max_batch`` (``--max-batch``,
    default 8192): beyond it ``make`` fails with ResourceExhausted.
    """

    def __init__(self, env_id: str = "CartPole-v1", num_envs: int = 1,
                 endpoint: str = DEFAULT_ENDPOINT, timeout: float = DEFAULT_TIMEOUT,
                 autoreset_mode: Any = "next_step", *, copy: bool = True,
                 render_mode: str | None = None, client: Client | None = None,
                 server_public_key: Any = None,
                 public_key: Any = None, secret_key: Any = None, **make_options: Any):
        self.closed = True  # until the sessions exist
        if render_mode is not None:
            raise InvalidArgument(f"envd environments do not render (render_mode={render_mode!r})")
        if not isinstance(num_envs, numbers.Integral) or num_envs < 1:
            raise InvalidArgument(f"num_envs must be an int >= 1, got {num_envs!r}")
        self.autoreset_mode = parse_autoreset_mode(autoreset_mode)
        self._wire_mode = _MODES[self.autoreset_mode]
        self.env_id = env_id
        self.num_envs = int(num_envs)
        self.copy = bool(copy)
        self.render_mode = None
        self._make_options = dict(make_options)
        keys = {"server_public_key": server_public_key, "public_key": public_key,
                "secret_key": secret_key}
        (self.client, self._owns_client, rep, self.single_observation_space,
         self.single_action_space) = open_sessions(client, endpoint, timeout, keys, env_id,
                                                   self.num_envs, self._make_options)
        self._box_shape = box_shape(self.single_action_space)
        self._adopt(rep)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._obs_shape = (self.num_envs,) + tuple(self.single_observation_space.shape)
        self._obs_dim = math.prod(self.single_observation_space.shape)
        self.metadata = {"render_modes": [], "autoreset_mode": self.autoreset_mode}
        self.spec = make_spec(rep.spec, {"env_id": env_id, "endpoint": self.client.endpoint,
                                         "timeout": self.client.timeout, **self._make_options})
        self._obs = None  # the last observations, (N, obs...) float32
        self._done = np.zeros(self.num_envs, dtype=np.bool_)  # for the disabled mode

    def _adopt(self, make_reply) -> None:
        ids = list(make_reply.sessions)
        if len(ids) != self.num_envs:
            raise Internal(f"make returned {len(ids)} sessions, asked for {self.num_envs}")
        self.sessions = np.array(ids, dtype=np.uint64)
        req = pb.Request()
        sb = req.step_batch
        sb.sessions.extend(ids)
        if self._box_shape is None:
            sb.actions.dtype = pb.INT64
            sb.actions.shape.append(self.num_envs)
        else:
            self._batch_shape = (self.num_envs,) + self._box_shape
            sb.actions.dtype = pb.FLOAT32
            sb.actions.shape.extend(self._batch_shape)
        sb.autoreset_mode = self._wire_mode
        self._step_req = req
        self._step_tensor = sb.actions
        self._step_dtype = sb.actions.dtype
        self.closed = False

    @property
    def endpoint(self) -> str:
        return self.client.endpoint

    # ------------------------------------------------------------ reset
    def reset(self, *, seed: int | Sequence[int | None] | None = None,
              options: dict[str, Any] | None = None):
        """Resets the sub-envs. ``seed``: None (every stream continues), an
        int s (sub-env i gets s + i) or a list with one int or None per
        sub-env. ``options["reset_mask"]`` (bool array of shape (N,)) resets
        only those rows; the returned observations hold every row."""
        if self.closed:
            raise FailedPrecondition("this EnvdVectorEnv is closed")
        n = self.num_envs
        if seed is None:
            seeds = None
        elif isinstance(seed, int):
            check_seed(seed)
            check_seed(seed + n - 1)
            seeds = [seed + i for i in range(n)]
        else:
            seeds = list(seed)
            if len(seeds) != n:
                raise InvalidArgument(
                    f"If seeds are passed as a list the length must match num_envs={n} but got length={len(seeds)}.")
            for s in seeds:
                if s is not None:
                    check_seed(s)
        opts = dict(options) if options else {}
        mask = opts.pop("reset_mask", None)
        rows = None
        if mask is not None:
            if not isinstance(mask, np.ndarray) or mask.shape != (n,) or mask.dtype != np.bool_:
                raise InvalidArgument(
                    f"options['reset_mask'] must be a numpy bool array of shape ({n},), got {mask!r}")
            if not mask.any():
                raise InvalidArgument("options['reset_mask'] selects no sub-environment")
            rows = np.flatnonzero(mask)
        if isinstance(seed, int):
            super().reset(seed=seed)  # the vector env's own np_random, as Gymnasium

        def request():
            req = pb.Request()
            sessions = self.sessions if rows is None else self.sessions[rows]
            sub_seeds = seeds if seeds is None or rows is None else [seeds[i] for i in rows]
            fill_reset_batch(req.reset_batch, sessions.tolist(), sub_seeds, opts)
            return req

        try:
            rep = self.client.call(request())
        except NotFound as exc:
            if rows is not None:
                raise  # the other rows' episodes would be lost with their sessions
            self._recreate(exc)
            rep = self.client.call(request())
        new = self._decode_obs(rep.reset_batch.observations.data, n if rows is None else len(rows))
        if rows is None:
            obs = new
            self._done[:] = False
        else:
            obs = (np.zeros(self._obs_shape, np.float32) if self._obs is None else self._obs.copy())
            obs[rows] = new
            self._done[rows] = False
        self._obs = obs
        return (obs.copy() if self.copy else obs), {}

    # ------------------------------------------------------------ step
    def step(self, actions: Any):
        if self._box_shape is None:
            a, code = discrete_array(actions, self.num_envs)
        else:
            a = box_array(actions, self._batch_shape, "actions")
            code = BOX_DTYPES[a.dtype]
        if self.closed:
            raise FailedPrecondition("this EnvdVectorEnv is closed")
        if self._wire_mode == pb.DISABLED and self._done.any():
            raise FailedPrecondition(
                f"autoreset is disabled and sub-envs {np.flatnonzero(self._done).tolist()} have "
                "finished: reset them with reset(options={'reset_mask': mask}) before stepping")
        t = self._step_tensor
        if code != self._step_dtype:
            t.dtype = self._step_dtype = code
        t.data = a.tobytes()
        rep = self.client.call(self._step_req).step_batch

        n = self.num_envs
        obs = self._decode_obs(rep.observations.data, n)
        rewards = np.frombuffer(rep.rewards, np.float64)
        terminated = np.frombuffer(rep.terminated, np.bool_)
        truncated = np.frombuffer(rep.truncated, np.bool_)
        if rewards.shape[0] != n or terminated.shape[0] != n or truncated.shape[0] != n:
            raise Internal(f"step_batch reply rows disagree with num_envs={n}")
        infos: dict[str, Any] = {}
        if self._wire_mode == pb.SAME_STEP:
            reset_rows = np.frombuffer(rep.autoreset, np.bool_)
            if reset_rows.any():
                infos = self._final_infos(rep, reset_rows)
        elif self._wire_mode == pb.DISABLED:
            np.logical_or(terminated, truncated, out=self._done)
        self._obs = obs
        if self.copy:
            return obs.copy(), rewards.copy(), terminated.copy(), truncated.copy(), infos
        return obs, rewards, terminated, truncated, infos

    def _final_infos(self, rep, reset_rows: np.ndarray) -> dict[str, Any]:
        """SyncVectorEnv's same-step infos: final_obs is an object array
        holding each finished row's terminal observation (None elsewhere)."""
        final = self._decode_obs(rep.final_observations.data, self.num_envs).copy()
        final_obs = np.full(self.num_envs, None, dtype=object)
        for i in np.flatnonzero(reset_rows):  # only the rows that finished
            final_obs[i] = final[i]
        return {"final_obs": final_obs, "_final_obs": reset_rows.copy(),
                "final_info": {}, "_final_info": reset_rows.copy()}

    # ------------------------------------------------------------ closing
    def close_extras(self, **kwargs: Any) -> None:
        try:
            self.client.close_sessions(self.sessions.tolist(),
                                       timeout=min(self.client.timeout, CLOSE_TIMEOUT))
        except EnvdError:
            pass  # server gone, or the sessions were already reclaimed
        finally:
            if self._owns_client:
                self.client.close()

    def close(self, **kwargs: Any) -> None:
        """Closes the sessions (best effort) and the client if this env
        made it. Safe to call twice."""
        if self.closed:
            return
        self.close_extras(**kwargs)
        self.closed = True

    def __del__(self):
        if getattr(self, "closed", True):
            return
        self.closed = True
        try:
            req = pb.Request()
            req.close.sessions.extend(self.sessions.tolist())
            self.client.send_nowait(req)
            if self._owns_client:
                self.client.close(linger_ms=100)
        except Exception:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *args: Any) -> bool:
        self.close()
        return False

    def __repr__(self) -> str:
        return f"EnvdVectorEnv({self.env_id}, num_envs={self.num_envs}, autoreset_mode={self.autoreset_mode.value})"

    # ------------------------------------------------------------ helpers
    def _decode_obs(self, data: bytes, rows: int) -> np.ndarray:
        if len(data) != 4 * self._obs_dim * rows:
            raise Internal(f"observations of {len(data)} bytes for {rows} rows of {self._obs_dim} float32")
        return np.frombuffer(data, np.float32).reshape((rows,) + self._obs_shape[1:])

    def _recreate(self, exc: NotFound) -> None:
        old = self.sessions
        try:
            self.client.close_sessions(old.tolist(), timeout=min(self.client.timeout, CLOSE_TIMEOUT))
        except EnvdError:
            pass
        self._adopt(self.client.make(self.env_id, self.num_envs, self._make_options))
        self._obs = None
        warnings.warn(
            f"envd no longer knew this vector env's sessions ({exc.message}); reset() made "
            f"{self.num_envs} new ones. Unseeded resets now start fresh random streams.",
            EnvdSessionLost, stacklevel=3)
