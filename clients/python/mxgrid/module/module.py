"""mx.mod.Module: MXNet 1.9.1's high-level training interface over executors bound on the
worker, one per device context (a DataParallelExecutorGroup).

    mod = mx.mod.Module(net, context=mx.cpu())
    mod.fit(train_iter, eval_data=val_iter, num_epoch=10, optimizer_params={'learning_rate': 0.1})
    mod.score(val_iter, 'acc')          # [('accuracy', 0.97)]
    mod.save_checkpoint('mlp', 10)      # mlp-symbol.json, mlp-0010.params (MXNet's layout)

Where the work happens: the executor (SimpleBind) and every array stay on the worker. A step
is ``forward`` (an NDArrayIter batch: views of the dataset already on the worker, copied in
by Forward; a host batch: uploaded straight into the executor's inputs), ``backward``
(Backward) and ``update``. With one device and a 'local' (or no) kvstore the optimizer runs
on the worker's executor (SetExecutorOptimizer; ``rescale_grad`` = 1/batch size, as MXNet's
Module sets it), as MXNet updates locally then, and ``fit`` makes each step one round trip:
Forward with backward, update and the outputs' values for the metric. With a dist store
(``kvstore='dist_sync'``, MXNet's update_on_kvstore) the optimizer runs on the kvstore
shards and the executor is bound to the store (SetExecutorKVStore): the worker itself pushes
each gradient and pulls the updated weight at the update, so a step is still one round trip
from the client. As MXNet's Module, the store's keys are the parameter names, every rank
initializes them (rank 0's values win, pulled back by all), and ``rescale_grad`` is
1/(batch size x num_workers) for dist_*_sync types. Labels from an NDArrayIter never leave
the client.

User code that takes the steps itself (``forward_backward``, ``update``, ``update_metric``,
as MXNet's tutorials write a training loop) gets the same single round trip: when the
optimizer runs on the executor and the batch is on the worker, ``forward_backward`` only
records the step, ``update`` adds the update to it, and ``update_metric`` (or anything else
that touches the executor: ``get_outputs``, ``get_params``, another ``forward``...) sends it
as one Forward. With a dist store ``update`` itself sends the step (the other ranks' sync
rounds wait for this rank's push, which MXNet also starts at update()), and the outputs'
values it brings back serve the following ``update_metric``. As with MXNet's asynchronous
engine, an error of the step is then raised by the call that sends it.

Several contexts (``context=[mx.cpu(0), mx.cpu(1)]``, data parallel on one worker): the
batch is split over one executor per device (see executor_group.py) and, as MXNet's Module,
``update`` reduces the gradients through the KVStore: with update_on_kvstore (the default;
MXNET_UPDATE_ON_KVSTORE=0 turns it off) the store runs the optimizer on the summed
gradient and every device pulls the new weight; otherwise the store (or, with
kvstore=None, nothing) sums the gradients and an mx.optimizer.Updater updates each device's
copy. ``rescale_grad`` is 1/(whole batch), so two devices with half a batch each train as one
device with the whole batch. These steps are separate calls (one Forward per device).

A batch of another shape rebinds the executors on the same parameter arrays (reshape); an
optimizer running on the executor moves to the new one with its state (momentum, Adam's
moments, update counts), downloaded and uploaded through the worker. That state is also
what ``_updater`` (an ExecutorUpdater, MXNet's Updater interface) and
save_optimizer_states / load_optimizer_states read and write.

Thread-safety: a Module is not thread-safe (as MXNet's).
"""
import logging
import warnings
from collections import OrderedDict

import numpy as np

from .. import context as ctx_mod
from .. import initializer as init_mod
from .. import ndarray as nd
from ..io import DataDesc
from ..model import load_checkpoint
from .base_module import BaseModule, _as_list, _descs, _host_metric
from .executor_group import DataParallelExecutorGroup
from .module_optimizer import ModuleOptimizer

__all__ = ["Module"]



