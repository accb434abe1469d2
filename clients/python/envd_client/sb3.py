"""EnvdSB3VecEnv: envd sessions behind Stable-Baselines3's ``VecEnv`` API.

Stable-Baselines3 does not drive a Gymnasium ``VectorEnv``: its algorithms
take a ``stable_baselines3.common.vec_env.VecEnv``, whose contract (SB3's
"VecEnv API vs Gym API", and its DummyVecEnv) differs:

* ``reset()`` returns the observations only. Seeds given by ``seed(s)``
  (sub-env i gets s + i) and options given by ``set_options(...)`` are used
  by the next ``reset()`` and then dropped; ``reset_infos`` holds the
  reset infos (``{}`` each).
* ``step(actions)`` is ``step_async(actions)`` then ``step_wait()`` and
  returns ``(obs, rewards, dones, infos)``: float32 rewards, ``dones =
  terminated | truncated`` and ``infos`` a list of one dict per sub-env,
  each with ``"TimeLimit.truncated" = truncated and not terminated``. A
  sub-env whose episode ended is reset within the same step: its row holds
  the first observation of the next episode and its info the last one of
  the episode that ended, as ``"terminal_observation"``.
* ``get_attr``, ``set_attr``, ``env_method``, ``has_attr`` and
  ``env_is_wrapped`` reach the sub-envs; ``render_mode`` is None (envd
  renders nothing), ``metadata`` is ``{"render_modes": []}``.

That is envd's same-step autoreset (docs/protocol.md), so one step is one
``step_batch`` request through an :class:`~envd_client.vector.EnvdVectorEnv`
in ``same_step`` mode, whatever the number of envs. The sub-envs are not
Python objects of their own: ``get_attr`` and friends see each one through
an :class:`EnvdSubEnv` (its session id, env id, spaces, spec), on which
``set_attr`` values are kept.

This module imports without SB3. Where ``stable_baselines3`` imports, the
class subclasses its ``VecEnv`` (so ``PPO("MlpPolicy", EnvdSB3VecEnv(...))``
and SB3's VecEnv wrappers take it); SB3 then needs Gymnasium's spaces, so
gymnasium >= 1.0 must be installed too. Wrap it in SB3's ``VecMonitor`` to
get episode returns in SB3's logs, as SB3 does not add a Monitor to a
VecEnv it is given.
"""

from __future__ import annotations

import warnings
from typing import Any, Iterable, Sequence

import numpy as np

from ._gym import HAVE_GYMNASIUM
from .client import DEFAULT_ENDPOINT, DEFAULT_TIMEOUT, Client
from .env import EnvdEnv
from .errors import FailedPrecondition, InvalidArgument
from .vector import EnvdVectorEnv

try:
    from stable_baselines3.common.vec_env import VecEnv as _SB3VecEnv
except ImportError:
    _SB3VecEnv = None

HAVE_SB3 = _SB3VecEnv is not None

__all__ = ["EnvdSB3VecEnv", "EnvdSubEnv", "HAVE_SB3"]


class _VecEnvStandIn:
    """What SB3's VecEnv base class gives its subclasses, for when SB3 is
    not installed: the same names, with SB3's semantics."""

    @property
    def unwrapped(self):
        return self

    def getattr_depth_check(self, name: str, already_found: bool) -> str | None:
        if hasattr(self, name) and already_found:
            return f"{type(self).__module__}.{type(self).__name__}"
        return None

    def _get_indices(self, indices: Any) -> Iterable[int]:
        if indices is None:
            return range(self.num_envs)
        if isinstance(indices, int):
            return [indices]
        return indices


