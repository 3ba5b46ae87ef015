"""mxnet.util: the shape-semantics switch. mxgrid follows MXNet 1.x's legacy shape rules (0
in a shape means "unknown" to shape inference, no zero-size or 0-d arrays from operators);
MXNet 2's NumPy rules (np_shape(True), set_np_shape(True)) are refused with a clear error.

Thread-safety: no state.
"""
import contextlib
import functools

from .base import MXNetError

__all__ = ["is_np_shape", "set_np_shape", "np_shape", "use_np_shape"]

_REFUSED = ("NumPy shape semantics (np_shape / set_np_shape(True)) are not supported by "
            "mxgrid: shapes follow MXNet 1.x's legacy rules")


def is_np_shape():
    """False: shapes follow the legacy rules."""
    return False


def set_np_shape(active):
    """Returns the previous state (False); MXNetError for active=True."""
    if active:
        raise MXNetError(_REFUSED)
    return False


class _NpShape(contextlib.ContextDecorator):
    def __init__(self, active):
        self._active = active

    def __enter__(self):
        set_np_shape(self._active)
        return self

    def __exit__(self, *exc):
        return False


def np_shape(active=True):
    """Context manager and decorator: np_shape(False) keeps the legacy rules (a no-op);
    np_shape(True) raises MXNetError on entry."""
    return _NpShape(active)


def use_np_shape(func):
    """Decorator running func under np_shape(True): raises MXNetError when called."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with np_shape(True):
            return func(*args, **kwargs)
    return wrapper
