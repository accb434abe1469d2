"""Spaces: Gymnasium's when installed, minimal compatible ones otherwise.

envd describes its spaces on the wire (``envd.v1.Space``: Discrete or a Box
whose bounds are doubles, so +-inf and every float32 bound are exact).
:func:`from_proto` turns one into ``Discrete`` / ``Box``, and
:func:`batch_space` makes the vector versions (``MultiDiscrete`` and a
stacked ``Box``), as ``gymnasium.vector.utils.batch_space`` does.

The stand-in classes follow gymnasium 1.x: same constructor arguments,
attributes (``n``, ``start``, ``low``, ``high``, ``shape``, ``dtype``,
``np_random``) and methods (``contains``/``in``, ``sample``, ``seed``,
equality), with the same sampling rules.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ._gym import HAVE_GYMNASIUM, gym, np_random as _np_random
from ._proto import pb
from .errors import Internal

__all__ = ["Space", "Discrete", "Box", "MultiDiscrete", "from_proto", "batch_space"]

_DTYPES = {
    pb.FLOAT32: np.float32,
    pb.FLOAT64: np.float64,
    pb.INT64: np.int64,
    pb.INT32: np.int32,
    pb.UINT8: np.uint8,
}


class _CompatSpace:
    def __init__(self, shape: Sequence[int] | None = None, dtype: Any = None, seed: int | None = None):
        self._shape = None if shape is None else tuple(int(d) for d in shape)
        self.dtype = None if dtype is None else np.dtype(dtype)
        self._np_random: np.random.Generator | None = None
        if seed is not None:
            self.seed(seed)

    @property
    def shape(self):
        return self._shape

    @property
    def np_random(self) -> np.random.Generator:
        if self._np_random is None:
            self.seed()
        return self._np_random

    def seed(self, seed: int | None = None) -> list[int]:
        self._np_random, used = _np_random(seed)
        return [used]

    def __contains__(self, x: Any) -> bool:
        return self.contains(x)


class _CompatDiscrete(_CompatSpace):
    """``{start, ..., start + n - 1}``, dtype int64."""

    def __init__(self, n: int, seed: int | None = None, start: int = 0):
        self.n = np.int64(n)
        self.start = np.int64(start)
        super().__init__((), np.int64, seed)

    def sample(self, mask: Any = None, probability: Any = None) -> np.int64:
        if mask is not None:
            valid = np.flatnonzero(np.asarray(mask, dtype=np.int8) == 1)
            if valid.size == 0:
                return self.start
            return np.int64(self.start + self.np_random.choice(valid))
        if probability is not None:
            p = np.asarray(probability, dtype=np.float64)
            return np.int64(self.start + self.np_random.choice(int(self.n), p=p))
        return np.int64(self.start + self.np_random.integers(self.n))

    def contains(self, x: Any) -> bool:
        if isinstance(x, int):
            v = np.int64(x)
        elif isinstance(x, (np.generic, np.ndarray)) and np.issubdtype(x.dtype, np.integer) and x.shape == ():
            v = np.int64(x)
        else:
            return False
        return bool(self.start <= v < self.start + self.n)

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, _CompatDiscrete) and self.n == other.n and self.start == other.start

    def __repr__(self) -> str:
        return f"Discrete({self.n})" if self.start == 0 else f"Discrete({self.n}, start={self.start})"


class _CompatBox(_CompatSpace):
    """A box in R^n: ``low <= x <= high`` elementwise; bounds may be infinite."""

    def __init__(self, low: Any, high: Any, shape: Sequence[int] | None = None,
                 dtype: Any = np.float32, seed: int | None = None):
        dtype = np.dtype(dtype)
        if shape is None:  # as Gymnasium: from an array bound, else (1,) for two scalars
            if np.ndim(low) > 0:
                shape = np.shape(low)
            elif np.ndim(high) > 0:
                shape = np.shape(high)
            else:
                shape = (1,)
        shape = tuple(int(d) for d in shape)
        self.low = np.full(shape, low, dtype=dtype) if np.isscalar(low) else np.asarray(low, dtype=dtype).reshape(shape)
        self.high = np.full(shape, high, dtype=dtype) if np.isscalar(high) else np.asarray(high, dtype=dtype).reshape(shape)
        self.low_repr = _short_repr(self.low)
        self.high_repr = _short_repr(self.high)
        self.bounded_below = -np.inf < self.low
        self.bounded_above = np.inf > self.high
        super().__init__(shape, dtype, seed)

    def is_bounded(self, manner: str = "both") -> bool:
        below = bool(np.all(self.bounded_below))
        above = bool(np.all(self.bounded_above))
        if manner == "both":
            return below and above
        if manner == "below":
            return below
        if manner == "above":
            return above
        raise ValueError(f"manner is not in {{'below', 'above', 'both'}}, actual value: {manner}")

    def sample(self, mask: Any = None, probability: Any = None) -> np.ndarray:
        # Gymnasium's rules: uniform where bounded on both sides, shifted
        # exponential where bounded on one side, normal where unbounded.
        if mask is not None or probability is not None:
            raise ValueError("Box.sample cannot be given a mask or a probability")
        rng = self.np_random
        high = self.high if self.dtype.kind == "f" else self.high.astype(np.int64) + 1
        out = np.empty(self.shape, dtype=np.float64)
        unb = ~self.bounded_below & ~self.bounded_above
        upp = ~self.bounded_below & self.bounded_above
        low = self.bounded_below & ~self.bounded_above
        both = self.bounded_below & self.bounded_above
        out[unb] = rng.normal(size=unb[unb].shape)
        out[low] = rng.exponential(size=low[low].shape) + self.low[low]
        out[upp] = -rng.exponential(size=upp[upp].shape) + high[upp]
        out[both] = rng.uniform(low=self.low[both], high=high[both], size=both[both].shape)
        if self.dtype.kind in "iu":
            out = np.floor(out)
        return out.astype(self.dtype)

    def contains(self, x: Any) -> bool:
        if not isinstance(x, np.ndarray):
            try:
                x = np.asarray(x, dtype=self.dtype)
            except (ValueError, TypeError):
                return False
        return bool(
            np.can_cast(x.dtype, self.dtype)
            and x.shape == self.shape
            and np.all(x >= self.low)
            and np.all(x <= self.high)
        )

    def __eq__(self, other: Any) -> bool:
        return (
            isinstance(other, _CompatBox)
            and self.shape == other.shape
            and self.dtype == other.dtype
            and np.allclose(self.low, other.low)
            and np.allclose(self.high, other.high)
        )

    def __repr__(self) -> str:
        return f"Box({self.low_repr}, {self.high_repr}, {self.shape}, {self.dtype})"


class _CompatMultiDiscrete(_CompatSpace):
    """A vector of Discrete values; the batched action space of a vector env."""

    def __init__(self, nvec: Any, dtype: Any = np.int64, seed: int | None = None, start: Any = None):
        self.nvec = np.array(nvec, dtype=dtype, copy=True)
        self.start = (np.zeros(self.nvec.shape, dtype=dtype) if start is None
                      else np.array(start, dtype=dtype, copy=True))
        super().__init__(self.nvec.shape, dtype, seed)

    def sample(self, mask: Any = None, probability: Any = None) -> np.ndarray:
        return (self.np_random.random(self.nvec.shape) * self.nvec).astype(self.dtype) + self.start

    def contains(self, x: Any) -> bool:
        if isinstance(x, Sequence):
            x = np.array(x)
        return bool(
            isinstance(x, np.ndarray)
            and x.shape == self.shape
            and x.dtype != object
            and np.all(self.start <= x)
            and np.all(x - self.start < self.nvec)
        )

    def __eq__(self, other: Any) -> bool:
        return (isinstance(other, _CompatMultiDiscrete) and self.dtype == other.dtype
                and np.array_equal(self.nvec, other.nvec) and np.array_equal(self.start, other.start))

    def __repr__(self) -> str:
        if np.any(self.start != 0):
            return f"MultiDiscrete({self.nvec}, start={self.start})"
        return f"MultiDiscrete({self.nvec})"


def _short_repr(arr: np.ndarray) -> str:
    if arr.size and np.min(arr) == np.max(arr):
        return str(arr.flat[0])
    return str(arr)


def _compat_batch_space(space: Any, n: int) -> Any:
    if isinstance(space, _CompatDiscrete):
        return _CompatMultiDiscrete(np.full((n,), space.n, dtype=space.dtype),
                                    dtype=space.dtype, start=np.full((n,), space.start, dtype=space.dtype))
    if isinstance(space, _CompatBox):
        reps = (n,) + (1,) * space.low.ndim
        return _CompatBox(np.tile(space.low, reps), np.tile(space.high, reps), dtype=space.dtype)
    raise TypeError(f"cannot batch {space!r}")


if HAVE_GYMNASIUM:
    Space = gym.spaces.Space
    Discrete = gym.spaces.Discrete
    Box = gym.spaces.Box
    MultiDiscrete = gym.spaces.MultiDiscrete
    from gymnasium.vector.utils import batch_space as batch_space  # noqa: F401
else:
    Space = _CompatSpace
    Discrete = _CompatDiscrete
    Box = _CompatBox
    MultiDiscrete = _CompatMultiDiscrete
    batch_space = _compat_batch_space


def from_proto(space) -> Any:
    """An ``envd.v1.Space`` as a Discrete or Box."""
    kind = space.WhichOneof("kind")
    if kind == "discrete":
        return Discrete(int(space.discrete.n), start=int(space.discrete.start))
    if kind == "box":
        b = space.box
        dtype = _DTYPES.get(b.dtype)
        shape = tuple(b.shape)
        if dtype is None or len(b.low) != int(np.prod(shape)) or len(b.high) != len(b.low):
            raise Internal(f"malformed Box in reply: dtype {b.dtype}, shape {shape}, "
                           f"{len(b.low)}/{len(b.high)} bounds")
        # Doubles narrow exactly to the float32 bounds envd was built with.
        low = np.array(b.low, dtype=np.float64).astype(dtype).reshape(shape)
        high = np.array(b.high, dtype=np.float64).astype(dtype).reshape(shape)
        return Box(low=low, high=high, shape=shape, dtype=dtype)
    raise Internal(f"reply carries a space of unknown kind {kind!r}")
