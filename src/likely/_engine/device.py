"""Host arrays onto JAX's device without compiling anything.

`jnp.asarray(numpy_array)` compiles a small copy program for every new shape and dtype (about
15 ms each, 45 ms for the first in a process: a cost that every first fit on data of a new
size paid); `jax.device_put` transfers without a program.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np


def to_device(x: Any) -> jax.Array:
    """x as a JAX array, its dtype as numpy gives it (float64 stays float64)."""
    if isinstance(x, jax.Array):
        return x
    return jax.device_put(np.asarray(x))
