"""mx.nd.contrib: the ``_contrib_*`` operators without their prefix, and MXNet's Python
helpers of python/mxnet/ndarray/contrib.py that are plain compositions of operators
(isinf, isfinite, isnan: 1 where the test holds, else 0, in the input's dtype).

    mx.nd.contrib.isnan(mx.nd.array([np.nan, 1]))   # [1. 0.]
"""
import numpy as np

from . import _ops
from . import ndarray as _nd

__all__ = ["isinf", "isfinite", "isnan"]


def isinf(data):
    """1 where ``data`` is +inf or -inf, else 0."""
    return data.abs() == np.inf


def isfinite(data):
    """1 where ``data`` is neither infinite nor NaN, else 0."""
    not_nan = data == data  # noqa: PLR0124 (NaN is the one value unequal to itself)
    return (data.abs() != np.inf) * not_nan  # both 0/1: the product is their logical and


def isnan(data):
    """1 where ``data`` is NaN, else 0."""
    return data != data  # noqa: PLR0124


__getattr__, _dir = _ops.prefixed_functions(_nd._op_function, "_contrib_", __name__)


def __dir__():
    return _dir(globals())