class EnvdSubEnv:
    """Sub-env ``index`` of an :class:`EnvdSB3VecEnv`, as ``get_attr``,
    ``set_attr`` and ``env_method`` see it: one envd session of the batch.
    Attributes set through ``set_attr`` are kept on it."""

    render_mode = None
    metadata = EnvdEnv.metadata

    def __init__(self, venv: EnvdVectorEnv, index: int):
        self._venv = venv
        self.index = index

    @property
    def session(self) -> int:
        return int(self._venv.sessions[self.index])

    @property
    def env_id(self) -> str:
        return self._venv.env_id

    @property
    def endpoint(self) -> str:
        return self._venv.endpoint

    @property
    def spec(self):
        return self._venv.spec

    @property
    def observation_space(self):
        return self._venv.single_observation_space

    @property
    def action_space(self):
        return self._venv.single_action_space

    @property
    def unwrapped(self):
        return self

    def get_wrapper_attr(self, name: str) -> Any:
        return getattr(self, name)

    def has_wrapper_attr(self, name: str) -> bool:
        return hasattr(self, name)

    def set_wrapper_attr(self, name: str, value: Any, *, force: bool = True) -> bool:
        if force or hasattr(self, name):
            setattr(self, name, value)
            return True
        return False

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Resets this sub-env alone (a masked reset_batch); ``(obs, {})``."""
        n = self._venv.num_envs
        mask = np.zeros(n, dtype=np.bool_)
        mask[self.index] = True
        seeds = None if seed is None else [seed if i == self.index else None for i in range(n)]
        obs, _ = self._venv.reset(seed=seeds, options={**(options or {}), "reset_mask": mask})
        return obs[self.index], {}

    def render(self):
        raise NotImplementedError("envd environments do not render")

    def __repr__(self) -> str:
        return f"<EnvdSubEnv {self.env_id} #{self.index} session={self.session:016x}>"


_Base = _SB3VecEnv if HAVE_SB3 else _VecEnvStandIn


class EnvdSB3VecEnv(_Base):
    """``num_envs`` envd sessions of one environment as an SB3 VecEnv.

    ``EnvdSB3VecEnv(env_id="CartPole-v1", num_envs=N,
    endpoint="tcp://127.0.0.1:5555", timeout=5.0, **make_options)``, with
    the same ``client=`` and CURVE key arguments as EnvdVectorEnv;
    ``make_options`` go to envd's make (e.g. ``max_episode_steps=1000``).
    ``observation_space`` and ``action_space`` are one sub-env's, as SB3
    expects. ``venv`` is the underlying EnvdVectorEnv.
    """

    def __init__(self, env_id: str = "CartPole-v1", num_envs: int = 1,
                 endpoint: str = DEFAULT_ENDPOINT, timeout: float = DEFAULT_TIMEOUT, *,
                 client: Client | None = None, server_public_key: Any = None,
                 public_key: Any = None, secret_key: Any = None, **make_options: Any):
        self.closed = True
        if HAVE_SB3 and not HAVE_GYMNASIUM:
            raise FailedPrecondition(
                "stable_baselines3 is installed but gymnasium >= 1.0 is not importable here: "
                "SB3 checks spaces against gymnasium's classes, which envd_client uses only "
                "from gymnasium 1.0 on (or ENVD_CLIENT_NO_GYMNASIUM is set)")
        self.venv = EnvdVectorEnv(env_id, num_envs, endpoint, timeout, "same_step", copy=True,
                                  client=client, server_public_key=server_public_key,
                                  public_key=public_key, secret_key=secret_key, **make_options)
        n = self.venv.num_envs
        self._subenvs = [EnvdSubEnv(self.venv, i) for i in range(n)]
        self._actions: np.ndarray | None = None
        self.closed = False
        try:
            if HAVE_SB3:
                # Sets num_envs, the spaces, reset_infos, _seeds, _options
                # (SB3 >= 2.1), render_mode (from get_attr) and metadata.
                _SB3VecEnv.__init__(self, n, self.venv.single_observation_space,
                                    self.venv.single_action_space)
            else:
                self.num_envs = n
                self.observation_space = self.venv.single_observation_space
                self.action_space = self.venv.single_action_space
                self.reset_infos: list[dict[str, Any]] = [{} for _ in range(n)]
                self.render_mode = None
            self.metadata = {"render_modes": []}
            self._seeds: list[int | None] = [None] * n
            self._options: list[dict[str, Any]] = [{} for _ in range(n)]
        except BaseException:
            self.close()
            raise

    @property
    def env_id(self) -> str:
        return self.venv.env_id

    @property
    def spec(self):
        """The EnvSpec (``envd/<env id>``); SB3's VecMonitor reads its id."""
        return self.venv.spec

    # ------------------------------------------------------------ reset
    def seed(self, seed: int | None = None) -> Sequence[int | None]:
        """Seeds for the next reset only: sub-env i gets ``seed + i`` (a
        random base when None, as SB3). Returns the seeds."""
        if seed is None:
            seed = int(np.random.randint(0, 2**32 - 1))
        self._seeds = [int(seed) + i for i in range(self.num_envs)]
        return self._seeds

    def set_options(self, options: dict[str, Any] | list[dict[str, Any]] | None = None) -> None:
        """Reset options for the next reset only: one dict for every sub-env
        or a list with one per sub-env (envd's reset options, e.g.
        ``{"low": -0.01, "high": 0.01}``)."""
        if options is None:
            options = {}
        if isinstance(options, dict):
            self._options = [dict(options) for _ in range(self.num_envs)]
        else:
            options = list(options)
            if len(options) != self.num_envs:
                raise InvalidArgument(f"{len(options)} option dicts for {self.num_envs} envs")
            self._options = [dict(o or {}) for o in options]

    def reset(self) -> np.ndarray:
        """Resets every sub-env with the seeds and options set since the last
        reset (then drops them); returns the (N, obs...) observations."""
        self._actions = None  # SB3: a reset cancels a pending step_async
        seeds = self._seeds if any(s is not None for s in self._seeds) else None
        groups: list[tuple[dict[str, Any], list[int]]] = []  # sub-envs that share options
        for i, opts in enumerate(self._options):
            for known, rows in groups:
                if known == opts:
                    rows.append(i)
                    break
            else:
                groups.append((opts, [i]))
        if len(groups) == 1:
            obs, _ = self.venv.reset(seed=seeds, options=groups[0][0] or None)
        else:
            # envd takes one set of options per reset_batch: one masked reset per set.
            for opts, rows in groups:
                mask = np.zeros(self.num_envs, dtype=np.bool_)
                mask[rows] = True
                obs, _ = self.venv.reset(seed=seeds, options={**opts, "reset_mask": mask})
        self.reset_infos = [{} for _ in range(self.num_envs)]
        self._seeds = [None] * self.num_envs
        self._options = [{} for _ in range(self.num_envs)]
        return obs

    # ------------------------------------------------------------ step
    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions)

    def step_wait(self):
        """``(obs, rewards, dones, infos)`` for the actions of step_async."""
        if self._actions is None:
            raise FailedPrecondition("step_wait() needs a step_async(actions) first")
        actions, self._actions = self._actions, None
        obs, rewards, terminated, truncated, vinfos = self.venv.step(actions)
        dones = terminated | truncated
        infos: list[dict[str, Any]] = [{"TimeLimit.truncated": bool(truncated[i] and not terminated[i])}
                                       for i in range(self.num_envs)]
        if "final_obs" in vinfos:
            final = vinfos["final_obs"]
            for i in np.flatnonzero(vinfos["_final_obs"]):
                infos[i]["terminal_observation"] = final[i]
                self.reset_infos[i] = {}
        return obs, rewards.astype(np.float32), dones, infos

    def step(self, actions: np.ndarray):
        self.step_async(actions)
        return self.step_wait()

    # ------------------------------------------------------------ sub-envs
    def _targets(self, indices: Any) -> list[EnvdSubEnv]:
        return [self._subenvs[i] for i in self._get_indices(indices)]

    def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
        return [getattr(e, attr_name) for e in self._targets(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
        for e in self._targets(indices):
            setattr(e, attr_name, value)

    def has_attr(self, attr_name: str) -> bool:
        try:
            self.get_attr(attr_name, indices=0)
            return True
        except AttributeError:
            return False

    def env_method(self, method_name: str, *method_args: Any, indices: Any = None,
                   **method_kwargs: Any) -> list[Any]:
        return [getattr(e, method_name)(*method_args, **method_kwargs) for e in self._targets(indices)]

    def env_is_wrapped(self, wrapper_class: type, indices: Any = None) -> list[bool]:
        """No sub-env is wrapped: they are sessions in envd, not Python envs."""
        return [False for _ in self._targets(indices)]

    # ------------------------------------------------------------ the rest
    def get_images(self) -> Sequence[None]:
        warnings.warn("envd environments do not render")
        return [None] * self.num_envs

    def render(self, mode: str | None = None) -> None:
        warnings.warn("envd environments do not render (render_mode is None)")
        return None

    def close(self) -> None:
        """Closes the sessions (best effort); safe to call twice."""
        if not self.closed:
            self.closed = True
            self.venv.close()

    def __enter__(self):
        return self

    def __exit__(self, *args: Any) -> bool:
        self.close()
        return False

    def __repr__(self) -> str:
        return f"EnvdSB3VecEnv({self.venv.env_id}, num_envs={self.venv.num_envs})"
