"""The operator schemas the compiler serves (ListOperators), shared by mx.nd and mx.sym.

Fetched once per connection on first use. ``lookup(name)`` finds an operator by canonical name
or alias; ``num_outputs(name, attrs)`` counts its visible outputs for given parameters (asking
the compiler, once per parameter set, for the few operators whose parameters change the
count); ``refuses(name, attrs)`` tells from the schema alone that the worker will refuse the
parameters (an unknown or missing one, a value outside an enum), so that the call can go
synchronously and raise the server's error at the call, as MXNet does; ``format_attr`` turns
a Python value into the string MXNet's Python front end would pass (``str(value)``; tuples
as ``"(3, 3)"``, bools ``"True"``, dtypes by name).

Thread-safety: all functions may be called from any thread; the schema is fetched under a
lock, the caches derived from it are filled without one (see ``_cache``).
"""
import json
import re
import threading

import numpy as np

from ._proto import pb
from . import connection

__all__ = ["operators", "lookup", "num_outputs", "refuses", "format_attr", "names"]

_lock = threading.Lock()
# The current connection, its operator table, the visible output counts ({name: count} for
# operators whose count is fixed, {(name, attrs): count} for the others), the parameter
# rules of `refuses` and its answers ({(name, attribute items): bool}); replaced as a whole
# (one assignment) when the connection changes, so readers need no lock (entries are added
# under the GIL, and recomputing one is harmless).
_cache = (None, None, None, None, None)
# Answers of `refuses` kept per connection; a graph repeats a few dozen parameter sets.
_REFUSALS_MAX = 4096


def operators():
    """{name or alias: OperatorInfo} for the current connection's compiler."""
    conn = connection.get()
    cached_conn, table = _cache[:2]
    if cached_conn is conn:
        return table
    return _fetch(conn)


def _fetch(conn):
    global _cache
    with _lock:
        if _cache[0] is not conn:
            resp = conn.call(conn.require_compiler().ListOperators,
                             pb.compiler.ListOperatorsRequest())
            table = {}
            for info in resp.operators:
                table[info.name] = info
                for alias in info.aliases:
                    table.setdefault(alias, info)
            _cache = (conn, table, {}, {}, {})
        return _cache[1]


def lookup(name):
    """The OperatorInfo of ``name`` (canonical or alias), or None."""
    return operators().get(name)


def num_outputs(name, attrs):
    """How many visible outputs operator ``name`` has with parameters ``attrs`` (strings);
    None for an unknown operator. Where parameters change the count (SliceChannel's
    num_outputs, BatchNorm's output_mean_var) the compiler composes the operator once per
    parameter set and the count of its heads is kept; MXNetError when it refuses them."""
    conn, _, counts, _, _ = _cache
    if conn is not None and conn is connection._current:  # the hot path: a dict lookup
        count = counts.get(name)
        if count is not None:
            return count
    info = operators().get(name)
    if info is None:
        return None
    conn, _, counts, _, _ = _cache
    if not info.variable_outputs:
        count = counts[name] = len(info.outputs)
        return count
    key = (name, frozenset(attrs.items()))
    count = counts.get(key)
    if count is None:
        resp = conn.call(conn.require_compiler().Compose, pb.compiler.ComposeRequest(
            op=name, attrs=attrs, name="count_outputs"))
        count = counts[key] = len(json.loads(resp.symbol.json)["heads"])
    return count


_ENUM = re.compile(r"^\{\s*('[^']*'\s*(,\s*'[^']*'\s*)*)\}$")


def _rules(name):
    """(known names, required names, {name: allowed values}) of operator ``name``'s
    parameters, or None for an unknown operator; kept per connection."""
    conn, _, _, rules, _ = _cache
    if conn is None or conn is not connection._current or name not in rules:
        info = operators().get(name)
        if info is None:
            return None
        enums = {}
        for p in info.params:
            m = _ENUM.match(p.type.strip())
            if m:
                enums[p.name] = frozenset(re.findall(r"'([^']*)'", m.group(1)))
        kinds = {p.name: _kind(p.type) for p in info.params}
        rules = _cache[3]
        rules[name] = (frozenset(p.name for p in info.params),
                       tuple(p.name for p in info.params if p.required), enums,
                       {k: v for k, v in kinds.items() if v is not None})
    return rules[name]


