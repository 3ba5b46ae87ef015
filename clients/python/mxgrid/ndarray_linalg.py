"""mx.nd.linalg: the ``_linalg_*`` operators without their prefix (gemm, gemm2, potrf,
potri, trsm, trmm, syrk, gelqf, sumlogdiag, extractdiag, makediag, inverse, det, slogdet),
as MXNet's generated ndarray/linalg submodule.

    q, l = mx.nd.linalg.gelqf(a)
"""
from . import _ops
from . import ndarray as _nd

__all__ = []

__getattr__, _dir = _ops.prefixed_functions(_nd._op_function, "_linalg_", __name__)


def __dir__():
    return _dir(globals())
