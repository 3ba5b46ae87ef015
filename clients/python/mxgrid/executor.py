"""Executors: a Symbol bound to arrays on the worker (Bind / SimpleBind), run with forward and
backward, as MXNet's mx.executor.Executor.

The worker holds the plan and all arrays; this object holds the NDArray descriptors of the
arguments, gradients, auxiliary states and outputs. Arrays passed to bind() are the very
objects in ``arg_arrays`` / ``grad_arrays`` / ``aux_arrays``, as in MXNet.

Thread-safety: not thread-safe (as MXNet's executors).
"""
import json
import os

import numpy as np

from . import connection
from ._proto import pb
from .base import MXNetError
from .context import current_context
from .ndarray import NDArray, array, dtype_from_pb, dtype_to_pb, zeros
from .symbol import _GRAD_REQ, _sym_json_pb

__all__ = ["Executor"]


def _as_list(values, names, what, allow_missing=False):
    if values is None:
        return [None] * len(names)
    if isinstance(values, dict):
        missing = [n for n in names if n not in values]
        if missing and not allow_missing:
            raise ValueError("key `%s` is missing in `%s`" % (missing[0], what))
        return [values.get(n) for n in names]
    values = list(values)
    if len(values) != len(names):
        raise ValueError("Length of %s do not match number of arguments (%d vs %d)"
                         % (what, len(values), len(names)))
    return values


def _keep_common_expr():
    """MXNET_ELIMINATE_COMMON_EXPR=0 (read at each bind, as MXNet does): the compiler plans
    the graph as given instead of merging common expressions."""
    return os.environ.get("MXNET_ELIMINATE_COMMON_EXPR", "1").strip().lower() in (
        "0", "false")


