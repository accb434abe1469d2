"""EnvdVectorEnv: N envd sessions behind the gymnasium 1.x ``VectorEnv`` API.

The N sessions live on one envd server or are spread over several
(``endpoints=[...]``: contiguous blocks of rows, as even as N allows, one
*shard* per server). Every ``step`` is one ``step_batch`` per server and
every ``reset`` one ``reset_batch`` per server, all sent before any reply
is awaited, so the cost per call is about one round trip to the slowest
server whatever N is. Autoreset happens inside envd, in the mode chosen at
construction (docs/protocol.md, "Autoreset modes"), with Gymnasium's
semantics whatever the number of servers (sub-env i is seeded s + i by
``reset(seed=s)`` wherever it lives):

* ``next_step`` (default): a sub-env whose episode ended on the previous
  step is reset by this one; its action is ignored, reward 0, flags false.
* ``same_step``: a sub-env whose episode ends is reset at once; its row
  holds the new first observation and ``infos["final_obs"]`` (an object
  array, None elsewhere) the terminal one, with ``_final_obs`` /
  ``final_info`` / ``_final_info`` as SyncVectorEnv fills them.
* ``disabled``: no autoreset; stepping a finished sub-env is refused, reset
  it with ``reset(options={"reset_mask": mask})``.

Beside that synchronous API, an EnvPool-style asynchronous one
(``batch_size=M``): :meth:`EnvdVectorEnv.async_reset`,
:meth:`EnvdVectorEnv.send` (actions for some sub-envs, by ``env_id``) and
:meth:`EnvdVectorEnv.recv`, which returns the first M sub-envs whose
results have arrived, so a slow server holds up only its own sessions.
Each send is one ``step_batch`` per server it touches, on a client of its
own (a server may have several requests in flight, each on its own
socket and ``client_id``, so resends stay safe: docs/protocol.md,
"Retries"). A sub-env is in at most one request at a time and its results
come back in the order it was stepped.

The hot path: the request (the shard's session ids, packed) is built
once; a step sets the actions tensor's bytes (integers for a Discrete
space, an [n, *shape] float32 or float64 block for a Box one, in the dtype
the caller gave) and the request id, serializes, and the reply's blocks
become numpy arrays with ``np.frombuffer``: no per-element Python work.
With ``copy=True`` (the default, as SyncVectorEnv) each returned array is
the caller's own writable copy; ``copy=False`` returns read-only views of
the reply (one server) or arrays assembled from the replies (several).
"""

from __future__ import annotations

import collections
import math
import numbers
import time
import warnings
from typing import Any, Sequence

import numpy as np
import zmq

from ._gym import AutoresetMode, VectorEnv
from ._proto import pb
from .actions import BOX_DTYPES, box_array, discrete_array
from .client import (
    CLOSE_TIMEOUT,
    DEFAULT_ENDPOINT,
    DEFAULT_TIMEOUT,
    Client,
    check_seed,
    fill_reset_batch,
)
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
# A sub-env in the async API: free to send, in a request, or its result
# arrived and waits for recv().
_IDLE, _IN_FLIGHT, _READY = 0, 1, 2


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


class _Shard:
    """One server's block of rows [lo, hi): its client, sessions and
    prebuilt step request, and the extra clients (``lanes``) the async API
    opens to have several requests in flight there."""

    def __init__(self, client: Client, owns_client: bool, lo: int, hi: int):
        self.client, self.owns_client, self.lo, self.hi = client, owns_client, lo, hi
        self.lanes = [client]
        self.sessions = np.zeros(0, np.uint64)

    @property
    def n(self) -> int:
        return self.hi - self.lo

    def free_lane(self) -> Client:
        for lane in self.lanes:
            if not lane.busy:
                return lane
        lane = self.client.sibling()
        self.lanes.append(lane)
        return lane


class _Chunk:
    """Results that arrived for some sub-envs and wait for recv(): rows
    ``pos:`` of these arrays are still to be handed out."""

    def __init__(self, ids, obs, rewards, terminated, truncated, final_mask, final_obs):
        self.ids, self.obs, self.rewards = ids, obs, rewards
        self.terminated, self.truncated = terminated, truncated
        self.final_mask, self.final_obs = final_mask, final_obs
        self.pos = 0

    def __len__(self) -> int:
        return len(self.ids) - self.pos