class _DeferredStep:
    """A forward_backward not yet sent: its inputs (kept alive until sent), its batch, and
    whether update() was called after it."""

    __slots__ = ("inputs", "batch", "update")

    def __init__(self, inputs, batch):
        self.inputs = inputs
        self.batch = batch
        self.update = False



class Module(ModuleOptimizer, BaseModule):
    """A Symbol bound on the worker to one or more device contexts (data parallel)."""

    def __init__(self, symbol, data_names=("data",), label_names=("softmax_label",),
                 logger=logging, context=None, work_load_list=None, fixed_param_names=None,
                 state_names=None, group2ctxs=None, compression_params=None):
        super().__init__(logger=logger)
        if context is None:
            context = ctx_mod.current_context()
        self._context = _as_list(context)
        if not self._context:
            raise ValueError("context must name at least one device")
        if work_load_list is None:
            work_load_list = [1] * len(self._context)
        if len(work_load_list) != len(self._context):
            raise ValueError("work_load_list has %d entries for %d contexts"
                             % (len(work_load_list), len(self._context)))
        self._work_load_list = list(work_load_list)
        self._group2ctxs = group2ctxs
        self._symbol = symbol
        data_names = list(data_names) if data_names is not None else []
        label_names = list(label_names) if label_names is not None else []
        state_names = list(state_names) if state_names is not None else []
        fixed_param_names = list(fixed_param_names) if fixed_param_names is not None else []
        arg_names = symbol.list_arguments()
        for name in data_names:
            if name not in arg_names:
                raise ValueError("Input %s is not an argument of the symbol %s"
                                 % (name, arg_names))
        # Labels a symbol does not take (e.g. an inference graph) are dropped, as MXNet warns.
        label_names = [n for n in label_names if n in arg_names]
        input_names = data_names + label_names + state_names
        self._data_names = data_names
        self._label_names = label_names
        self._state_names = state_names
        self._fixed_param_names = fixed_param_names
        self._param_names = [x for x in arg_names if x not in input_names]
        self._aux_names = symbol.list_auxiliary_states()
        self._output_names = symbol.list_outputs()
        self._group = None  # DataParallelExecutorGroup, once bound
        self._step = None  # _DeferredStep: forward_backward (+ update) not yet sent
        # (batch, output values) of a step a dist store's update() sent, for update_metric.
        self._sent = None
        self._data_shapes = None
        self._label_shapes = None
        self._grad_req = None
        self._kvstore = None
        self._on_executor = False
        self._optimizer = None
        self._update_names = []
        self._kv_groups = []
        self._updater = None  # several devices without update_on_kvstore: per-device updates
        self._update_on_kvstore = False
        self._shared_updates = False  # a bucket's module: no executor-side optimizer
        self._total_exec_bytes = 0
        self._pending = None  # (arg_params, aux_params) set before bind
        self._preload_opt_states = None  # Module.load(load_optimizer_states=True)
        self._monitor = None  # install_monitor's: steps are then sent as they are taken

    # -- the executors, with the deferred step sent first --------------------------------
    @property
    def _exec_group(self):
        """The DataParallelExecutorGroup, once any deferred step has been sent (every use
        goes through here, so nothing observes an executor before its step)."""
        if self._step is not None:
            self._send_step(return_values=False)
        return self._group

    @property
    def _exec(self):
        """The executor of a one-device module (the first device's otherwise)."""
        group = self._exec_group
        return group.execs[0] if group is not None else None

    @property
    def _executor(self):
        """The first executor, without sending a deferred step."""
        return self._group.execs[0]

    def _single(self):
        return len(self._context) == 1

    def _send_step(self, return_values):
        """Sends the deferred step as one Forward; its outputs' values when return_values."""
        step, self._step = self._step, None
        return self._group.execs[0]._train_step(step.inputs, return_values=return_values,
                                                update=step.update)

    # -- descriptors ----------------------------------------------------------------------
    @property
    def symbol(self):
        return self._symbol

    @property
    def data_names(self):
        return self._data_names

    @property
    def label_names(self):
        return self._label_names

    @property
    def output_names(self):
        return self._output_names

    @property
    def data_shapes(self):
        assert self.binded
        return self._data_shapes

    @property
    def label_shapes(self):
        assert self.binded
        return self._label_shapes

    @property
    def output_shapes(self):
        assert self.binded
        return self._exec_group.get_output_shapes()

    @property
    def executor(self):
        """The bound mx.executor.Executor of a one-device module (mxgrid extension; MXNet
        reaches it as _exec_group.execs[0])."""
        return self._exec

    def _batch_size(self):
        return self._group.batch_size

    # -- bind -----------------------------------------------------------------------------
    def bind(self, data_shapes, label_shapes=None, for_training=True, inputs_need_grad=False,
             force_rebind=False, shared_module=None, grad_req="write"):
        """Binds the symbol for these input shapes: one executor per context (SimpleBind on
        the worker); with ``shared_module`` (bucketing), on its parameter arrays."""
        if force_rebind:
            self._reset_bind()
        if self.binded:
            self.logger.warning("Already bound, ignoring bind()")
            return
        self.for_training = for_training
        self.inputs_need_grad = inputs_need_grad
        data_shapes = self._checked_descs(data_shapes, "data_shapes")
        label_shapes = self._checked_descs(label_shapes, "label_shapes") \
            if label_shapes else None
        shared_group = None
        if shared_module is not None:
            assert isinstance(shared_module, Module) and shared_module.binded and \
                shared_module.params_initialized
            shared_group = shared_module._exec_group
        self._grad_req = grad_req
        self._group = DataParallelExecutorGroup(
            self._symbol, self._context, self._work_load_list, data_shapes, label_shapes,
            self._param_names, for_training, inputs_need_grad, shared_group,
            logger=self.logger, fixed_param_names=self._fixed_param_names,
            grad_req=grad_req, state_names=self._state_names, group2ctxs=self._group2ctxs)
        self._data_shapes = data_shapes
        self._label_shapes = label_shapes
        self._total_exec_bytes = self._group._total_exec_bytes
        self.binded = True
        if shared_module is not None:
            self.params_initialized = True
            if shared_module.optimizer_initialized:
                self.borrow_optimizer(shared_module)
        if self._pending is not None:
            arg_params, aux_params = self._pending
            self._pending = None
            self._copy_params(arg_params, aux_params, allow_missing=True)

    @staticmethod
    def _checked_descs(shapes, what):
        try:
            descs = _descs(shapes)
        except (TypeError, ValueError) as err:
            raise TypeError("%s must be (name, shape) pairs or DataDesc: %s" % (what, err))
        for desc in descs:
            if not isinstance(desc.name, str) or \
                    not all(isinstance(d, (int, np.integer)) for d in desc.shape):
                raise TypeError("%s must be (name, shape of ints) pairs or DataDesc; got %r"
                                % (what, (desc.name, desc.shape)))
        return descs

    def _reset_bind(self):
        self.binded = False
        if self._step is not None:
            self._send_step(return_values=False)
        self._group = None
        self._data_shapes = None
        self._label_shapes = None

    def reshape(self, data_shapes, label_shapes=None):
        """Rebinds for new input shapes, keeping the parameter and gradient arrays (Bind with
        the same handles, so the optimizer keeps updating the same weights)."""
        assert self.binded
        self._data_shapes = _descs(data_shapes)
        self._label_shapes = _descs(label_shapes) if label_shapes else None
        old = self._exec
        moving = self.optimizer_initialized and self._single() and self._on_executor and \
            not self._dist()
        states = old._optimizer_states() if moving else None
        self._exec_group.reshape(self._data_shapes, self._label_shapes)
        if not self.optimizer_initialized or not self._single() or self._exec is old:
            return
        if self._dist():
            self._bind_executor_kvstore()  # the new executor updates through the store too
        elif self._on_executor:
            # The optimizer moves to the new executor with its state (momentum, counts).
            self._exec._set_optimizer(*self._optimizer._server_form())
            if states:
                self._exec._set_optimizer_states(states)

    # -- parameters -----------------------------------------------------------------------
    def _copy_into(self, value, target):
        if isinstance(value, nd.NDArray):
            if value.shape != target.shape:
                raise ValueError("shape mismatch: %s vs bound %s" % (value.shape, target.shape))
            if value._conn is target._conn:
                value.copyto(target)
            else:
                target[:] = value.asnumpy()
        else:
            target[:] = np.asarray(value)

    def _copy_params(self, arg_params, aux_params, allow_missing, allow_extra=True):
        execs = self._exec_group.execs
        for names, source, kind in ((self._param_names, arg_params, "arg"),
                                    (self._aux_names, aux_params, "aux")):
            for name in names:
                if source is not None and name in source:
                    for executor in execs:
                        targets = executor.arg_dict if kind == "arg" else executor.aux_dict
                        self._copy_into(source[name], targets[name])
                elif not allow_missing:
                    raise RuntimeError("%s is not presented" % name)
        if not allow_extra:
            self._check_extra(arg_params, aux_params)
        self._resync_kvstore()

    def init_params(self, initializer=None, arg_params=None, aux_params=None,
                    allow_missing=False, force_init=False, allow_extra=False):
        """Fills the parameters: from arg_params/aux_params where given, else by
        ``initializer`` (default mx.init.Uniform(0.01)) and MXNet's naming rules."""
        if self.params_initialized and not force_init:
            warnings.warn("Parameters already initialized and force_init=False. init_params "
                          "call ignored.", stacklevel=2)
            return
        assert self.binded, "call bind before initializing the parameters"
        if initializer is None and arg_params is None and aux_params is None:
            initializer = init_mod.Uniform(0.01)
        attrs = self._symbol.attr_dict()

        def _impl(name, arr, cache):
            if cache is not None:
                if name in cache:
                    self._copy_into(cache[name], arr)
                    return
                if not allow_missing:
                    raise RuntimeError("%s is not presented" % name)
            if initializer is not None:
                initializer(init_mod.InitDesc(name, attrs.get(name, {})), arr)

        execs = self._exec_group.execs
        for name in self._param_names:
            _impl(name, execs[0].arg_dict[name], arg_params)
        for name in self._aux_names:
            _impl(name, execs[0].aux_dict[name], aux_params)
        if not allow_extra:
            self._check_extra(arg_params, aux_params)
        for executor in execs[1:]:  # every device starts from the first one's values
            for name in self._param_names:
                execs[0].arg_dict[name].copyto(executor.arg_dict[name])
            for name in self._aux_names:
                execs[0].aux_dict[name].copyto(executor.aux_dict[name])
        self.params_initialized = True
        self._resync_kvstore()

    def _check_extra(self, arg_params, aux_params):
        """ValueError for a name of ``arg_params``/``aux_params`` the symbol lacks (MXNet's
        allow_extra=False)."""
        for source, names in ((arg_params, self._param_names), (aux_params, self._aux_names)):
            for name in source or {}:
                if name not in names:
                    raise ValueError("Find name \"%s\" that is not in the arguments" % name)

    def set_params(self, arg_params, aux_params, allow_missing=False, force_init=True,
                   allow_extra=False):
        """Sets the parameters (before bind: kept and copied in at bind, as Module.load)."""
        if not self.binded:
            self._pending = (arg_params, aux_params)
            self.params_initialized = True
            return
        if not allow_missing:
            self.init_params(initializer=None, arg_params=arg_params, aux_params=aux_params,
                             allow_missing=allow_missing, force_init=force_init,
                             allow_extra=allow_extra)
            return
        if self.params_initialized and not force_init:
            warnings.warn("Parameters already initialized and force_init=False. set_params "
                          "call ignored.", stacklevel=2)
            return
        self._copy_params(arg_params, aux_params, allow_missing=True, allow_extra=allow_extra)
        self.params_initialized = True

    def _param_arrays(self):
        """The current values: one device's arrays, or (several devices) their means on the
        worker's CPU, as MXNet's get_params."""
        assert self.binded and self.params_initialized
        group = self._exec_group
        if len(group.execs) == 1:
            executor = group.execs[0]
            return ({n: executor.arg_dict[n] for n in self._param_names},
                    {n: executor.aux_dict[n] for n in self._aux_names})
        params = [n for n in group.arg_names if n in group.param_names]
        return ({n: group._mean(b) for n, b in zip(params, group.param_arrays)},
                {n: group._mean(b) for n, b in zip(group.aux_names, group.aux_arrays)})

    @property
    def _arg_params(self):
        """MXNet's Module keeps host copies of the parameters in ``_arg_params`` (synced from
        the devices when read through get_params); here each read is a fresh copy of the
        current values on the worker's CPU, or None before the parameters are set."""
        if not (self.binded and self.params_initialized):
            return None
        return self.get_params()[0]

    @property
    def _aux_params(self):
        """The auxiliary states' counterpart of ``_arg_params``."""
        if not (self.binded and self.params_initialized):
            return None
        return self.get_params()[1]

    def _param_stypes(self):
        """{name: 'row_sparse' | 'csr'} of the variables declared sparse (Variable(stype=...)):
        get_params returns them in that storage type; the executor computes on their dense
        values (MXNet's storage fallback). Read from the symbol once."""
        if self.__dict__.get("_stypes_of") is not self._symbol:
            self._stypes = {name: {"1": "row_sparse", "2": "csr"}[a["__storage_type__"]]
                            for name, a in self._symbol.attr_dict().items()
                            if a.get("__storage_type__") in ("1", "2")}
            self._stypes_of = self._symbol
        return self._stypes

    def get_params(self):
        """(arg_params, aux_params): copies of the current values (on the worker's CPU)."""
        arg_params, aux_params = self._param_arrays()
        cpu = ctx_mod.cpu()
        copy_ = lambda v: v if v.context == cpu and len(self._context) > 1 \
            else v.copyto(cpu)  # noqa: E731  (a mean is already a fresh CPU array)
        stypes = self._param_stypes()

        def typed(k, v):
            v = copy_(v)
            return v.tostype(stypes[k]) if stypes.get(k) else v
        return ({k: typed(k, v) for k, v in arg_params.items()},
                {k: copy_(v) for k, v in aux_params.items()})

    # -- computation ----------------------------------------------------------------------
    def _batch_inputs(self, data_batch):
        """{argument name: array} of a batch: worker-side views first (no bytes move), then
        host arrays, then whatever the batch holds."""
        data = getattr(data_batch, "device_data", None) or \
            getattr(data_batch, "host_data", None) or data_batch.data
        labels = getattr(data_batch, "device_label", None) or \
            getattr(data_batch, "host_label", None) or getattr(data_batch, "label", None)
        inputs = dict(zip(self._data_names, data))
        if labels is not None and self._label_names:
            inputs.update(zip(self._label_names, labels))
        return inputs

    def _shapes_match(self, inputs):
        return all(tuple(inputs[d.name].shape) == tuple(d.shape)
                   for d in self._data_shapes if d.name in inputs)

    def forward(self, data_batch, is_train=None):
        """Loads the batch into the executor's inputs and runs the forward pass."""
        assert self.binded and self.params_initialized
        self._sent = None
        if is_train is None:
            is_train = self.for_training
        inputs = self._batch_inputs(data_batch)
        if not self._shapes_match(inputs):
            self._reshape_for(inputs)
        if self._single():
            self._exec.forward(is_train=is_train, **inputs)
        else:
            self._exec_group.forward_inputs(inputs, is_train)

    def _train_step(self, data_batch, eval_metric):
        """forward_backward + update + update_metric in one round trip, when the optimizer
        runs on the executor and the batch is already on the worker. False otherwise (the
        caller then takes the separate steps)."""
        if not self._on_executor:
            return False
        self._sent = None
        inputs = self._batch_inputs(data_batch)
        if not all(isinstance(v, nd.NDArray) for v in inputs.values()) or \
                not self._shapes_match(inputs):
            return False
        host = _host_metric(eval_metric)
        values = self._exec._train_step(inputs, return_values=host)
        labels = self._batch_labels(data_batch)
        if host:
            labels = [l if isinstance(l, np.ndarray) else l.asnumpy() for l in labels]
            outputs = values
        else:
            outputs = self._exec.outputs
        eval_metric.update_dict(OrderedDict(zip(self._label_names, labels)),
                                OrderedDict(zip(self._output_names, outputs)))
        return True

    def forward_backward(self, data_batch):
        """forward(is_train=True) + backward(); deferred (see the module doc) when the
        optimizer runs on the executor and the batch is on the worker."""
        assert self.binded and self.params_initialized
        self._sent = None
        executor = self._exec  # sends an earlier deferred step
        # Monitored steps are sent at once, so that toc() sees their outputs.
        if self._on_executor and executor is not None and self._monitor is None:
            inputs = self._batch_inputs(data_batch)
            if all(isinstance(v, nd.NDArray) for v in inputs.values()) and \
                    self._shapes_match(inputs):
                self._step = _DeferredStep(inputs, data_batch)
                return
        self.forward(data_batch, is_train=True)
        self.backward()

    def _reshape_for(self, inputs):
        data_shapes = [DataDesc(d.name, inputs[d.name].shape, d.dtype, d.layout)
                       for d in self._data_shapes]
        label_shapes = None
        if self._label_shapes:
            first = self._data_shapes[0]
            axis = max(DataDesc.get_batch_axis(first.layout), 0)
            batch = inputs[first.name].shape[axis]
            label_shapes = []
            for d in self._label_shapes:
                if d.name in inputs:
                    shape = tuple(inputs[d.name].shape)
                else:
                    shape = list(d.shape)
                    shape[max(DataDesc.get_batch_axis(d.layout), 0)] = batch
                label_shapes.append(DataDesc(d.name, tuple(shape), d.dtype, d.layout))
        self.reshape(data_shapes, label_shapes)

    def backward(self, out_grads=None):
        assert self.binded and self.params_initialized
        if self._single():
            assert self.for_training, "re-bind with for_training=True to run backward"
            executor = self._exec
            if any(g is not None for g in executor.grad_arrays):  # else nothing to compute
                executor.backward(out_grads=out_grads)
        else:
            self._exec_group.backward(out_grads=out_grads)

    def update(self):
        """Applies the optimizer: pushes every gradient to the KVStore and pulls the updated
        weights back into the executor (two RPCs for all parameters on 'local')."""
        assert self.binded and self.params_initialized and self.optimizer_initialized
        if not self._update_names:
            return
        if self._step is not None and not self._step.update:
            self._step.update = True  # sent with the deferred step
            if self._dist():
                # The other ranks' rounds wait for this rank's push: send the step now, as
                # MXNet pushes at update(), with the outputs' values for update_metric.
                batch = self._step.batch
                self._sent = (batch, self._send_step(return_values=True))
            return
        if self._on_executor:
            self._exec._update()
            return
        if not self._single():
            self._update_devices()
            return
        grads = self._exec.grad_dict
        args = self._exec.arg_dict
        for store, names in self._kv_groups:
            store.push(names, [grads[n] for n in names])
        for store, names in self._kv_groups:
            store.pull(names, out=[args[n] for n in names])

    def _update_devices(self):
        """Several devices, as MXNet's _update_params_on_kvstore / _update_params."""
        execs = self._exec_group.execs
        grads = {n: [e.grad_dict[n] for e in execs] for n in self._update_names}
        if self._update_on_kvstore:
            for store, names in self._kv_groups:
                store.push(names, [grads[n] for n in names])
            for store, names in self._kv_groups:
                store.pull(names, out=[[e.arg_dict[n] for e in execs] for n in names])
            return
        names = self._update_names
        if self._kvstore is not None:  # the store sums the gradients into every device's
            self._kvstore.push(names, [grads[n] for n in names])
            self._kvstore.pull(names, out=[grads[n] for n in names])
        num = len(execs)
        for name in names:
            index = self._param_names.index(name)
            for k, executor in enumerate(execs):
                self._updater(index * num + k, grads[name][k], executor.arg_dict[name])

    def get_outputs(self, merge_multi_context=True):
        """The outputs: merged over the devices in batch order, or per device
        (``[[out1_dev1, out1_dev2], ...]``) with merge_multi_context=False."""
        assert self.binded and self.params_initialized
        if self._single() and merge_multi_context:
            return list(self._exec.outputs)
        return self._exec_group.get_outputs(merge_multi_context=merge_multi_context)

    def get_input_grads(self, merge_multi_context=True):
        assert self.binded and self.params_initialized and self.inputs_need_grad
        return self._exec_group.get_input_grads(merge_multi_context=merge_multi_context)

    def get_states(self, merge_multi_context=True):
        """The state inputs (state_names) per device."""
        assert self.binded and self.params_initialized
        return self._exec_group.get_states(merge_multi_context=merge_multi_context)

    def set_states(self, states=None, value=None):
        """Sets the state inputs from per-device arrays or to a scalar value."""
        assert self.binded and self.params_initialized
        self._exec_group.set_states(states, value)

    def update_metric(self, eval_metric, labels, pre_sliced=False):
        """Updates ``eval_metric`` with ``labels`` and the current outputs (downloaded once;
        with a deferred step, its values come back with it)."""
        if not self._single():
            self._exec_group.update_metric(eval_metric, labels, pre_sliced)
            return
        host = _host_metric(eval_metric)
        step = self._step
        sent, self._sent = self._sent, None
        if step is None and sent is not None and host:  # the step update() sent
            batch, outputs = sent
            if labels is batch.label and getattr(batch, "host_label", None):
                labels = batch.host_label
        elif step is not None:
            if labels is step.batch.label and getattr(step.batch, "host_label", None):
                labels = step.batch.host_label  # the same values, already on the client
            values = self._send_step(return_values=host)
            outputs = values if host else self._executor.outputs
        else:
            outputs = self._exec.outputs
            if host:
                outputs = [o.asnumpy() for o in outputs]
        if host:
            labels = [l if isinstance(l, np.ndarray) else l.asnumpy() for l in labels]
        labels_dict = OrderedDict(zip(self._label_names, labels))
        preds = OrderedDict(zip(self._output_names, outputs))
        eval_metric.update_dict(labels_dict, preds)

    def install_monitor(self, mon):
        """Installs an mx.mon.Monitor on the executors: a monitored step's operator outputs
        are copied on the worker as they are computed (see mxgrid.monitor)."""
        assert self.binded
        self._monitor = mon
        self._exec_group.install_monitor(mon)

    # -- checkpoints ----------------------------------------------------------------------
    def save_checkpoint(self, prefix, epoch, save_optimizer_states=False,
                        remove_amp_cast=True):
        """Writes ``prefix-symbol.json`` and ``prefix-%04d.params`` (MXNet's layout)."""
        if save_optimizer_states:
            self._state_store()  # raises before anything is written where it cannot save
        self._symbol.save("%s-symbol.json" % prefix, remove_amp_cast=remove_amp_cast)
        param_name = "%s-%04d.params" % (prefix, epoch)
        self.save_params(param_name)
        logging.info('Saved checkpoint to "%s"', param_name)
        if save_optimizer_states:
            state_name = "%s-%04d.states" % (prefix, epoch)
            self.save_optimizer_states(state_name)
            logging.info('Saved optimizer state to "%s"', state_name)

    @staticmethod
    def load(prefix, epoch, load_optimizer_states=False, **kwargs):
        """A Module of checkpoint ``prefix``/``epoch``; the parameters are set at bind."""
        sym, args, auxs = load_checkpoint(prefix, epoch)
        mod = Module(symbol=sym, **kwargs)
        mod.set_params(args, auxs)
        if load_optimizer_states:  # loaded into a dist store by init_optimizer, as MXNet
            mod._preload_opt_states = "%s-%04d.states" % (prefix, epoch)
        return mod

