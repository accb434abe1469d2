"""Gymnasium when it is installed, a compatible stand-in when it is not.

envd_client must run with and without gymnasium. When ``import gymnasium``
works (version 1.x) the environments subclass ``gymnasium.Env`` and
``gymnasium.vector.VectorEnv`` and use its spaces, EnvSpec, seeding and
AutoresetMode. Otherwise the small classes below stand in: same method
names, attributes and seeding rules, so code written against Gymnasium's
API runs unchanged. Setting ENVD_CLIENT_NO_GYMNASIUM=1 forces the stand-ins
(to test them on a machine that has gymnasium).
"""

from __future__ import annotations

import dataclasses
import enum
import os
from typing import Any

import numpy as np

from .errors import InvalidArgument

gym: Any = None
if os.environ.get("ENVD_CLIENT_NO_GYMNASIUM", "") in ("", "0"):
    try:
        import gymnasium as _gymnasium

        if int(_gymnasium.__version__.split(".")[0]) >= 1:
            gym = _gymnasium
    except ImportError:
        pass

HAVE_GYMNASIUM = gym is not None

__all__ = ["gym", "HAVE_GYMNASIUM", "Env", "VectorEnv", "EnvSpec", "AutoresetMode", "np_random"]


# ------------------------------------------------------------------ seeding
def _compat_np_random(seed: int | None = None):
    """Gymnasium's ``seeding.np_random``: a PCG64 Generator from a
    SeedSequence, and the seed it was made from."""
    if seed is not None and not (isinstance(seed, int) and seed >= 0):
        raise InvalidArgument(f"Seed must be a python integer >= 0 or None, got {seed!r}")
    seq = np.random.SeedSequence(seed)
    return np.random.Generator(np.random.PCG64(seq)), seq.entropy


# ------------------------------------------------------------------ autoreset
class _CompatAutoresetMode(enum.Enum):
    """Same names and values as ``gymnasium.vector.AutoresetMode`` (1.1+)."""

    NEXT_STEP = "NextStep"
    SAME_STEP = "SameStep"
    DISABLED = "Disabled"


# ------------------------------------------------------------------ EnvSpec
@dataclasses.dataclass
class _CompatEnvSpec:
    """The fields of ``gymnasium.envs.registration.EnvSpec`` that describe an
    environment (the registry-only fields are left out)."""

    id: str
    entry_point: Any = None
    reward_threshold: float | None = None
    nondeterministic: bool = False
    max_episode_steps: int | None = None
    order_enforce: bool = True
    disable_env_checker: bool = False
    kwargs: dict = dataclasses.field(default_factory=dict)
    additional_wrappers: tuple = ()
    vector_entry_point: Any = None


# ------------------------------------------------------------------ local RNG
class _CompatSeeding:
    """The local ``np_random`` that gymnasium's Env and VectorEnv both keep:
    made lazily, reseeded by ``reset(seed=...)``."""

    _np_random: np.random.Generator | None = None
    _np_random_seed: int | None = None

    def _seed_np_random(self, seed: int | None) -> None:
        # As gymnasium's reset: a seed reseeds the local np_random.
        if seed is not None:
            self._np_random, self._np_random_seed = _compat_np_random(seed)

    @property
    def np_random(self) -> np.random.Generator:
        if self._np_random is None:
            self._np_random, self._np_random_seed = _compat_np_random()
        return self._np_random

    @np_random.setter
    def np_random(self, value: np.random.Generator):
        self._np_random = value
        self._np_random_seed = -1

    @property
    def np_random_seed(self) -> int:
        if self._np_random_seed is None:
            self._np_random, self._np_random_seed = _compat_np_random()
        return self._np_random_seed


# ------------------------------------------------------------------ Env
class _CompatEnv(_CompatSeeding):
    """The parts of ``gymnasium.Env`` (1.x) that users and wrappers touch."""

    metadata: dict[str, Any] = {"render_modes": []}
    render_mode: str | None = None
    spec: Any = None
    action_space: Any
    observation_space: Any

    def step(self, action):
        raise NotImplementedError

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        self._seed_np_random(seed)

    def render(self):
        raise NotImplementedError

    def close(self):
        pass

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

    def __str__(self) -> str:
        if self.spec is None:
            return f"<{type(self).__name__} instance>"
        return f"<{type(self).__name__}<{self.spec.id}>>"

    def __enter__(self):
        return self

    def __exit__(self, *args: Any) -> bool:
        self.close()
        return False


# ------------------------------------------------------------------ VectorEnv
class _CompatVectorEnv(_CompatSeeding):
    """The parts of ``gymnasium.vector.VectorEnv`` (1.x) that users touch."""

    metadata: dict[str, Any] = {}
    spec: Any = None
    render_mode: str | None = None
    closed: bool = False
    num_envs: int
    observation_space: Any
    action_space: Any
    single_observation_space: Any
    single_action_space: Any

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        self._seed_np_random(seed)

    def step(self, actions):
        raise NotImplementedError

    def render(self):
        raise NotImplementedError

    def close(self, **kwargs: Any):
        if self.closed:
            return
        self.close_extras(**kwargs)
        self.closed = True

    def close_extras(self, **kwargs: Any):
        pass

    @property
    def unwrapped(self):
        return self

    def __del__(self):
        if not getattr(self, "closed", True):
            self.close()

    def __enter__(self):
        return self

    def __exit__(self, *args: Any) -> bool:
        self.close()
        return False

    def __repr__(self) -> str:
        if self.spec is None:
            return f"{type(self).__name__}(num_envs={self.num_envs})"
        return f"{type(self).__name__}({self.spec.id}, num_envs={self.num_envs})"


if HAVE_GYMNASIUM:
    from gymnasium.envs.registration import EnvSpec as EnvSpec  # noqa: F401
    from gymnasium.utils.seeding import np_random as np_random  # noqa: F401

    Env = gym.Env
    VectorEnv = gym.vector.VectorEnv
    # AutoresetMode appeared in gymnasium 1.1; 1.0 behaves as NEXT_STEP only.
    AutoresetMode = getattr(gym.vector, "AutoresetMode", _CompatAutoresetMode)
else:
    EnvSpec = _CompatEnvSpec
    np_random = _compat_np_random
    Env = _CompatEnv
    VectorEnv = _CompatVectorEnv
    AutoresetMode = _CompatAutoresetMode
