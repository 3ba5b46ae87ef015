"""Errors and small shared helpers of the mxgrid client.

Every failed RPC surfaces as ``MXNetError`` (as MXNet's own Python raises ``MXNetError`` for
C API failures); the gRPC status code stays available as ``err.code`` (a ``grpc.StatusCode``)
so callers can tell a bad attribute (INVALID_ARGUMENT) from an unknown handle (NOT_FOUND).
"""
import functools

import grpc
import numpy as np

__all__ = ["MXNetError", "NotImplementedForSymbol", "from_rpc_error", "translate_errors",
           "numeric_types", "string_types", "py_str", "mx_real_t"]

numeric_types = (float, int, np.generic)
integer_types = (int, np.integer)
string_types = (str,)


class MXNetError(Exception):
    """An error reported by an mxgrid server (or by the client on its behalf).

    Attributes:
        code: the grpc.StatusCode of the failed call, or None for client-side errors.
    """

    def __init__(self, message, code=None):
        super().__init__(message)
        self.code = code


class NotImplementedForSymbol(MXNetError):
    """An NDArray operation that a Symbol does not have (e.g. bool(sym)), as MXNet's."""

    def __init__(self, function, alias, *args):
        super().__init__("Function %s%s is not supported for Symbol (only for NDArray)" % (
            getattr(function, "__name__", function), " (namely operator \"%s\")" % alias
            if alias else ""))
        self.function, self.alias, self.args = function, alias, args


# MXNet's default real type.
mx_real_t = np.float32


def py_str(x):
    """bytes (UTF-8) as str; str unchanged."""
    return x.decode("utf-8") if isinstance(x, bytes) else x


def from_rpc_error(err):
    """Converts a grpc.RpcError into an MXNetError carrying the server's message."""
    code = err.code() if hasattr(err, "code") else None
    details = err.details() if hasattr(err, "details") else str(err)
    name = code.name if code is not None else "UNKNOWN"
    return MXNetError("%s: %s" % (name, details), code=code)


def translate_errors(fn):
    """Decorator: re-raises grpc.RpcError from ``fn`` as MXNetError."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except grpc.RpcError as err:
            raise from_rpc_error(err) from None

    return wrapper
