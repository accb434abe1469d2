"""envd_client: Gymnasium environments that run on an envd server.

    import envd_client
    env = envd_client.EnvdEnv("CartPole-v1", endpoint="tcp://127.0.0.1:5555")
    obs, info = env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step(1)

    envs = envd_client.EnvdVectorEnv("CartPole-v1", num_envs=64, endpoint=...)
    obs, infos = envs.reset(seed=0)            # (64, 4) float32

    env = envd_client.EnvdEnv("Pendulum-v1", endpoint=...)   # Box actions
    env.reset(seed=0)
    env.step(np.array([0.5], np.float32))      # float32 or float64, kept as given

Works with and without gymnasium installed (``HAVE_GYMNASIUM`` says which):
with it, the classes subclass ``gymnasium.Env`` / ``gymnasium.vector.VectorEnv``
and ``gymnasium.make("envd/<env id>", endpoint=...)`` works for each
environment envd serves (CartPole-v1/-v0, Acrobot-v1, MountainCar-v0,
MountainCarContinuous-v0, Pendulum-v1). For Stable-Baselines3,
``envd_client.sb3.EnvdSB3VecEnv`` (not imported here, so that ``import
envd_client`` never imports SB3 and torch). ``python3 -m envd_client
ENDPOINT`` reports what a server offers. See
clients/python/README.md and docs/protocol.md.
"""

from ._gym import HAVE_GYMNASIUM, AutoresetMode
from ._proto import PROTOBUF_IMPLEMENTATION
from .client import DEFAULT_ENDPOINT, DEFAULT_TIMEOUT, Client
from .compat import OldGymAPI
from .env import EnvdEnv, EnvdSessionLost
from .errors import (
    EnvdError,
    EnvdTimeout,
    FailedPrecondition,
    Internal,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
    Unavailable,
    VersionMismatch,
)
from .registration import make, make_vec, register_envs
from .vector import EnvdVectorEnv

__version__ = "0.1.0"

__all__ = [
    "HAVE_GYMNASIUM", "PROTOBUF_IMPLEMENTATION", "AutoresetMode", "Client", "DEFAULT_ENDPOINT",
    "DEFAULT_TIMEOUT", "EnvdEnv", "EnvdVectorEnv", "EnvdSessionLost", "OldGymAPI", "make",
    "make_vec", "register_envs", "EnvdError", "EnvdTimeout", "InvalidArgument", "NotFound",
    "FailedPrecondition", "ResourceExhausted", "VersionMismatch", "Unavailable", "Internal",
]

register_envs()
