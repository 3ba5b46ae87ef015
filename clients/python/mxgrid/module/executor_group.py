"""DataParallelExecutorGroup: one executor per device context on the worker, each bound to a
slice of the batch, as MXNet 1.9.1's mxnet.module.executor_group.

    group = DataParallelExecutorGroup(net, [mx.cpu(0), mx.cpu(1)], [1, 1],
                                      data_shapes=[('data', (32, 100))],
                                      label_shapes=[('softmax_label', (32,))],
                                      param_names=params, for_training=True,
                                      inputs_need_grad=False)
    group.forward(batch, is_train=True)   # rows 0..15 to cpu(0), 16..31 to cpu(1)
    group.backward()
    group.get_outputs()                   # concatenated on cpu(0), in batch order

Each executor is bound on the worker to its own context; the batch is split along each
input's batch axis (the ``N`` of its layout) by ``workload`` (MXNet's _split_input_slice)
and each slice goes to its executor by handle (the worker copies it across devices).
Gradients stay per device: the Module reduces them (through a KVStore or per-device
updaters). ``shared_group`` (bucketing) binds every parameter, and its gradient, to the
very arrays of the shared group's executors, and takes the other inputs from
``shared_data_arrays`` when one of the same shape and type is there.

``group2ctxs`` places the variables of each ctx_group (arguments, their gradients,
auxiliary states) on the group's context. Every CPU context is the worker's host memory, so
groups spread over CPUs are placements of the same memory (the graph runs as one);
placing groups on other devices than the executor's raises MXNetError.

Thread-safety: not thread-safe (as MXNet's).
"""
import logging
from collections import OrderedDict

import numpy as np

from .. import context as ctx_mod
from .. import ndarray as nd
from ..base import MXNetError
from ..io import DataDesc
from ..symbol import _group_contexts

__all__ = ["DataParallelExecutorGroup"]


def _split_input_slice(batch_size, work_load_list):
    """The batch rows of each device: shares proportional to ``work_load_list``, rounding
    left over to the last device. ValueError when a device would get no rows."""
    total = float(sum(work_load_list))
    counts = [int(round(w * batch_size / total)) for w in work_load_list]
    short = batch_size - sum(counts)
    if short > 0:
        counts[-1] += short
    slices, begin = [], 0
    for count in counts:
        start = min(begin, batch_size)
        stop = min(begin + count, batch_size)
        if start >= stop:
            raise ValueError("Too many slices: a batch of %d cannot be split over %d "
                             "devices with workload %s" % (batch_size, len(work_load_list),
                                                           list(work_load_list)))
        slices.append(slice(start, stop))
        begin += count
    return slices


def _prepare_group2ctxs(group2ctxs, num_contexts):
    """One {ctx_group: context} (or None) per device, from MXNet's accepted forms: None, a
    list of dicts (one per device), or a dict whose values are a context or a list of one
    context or of one context per device."""
    if group2ctxs is None:
        return [None] * num_contexts
    if isinstance(group2ctxs, list):
        if len(group2ctxs) != num_contexts:
            raise ValueError("group2ctxs has %d entries for %d contexts"
                             % (len(group2ctxs), num_contexts))
        return list(group2ctxs)
    if not isinstance(group2ctxs, dict):
        raise ValueError("group2ctxs must be a dict of ctx_group to context(s), or a list of "
                         "such dicts, one per context")
    per_device = [{} for _ in range(num_contexts)]
    for group, value in group2ctxs.items():
        if isinstance(value, ctx_mod.Context):
            value = [value]
        value = list(value)
        if len(value) == 1:
            value = value * num_contexts
        if len(value) != num_contexts:
            raise ValueError("group2ctxs[%r] lists %d contexts; give 1 or %d"
                             % (group, len(value), num_contexts))
        for i, ctx in enumerate(value):
            per_device[i][group] = ctx
    return per_device