class Executor:
    """A bound graph. Create with Symbol.bind / Symbol.simple_bind."""

    def __init__(self, symbol, ctx, resp, conn, args=None, grads=None, aux=None):
        self._symbol = symbol
        self._ctx = ctx
        self._conn = conn
        self.handle = resp.executor
        self._planned_bytes = resp.planned_bytes
        self._arg_names = list(resp.arg_names)
        self._aux_names = list(resp.aux_names)
        self._monitor_callback = None
        self._monitor_all = False
        self._arrays = {}  # handle -> NDArray, so a handle is wrapped (and freed) once
        for given in (args or []) + (grads or []) + (aux or []):
            if given is not None:
                self._arrays[given.handle] = given
        self.arg_arrays = [self._wrap(i) for i in resp.args]
        self.grad_arrays = [self._wrap(i) if i.handle else None for i in resp.arg_grads]
        self.aux_arrays = [self._wrap(i) for i in resp.aux]
        self.outputs = [self._wrap(i) for i in resp.outputs]

    def _wrap(self, info):
        nd = self._arrays.get(info.handle)
        if nd is None:
            nd = NDArray._from_info(info, self._conn)
            self._arrays[info.handle] = nd
        return nd

    def __del__(self):
        try:
            if self.handle and not self._conn._closed:
                self._conn.free_executor_later(self.handle)
        except Exception:  # pylint: disable=broad-except
            pass

    # -- creation -------------------------------------------------------------------------
    @classmethod
    def _bind(cls, symbol, ctx, args, args_grad, grad_req, aux_states):
        conn = connection.get()
        ctx = ctx or current_context()
        arg_names = symbol.list_arguments()
        aux_names = symbol.list_auxiliary_states()
        args = _as_list(args, arg_names, "args")
        grads = _as_list(args_grad, arg_names, "args_grad", allow_missing=True)
        aux = _as_list(aux_states, aux_names, "aux_states")
        args = [a if isinstance(a, NDArray) or a is None else array(a, ctx=ctx) for a in args]
        if any(a is None for a in args):
            raise ValueError("bind needs an array for every argument")
        if any(a is None for a in aux):
            raise ValueError("bind needs an array for every auxiliary state")
        if isinstance(grad_req, str):
            reqs = [grad_req] * len(arg_names)
        elif isinstance(grad_req, dict):
            reqs = [grad_req.get(n, "null") for n in arg_names]
        else:
            reqs = list(grad_req)
        reqs = [r if g is not None else "null" for r, g in zip(reqs, grads)]
        req = pb.worker.BindRequest(
            session=conn.session, symbol=_sym_json_pb(symbol), context=ctx.to_proto(pb.worker),
            args=[a.handle for a in args], arg_grads=[g.handle if g is not None else 0
                                                     for g in grads],
            grad_reqs=[_GRAD_REQ[r] for r in reqs], aux=[a.handle for a in aux],
            keep_common_expr=_keep_common_expr())
        resp = conn.call(conn.require_worker().Bind, req)
        return cls(symbol, ctx, resp, conn, args, grads, aux)

    @classmethod
    def _simple_bind_placed(cls, symbol, ctx, grad_req, type_dict, shapes, placed):
        """simple_bind with the arguments, gradients and auxiliary states of ``placed``
        ({name: context}, from group2ctx) allocated on their own contexts."""
        arg_shapes, _, aux_shapes = symbol.infer_shape(**shapes)
        types = {name: np.float32 for name in shapes}  # simple_bind's default dtype
        types.update(type_dict or {})
        arg_types, _, aux_types = symbol.infer_type(**types)
        if arg_shapes is None or arg_types is None:
            raise MXNetError("simple_bind: cannot infer the arguments' shapes and types from "
                             "%s" % (shapes,))
        arg_names = symbol.list_arguments()
        if isinstance(grad_req, str):
            reqs = {n: grad_req for n in arg_names}
        elif isinstance(grad_req, dict):
            reqs = {n: grad_req.get(n, "null") for n in arg_names}
        else:
            reqs = dict(zip(arg_names, grad_req))
        args, grads = [], []
        for name, shape, dtype in zip(arg_names, arg_shapes, arg_types):
            where = placed.get(name, ctx)
            args.append(zeros(tuple(shape), ctx=where, dtype=dtype))
            grads.append(zeros(tuple(shape), ctx=where, dtype=dtype)
                         if reqs.get(name, "null") != "null" else None)
        aux = [zeros(tuple(shape), ctx=placed.get(name, ctx), dtype=dtype) for name, shape, dtype
               in zip(symbol.list_auxiliary_states(), aux_shapes, aux_types)]
        return cls._bind(symbol, ctx, args, grads, reqs, aux)

    @classmethod
    def _simple_bind(cls, symbol, ctx, grad_req, type_dict, shapes):
        conn = connection.get()
        ctx = ctx or current_context()
        type_dict = type_dict or {}
        inputs = {}
        for name, shape in shapes.items():
            shape = (shape,) if isinstance(shape, int) else tuple(shape)
            inputs[name] = pb.tensor.TensorMeta(
                shape=shape, dtype=dtype_to_pb(type_dict.get(name, np.float32)))
        for name, dtype in type_dict.items():
            if name not in inputs:
                raise ValueError("type_dict names %s but no shape is given for it" % name)
        req = pb.worker.SimpleBindRequest(session=conn.session, symbol=_sym_json_pb(symbol),
                                          context=ctx.to_proto(pb.worker), inputs=inputs,
                                          keep_common_expr=_keep_common_expr())
        if isinstance(grad_req, str):
            req.grad_req = grad_req
        else:
            if not isinstance(grad_req, dict):
                grad_req = dict(zip(symbol.list_arguments(), grad_req))
            req.grad_req = "null"
            req.grad_req_by_name.update(grad_req)
        resp = conn.call(conn.require_worker().SimpleBind, req)
        return cls(symbol, ctx, resp, conn)

    # -- running --------------------------------------------------------------------------
    def forward(self, is_train=False, **kwargs):
        """Runs the forward pass; kwargs (NDArray or numpy) are copied into arguments first."""
        inputs = {}
        for name, value in kwargs.items():
            if name not in self._arg_names:
                raise ValueError("unknown argument %s" % name)
            if isinstance(value, NDArray):
                inputs[name] = value.handle
            else:
                self.arg_dict[name][:] = np.asarray(value)
        conn = self._conn
        resp = conn.call(conn.require_worker().Forward, pb.worker.ForwardRequest(
            session=conn.session, executor=self.handle, is_train=is_train, inputs=inputs,
            monitor=self._monitoring()))
        self.outputs = [self._wrap(i) for i in resp.outputs]
        self._report_monitored(resp.monitored)
        return self.outputs

    def backward(self, out_grads=None, is_train=True):
        """Runs the backward pass; out_grads: one NDArray per output, or None for losses."""
        if out_grads is None:
            handles = []
        else:
            if isinstance(out_grads, NDArray):
                out_grads = [out_grads]
            elif isinstance(out_grads, dict):
                out_grads = [out_grads[n] for n in self._output_names]
            handles = [g.handle if isinstance(g, NDArray) else array(g, ctx=self._ctx).handle
                       for g in out_grads]
            keep = out_grads  # noqa: F841  (arrays must live until the call is made)
        conn = self._conn
        resp = conn.call(conn.require_worker().Backward, pb.worker.BackwardRequest(
            session=conn.session, executor=self.handle, out_grads=handles,
            monitor=self._monitoring()))
        self._report_monitored(resp.monitored)

    # -- training on the worker (used by Module) --------------------------------------------
    def _set_optimizer(self, name, params):
        """Installs optimizer ``name`` with string ``params`` on the worker's executor; weight
        decay applies to *_weight / *_gamma arguments only, as MXNet's optimizer does."""
        conn = self._conn
        conn.call(conn.require_worker().SetExecutorOptimizer,
                  pb.worker.SetExecutorOptimizerRequest(
                      session=conn.session, executor=self.handle, name=name, params=params))

    def _update(self):
        """One optimizer step on every argument with a gradient."""
        conn = self._conn
        conn.call(conn.require_worker().Update, pb.worker.UpdateRequest(
            session=conn.session, executor=self.handle))

    def _train_step(self, inputs, return_values, update=True):
        """forward(is_train=True) + backward() (+ the optimizer's update when ``update``) in
        one round trip. ``inputs``: {argument name: NDArray}. Returns the outputs as numpy
        arrays when ``return_values``, else None."""
        conn = self._conn
        req = pb.worker.ForwardRequest(
            session=conn.session, executor=self.handle, is_train=True,
            inputs={k: v.handle for k, v in inputs.items()}, backward=True, update=update,
            return_values=return_values, monitor=self._monitoring())
        if return_values:  # waits for the step: watched, no deadline
            resp = conn.wait_call(conn.require_worker().Forward, req, "a training step")
        else:
            resp = conn.call(conn.require_worker().Forward, req)
        self.outputs = [self._wrap(i) for i in resp.outputs]
        self._report_monitored(resp.monitored)
        if not return_values:
            return None
        return [np.frombuffer(t.data, dtype=dtype_from_pb(t.meta.dtype)).reshape(
            tuple(t.meta.shape)) for t in resp.values]

    # -- monitoring -----------------------------------------------------------------------
    def set_monitor_callback(self, callback, monitor_all=False):
        """Calls ``callback(name, array)`` after each forward / backward with every operator
        output the run computed, as MXNet's (names such as 'fc1_output' and
        'fc1_backward_output0'; see ForwardRequest.monitor). The worker copies the outputs
        right after each operator runs. Unlike MXNet's, the callback gets the name as str and
        an mx.nd.NDArray (MXNet passes bytes and a raw handle). ``monitor_all`` (the
        operators' inputs too) is not offered: MXNetError."""
        if monitor_all:
            raise MXNetError("set_monitor_callback(monitor_all=True): mxgrid reports the "
                             "operators' outputs only; monitor with monitor_all=False")
        if callback is not None and not callable(callback):
            raise TypeError("the monitor callback must be callable")
        self._monitor_callback = callback
        self._monitor_all = monitor_all

    def _monitoring(self):
        """Whether this run's operator outputs are wanted: a callback is set and (for an
        mx.mon.Monitor) the monitor is between tic() and toc()."""
        callback = self._monitor_callback
        if callback is None:
            return False
        wanted = getattr(callback, "_mxgrid_wanted", None)
        return wanted() if wanted is not None else True

    def _report_monitored(self, monitored):
        if not monitored:
            return
        callback = self._monitor_callback
        for m in monitored:
            array = NDArray._from_info(m.array, self._conn)  # freed when dropped
            if callback is not None:
                callback(m.name, array)

    # -- graph ----------------------------------------------------------------------------
    def get_optimized_symbol(self):
        """The graph the worker runs, as MXNet's: after common expression elimination
        (unless MXNET_ELIMINATE_COMMON_EXPR=0 at bind), with MXNet's "_copy" nodes where
        merged outputs had to stay apart."""
        from .symbol import Symbol
        conn = self._conn
        resp = conn.call(conn.require_worker().GetExecutorSymbol,
                         pb.worker.GetExecutorSymbolRequest(session=conn.session,
                                                            executor=self.handle))
        return Symbol(resp.symbol.json)

    # -- optimizer state (Module) -----------------------------------------------------------
    def _optimizer_states(self):
        """{optimizer index: (update count, [NDArray, ...])} of the executor's optimizer."""
        conn = self._conn
        resp = conn.call(conn.require_worker().GetExecutorOptimizerStates,
                         pb.worker.GetExecutorOptimizerStatesRequest(
                             session=conn.session, executor=self.handle))
        return {st.index: (st.update_count,
                           [NDArray._from_info(a, self._conn) for a in st.arrays])
                for st in resp.states}

    def _set_optimizer_states(self, states):
        """Replaces states: {optimizer index: (update count, [NDArray, ...])}."""
        conn = self._conn
        req = pb.worker.SetExecutorOptimizerStatesRequest(session=conn.session,
                                                          executor=self.handle)
        for index, (count, arrays) in sorted(states.items()):
            st = req.states.add(index=index, update_count=count)
            for a in arrays:
                st.arrays.add(handle=a.handle)
        conn.call(conn.require_worker().SetExecutorOptimizerStates, req)

    # -- views ----------------------------------------------------------------------------
    @property
    def _output_names(self):
        """The outputs' names as the bound symbol lists them (MXNet's output_dict keys; the
        graph the worker runs may name a merged output's copy otherwise)."""
        return self._symbol.list_outputs()

    @property
    def arg_dict(self):
        return dict(zip(self._arg_names, self.arg_arrays))

    @property
    def grad_dict(self):
        return dict(zip(self._arg_names, self.grad_arrays))

    @property
    def aux_dict(self):
        return dict(zip(self._aux_names, self.aux_arrays))

    @property
    def output_dict(self):
        return dict(zip(self._output_names, self.outputs))

    def copy_params_from(self, arg_params, aux_params=None, allow_extra_params=False):
        """Copies values into the bound arguments / auxiliary states by name."""
        for name, value in arg_params.items():
            if name in self.arg_dict:
                self.arg_dict[name][:] = value
            elif not allow_extra_params:
                raise ValueError("Find name \"%s\" that is not in the arguments" % name)
        for name, value in (aux_params or {}).items():
            if name in self.aux_dict:
                self.aux_dict[name][:] = value
            elif not allow_extra_params:
                raise ValueError("Find name %s that is not in the auxiliary states" % name)

    def reshape(self, partial_shaping=False, allow_up_sizing=False, **kwargs):
        """A new executor for new argument shapes (``x=(3, 4)``) sharing this one's memory,
        as MXNet's: an array whose shape is unchanged is shared, one that shrinks becomes a
        view of this executor's (its leading elements); growing needs ``allow_up_sizing``
        (new memory), and a changed shape of an argument not named needs
        ``partial_shaping``."""
        unknown = [n for n in kwargs if n not in self._arg_names]
        if unknown:
            raise ValueError("reshape: %s is not an argument of the executor" % unknown[0])
        shapes = {}
        for name, shape in kwargs.items():
            shape = (shape,) if isinstance(shape, int) else tuple(shape)
            shapes[name] = pb.worker.Dims(dims=shape)
        conn = self._conn
        resp = conn.call(conn.require_worker().ReshapeExecutor, pb.worker.ReshapeExecutorRequest(
            session=conn.session, executor=self.handle, shapes=shapes,
            partial_shaping=partial_shaping, allow_up_sizing=allow_up_sizing))
        return Executor(self._symbol, self._ctx, resp, conn)

    def debug_str(self):
        """The bound graph's operators in execution order, then the memory its plan
        allocates, in MXNet's words ('Total N MB allocated')."""
        graph = json.loads(self._symbol.tojson())
        lines = []
        for node in graph["nodes"]:
            if node["op"] == "null":
                lines.append("Variable:%s" % node["name"])
            else:
                lines.append("Op:%s, Name=%s" % (node["op"], node["name"]))
        lines.append("Total %d MB allocated" % (self._planned_bytes >> 20))
        return "\n".join(lines) + "\n"

