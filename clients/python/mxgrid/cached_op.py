"""mx.nd.CachedOp: a Symbol called like an operator on NDArrays (MXNet's CachedOp).

    op = mx.nd.CachedOp(mx.sym.Convolution(kernel=(3, 3), num_filter=10) + 2)
    y = op(data, weight, bias)            # inputs in sym.list_inputs() order
    op(data, weight, bias, out=y)         # results written into y

The graph is parsed once at construction into a list of steps in topological order (the
symbol JSON's node order); each call runs the steps as imperative operator calls on the
worker, which pipelines them like any other mx.nd calls. Because every step is an ordinary
imperative call, calls inside autograd.record() are recorded on the worker's tape and
backward reaches the inputs, and operators that update auxiliary states in training mode
(BatchNorm's moving mean and variance) update the arrays passed in, as in MXNet.

``flags`` (MXNet's static_alloc, static_shape, ...) tune MXNet's memory planning only; they
are accepted and change nothing here. Thread-safety: a CachedOp is immutable after
construction and may be called from any thread that may use mx.nd.
"""
import json

from . import _ops
from . import ndarray as _nd
from .base import MXNetError

__all__ = ["CachedOp"]


class CachedOp:
    """A symbol run imperatively; see the module docstring."""

    def __init__(self, sym, flags=()):
        graph = json.loads(sym.tojson())
        nodes = graph["nodes"]
        self._input_names = sym.list_inputs()
        position = {name: i for i, name in enumerate(self._input_names)}
        self._flags = tuple(flags)
        # steps: (node id, op name, attrs, [(node id, output index)]); variables map to
        # their position in the call's arguments.
        self._variables = {}
        self._steps = []
        for nid, node in enumerate(nodes):
            if node["op"] == "null":
                if node["name"] not in position:
                    raise MXNetError("CachedOp: variable %r is not among the symbol's inputs %s"
                                     % (node["name"], self._input_names))
                self._variables[nid] = position[node["name"]]
                continue
            attrs = dict(node.get("attrs", node.get("attr", node.get("param", {}))) or {})
            inputs = [(e[0], e[1]) for e in node["inputs"]]
            self._steps.append((nid, node["op"], attrs, inputs))
        self._heads = [(h[0], h[1]) for h in graph["heads"]]

    def __repr__(self):
        return "<CachedOp inputs=%s outputs=%d>" % (self._input_names, len(self._heads))

    def __call__(self, *args, out=None, default_ctx=None):  # noqa: ARG002 (MXNet's signature)
        if len(args) != len(self._input_names):
            raise MXNetError("CachedOp: expected %d inputs (%s), got %d"
                             % (len(self._input_names), ", ".join(self._input_names),
                                len(args)))
        for i, a in enumerate(args):
            if not isinstance(a, _nd.NDArray):
                raise TypeError("CachedOp: input %d (%s) must be an NDArray, got %s"
                                % (i, self._input_names[i], type(a).__name__))
        values = {}  # (node id, output index) -> NDArray
        for nid, pos in self._variables.items():
            values[(nid, 0)] = args[pos]
        for nid, op, attrs, inputs in self._steps:
            try:
                arrays = [values[e] for e in inputs]
            except KeyError as err:
                raise MXNetError("CachedOp: operator %s reads hidden output %s, which an "
                                 "imperative call does not return" % (op, err)) from None
            if _ops.lookup(op) is None:
                raise MXNetError("CachedOp: unknown operator %r" % op)
            result = _nd._op_function(op)(*arrays, **attrs)
            results = result if isinstance(result, (list, tuple)) else [result]
            for i, r in enumerate(results):
                values[(nid, i)] = r
        try:
            outputs = [values[h] for h in self._heads]
        except KeyError as err:
            raise MXNetError("CachedOp: the symbol's output %s is a hidden output" % (err,)) \
                from None
        if out is not None:
            outs = out if isinstance(out, (list, tuple)) else [out]
            if len(outs) != len(outputs):
                raise MXNetError("CachedOp: out has %d arrays for %d outputs"
                                 % (len(outs), len(outputs)))
            for src, dst in zip(outputs, outs):
                src.copyto(dst)
            return out
        return outputs[0] if len(outputs) == 1 else outputs
