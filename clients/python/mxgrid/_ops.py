"""The operator schemas the compiler serves (ListOperators), shared by mx.nd and mx.sym.

Fetched once per connection on first use. ``lookup(name)`` finds an operator by canonical name
or alias; ``format_attr`` turns a Python value into the string MXNet's Python front end would
pass (``str(value)``; tuples as ``"(3, 3)"``, bools ``"True"``, dtypes by name).
"""
import threading

import numpy as np

from ._proto import pb
from . import connection

__all__ = ["operators", "lookup", "format_attr", "names"]

_lock = threading.Lock()
_cache = {"conn": None, "ops": None}


def operators():
    """{name or alias: OperatorInfo} for the current connection's compiler."""
    conn = connection.get()
    with _lock:
        if _cache["conn"] is not conn or _cache["ops"] is None:
            resp = conn.call(conn.require_compiler().ListOperators,
                             pb.compiler.ListOperatorsRequest())
            table = {}
            for info in resp.operators:
                table[info.name] = info
                for alias in info.aliases:
                    table.setdefault(alias, info)
            _cache["conn"], _cache["ops"] = conn, table
        return _cache["ops"]


def lookup(name):
    """The OperatorInfo of ``name`` (canonical or alias), or None."""
    return operators().get(name)


def names():
    return sorted(operators())


def format_attr(value):
    """A parameter value as MXNet's Python writes it into attribute strings."""
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, np.bool_)):
        return "True" if value else "False"
    if isinstance(value, type) or isinstance(value, np.dtype):
        return np.dtype(value).name
    if isinstance(value, np.generic):
        return str(value.item())
    return str(value)


def module_functions(factory):
    """``__getattr__`` and ``__dir__`` for a module whose operators are generated on first
    access by ``factory(name)`` (mx.nd, mx.sym). Functions are cached apart from the
    module's globals: an operator named like a builtin (max, sum, abs) must not shadow the
    builtin inside that module."""
    cache = {}

    def getattr_(name):
        if name.startswith("__"):
            raise AttributeError(name)
        fn = cache.get(name)
        if fn is None:
            fn = cache[name] = factory(name)
        return fn

    def dir_(module_globals):
        return sorted(set(module_globals) | set(names()))
    return getattr_, dir_
