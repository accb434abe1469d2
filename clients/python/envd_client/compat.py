"""OldGymAPI: the pre-0.26 gym API, for code written against it.

The classic DQN tutorials were written for ``gym`` before 0.26, where
``reset()`` returned only the observation and ``step()`` a 4-tuple
``(obs, reward, done, info)``. Wrapping an EnvdEnv in :class:`OldGymAPI`
lets such code run unchanged against envd::

    env = envd_client.OldGymAPI(envd_client.EnvdEnv("CartPole-v1", endpoint=...))
    env.seed(0)
    obs = env.reset()
    obs, reward, done, info = env.step(env.action_space.sample())

``done`` is ``terminated or truncated``. When an episode ends, ``info``
carries ``"TimeLimit.truncated"``: True when it ended by the time limit
alone (truncated and not terminated), the convention old gym's TimeLimit
used so that a learner can still bootstrap from a cut-off episode.
"""

from __future__ import annotations

from typing import Any

__all__ = ["OldGymAPI"]


class OldGymAPI:
    """Adapts a Gymnasium-API env (reset -> (obs, info), step -> 5-tuple) to
    the old gym API (reset -> obs, step -> 4-tuple, seed())."""

    def __init__(self, env: Any):
        self.env = env
        self._next_seed: int | None = None

    # the attributes old code reads
    @property
    def action_space(self):
        return self.env.action_space

    @property
    def observation_space(self):
        return self.env.observation_space

    @property
    def metadata(self):
        return self.env.metadata

    @property
    def spec(self):
        return self.env.spec

    @property
    def unwrapped(self):
        # Old tutorials call gym.make(...).unwrapped to drop gym's wrappers;
        # here that must keep the old API (envd's time limit is a make
        # option: max_episode_steps).
        return self

    def seed(self, seed: int | None = None) -> list:
        """Old gym seeded with env.seed(s) before reset(); the seed is used
        by the next reset()."""
        self._next_seed = seed
        return [seed]

    def reset(self, **kwargs: Any):
        if "seed" not in kwargs and self._next_seed is not None:
            kwargs["seed"] = self._next_seed
        self._next_seed = None
        obs, _info = self.env.reset(**kwargs)
        return obs

    def step(self, action: Any):
        obs, reward, terminated, truncated, info = self.env.step(action)
        done = bool(terminated or truncated)
        if done:
            info = dict(info)
            info["TimeLimit.truncated"] = bool(truncated and not terminated)
        return obs, reward, done, info

    def render(self, mode: str = "human"):
        raise NotImplementedError("envd environments do not render")

    def close(self) -> None:
        self.env.close()

    def __enter__(self):
        return self

    def __exit__(self, *args: Any) -> bool:
        self.close()
        return False

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.env, name)

    def __repr__(self) -> str:
        return f"OldGymAPI({self.env!r})"
