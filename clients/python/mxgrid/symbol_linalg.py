"""mx.sym.linalg: the ``_linalg_*`` operators as symbol functions, without their prefix."""
from . import _ops
from . import symbol as _sym

__all__ = []

__getattr__, _dir = _ops.prefixed_functions(_sym._op_symbol, "_linalg_", __name__)


def __dir__():
    return _dir(globals())
