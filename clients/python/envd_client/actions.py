"""Actions on the wire: Discrete ones as integers, Box ones as float tensors.

envd's protocol 1.2 carries a Discrete action as an int64 (``step``) or as
one integer tensor of shape [N] (``step_batch``), and a Box action as a
FLOAT32 or FLOAT64 tensor of the space's shape ([N, *shape] in a batch).
The dtype sent is the dtype envd computes in, because Gymnasium computes
differently with each (Pendulum-v1's reward, MountainCarContinuous-v0's
state: docs/environments.md). So this module keeps what the caller gave:

* a float32 or float64 numpy array travels in its own dtype, bit for bit;
* booleans and integers, and lists, tuples or scalars of Python numbers,
  become float64 (numpy's reading of Python numbers, and the dtype
  Gymnasium's ``np.clip`` turns integers into);
* anything else (float16, complex, strings, objects) and any array of the
  wrong shape is refused here with :class:`InvalidArgument` (a
  ``ValueError``) before a request is sent.

NaN and infinities are left for envd to refuse (``INVALID_ARGUMENT``,
naming the row and the value): checking on the server keeps the step path
here one conversion, and the session's state never sees them either way.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from ._proto import pb
from .errors import InvalidArgument

__all__ = ["BOX_DTYPES", "DISCRETE_DTYPES", "box_array", "discrete_index", "discrete_array"]

BOX_DTYPES = {np.dtype(np.float32): pb.FLOAT32, np.dtype(np.float64): pb.FLOAT64}
DISCRETE_DTYPES = {np.dtype(np.int64): pb.INT64, np.dtype(np.int32): pb.INT32,
                   np.dtype(np.uint8): pb.UINT8}


def box_array(action: Any, shape: tuple, what: str = "action") -> np.ndarray:
    """``action`` as a C-contiguous float32 or float64 array of ``shape``."""
    a = action if isinstance(action, np.ndarray) else _as_array(action, what)
    if a.dtype not in BOX_DTYPES:
        native = a.dtype.newbyteorder("=")
        if native in BOX_DTYPES:  # float32 or float64 in the other byte order
            a = a.astype(native)
        elif a.dtype.kind not in "biu":
            raise InvalidArgument(
                f"{what}: a Box action is a float32 or float64 array (the dtype envd computes "
                f"in, as Gymnasium does), not {a.dtype}")
        else:
            a = a.astype(np.float64)
    if a.shape != shape:
        raise InvalidArgument(f"{what} must have shape {shape} for this Box action space, "
                              f"got {a.shape}")
    return np.ascontiguousarray(a)


def _as_array(action: Any, what: str) -> np.ndarray:
    try:
        a = np.asarray(action)
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(f"{what}: {action!r} is not an array of numbers ({exc})") from None
    if a.dtype.kind not in "biuf":
        raise InvalidArgument(f"{what}: {action!r} is not an array of numbers")
    return a


def discrete_index(action: Any) -> int:
    """One Discrete action: an int, a numpy integer or a 0-d integer array
    (not 1.0, not a shape-(1,) array), as Gymnasium's Discrete holds it."""
    try:
        return operator.index(action)
    except TypeError:
        raise InvalidArgument(
            f"action must be an integer in the action space, got {action!r}") from None


def discrete_array(actions: Any, n: int) -> tuple[np.ndarray, int]:
    """A batch of Discrete actions as an integer array of shape (n,) and its
    wire dtype: int64, int32 and uint8 travel as they are, bool as uint8,
    other integer dtypes as int64."""
    a = actions if type(actions) is np.ndarray else np.asarray(actions)
    code = DISCRETE_DTYPES.get(a.dtype)
    if code is None:
        if a.dtype == np.bool_:
            a, code = a.view(np.uint8), pb.UINT8
        elif a.dtype.kind in "iu":
            a, code = a.astype(np.int64), pb.INT64
        else:
            raise InvalidArgument(f"actions must be integers, got dtype {a.dtype}")
    if a.shape != (n,):
        raise InvalidArgument(f"actions must have shape ({n},), got {a.shape}")
    return a, code