class EnvdVectorEnv(VectorEnv):
    """``num_envs`` envd sessions of one environment, stepped in one request
    per server.

    ``EnvdVectorEnv(env_id="CartPole-v1", num_envs=N, endpoint=...,
    timeout=5.0, autoreset_mode="next_step", copy=True, **make_options)``,
    or ``endpoints=[e1, e2, ...]`` instead of ``endpoint`` to spread the
    sessions over several servers (N >= their number). ``batch_size=M``
    (default N) is how many sub-envs :meth:`recv` returns. The sessions
    per server are bounded by its ``max_batch`` (``--max-batch``, default
    8192): beyond it ``make`` fails with ResourceExhausted.
    """

    def __init__(self, env_id: str = "CartPole-v1", num_envs: int = 1,
                 endpoint: str | None = None, timeout: float = DEFAULT_TIMEOUT,
                 autoreset_mode: Any = "next_step", *, endpoints: Sequence[str] | None = None,
                 batch_size: int | None = None, copy: bool = True,
                 render_mode: str | None = None, client: Client | None = None,
                 server_public_key: Any = None,
                 public_key: Any = None, secret_key: Any = None, **make_options: Any):
        self.closed = True  # until the sessions exist
        self._shards: list[_Shard] = []
        if render_mode is not None:
            raise InvalidArgument(f"envd environments do not render (render_mode={render_mode!r})")
        if not isinstance(num_envs, numbers.Integral) or num_envs < 1:
            raise InvalidArgument(f"num_envs must be an int >= 1, got {num_envs!r}")
        self.num_envs = int(num_envs)
        self.endpoints = _endpoints(endpoint, endpoints, client, self.num_envs)
        if batch_size is None:
            batch_size = self.num_envs
        if not isinstance(batch_size, numbers.Integral) or not 1 <= batch_size <= self.num_envs:
            raise InvalidArgument(f"batch_size must be an int from 1 to num_envs={self.num_envs}, "
                                  f"got {batch_size!r}")
        self.batch_size = int(batch_size)
        self.autoreset_mode = parse_autoreset_mode(autoreset_mode)
        self._wire_mode = _MODES[self.autoreset_mode]
        self.env_id = env_id
        self.copy = bool(copy)
        self.render_mode = None
        self._make_options = dict(make_options)
        keys = {"server_public_key": server_public_key, "public_key": public_key,
                "secret_key": secret_key}
        try:
            self._open(client, timeout, keys)
        except BaseException:
            self._close_shards(closing_sessions=True)
            raise
        self._box_shape = box_shape(self.single_action_space)
        # Which server (an index into endpoints) each sub-env lives on.
        self.server_of = np.repeat(np.arange(len(self._shards)), [s.n for s in self._shards])
        for shard in self._shards:
            self._adopt(shard, shard.sessions)
        self.closed = False
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._obs_shape = (self.num_envs,) + tuple(self.single_observation_space.shape)
        self._obs_dim = math.prod(self.single_observation_space.shape)
        self.metadata = {"render_modes": [], "autoreset_mode": self.autoreset_mode}
        spec_kwargs = {"env_id": env_id, "timeout": self.client.timeout}
        if len(self.endpoints) == 1:
            spec_kwargs["endpoint"] = self.client.endpoint
        else:
            spec_kwargs["endpoints"] = list(self.endpoints)
        self.spec = make_spec(self._spec, {**spec_kwargs, **self._make_options})
        self._obs = None  # the last observations, (N, obs...) float32
        self._done = np.zeros(self.num_envs, dtype=np.bool_)  # for the disabled mode
        self._state = np.zeros(self.num_envs, dtype=np.int8)  # async: _IDLE, _IN_FLIGHT, _READY
        self._lanes: dict[Client, tuple[_Shard, np.ndarray]] = {}  # async requests in flight
        self._ready: collections.deque[_Chunk] = collections.deque()

    def _open(self, client: Client | None, timeout: float, keys: dict[str, Any]) -> None:
        """Makes each server's block of sessions; every server must report
        the same spaces."""
        k = len(self.endpoints)
        base, extra = divmod(self.num_envs, k)
        lo = 0
        for i, ep in enumerate(self.endpoints):
            n = base + (i < extra)
            c, owns, rep, obs_space, act_space = open_sessions(
                client if i == 0 else None, ep, timeout, keys, self.env_id, n, self._make_options)
            shard = _Shard(c, owns, lo, lo + n)
            self._shards.append(shard)
            shard.sessions = _session_ids(rep, n)
            if i == 0:
                self.single_observation_space, self.single_action_space = obs_space, act_space
                self._spec = rep.spec
            elif not (_same_space(obs_space, self.single_observation_space)
                      and _same_space(act_space, self.single_action_space)):
                raise Internal(f"{ep} serves {self.env_id} with other spaces than "
                               f"{self.endpoints[0]}: {obs_space}, {act_space}")
            lo += n

    def _adopt(self, shard: _Shard, sessions: np.ndarray) -> None:
        """Takes a shard's sessions and prebuilds its step request."""
        shard.sessions = sessions
        req = pb.Request()
        sb = req.step_batch
        sb.sessions.extend(sessions.tolist())
        if self._box_shape is None:
            sb.actions.dtype = pb.INT64
            sb.actions.shape.append(shard.n)
        else:
            sb.actions.dtype = pb.FLOAT32
            sb.actions.shape.extend((shard.n,) + self._box_shape)
        sb.autoreset_mode = self._wire_mode
        shard.step_req = req
        self.sessions = np.concatenate([s.sessions for s in self._shards])

    @property
    def client(self) -> Client:
        """The (first) server's client."""
        return self._shards[0].client

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
        self._check_sync("reset")
        n = self.num_envs
        seeds = self._seeds(seed)
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
        wanted = [(s, np.arange(s.lo, s.hi) if rows is None else rows[(rows >= s.lo) & (rows < s.hi)])
                  for s in self._shards]
        wanted = [(s, r) for s, r in wanted if len(r)]
        for shard, r in wanted:
            shard.client.start(_reset_request(self.sessions[r], seeds, r, opts))
        results = self._gather([s for s, _ in wanted])
        lost = [i for i, res in enumerate(results) if isinstance(res, NotFound)]
        if lost and rows is None:  # make the lost servers' sessions anew, reset them again
            for i in lost:
                shard, r = wanted[i]
                self._recreate(shard, results[i])
                try:
                    results[i] = shard.client.call(_reset_request(self.sessions[r], seeds, r, opts))
                except EnvdError as exc:
                    results[i] = exc
        # A masked reset does not recreate: the other rows' episodes would
        # be lost with their sessions.
        _raise_first(results)
        obs = (np.zeros(self._obs_shape, np.float32) if self._obs is None or rows is None
               else self._obs.copy())
        for (shard, r), rep in zip(wanted, results):
            obs[r] = self._decode_obs(rep.reset_batch.observations.data, len(r))
        self._done[np.arange(n) if rows is None else rows] = False
        self._obs = obs
        return (obs.copy() if self.copy else obs), {}

    def _seeds(self, seed) -> list | None:
        n = self.num_envs
        if seed is None:
            return None
        if isinstance(seed, int):
            check_seed(seed)
            check_seed(seed + n - 1)
            return [seed + i for i in range(n)]
        seeds = list(seed)
        if len(seeds) != n:
            raise InvalidArgument(
                f"If seeds are passed as a list the length must match num_envs={n} but got length={len(seeds)}.")
        for s in seeds:
            if s is not None:
                check_seed(s)
        return seeds

    # ------------------------------------------------------------ step
    def step(self, actions: Any):
        a, code = self._actions(actions, self.num_envs)
        self._check_sync("step")
        if self._wire_mode == pb.DISABLED and self._done.any():
            raise FailedPrecondition(
                f"autoreset is disabled and sub-envs {np.flatnonzero(self._done).tolist()} have "
                "finished: reset them with reset(options={'reset_mask': mask}) before stepping")
        shards = self._shards
        if len(shards) > 1:
            # One server refusing its rows after another stepped its own
            # would leave the batch half applied: check what envd checks.
            self._check_values(a)
        for shard in shards:
            t = shard.step_req.step_batch.actions
            if t.dtype != code:
                t.dtype = code
            t.data = a[shard.lo:shard.hi].tobytes()
            shard.client.start(shard.step_req)
        results = self._gather(shards)
        _raise_first(results)
        if len(shards) == 1:
            obs, rewards, terminated, truncated, reset_rows, final = self._decode_step(
                results[0].step_batch, self.num_envs)
        else:
            obs, rewards, terminated, truncated, reset_rows, final = (
                np.concatenate(parts) if parts[0] is not None else None
                for parts in zip(*(self._decode_step(rep.step_batch, s.n)
                                   for s, rep in zip(shards, results))))
        infos: dict[str, Any] = {}
        if self._wire_mode == pb.SAME_STEP and reset_rows.any():
            infos = _final_infos(final, reset_rows)
        elif self._wire_mode == pb.DISABLED:
            np.logical_or(terminated, truncated, out=self._done)
        self._obs = obs
        if self.copy:
            return obs.copy(), rewards.copy(), terminated.copy(), truncated.copy(), infos
        return obs, rewards, terminated, truncated, infos

    def _actions(self, actions: Any, rows: int) -> tuple[np.ndarray, int]:
        if self._box_shape is None:
            return discrete_array(actions, rows)
        a = box_array(actions, (rows,) + self._box_shape, "actions")
        return a, BOX_DTYPES[a.dtype]

    def _check_values(self, a: np.ndarray) -> None:
        if self._box_shape is None:
            n = int(self.single_action_space.n)
            bad = np.flatnonzero((a < 0) | (a >= n))
            if len(bad):
                raise InvalidArgument(f"actions[{bad[0]}] = {a[bad[0]]} is outside [0, {n})")
        else:
            bad = np.flatnonzero(~np.isfinite(a).reshape(len(a), -1).all(axis=1))
            if len(bad):
                raise InvalidArgument(f"actions[{bad[0]}] = {a[bad[0]]}: a Box action must be finite")

    def _decode_step(self, rep, n: int):
        """A step_batch reply's blocks as arrays: observations, rewards,
        flags, the autoreset mask and (same-step) the final observations."""
        obs = self._decode_obs(rep.observations.data, n)
        rewards = np.frombuffer(rep.rewards, np.float64)
        terminated = np.frombuffer(rep.terminated, np.bool_)
        truncated = np.frombuffer(rep.truncated, np.bool_)
        if rewards.shape[0] != n or terminated.shape[0] != n or truncated.shape[0] != n:
            raise Internal(f"step_batch reply rows disagree with the {n} sessions sent")
        reset_rows = final = None
        if self._wire_mode == pb.SAME_STEP:
            reset_rows = np.frombuffer(rep.autoreset, np.bool_)
            if reset_rows.any():
                final = self._decode_obs(rep.final_observations.data, n)
            else:
                final = np.zeros((n,) + self._obs_shape[1:], np.float32)
        return obs, rewards, terminated, truncated, reset_rows, final

    # ------------------------------------------------------------ async API
    def async_reset(self, *, seed: int | Sequence[int | None] | None = None,
                    options: dict[str, Any] | None = None) -> None:
        """Sends a reset of every sub-env (one ``reset_batch`` per server)
        and returns at once; :meth:`recv` then hands out the initial
        observations (reward 0, flags false) as they arrive. ``seed`` as
        in :meth:`reset`. Results not yet received are dropped; nothing
        may be in flight."""
        if self.closed:
            raise FailedPrecondition("this EnvdVectorEnv is closed")
        if self._lanes:
            raise FailedPrecondition("async_reset with requests in flight: recv() them first")
        seeds = self._seeds(seed)
        opts = dict(options) if options else {}
        if "reset_mask" in opts:
            raise InvalidArgument("async_reset resets every sub-env: no reset_mask")
        if isinstance(seed, int):
            super().reset(seed=seed)
        self._ready.clear()
        for shard in self._shards:
            ids = np.arange(shard.lo, shard.hi)
            shard.client.start(_reset_request(shard.sessions, seeds, ids, opts))
            self._lanes[shard.client] = (shard, ids)
        self._state[:] = _IN_FLIGHT
        self._done[:] = False

    def send(self, actions: Any, env_id: Any) -> None:
        """Steps the sub-envs ``env_id`` (distinct ints in [0, N)) with
        ``actions`` (row i for ``env_id[i]``: shape (len(env_id),) for a
        Discrete space, (len(env_id), *shape) for a Box one) and returns at
        once: one ``step_batch`` per server they live on. A sub-env must be
        free: received by :meth:`recv` (or reset by :meth:`reset`) since it
        was last sent."""
        if self.closed:
            raise FailedPrecondition("this EnvdVectorEnv is closed")
        ids = np.asarray(env_id)
        if ids.ndim == 0:
            ids = ids.reshape(1)
        if ids.ndim != 1 or ids.dtype.kind not in "iu" or len(ids) == 0:
            raise InvalidArgument(f"env_id must be a non-empty 1-D array of ints, got {env_id!r}")
        ids = ids.astype(np.int64)
        if ids.min() < 0 or ids.max() >= self.num_envs:
            raise InvalidArgument(f"env_id must lie in [0, {self.num_envs}), got {ids.tolist()}")
        if len(np.unique(ids)) != len(ids):
            raise InvalidArgument(f"env_id holds a sub-env twice: {ids.tolist()}")
        a, code = self._actions(actions, len(ids))
        busy = ids[self._state[ids] != _IDLE]
        if len(busy):
            raise FailedPrecondition(
                f"sub-envs {busy.tolist()} are busy: sent and not yet returned by recv()")
        if self._wire_mode == pb.DISABLED and self._done[ids].any():
            raise FailedPrecondition(
                f"autoreset is disabled and sub-envs {ids[self._done[ids]].tolist()} have "
                "finished: reset them with reset(options={'reset_mask': mask})")
        for shard in self._shards:
            rows = np.flatnonzero((ids >= shard.lo) & (ids < shard.hi))
            if not len(rows):
                continue
            req = pb.Request()
            sb = req.step_batch
            sb.sessions.extend(self.sessions[ids[rows]].tolist())
            sb.actions.dtype = code
            sb.actions.shape.extend(a[rows].shape)
            sb.actions.data = a[rows].tobytes()
            sb.autoreset_mode = self._wire_mode
            lane = shard.free_lane()
            lane.start(req)
            self._lanes[lane] = (shard, ids[rows])
            self._state[ids[rows]] = _IN_FLIGHT

    def recv(self):
        """The first ``batch_size`` sub-envs whose results have arrived, as
        ``(obs, rewards, terminated, truncated, info)`` with
        ``info["env_id"]`` (int64, which sub-env each row is), waiting as
        long as needed (each request bounded by the timeout). Rows come in
        the order their replies arrived; a sub-env's results in the order
        it was stepped. An error reply (a bad action envd refused, a lost
        session) is raised here: that request's sub-envs did not move and
        are free again."""
        if self.closed:
            raise FailedPrecondition("this EnvdVectorEnv is closed")
        m = self.batch_size
        while sum(len(c) for c in self._ready) < m:
            if not self._lanes:
                have = sum(len(c) for c in self._ready)
                raise FailedPrecondition(
                    f"recv() with nothing in flight: {have} sub-env(s) ready, batch_size={m}; "
                    "send() (or async_reset()) first")
            self._wait_async()
        return self._take(m)

    def _wait_async(self) -> None:
        """Waits until at least one async request has its reply, and
        queues every reply that has arrived."""
        lanes = list(self._lanes)
        poller = zmq.Poller()
        for lane in lanes:
            poller.register(lane.socket, zmq.POLLIN)
        due = min(lane.slice_end() for lane in lanes)
        poller.poll(max(0, math.ceil((due - time.monotonic()) * 1000)))
        now = time.monotonic()
        for lane in lanes:
            try:
                rep = lane.poll(until=now)
            except EnvdError:
                _, ids = self._lanes.pop(lane)
                self._state[ids] = _IDLE
                raise
            if rep is None:
                continue
            shard, ids = self._lanes.pop(lane)
            op = rep.WhichOneof("op")
            if op == "reset_batch":
                obs = self._decode_obs(rep.reset_batch.observations.data, len(ids))
                z = np.zeros(len(ids), np.bool_)
                chunk = _Chunk(ids, obs, np.zeros(len(ids)), z, z, None, None)
            else:
                obs, rew, term, trunc, reset_rows, final = self._decode_step(rep.step_batch, len(ids))
                chunk = _Chunk(ids, obs, rew, term, trunc, reset_rows, final)
            self._ready.append(chunk)
            self._state[ids] = _READY

    def _take(self, m: int):
        parts = []
        while m:
            chunk = self._ready[0]
            k = min(m, len(chunk))
            parts.append((chunk, slice(chunk.pos, chunk.pos + k)))
            chunk.pos += k
            m -= k
            if not len(chunk):
                self._ready.popleft()
        ids = np.concatenate([c.ids[s] for c, s in parts])
        obs = np.concatenate([c.obs[s] for c, s in parts])
        rewards = np.concatenate([c.rewards[s] for c, s in parts])
        terminated = np.concatenate([c.terminated[s] for c, s in parts])
        truncated = np.concatenate([c.truncated[s] for c, s in parts])
        self._state[ids] = _IDLE
        if self._obs is None:
            self._obs = np.zeros(self._obs_shape, np.float32)
        self._obs[ids] = obs
        info: dict[str, Any] = {"env_id": ids}
        if self._wire_mode == pb.SAME_STEP:
            mask = np.concatenate([c.final_mask[s] if c.final_mask is not None
                                   else np.zeros(s.stop - s.start, np.bool_) for c, s in parts])
            if mask.any():
                final = np.concatenate([c.final_obs[s] if c.final_obs is not None
                                        else np.zeros((s.stop - s.start,) + self._obs_shape[1:],
                                                      np.float32) for c, s in parts])
                info.update(_final_infos(final, mask))
        elif self._wire_mode == pb.DISABLED:
            self._done[ids] = terminated | truncated
        return obs, rewards, terminated, truncated, info

    def _check_sync(self, what: str) -> None:
        if self.closed:
            raise FailedPrecondition("this EnvdVectorEnv is closed")
        if self._lanes or self._ready:
            raise FailedPrecondition(
                f"{what}() while async results are pending: recv() every sent sub-env first")

    # ------------------------------------------------------------ closing
    def close_extras(self, **kwargs: Any) -> None:
        self._close_shards(closing_sessions=True)

    def _close_shards(self, closing_sessions: bool) -> None:
        for shard in self._shards:
            try:
                if closing_sessions and len(shard.sessions):
                    shard.client.close_sessions(shard.sessions.tolist(),
                                                timeout=min(shard.client.timeout, CLOSE_TIMEOUT))
            except EnvdError:
                pass  # server gone, or the sessions were already reclaimed
            finally:
                for lane in shard.lanes:
                    if lane is not shard.client or shard.owns_client:
                        lane.close()
        self._lanes = {}

    def close(self, **kwargs: Any) -> None:
        """Closes the sessions (best effort) and the clients this env made.
        Safe to call twice."""
        if self.closed:
            return
        self.close_extras(**kwargs)
        self.closed = True

    def __del__(self):
        if getattr(self, "closed", True):
            return
        self.closed = True
        try:
            for shard in self._shards:
                req = pb.Request()
                req.close.sessions.extend(shard.sessions.tolist())
                shard.client.send_nowait(req)
                for lane in shard.lanes:
                    if lane is not shard.client:
                        lane.close()
                if shard.owns_client:
                    shard.client.close(linger_ms=100)
        except Exception:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *args: Any) -> bool:
        self.close()
        return False

    def __repr__(self) -> str:
        where = "" if len(self.endpoints) == 1 else f", servers={len(self.endpoints)}"
        return (f"EnvdVectorEnv({self.env_id}, num_envs={self.num_envs}{where}, "
                f"autoreset_mode={self.autoreset_mode.value})")

    # ------------------------------------------------------------ helpers
    def _gather(self, shards: list[_Shard]) -> list:
        """Waits for the reply of every shard's started request: a list of
        Responses, or of the EnvdError each raised, in ``shards``' order.
        Every reply is awaited even after an error, so every client is free
        again when this returns."""
        results: dict[int, Any] = {}
        waiting = list(range(len(shards)))
        while waiting:
            if len(waiting) == 1:  # one server: its client waits by itself
                i = waiting.pop()
                try:
                    results[i] = shards[i].client.poll()
                except EnvdError as exc:
                    results[i] = exc
                break
            poller = zmq.Poller()
            for i in waiting:
                poller.register(shards[i].client.socket, zmq.POLLIN)
            due = min(shards[i].client.slice_end() for i in waiting)
            poller.poll(max(0, math.ceil((due - time.monotonic()) * 1000)))
            now = time.monotonic()
            for i in list(waiting):
                try:
                    rep = shards[i].client.poll(until=now)
                except EnvdError as exc:
                    rep = exc
                if rep is not None:
                    results[i] = rep
                    waiting.remove(i)
        return [results[i] for i in range(len(shards))]

    def _decode_obs(self, data: bytes, rows: int) -> np.ndarray:
        if len(data) != 4 * self._obs_dim * rows:
            raise Internal(f"observations of {len(data)} bytes for {rows} rows of {self._obs_dim} float32")
        return np.frombuffer(data, np.float32).reshape((rows,) + self._obs_shape[1:])

    def _recreate(self, shard: _Shard, exc: NotFound) -> None:
        try:
            shard.client.close_sessions(shard.sessions.tolist(),
                                        timeout=min(shard.client.timeout, CLOSE_TIMEOUT))
        except EnvdError:
            pass
        rep = shard.client.make(self.env_id, shard.n, self._make_options)
        self._adopt(shard, _session_ids(rep, shard.n))
        self._obs = None
        warnings.warn(
            f"envd at {shard.client.endpoint} no longer knew this vector env's sessions "
            f"({exc.message}); reset() made {shard.n} new ones. Unseeded resets now start "
            "fresh random streams.", EnvdSessionLost, stacklevel=3)