_INT = re.compile(r"^-?\d+$")
_BOOLS = frozenset(("True", "False", "true", "false", "1", "0"))


def _kind(type_text):
    """(checker, None allowed) for a parameter's documented type, or None when the client
    does not check it (strings, dtypes)."""
    t = type_text.strip()
    none_ok = t.endswith(" or None")
    base = t[:-len(" or None")] if none_ok else t
    if base.startswith(("int", "long")):
        return _is_int, none_ok
    if base in ("float", "double"):
        return _is_float, none_ok
    if base == "boolean":
        return (lambda v: v in _BOOLS), none_ok
    if base.startswith("Shape") or base.startswith("tuple of"):
        return (lambda v: v[:1] in ("(", "[") or _is_float(v)), none_ok
    return None


def _is_int(value):
    return bool(_INT.match(value))


def _is_float(value):
    try:
        float(value)
        return True
    except ValueError:
        return False


def _bad_value(kinds, key, value):
    kind = kinds.get(key)
    if kind is None:
        return False
    check, none_ok = kind
    return not ((none_ok and value == "None") or check(value))


def refuses(name, attrs):
    """True when operator ``name``'s schema says the worker will refuse ``attrs``: a
    parameter it does not have (MXNet's hidden ``__key__`` ones aside), a required one
    missing, a value outside an enum's choices or not of its number, boolean or tuple type;
    also for an empty tuple, which the
    axis and shape parameters of many operators refuse (such a call goes synchronously,
    so that its error raises at the call, as in MXNet). False for an unknown operator (the
    worker reports that). ``attrs``' values are strings."""
    conn, _, _, _, answers = _cache
    if conn is not None and conn is connection._current:  # the hot path: a dict lookup
        key = (name, tuple(attrs.items()))
        answer = answers.get(key)
        if answer is None:
            if len(answers) >= _REFUSALS_MAX:
                answers.clear()
            answer = answers[key] = _refuses(name, attrs)
        return answer
    return _refuses(name, attrs)


def _refuses(name, attrs):
    rules = _rules(name)
    if rules is None:
        return False
    known, required, enums, kinds = rules
    for key, value in attrs.items():
        if value == "()":
            return True
        if key not in known:
            if not (len(key) > 4 and key.startswith("__") and key.endswith("__")):
                return True
        elif key in enums and value not in enums[key]:
            return True
        elif _bad_value(kinds, key, value):
            return True
    for key in required:
        if key not in attrs:
            return True
    return False


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
    if isinstance(value, np.ndarray):  # shape=np.array([2, 1]) is the tuple (2, 1)
        return str(tuple(value.tolist())) if value.ndim == 1 else str(value.tolist())
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


def prefixed_functions(factory, prefix, module_name):
    """``__getattr__`` and ``__dir__`` for an operator sub-namespace (mx.nd.contrib,
    mx.sym.linalg): attribute ``x`` is ``factory(prefix + x)`` when the compiler lists an
    operator of that name (``_contrib_isinf`` -> contrib.isinf, ``_linalg_gemm`` ->
    linalg.gemm), as MXNet's generated submodules; otherwise AttributeError."""
    cache = {}

    def getattr_(name):
        if name.startswith("__"):
            raise AttributeError(name)
        fn = cache.get(name)
        if fn is None:
            if lookup(prefix + name) is None:
                raise AttributeError("module '%s' has no attribute or operator '%s'"
                                     % (module_name, name))
            fn = cache[name] = factory(prefix + name)
        return fn

    def dir_(module_globals):
        listed = {n[len(prefix):] for n in names() if n.startswith(prefix)}
        return sorted(set(module_globals) | listed)
    return getattr_, dir_
