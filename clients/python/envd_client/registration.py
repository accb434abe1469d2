"""make(), make_vec() and the ``envd/...`` ids in Gymnasium's registry.

``envd_client.make("CartPole-v1", endpoint=...)`` is the direct way in. When
gymnasium is installed, importing envd_client also registers
``envd/CartPole-v1`` and ``envd/CartPole-v0``, so that
``gymnasium.make("envd/CartPole-v1", endpoint=...)`` works (or, without a
prior import, ``gymnasium.make("envd_client:envd/CartPole-v1", ...)``).
Registration is idempotent: an id already in the registry is left alone.

The registered entries carry the same ``max_episode_steps`` and
``reward_threshold`` as Gymnasium's own CartPole, so ``env.spec`` reads the
same; Gymnasium then wraps its own TimeLimit around envd's identical one,
which changes nothing. A ``max_episode_steps=`` given to ``gymnasium.make``
is applied by Gymnasium's TimeLimit only: it can shorten episodes but not
lengthen them past envd's limit. For a longer limit pass it to envd itself:
``envd_client.make("CartPole-v1", max_episode_steps=1000)``.
"""

from __future__ import annotations

from typing import Any

from ._gym import HAVE_GYMNASIUM, gym
from .client import DEFAULT_ENDPOINT, DEFAULT_TIMEOUT
from .env import ENTRY_POINT, VECTOR_ENTRY_POINT, EnvdEnv
from .vector import EnvdVectorEnv

__all__ = ["make", "make_vec", "register_envs", "REGISTERED_ENVS"]

# envd's environments as Gymnasium registers them: (max_episode_steps, reward_threshold).
REGISTERED_ENVS = {
    "CartPole-v1": (500, 475.0),
    "CartPole-v0": (200, 195.0),
}


def make(env_id: str = "CartPole-v1", endpoint: str = DEFAULT_ENDPOINT,
         timeout: float = DEFAULT_TIMEOUT, **make_options: Any) -> EnvdEnv:
    """An :class:`EnvdEnv`; ``make_options`` go to envd's make (e.g.
    ``sutton_barto_reward=True``, ``max_episode_steps=1000``). An
    ``envd/`` prefix on the id is accepted and dropped."""
    return EnvdEnv(_strip(env_id), endpoint, timeout, **make_options)


def make_vec(env_id: str = "CartPole-v1", num_envs: int = 1, endpoint: str = DEFAULT_ENDPOINT,
             timeout: float = DEFAULT_TIMEOUT, autoreset_mode: Any = "next_step",
             **make_options: Any) -> EnvdVectorEnv:
    """An :class:`EnvdVectorEnv` of ``num_envs`` sessions."""
    return EnvdVectorEnv(_strip(env_id), num_envs, endpoint, timeout, autoreset_mode, **make_options)


def _strip(env_id: str) -> str:
    return env_id[len("envd/"):] if env_id.startswith("envd/") else env_id


def register_envs() -> list[str]:
    """Registers the ``envd/`` ids with gymnasium (if installed); returns
    the ids this call added."""
    if not HAVE_GYMNASIUM:
        return []
    added = []
    for env_id, (steps, threshold) in REGISTERED_ENVS.items():
        full = f"envd/{env_id}"
        if full in gym.envs.registry:
            continue
        kwargs = dict(id=full, entry_point=ENTRY_POINT, kwargs={"env_id": env_id},
                      max_episode_steps=steps, reward_threshold=threshold)
        try:
            gym.register(vector_entry_point=VECTOR_ENTRY_POINT, **kwargs)
        except TypeError:  # a gymnasium without vector entry points
            gym.register(**kwargs)
        added.append(full)
    return added
