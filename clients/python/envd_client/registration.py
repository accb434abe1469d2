"""make(), make_vec() and the ``envd/...`` ids in Gymnasium's registry.

``envd_client.make("CartPole-v1", endpoint=...)`` is the direct way in. When
gymnasium is installed, importing envd_client also registers one ``envd/``
id per environment envd serves (:data:`REGISTERED_ENVS`: the classic-control
suite), so that ``gymnasium.make("envd/Pendulum-v1", endpoint=...)`` works
(or, without a prior import, ``gymnasium.make("envd_client:envd/Pendulum-v1",
...)``). Registration is idempotent: an id already in the registry is left
alone.

The registered entries carry the same ``max_episode_steps`` and
``reward_threshold`` as Gymnasium's own registrations, so ``env.spec``
reads the same. Time limits: ``gymnasium.make(id, max_episode_steps=N)`` keeps ``N``
to itself (it is a parameter of ``make``, not passed on to the entry point)
and wraps the env in ``TimeLimit(N)``, or in the registered limit when no
``N`` is given, or in none for ``N=-1``. So the registered entry point,
:func:`make_for_gymnasium`, moves envd's own limit out of the way (to its
largest, 2**32 - 1 steps), as Gymnasium's own environments have no limit of
their own: the TimeLimit is then the one limit, and ``max_episode_steps=1000``
gives 1000-step episodes instead of ending them silently at envd's
default 500. ``gymnasium.make_vec`` in its default (vector entry point)
mode passes ``max_episode_steps`` through to :class:`EnvdVectorEnv` as
envd's make option. Outside Gymnasium, pass it to envd itself:
``envd_client.make("CartPole-v1", max_episode_steps=1000)``.
"""

from __future__ import annotations

from typing import Any

from ._gym import HAVE_GYMNASIUM, gym
from .client import DEFAULT_ENDPOINT, DEFAULT_TIMEOUT
from .env import VECTOR_ENTRY_POINT, EnvdEnv
from .vector import EnvdVectorEnv

__all__ = ["make", "make_vec", "make_for_gymnasium", "register_envs", "registrations",
           "REGISTERED_ENVS"]

GYMNASIUM_ENTRY_POINT = "envd_client.registration:make_for_gymnasium"
# envd's largest max_episode_steps: for the envs gymnasium.make wraps in its TimeLimit.
LIMIT_LEFT_TO_GYMNASIUM = 2**32 - 1

# envd's environments as Gymnasium registers them: (max_episode_steps, reward_threshold).
REGISTERED_ENVS = {
    "CartPole-v1": (500, 475.0),
    "CartPole-v0": (200, 195.0),
    "Acrobot-v1": (500, -100.0),
    "MountainCar-v0": (200, -110.0),
    "MountainCarContinuous-v0": (999, 90.0),
    "Pendulum-v1": (200, None),
}


def make(env_id: str = "CartPole-v1", endpoint: str = DEFAULT_ENDPOINT,
         timeout: float = DEFAULT_TIMEOUT, **make_options: Any) -> EnvdEnv:
    """An :class:`EnvdEnv`; ``make_options`` go to envd's make (e.g.
    ``sutton_barto_reward=True``, ``max_episode_steps=1000``). An
    ``envd/`` prefix on the id is accepted and dropped."""
    return EnvdEnv(_strip(env_id), endpoint, timeout, **make_options)


def make_vec(env_id: str = "CartPole-v1", num_envs: int = 1, endpoint: str | None = None,
             timeout: float = DEFAULT_TIMEOUT, autoreset_mode: Any = "next_step",
             **make_options: Any) -> EnvdVectorEnv:
    """An :class:`EnvdVectorEnv` of ``num_envs`` sessions (on ``endpoint``,
    by default envd's, or ``endpoints=[...]``; ``batch_size=`` too)."""
    return EnvdVectorEnv(_strip(env_id), num_envs, endpoint, timeout, autoreset_mode, **make_options)


def make_for_gymnasium(env_id: str = "CartPole-v1", **kwargs: Any) -> EnvdEnv:
    """The entry point of the registered ``envd/`` ids: an :class:`EnvdEnv`
    whose envd time limit is out of the way (``LIMIT_LEFT_TO_GYMNASIUM``)
    unless ``kwargs`` set one, because ``gymnasium.make`` applies the
    episode limit with its own TimeLimit wrapper (see the module text)."""
    kwargs.setdefault("max_episode_steps", LIMIT_LEFT_TO_GYMNASIUM)
    return EnvdEnv(_strip(env_id), **kwargs)


# gymnasium.make reads the entry point's metadata (render modes), as it would the class's.
make_for_gymnasium.metadata = EnvdEnv.metadata


def _strip(env_id: str) -> str:
    return env_id[len("envd/"):] if env_id.startswith("envd/") else env_id


def registrations() -> list[dict[str, Any]]:
    """The keyword arguments :func:`register_envs` gives ``gymnasium.register``,
    one dict per ``envd/`` id."""
    return [dict(id=f"envd/{env_id}", entry_point=GYMNASIUM_ENTRY_POINT, kwargs={"env_id": env_id},
                 max_episode_steps=steps, reward_threshold=threshold)
            for env_id, (steps, threshold) in REGISTERED_ENVS.items()]


def register_envs() -> list[str]:
    """Registers the ``envd/`` ids with gymnasium (if installed); returns
    the ids this call added."""
    if not HAVE_GYMNASIUM:
        return []
    added = []
    for kwargs in registrations():
        if kwargs["id"] in gym.envs.registry:
            continue
        try:
            gym.register(vector_entry_point=VECTOR_ENTRY_POINT, **kwargs)
        except TypeError:  # a gymnasium without vector entry points
            gym.register(**kwargs)
        added.append(kwargs["id"])
    return added