def _slice_rows(value, axis, part):
    """Rows ``part`` (a slice) of ``value`` (NDArray or numpy) along ``axis``."""
    if isinstance(value, nd.NDArray):
        if axis == 0:
            return value[part.start:part.stop]
        return nd.slice_axis(value, axis=axis, begin=part.start, end=part.stop)
    value = np.asarray(value)
    index = [slice(None)] * value.ndim
    index[axis] = part
    return value[tuple(index)]


def _merge(per_output, axes):
    """Each output's per-device arrays concatenated along its batch axis on the first
    device (just the array when there is one device or no batch axis)."""
    merged = []
    for arrays, axis in zip(per_output, axes):
        if len(arrays) == 1 or axis < 0:
            merged.append(arrays[0])
            continue
        ctx = arrays[0].context
        merged.append(nd.concat(*[a if a.context == ctx else a.as_in_context(ctx)
                                  for a in arrays], dim=axis))
    return merged


# MXNet's type codes (mshadow), as a variable's __dtype__ attribute holds them.
_MX_TYPE_CODES = {0: np.float32, 1: np.float64, 2: np.float16, 3: np.uint8, 4: np.int32,
                  5: np.int8, 6: np.int64, 7: np.bool_}


def _nbytes(arrays):
    return sum(int(np.prod(a.shape)) * np.dtype(a.dtype).itemsize
               for a in arrays if a is not None)