def _endpoints(endpoint, endpoints, client, num_envs: int) -> list[str]:
    if endpoints is None:  # a shared client= speaks to its own endpoint
        if client is not None:
            return [client.endpoint]
        return [endpoint if endpoint is not None else DEFAULT_ENDPOINT]
    if endpoint is not None:
        raise InvalidArgument("give endpoint or endpoints, not both")
    if isinstance(endpoints, str) or not all(isinstance(e, str) for e in endpoints):
        raise InvalidArgument(f"endpoints must be a list of endpoint strings, got {endpoints!r}")
    endpoints = list(endpoints)
    if not endpoints:
        raise InvalidArgument("endpoints is empty")
    if client is not None:
        raise InvalidArgument("client= serves one endpoint; with endpoints=[...] each server "
                              "gets a client of its own")
    if num_envs < len(endpoints):
        raise InvalidArgument(f"num_envs={num_envs} cannot spread over {len(endpoints)} servers "
                              "(at least one session each)")
    return endpoints


def _session_ids(make_reply, n: int) -> np.ndarray:
    ids = list(make_reply.sessions)
    if len(ids) != n:
        raise Internal(f"make returned {len(ids)} sessions, asked for {n}")
    return np.array(ids, dtype=np.uint64)


def _same_space(a, b) -> bool:
    if a != b or a.dtype != b.dtype:
        return False
    if hasattr(a, "low"):
        return (np.array_equal(a.low.view(np.uint8), b.low.view(np.uint8))
                and np.array_equal(a.high.view(np.uint8), b.high.view(np.uint8)))
    return True


def _reset_request(sessions: np.ndarray, seeds: list | None, rows: np.ndarray, opts: dict):
    """A reset_batch of ``sessions`` (global rows ``rows``, whose seeds
    they take)."""
    req = pb.Request()
    sub_seeds = None if seeds is None else [seeds[i] for i in rows]
    fill_reset_batch(req.reset_batch, sessions.tolist(), sub_seeds, opts)
    return req


def _raise_first(results: list) -> None:
    for res in results:
        if isinstance(res, BaseException):
            raise res


def _final_infos(final: np.ndarray, reset_rows: np.ndarray) -> dict[str, Any]:
    """SyncVectorEnv's same-step infos: final_obs is an object array
    holding each finished row's terminal observation (None elsewhere)."""
    n = len(reset_rows)
    final_obs = np.full(n, None, dtype=object)
    for i in np.flatnonzero(reset_rows):  # only the rows that finished
        final_obs[i] = final[i].copy()
    return {"final_obs": final_obs, "_final_obs": reset_rows.copy(),
            "final_info": {}, "_final_info": reset_rows.copy()}
