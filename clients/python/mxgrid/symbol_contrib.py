"""mx.sym.contrib: the ``_contrib_*`` operators as symbol functions, without their prefix
(MXNet's generated symbol/contrib submodule)."""
from . import _ops
from . import symbol as _sym

__all__ = []

__getattr__, _dir = _ops.prefixed_functions(_sym._op_symbol, "_contrib_", __name__)


def __dir__():
    return _dir(globals())