class DataParallelExecutorGroup:
    """Executors of one symbol on several devices, each on a slice of the batch (MXNet's
    constructor and members; see the module doc)."""

    def __init__(self, symbol, contexts, workload, data_shapes, label_shapes, param_names,
                 for_training, inputs_need_grad, shared_group=None, logger=logging,
                 fixed_param_names=None, grad_req="write", state_names=None, group2ctxs=None):
        self.symbol = symbol
        self.contexts = list(contexts)
        self.workload = list(workload) if workload is not None else [1] * len(self.contexts)
        if len(self.workload) != len(self.contexts):
            raise ValueError("workload has %d entries for %d contexts"
                             % (len(self.workload), len(self.contexts)))
        self.group2ctxs = _prepare_group2ctxs(group2ctxs, len(self.contexts))
        self.param_names = list(param_names)
        self.arg_names = symbol.list_arguments()
        self.aux_names = symbol.list_auxiliary_states()
        self.for_training = for_training
        self.inputs_need_grad = inputs_need_grad
        self.logger = logger
        self.fixed_param_names = list(fixed_param_names or [])
        self.state_names = list(state_names or [])
        self._total_exec_bytes = 0

        data_shapes = [d if isinstance(d, DataDesc) else DataDesc(*d) for d in data_shapes]
        if label_shapes is not None:
            label_shapes = [d if isinstance(d, DataDesc) else DataDesc(*d)
                            for d in label_shapes]
        self.grad_req = self._grad_reqs(grad_req if for_training else "null",
                                        [d.name for d in data_shapes])
        if shared_group is not None:
            self.shared_data_arrays = shared_group.shared_data_arrays
        else:
            self.shared_data_arrays = [{} for _ in self.contexts]

        self.batch_size = None
        self.slices = None
        self.execs = []
        self._monitor = None  # an mx.mon.Monitor installed on every executor
        self.data_shapes = self.label_shapes = None
        self.data_names = self.label_names = None
        self.data_layouts = self.label_layouts = None
        self.data_arrays = self.label_arrays = self.state_arrays = None
        self.param_arrays = self.grad_arrays = self.aux_arrays = None
        self.input_grad_arrays = None
        self.output_names = symbol.list_outputs()
        self.num_outputs = len(self.output_names)
        self.output_layouts = [DataDesc.get_batch_axis(symbol[i].attr("__layout__"))
                               for i in range(self.num_outputs)]
        self.bind_exec(data_shapes, label_shapes, shared_group)

    def _grad_reqs(self, grad_req, data_names):
        """{argument: 'write'|'add'|'null'}: parameters get ``grad_req`` unless fixed, data
        inputs only with inputs_need_grad, the rest (labels, states) none; a dict overrides
        per name and a list gives one per argument, as MXNet."""
        if isinstance(grad_req, (list, tuple)):
            if len(grad_req) != len(self.arg_names):
                raise ValueError("grad_req lists %d values for %d arguments"
                                 % (len(grad_req), len(self.arg_names)))
            return dict(zip(self.arg_names, grad_req))
        if not isinstance(grad_req, (str, dict)):
            raise ValueError("grad_req must be one of str, list, tuple, or dict.")
        default = grad_req if isinstance(grad_req, str) else "write"
        reqs = {}
        for name in self.arg_names:
            if name in self.param_names:
                reqs[name] = "null" if name in self.fixed_param_names else default
            elif name in data_names:
                reqs[name] = default if self.inputs_need_grad else "null"
            else:
                reqs[name] = "null"
        if isinstance(grad_req, dict):
            reqs.update(grad_req)
        return reqs

    # -- binding --------------------------------------------------------------------------
    def decide_slices(self, data_shapes):
        """Each input's batch axis (-1: none); sets batch_size and the per-device slices."""
        axes = [DataDesc.get_batch_axis(getattr(d, "layout", None)) for d in data_shapes]
        for desc, axis in zip(data_shapes, axes):
            if axis < 0:
                continue
            size = desc.shape[axis]
            if self.batch_size is None:
                self.batch_size = size
                self.slices = _split_input_slice(size, self.workload)
            elif size != self.batch_size:
                raise ValueError("all data must have the same batch size: batch_size = %d, "
                                 "but %s has shape %s" % (self.batch_size, desc.name,
                                                          desc.shape))
        return axes

    def _sliced_shape(self, shapes, i, axes):
        out = []
        for desc, axis in zip(shapes, axes):
            shape = list(desc.shape)
            if axis >= 0:
                shape[axis] = self.slices[i].stop - self.slices[i].start
            out.append(DataDesc(desc.name, tuple(shape), desc.dtype, desc.layout))
        return out

    def bind_exec(self, data_shapes, label_shapes, shared_group=None, reshape=False):
        """Binds one executor per context (reshape: rebinds them for the new shapes on the
        same parameter, gradient and auxiliary arrays)."""
        assert reshape or not self.execs
        self.batch_size = None
        self.data_layouts = self.decide_slices(data_shapes)
        if label_shapes is not None:
            self.label_layouts = self.decide_slices(label_shapes)
        for i in range(len(self.contexts)):
            shapes = self._sliced_shape(data_shapes, i, self.data_layouts)
            if label_shapes is not None:
                shapes += self._sliced_shape(label_shapes, i, self.label_layouts)
            if reshape:
                old = self.execs[i]
                self.execs[i] = self._bind_sharing(i, shapes, old, None)
                if self._monitor is not None:  # the monitor follows the new executor
                    self._monitor.exes = [e for e in self._monitor.exes if e is not old]
                    self._monitor.install(self.execs[i])
            else:
                self.execs.append(self._bind_ith_exec(i, shapes, shared_group))
        self.data_shapes = data_shapes
        self.label_shapes = label_shapes
        self.data_names = [d.name for d in data_shapes]
        self.label_names = [d.name for d in label_shapes] if label_shapes is not None else []
        self._collect_arrays()

    def _bind_ith_exec(self, i, shapes, shared_group):
        ctx = self.contexts[i]
        if shared_group is not None:
            return self._bind_sharing(i, shapes, shared_group.execs[i],
                                      self.shared_data_arrays[i])
        types = self._input_types(shapes)
        executor = self.symbol.simple_bind(ctx, grad_req=self.grad_req, type_dict=types,
                                           group2ctx=self.group2ctxs[i],
                                           **{d.name: d.shape for d in shapes})
        buffer = self.shared_data_arrays[i]
        for name, array in executor.arg_dict.items():
            if name not in self.param_names:
                buffer[name] = array
        self._total_exec_bytes += _nbytes(executor.arg_arrays + executor.grad_arrays +
                                          executor.aux_arrays + executor.outputs)
        return executor

    def _input_types(self, shapes):
        """{input: dtype}: the DataDesc's, unless the variable declares a __dtype__ (MXNet's
        type codes)."""
        types = {d.name: d.dtype for d in shapes}
        attrs = self.symbol.attr_dict()
        for name in list(types):
            declared = attrs.get(name, {}).get("__dtype__")
            if declared not in (None, "-1") and int(declared) in _MX_TYPE_CODES:
                types[name] = _MX_TYPE_CODES[int(declared)]
        return types

    def _bind_sharing(self, i, shapes, source, buffer):
        """Binds executor ``i`` for ``shapes`` on ``source``'s parameter and gradient arrays
        and its auxiliary states (same shapes); other arguments from ``buffer`` when one of
        the same shape and type is there, else new (and kept in ``buffer``). Without a
        buffer (reshape), every argument of unchanged shape keeps ``source``'s array."""
        ctx = self.contexts[i]
        placed = _group_contexts(self.symbol, ctx, self.group2ctxs[i])
        input_shapes = {d.name: d.shape for d in shapes}
        arg_shapes, _, aux_shapes = self.symbol.infer_shape(**input_shapes)
        arg_types, _, aux_types = self.symbol.infer_type(**self._input_types(shapes))
        if arg_shapes is None or arg_types is None:
            raise MXNetError("cannot infer the shapes and types of %s's arguments from %s"
                             % (self.symbol.name, input_shapes))
        src_args, src_grads, src_aux = source.arg_dict, source.grad_dict, source.aux_dict
        args, grads, aux, created = [], [], [], []
        for name, shape, dtype in zip(self.arg_names, arg_shapes, arg_types):
            shape = tuple(shape)
            need_grad = self.grad_req.get(name, "null") != "null"
            shared = src_args.get(name)
            # A reshape (no buffer) keeps every same-shaped array (states too), a shared
            # group only the parameters.
            if (name in self.param_names or buffer is None) and shared is not None and \
                    tuple(shared.shape) == shape and \
                    np.dtype(shared.dtype) == np.dtype(dtype):
                args.append(shared)
                grad = src_grads.get(name) if need_grad else None
                if need_grad and grad is None:
                    grad = nd.zeros(shape, ctx=placed.get(name, ctx), dtype=dtype)
                    created.append(grad)
                grads.append(grad)
                continue
            array = buffer.get(name) if buffer is not None else None
            if array is None or tuple(array.shape) != shape or \
                    np.dtype(array.dtype) != np.dtype(dtype):
                array = nd.zeros(shape, ctx=placed.get(name, ctx), dtype=dtype)
                created.append(array)
                if buffer is not None and name not in self.param_names:
                    buffer[name] = array
            args.append(array)
            grad = nd.zeros(shape, ctx=placed.get(name, ctx), dtype=dtype) if need_grad \
                else None
            created.append(grad)
            grads.append(grad)
        for name, shape, dtype in zip(self.aux_names, aux_shapes, aux_types):
            shared = src_aux.get(name)
            if shared is None or tuple(shared.shape) != tuple(shape):
                shared = nd.zeros(tuple(shape), ctx=placed.get(name, ctx), dtype=dtype)
                created.append(shared)
            aux.append(shared)
        executor = self.symbol.bind(ctx, args, args_grad=grads, grad_req=self.grad_req,
                                    aux_states=aux)
        self._total_exec_bytes += _nbytes(created + executor.outputs)
        return executor

    def _collect_arrays(self):
        execs = self.execs
        self.data_arrays = [[(self.slices[i], e.arg_dict[name]) for i, e in enumerate(execs)]
                            for name in self.data_names]
        self.label_arrays = None
        if self.label_shapes is not None:
            self.label_arrays = [[(self.slices[i], e.arg_dict[name])
                                  for i, e in enumerate(execs)] for name in self.label_names]
        self.state_arrays = [[e.arg_dict[name] for e in execs] for name in self.state_names]
        self.param_arrays = [[e.arg_dict[name] for e in execs]
                             for name in self.arg_names if name in self.param_names]
        self.grad_arrays = None
        if self.for_training:
            self.grad_arrays = [[e.grad_dict[name] for e in execs]
                                for name in self.arg_names if name in self.param_names]
        self.input_grad_arrays = None
        if self.inputs_need_grad:
            self.input_grad_arrays = [[e.grad_dict[name] for e in execs]
                                      for name in self.data_names if name in self.arg_names]
        self.aux_arrays = [[e.aux_dict[name] for e in execs] for name in self.aux_names]

    def reshape(self, data_shapes, label_shapes):
        """Rebinds every executor for new input shapes, on the same parameters."""
        data_shapes = [d if isinstance(d, DataDesc) else DataDesc(*d) for d in data_shapes]
        if label_shapes is not None:
            label_shapes = [d if isinstance(d, DataDesc) else DataDesc(*d)
                            for d in label_shapes]
        if data_shapes == self.data_shapes and label_shapes == self.label_shapes:
            return
        self.bind_exec(data_shapes, label_shapes, reshape=True)

    # -- parameters -----------------------------------------------------------------------
    def set_params(self, arg_params, aux_params, allow_extra=False):
        """Copies the values into every executor's parameters and auxiliary states."""
        for executor in self.execs:
            executor.copy_params_from(arg_params, aux_params,
                                      allow_extra_params=allow_extra)

    def get_params(self, arg_params, aux_params):
        """Writes each parameter's (and auxiliary state's) mean over the devices into the
        arrays of ``arg_params`` / ``aux_params``."""
        params = [n for n in self.arg_names if n in self.param_names]
        for names, blocks, targets in ((params, self.param_arrays, arg_params),
                                       (self.aux_names, self.aux_arrays, aux_params)):
            for name, block in zip(names, blocks):
                value = self._mean(block)
                target = targets[name]
                if np.dtype(value.dtype) != np.dtype(target.dtype):
                    value = value.astype(target.dtype)
                value.copyto(target)

    @staticmethod
    def _mean(block):
        cpu = ctx_mod.cpu()
        if len(block) == 1:
            return block[0]
        total = block[0].copyto(cpu)
        for array in block[1:]:
            total += array.copyto(cpu)
        return total / len(block)

    # -- computation ----------------------------------------------------------------------
    def _axis_of(self, name):
        if name in self.data_names:
            return self.data_layouts[self.data_names.index(name)]
        if self.label_names and name in self.label_names:
            return self.label_layouts[self.label_names.index(name)]
        return 0

    def forward_inputs(self, inputs, is_train=None):
        """Runs forward on every device with its slice of ``inputs`` ({input name: NDArray
        or numpy array of the whole batch})."""
        if is_train is None:
            is_train = self.for_training
        single = len(self.execs) == 1
        for i, executor in enumerate(self.execs):
            feed = {}
            for name, value in inputs.items():
                axis = self._axis_of(name)
                feed[name] = value if single or axis < 0 else \
                    _slice_rows(value, axis, self.slices[i])
            executor.forward(is_train=is_train, **feed)

    def forward(self, data_batch, is_train=None):
        """Splits ``data_batch`` (its data, and its labels when it has some) across the
        devices and runs forward on each."""
        inputs = dict(zip(self.data_names, data_batch.data))
        label = getattr(data_batch, "label", None)
        if self.label_arrays is not None and label:
            inputs.update(zip(self.label_names, label))
        self.forward_inputs(inputs, is_train)

    def backward(self, out_grads=None):
        """Runs backward on every device, each with its slice of ``out_grads``."""
        assert self.for_training, "re-bind with for_training=True to run backward"
        if out_grads is None:
            out_grads = []
        elif isinstance(out_grads, nd.NDArray):
            out_grads = [out_grads]
        single = len(self.execs) == 1
        for i, executor in enumerate(self.execs):
            sliced = []
            for grad, axis in zip(out_grads, self.output_layouts):
                if not isinstance(grad, nd.NDArray):
                    grad = nd.array(grad, ctx=self.contexts[i])
                if not single and axis >= 0:
                    grad = _slice_rows(grad, axis, self.slices[i])
                if grad.context != self.contexts[i]:
                    grad = grad.as_in_context(self.contexts[i])
                sliced.append(grad)
            if any(g is not None for g in executor.grad_arrays):  # else nothing to compute
                executor.backward(out_grads=sliced or None)

    def get_output_shapes(self):
        """[(output name, shape over the whole batch)]."""
        shapes = []
        for name, out, axis in zip(self.output_names, self.execs[0].outputs,
                                   self.output_layouts):
            shape = list(out.shape)
            if axis >= 0 and len(self.execs) > 1:
                shape[axis] = self.batch_size
            shapes.append((name, tuple(shape)))
        return shapes

    def get_outputs(self, merge_multi_context=True, begin=0, end=None):
        """Outputs [begin, end): merged over the devices (``[out1, out2]``) or per device
        (``[[out1_dev1, out1_dev2], ...]``)."""
        if end is None:
            end = self.num_outputs
        outputs = [[e.outputs[i] for e in self.execs] for i in range(begin, end)]
        if merge_multi_context:
            return _merge(outputs, self.output_layouts[begin:end])
        return outputs

    def get_states(self, merge_multi_context=True):
        """The state inputs per device ([[state1_dev1, state1_dev2], ...])."""
        assert not merge_multi_context, \
            "merge_multi_context=True is not supported for get_states yet."
        return self.state_arrays

    def set_states(self, states=None, value=None):
        """Sets the state inputs from per-device arrays (``states`` as get_states gives them)
        or to a scalar ``value``; exactly one of the two."""
        if states is not None:
            assert value is None, "Only one of states & value can be specified."
            for sources, targets in zip(states, self.state_arrays):
                if isinstance(sources, nd.NDArray):
                    sources = [sources] * len(targets)
                for src, dst in zip(sources, targets):
                    src.copyto(dst)
        else:
            assert value is not None, "At least one of states & value must be specified."
            for targets in self.state_arrays:
                for dst in targets:
                    dst[:] = value

    def get_input_grads(self, merge_multi_context=True):
        """Gradients of the data inputs, merged or per device."""
        assert self.inputs_need_grad
        if merge_multi_context:
            return _merge(self.input_grad_arrays, self.data_layouts)
        return self.input_grad_arrays

    def update_metric(self, eval_metric, labels, pre_sliced=False):
        """Updates ``eval_metric`` with each device's outputs and its slice of ``labels``
        (``pre_sliced``: labels already given per device)."""
        single = len(self.execs) == 1
        for i, executor in enumerate(self.execs):
            if pre_sliced:
                sliced = labels[i]
            elif single:
                sliced = labels
            else:
                sliced = [label if axis < 0 else _slice_rows(label, axis, self.slices[i])
                          for label, axis in zip(labels, self.label_layouts or [])]
            eval_metric.update_dict(OrderedDict(zip(self.label_names, sliced)),
                                    OrderedDict(zip(self.output_names, executor.outputs)))

    def install_monitor(self, mon):
        """Installs ``mon`` on every executor (and on those a reshape binds later)."""
        self._monitor = mon
        for executor in self.execs:
            mon.install(executor)
