"""mxnet.util: the shape-semantics switch.

mxgrid follows MXNet 1.x's legacy shape rules by default: 0 in a shape given to or returned
by shape inference means "unknown", and an unknown shape is (). Under np_shape(True) (or
set_np_shape(True)), as in MXNet, -1 marks an unknown dimension, 0 is a real zero-length
dimension, and an unknown shape is None, in Symbol.infer_shape / infer_shape_partial. Arrays themselves keep MXNet 1.x's NDArray rules (no 0-d
arrays from operators) in both modes.

Thread-safety: the switch is per thread, as MXNet's.
"""
import functools
import threading

__all__ = ["is_np_shape", "set_np_shape", "np_shape", "use_np_shape"]

_STATE = threading.local()


def is_np_shape():
    """True inside np_shape(True) / after set_np_shape(True) on this thread."""
    return getattr(_STATE, "active", False)


def set_np_shape(active):
    """Turns NumPy shape semantics on or off for this thread; returns the previous state."""
    previous = is_np_shape()
    _STATE.active = bool(active)
    return previous


class _NpShape:
    """Context manager and decorator restoring the previous state on exit."""

    def __init__(self, active):
        self._active = active
        self._previous = []

    def __enter__(self):
        self._previous.append(set_np_shape(self._active))
        return self

    def __exit__(self, *exc):
        set_np_shape(self._previous.pop())
        return False

    def __call__(self, func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with _NpShape(self._active):
                return func(*args, **kwargs)
        return wrapper


def np_shape(active=True):
    """Context manager and decorator: NumPy shape semantics on (active) or off inside it."""
    return _NpShape(active)


def use_np_shape(func):
    """Decorator running func under np_shape(True)."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with np_shape(True):
            return func(*args, **kwargs)
    return wrapper
