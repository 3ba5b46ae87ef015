"""mx.mod.Module: MXNet 1.9.1's high-level training interface over one bound executor on the
worker.

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

``fit`` prints a progress bar per epoch on stderr (redrawn in place on a terminal, one line
per epoch otherwise; ``progress_bar=False`` turns it off) and logs MXNet's lines
(``Epoch[3] Train-accuracy=...``, ``Epoch[3] Time cost=...``,
``Epoch[3] Validation-accuracy=...``) through ``logger``.

Thread-safety: a Module is not thread-safe (as MXNet's).
"""
import copy
import logging
import sys
import time
import warnings
from collections import OrderedDict

import numpy as np

from . import context as ctx_mod
from . import initializer as init_mod
from . import kvstore as kvs
from . import metric as metric_mod
from . import ndarray as nd
from . import optimizer as opt
from ._proto import pb
from .base import MXNetError
from .io import DataDesc
from .model import BatchEndParam, load_checkpoint

__all__ = ["Module", "BaseModule"]

# Optimizers the worker runs on an executor (libs/kvstore/optimizer.h).
_EXECUTOR_OPTIMIZERS = ("sgd", "nag", "adam", "rmsprop", "adagrad")


def _as_list(obj):
    if obj is None:
        return []
    if isinstance(obj, (list, tuple)):
        return list(obj)
    return [obj]


def _descs(shapes):
    if shapes is None:
        return None
    return [s if isinstance(s, DataDesc) else DataDesc(*s) for s in shapes]


def _host_metric(metric):
    """True when ``metric`` (and its children) are mxgrid's own metrics, which take numpy."""
    if type(metric).__module__ != metric_mod.__name__:
        return False
    return all(_host_metric(m) for m in getattr(metric, "metrics", []))


class _DeferredStep:
    """A forward_backward not yet sent: its inputs (kept alive until sent), its batch, and
    whether update() was called after it."""

    __slots__ = ("inputs", "batch", "update")

    def __init__(self, inputs, batch):
        self.inputs = inputs
        self.batch = batch
        self.update = False


class _ProgressBar:
    """``Epoch 3 [=====>    ] 40/94 batches  train-accuracy=0.91  1.2s`` on stderr."""

    WIDTH = 30

    def __init__(self, epoch, total, stream=None):
        self.epoch = epoch
        self.total = total
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.tic = time.time()
        self.last_draw = 0.0

    def _line(self, count, metric):
        if self.total:
            filled = min(self.WIDTH, int(self.WIDTH * count / self.total))
            bar = "=" * filled + (">" if filled < self.WIDTH else "")
            bar = "[%s]" % bar.ljust(self.WIDTH)
            where = "%d/%d batches" % (count, self.total)
        else:
            bar, where = "", "%d batches" % count
        values = ""
        if metric is not None:
            values = "  ".join("train-%s=%.4g" % nv for nv in metric.get_name_value())
        return "Epoch %d %s %s  %s  %.1fs" % (self.epoch, bar, where, values,
                                              time.time() - self.tic)

    def update(self, count, metric):
        if not self.tty:
            return
        now = time.time()
        if now - self.last_draw < 0.1 and count != self.total:
            return
        self.last_draw = now
        self.stream.write("\r\x1b[K" + self._line(count, metric))
        self.stream.flush()

    def finish(self, count, metric, extra=""):
        if self.total is None:
            self.total = count
        line = self._line(count, metric) + extra
        self.stream.write(("\r\x1b[K" if self.tty else "") + line + "\n")
        self.stream.flush()


class BaseModule:
    """fit / score / predict over the primitives a module implements (bind, init_params,
    init_optimizer, forward, backward, update, get_outputs, update_metric)."""

    def __init__(self, logger=logging):
        self.logger = logger
        self.binded = False
        self.for_training = False
        self.inputs_need_grad = False
        self.params_initialized = False
        self.optimizer_initialized = False
        self._symbol = None

    def forward_backward(self, data_batch):
        self.forward(data_batch, is_train=True)
        self.backward()

    def prepare(self, data_batch, sparse_row_id_fn=None):
        """Nothing to prepare: batches are uploaded in forward."""

    def score(self, eval_data, eval_metric, num_batch=None, batch_end_callback=None,
              score_end_callback=None, reset=True, epoch=0, sparse_row_id_fn=None):
        """Runs ``eval_data`` through the network; returns eval_metric.get_name_value().
        As MXNet, padded examples of the last batch are counted."""
        assert self.binded and self.params_initialized
        if reset:
            eval_data.reset()
        if not isinstance(eval_metric, metric_mod.EvalMetric):
            eval_metric = metric_mod.create(eval_metric)
        eval_metric.reset()
        actual_num_batch = 0
        for nbatch, eval_batch in enumerate(eval_data):
            if num_batch is not None and nbatch == num_batch:
                break
            self.forward(eval_batch, is_train=False)
            self.update_metric(eval_metric, self._batch_labels(eval_batch))
            if batch_end_callback is not None:
                params = BatchEndParam(epoch=epoch, nbatch=nbatch, eval_metric=eval_metric,
                                       locals=locals())
                for callback in _as_list(batch_end_callback):
                    callback(params)
            actual_num_batch += 1
        if score_end_callback:
            params = BatchEndParam(epoch=epoch, nbatch=actual_num_batch,
                                   eval_metric=eval_metric, locals=locals())
            for callback in _as_list(score_end_callback):
                callback(params)
        return eval_metric.get_name_value()

    def iter_predict(self, eval_data, num_batch=None, reset=True, sparse_row_id_fn=None):
        """Yields (outputs, nbatch, batch) per batch; outputs exclude the padding."""
        assert self.binded and self.params_initialized
        if reset:
            eval_data.reset()
        for nbatch, eval_batch in enumerate(eval_data):
            if num_batch is not None and nbatch == num_batch:
                break
            self.forward(eval_batch, is_train=False)
            pad = eval_batch.pad or 0
            outputs = [out[0:out.shape[0] - pad] for out in self.get_outputs()]
            yield (outputs, nbatch, eval_batch)

    def predict(self, eval_data, num_batch=None, merge_batches=True, reset=True,
                always_output_list=False, sparse_row_id_fn=None):
        """The outputs over ``eval_data`` (padding removed) as NDArrays: one per output,
        batches concatenated (merge_batches), or per batch lists."""
        assert self.binded and self.params_initialized
        if isinstance(eval_data, (nd.NDArray, np.ndarray)):
            from .io import NDArrayIter
            if isinstance(eval_data, nd.NDArray):
                eval_data = eval_data.asnumpy()
            eval_data = NDArrayIter(eval_data, batch_size=self._batch_size())
        if reset:
            eval_data.reset()
        output_list = []
        for nbatch, eval_batch in enumerate(eval_data):
            if num_batch is not None and nbatch == num_batch:
                break
            self.forward(eval_batch, is_train=False)
            pad = eval_batch.pad or 0
            outs = [o.asnumpy() for o in self.get_outputs()]
            output_list.append([o[:o.shape[0] - pad] for o in outs])
        if not output_list:
            return output_list
        if merge_batches:
            num_outputs = len(output_list[0])
            merged = [nd.array(np.concatenate([b[i] for b in output_list]),
                               dtype=output_list[0][i].dtype) for i in range(num_outputs)]
            if num_outputs == 1 and not always_output_list:
                return merged[0]
            return merged
        return [[nd.array(o, dtype=o.dtype) for o in b] for b in output_list]

    @staticmethod
    def _batch_labels(batch):
        host = getattr(batch, "host_label", None)
        return host if host is not None else batch.label

    @staticmethod
    def _num_batches(data):
        fn = getattr(data, "num_batches", None)
        if callable(fn):
            try:
                return fn()
            except Exception:  # pylint: disable=broad-except
                return None
        return None

    def fit(self, train_data, eval_data=None, eval_metric="acc", epoch_end_callback=None,
            batch_end_callback=None, kvstore="local", optimizer="sgd",
            optimizer_params=(("learning_rate", 0.01),), eval_end_callback=None,
            eval_batch_end_callback=None, initializer=None, arg_params=None,
            aux_params=None, allow_missing=False, force_rebind=False, force_init=False,
            begin_epoch=0, num_epoch=None, validation_metric=None, monitor=None,
            sparse_row_id_fn=None, progress_bar=True):
        """Trains for epochs begin_epoch..num_epoch-1, as MXNet's BaseModule.fit
        (initializer defaults to mx.init.Uniform(0.01), as MXNet's)."""
        assert num_epoch is not None, "please specify number of epochs"
        if monitor is not None:
            raise MXNetError("mxgrid's Module has no monitor support")
        if initializer is None:
            initializer = init_mod.Uniform(0.01)
        self.bind(data_shapes=train_data.provide_data, label_shapes=train_data.provide_label,
                  for_training=True, force_rebind=force_rebind)
        self.init_params(initializer=initializer, arg_params=arg_params,
                         aux_params=aux_params, allow_missing=allow_missing,
                         force_init=force_init)
        self.init_optimizer(kvstore=kvstore, optimizer=optimizer,
                            optimizer_params=optimizer_params)
        if validation_metric is None:
            validation_metric = eval_metric
        if not isinstance(eval_metric, metric_mod.EvalMetric):
            eval_metric = metric_mod.create(eval_metric)

        for epoch in range(begin_epoch, num_epoch):
            tic = time.time()
            eval_metric.reset()
            bar = _ProgressBar(epoch, self._num_batches(train_data)) if progress_bar else None
            nbatch = 0
            data_iter = iter(train_data)
            end_of_batch = False
            next_data_batch = next(data_iter)
            while not end_of_batch:
                data_batch = next_data_batch
                if not self._train_step(data_batch, eval_metric):
                    self.forward_backward(data_batch)
                    self.update()
                    self.update_metric(eval_metric, self._batch_labels(data_batch))
                try:
                    next_data_batch = next(data_iter)
                except StopIteration:
                    end_of_batch = True
                if batch_end_callback is not None:
                    params = BatchEndParam(epoch=epoch, nbatch=nbatch, eval_metric=eval_metric,
                                           locals=locals())
                    for callback in _as_list(batch_end_callback):
                        callback(params)
                nbatch += 1
                if bar is not None:
                    bar.update(nbatch, eval_metric)

            train_values = eval_metric.get_global_name_value()
            for name, val in train_values:
                self.logger.info("Epoch[%d] Train-%s=%f", epoch, name, val)
            toc = time.time()
            self.logger.info("Epoch[%d] Time cost=%.3f", epoch, (toc - tic))
            if epoch_end_callback is not None:
                arg_params_cb, aux_params_cb = self.get_params()
                for callback in _as_list(epoch_end_callback):
                    callback(epoch, self.symbol, arg_params_cb, aux_params_cb)
            extra = ""
            if eval_data:
                res = self.score(eval_data, validation_metric,
                                 score_end_callback=eval_end_callback,
                                 batch_end_callback=eval_batch_end_callback, epoch=epoch)
                for name, val in res:
                    self.logger.info("Epoch[%d] Validation-%s=%f", epoch, name, val)
                extra = "  " + "  ".join("val-%s=%.4g" % nv for nv in res)
            if bar is not None:
                bar.tic = tic
                bar.finish(nbatch, eval_metric, extra)
            train_data.reset()

    # -- checkpoints ----------------------------------------------------------------------
    def save_params(self, fname):
        """Writes the parameters as ``arg:``/``aux:`` keys in MXNet's .params format."""
        arg_params, aux_params = self._param_arrays()
        save_dict = {("arg:%s" % k): v for k, v in arg_params.items()}
        save_dict.update({("aux:%s" % k): v for k, v in aux_params.items()})
        nd.save(fname, save_dict)

    def load_params(self, fname):
        save_dict = nd.load(fname)
        arg_params, aux_params = {}, {}
        for k, value in save_dict.items():
            arg_type, name = k.split(":", 1)
            if arg_type == "arg":
                arg_params[name] = value
            elif arg_type == "aux":
                aux_params[name] = value
            else:
                raise ValueError("Invalid param file " + fname)
        self.set_params(arg_params, aux_params)


class Module(BaseModule):
    """A Symbol bound to one device of the worker, trained with a worker-side optimizer."""

    def __init__(self, symbol, data_names=("data",), label_names=("softmax_label",),
                 logger=logging, context=None, work_load_list=None, fixed_param_names=None,
                 state_names=None, group2ctxs=None, compression_params=None):
        super().__init__(logger=logger)
        if context is None:
            context = ctx_mod.current_context()
        contexts = _as_list(context)
        if len(contexts) != 1:
            raise MXNetError("mxgrid's Module binds one device; got %d contexts (run one "
                             "module per device, or a dist kvstore across workers)"
                             % len(contexts))
        self._context = contexts[0]
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
        self._executor = None
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
        self._pending = None  # (arg_params, aux_params) set before bind
        self._preload_opt_states = None  # Module.load(load_optimizer_states=True)

    # -- the executor, with the deferred step sent first ---------------------------------
    @property
    def _exec(self):
        """The executor, once any deferred step has been sent (every use goes through here,
        so nothing observes the executor before its step)."""
        if self._step is not None:
            self._send_step(return_values=False)
        return self._executor

    @_exec.setter
    def _exec(self, executor):
        if self._step is not None:  # e.g. a reshape right after forward_backward
            self._send_step(return_values=False)
        self._executor = executor

    def _send_step(self, return_values):
        """Sends the deferred step as one Forward; its outputs' values when return_values."""
        step, self._step = self._step, None
        return self._executor._train_step(step.inputs, return_values=return_values,
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
        return [(n, o.shape) for n, o in zip(self._output_names, self._exec.outputs)]

    @property
    def executor(self):
        """The bound mx.executor.Executor (mxgrid extension; MXNet hides it in a group)."""
        return self._exec

    def _batch_size(self):
        return self._data_shapes[0].shape[0]

    # -- bind -----------------------------------------------------------------------------
    def _grad_reqs(self, grad_req):
        reqs = {}
        for name in self._symbol.list_arguments():
            if name in self._param_names:
                if not self.for_training or name in self._fixed_param_names:
                    reqs[name] = "null"
                elif isinstance(grad_req, dict):
                    reqs[name] = grad_req.get(name, "write")
                else:
                    reqs[name] = grad_req
            elif name in self._data_names:
                reqs[name] = "write" if self.inputs_need_grad else "null"
            else:
                reqs[name] = "null"
        return reqs

    def bind(self, data_shapes, label_shapes=None, for_training=True, inputs_need_grad=False,
             force_rebind=False, shared_module=None, grad_req="write"):
        """Binds the symbol for these input shapes (SimpleBind on the worker)."""
        if force_rebind:
            self._reset_bind()
        if self.binded:
            self.logger.warning("Already bound, ignoring bind()")
            return
        if shared_module is not None:
            raise MXNetError("mxgrid's Module does not share executors (shared_module)")
        self.for_training = for_training
        self.inputs_need_grad = inputs_need_grad
        self._data_shapes = _descs(data_shapes)
        self._label_shapes = _descs(label_shapes) if label_shapes else None
        inputs = list(self._data_shapes) + list(self._label_shapes or [])
        shapes = {d.name: d.shape for d in inputs}
        types = {d.name: d.dtype for d in inputs}
        self._grad_req = self._grad_reqs(grad_req)
        self._exec = self._symbol.simple_bind(self._context, grad_req=self._grad_req,
                                              type_dict=types, **shapes)
        self.binded = True
        if self._pending is not None:
            arg_params, aux_params = self._pending
            self._pending = None
            self._copy_params(arg_params, aux_params, allow_missing=True)

    def _reset_bind(self):
        self.binded = False
        self._exec = None  # sends a deferred step first
        self._data_shapes = None
        self._label_shapes = None

    def reshape(self, data_shapes, label_shapes=None):
        """Rebinds for new input shapes, keeping the parameter and gradient arrays (Bind with
        the same handles, so the optimizer keeps updating the same weights)."""
        assert self.binded
        self._data_shapes = _descs(data_shapes)
        self._label_shapes = _descs(label_shapes) if label_shapes else None
        old = self._exec
        inputs = list(self._data_shapes) + list(self._label_shapes or [])
        args, grads = {}, {}
        for name in self._symbol.list_arguments():
            if name in old.arg_dict and name in self._param_names:
                args[name] = old.arg_dict[name]
                grads[name] = old.grad_dict[name]
        for d in inputs:
            args[d.name] = nd.empty(d.shape, ctx=self._context, dtype=d.dtype)
            if self.inputs_need_grad and d.name in self._data_names:
                grads[d.name] = nd.empty(d.shape, ctx=self._context, dtype=d.dtype)
        grads = {k: v for k, v in grads.items() if v is not None}
        self._exec = self._symbol.bind(self._context, args, args_grad=grads,
                                       grad_req=self._grad_req,
                                       aux_states=old.aux_dict or None)
        if self.optimizer_initialized and self._dist():
            self._bind_executor_kvstore()  # the new executor updates through the store too

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

    def _copy_params(self, arg_params, aux_params, allow_missing):
        for names, source, targets, what in (
                (self._param_names, arg_params, self._exec.arg_dict, "arg"),
                (self._aux_names, aux_params, self._exec.aux_dict, "aux")):
            for name in names:
                if source is not None and name in source:
                    self._copy_into(source[name], targets[name])
                elif not allow_missing:
                    raise RuntimeError("%s is not presented" % name)
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

        for name in self._param_names:
            _impl(name, self._exec.arg_dict[name], arg_params)
        for name in self._aux_names:
            _impl(name, self._exec.aux_dict[name], aux_params)
        self.params_initialized = True
        self._resync_kvstore()

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
        self._copy_params(arg_params, aux_params, allow_missing=True)
        self.params_initialized = True

    def _param_arrays(self):
        assert self.binded and self.params_initialized
        return ({n: self._exec.arg_dict[n] for n in self._param_names},
                {n: self._exec.aux_dict[n] for n in self._aux_names})

    def get_params(self):
        """(arg_params, aux_params): copies of the current values (on the worker's CPU)."""
        arg_params, aux_params = self._param_arrays()
        cpu = ctx_mod.cpu()
        return ({k: v.copyto(cpu) for k, v in arg_params.items()},
                {k: v.copyto(cpu) for k, v in aux_params.items()})

    # -- optimizer ------------------------------------------------------------------------
    def init_optimizer(self, kvstore="local", optimizer="sgd",
                       optimizer_params=(("learning_rate", 0.01),), force_init=False):
        """Installs the optimizer: on the worker's executor (kvstore None or 'local'), or on
        the kvstore shards for a dist store (see _install_dist_kvstore)."""
        assert self.binded and self.params_initialized
        if self.optimizer_initialized and not force_init:
            self.logger.warning("optimizer already initialized, ignoring...")
            return
        if isinstance(kvstore, kvs.KVStore):
            kv = kvstore
        else:
            kv = kvs.create(kvstore or "local")
        batch_size = self._batch_size()
        if "dist" in kv.type and "_sync" in kv.type:
            batch_size *= kv.num_workers
        rescale_grad = 1.0 / batch_size
        idx2name = dict(enumerate(self._param_names))
        if isinstance(optimizer, str):
            params = dict(optimizer_params)
            params.setdefault("rescale_grad", rescale_grad)
            optimizer = opt.create(optimizer, sym=self._symbol, param_idx2name=idx2name,
                                   **params)
        else:
            if not isinstance(optimizer, opt.Optimizer):
                raise TypeError("optimizer must be a name or an mx.optimizer.Optimizer")
            if optimizer.rescale_grad != rescale_grad:
                warnings.warn("Optimizer created manually outside Module but rescale_grad is "
                              "not normalized to 1.0/batch_size/num_workers (%s vs. %s). Is "
                              "this intended?" % (optimizer.rescale_grad, rescale_grad),
                              stacklevel=2)
        self._optimizer = optimizer
        self._kvstore = kv
        self._update_names = [n for n in self._param_names
                              if self._exec.grad_dict.get(n) is not None]
        if "dist" in kv.type.lower():
            # The optimizer runs on the shards; the executor pushes and pulls through the
            # store, so a step is still one round trip (see _install_dist_kvstore).
            self._install_dist_kvstore()
            self._on_executor = True
            self._kv_groups = []
        else:
            # One device and no dist store: the optimizer runs on the worker's executor, as
            # MXNet's Module updates locally when its kvstore would only span one device.
            form = optimizer._server_form()
            self._on_executor = (form is not None and form[0] in _EXECUTOR_OPTIMIZERS and
                                 not optimizer._has_custom_mults())
            if self._on_executor:
                self._exec._set_optimizer(*form)
                self._kv_groups = []
            else:
                self._install_kvstore()
        self.optimizer_initialized = True
        if self._preload_opt_states is not None:
            self.load_optimizer_states(self._preload_opt_states)
            self._preload_opt_states = None

    def _install_dist_kvstore(self):
        """MXNet 1.9.1's Module with update_on_kvstore: set_optimizer on the store (the
        shards), then every parameter initialized under its name as the key by every rank
        (rank 0's value is stored) and pulled back, so every rank starts from rank 0's
        weights; then the executor is bound to the store (SetExecutorKVStore): Update and
        Forward(update) push each gradient and pull the updated weight on the worker."""
        kv, optimizer = self._kvstore, self._optimizer
        if optimizer._has_custom_mults():
            warnings.warn("lr_mult / wd_mult are not applied by the kvstore servers' "
                          "optimizer", stacklevel=3)
        if optimizer.wd:
            warnings.warn("wd=%s is applied by the kvstore servers to every parameter, "
                          "biases included (MXNet exempts parameters not named *_weight or "
                          "*_gamma)" % optimizer.wd, stacklevel=3)
        kv.set_optimizer(optimizer)
        names = list(self._param_names)
        weights = [self._exec.arg_dict[n] for n in names]
        kv.init(names, weights)
        kv.pull(names, out=weights)
        self._bind_executor_kvstore()

    def _bind_executor_kvstore(self):
        """SetExecutorKVStore for the current executor: argument name -> its key (the name,
        as MXNet 1.9.1's Module keys its store)."""
        conn = self._executor._conn
        conn.call(conn.require_worker().SetExecutorKVStore, pb.worker.SetExecutorKVStoreRequest(
            session=conn.session, executor=self._executor.handle, store=self._kvstore._store,
            keys={n: n for n in self._update_names}))

    def _dist(self):
        return self._kvstore is not None and "dist" in self._kvstore.type.lower()

    def save_optimizer_states(self, fname):
        """Writes the optimizer state: a dist store's, from the shards (MXNet's Module with
        update_on_kvstore saves the kvstore's)."""
        assert self.optimizer_initialized
        if not self._dist():
            raise MXNetError("optimizer states live on the worker's executor; mxgrid saves "
                             "them only for dist kvstores")
        self._exec  # sends a deferred step first  # pylint: disable=pointless-statement
        self._kvstore.save_optimizer_states(fname)

    def load_optimizer_states(self, fname):
        """Replaces a dist store's optimizer state with the one in ``fname``."""
        assert self.optimizer_initialized
        if not self._dist():
            raise MXNetError("optimizer states live on the worker's executor; mxgrid loads "
                             "them only for dist kvstores")
        self._exec  # sends a deferred step first  # pylint: disable=pointless-statement
        self._kvstore.load_optimizer_states(fname)

    def _install_kvstore(self):
        """Installs the optimizer and the weights. As MXNet's optimizer (given the parameter
        names) weight decay applies only to *_weight and *_gamma: with wd set, the other
        parameters go to a second 'local' store whose optimizer has wd=0."""
        kv, names = self._kvstore, self._update_names
        groups = [(kv, names)]
        if self._optimizer.wd:
            decayed = [n for n in names if n.endswith("_weight") or n.endswith("_gamma")]
            plain = [n for n in names if n not in decayed]
            if plain:
                no_wd = copy.copy(self._optimizer)
                no_wd.wd = 0.0
                groups = [(kv, decayed), (kvs.create(kv.type), plain)]
                groups[1][0].set_optimizer(no_wd)
        kv.set_optimizer(self._optimizer)
        self._kv_groups = [(store, group) for store, group in groups if group]
        for store, group in self._kv_groups:
            weights = [self._exec.arg_dict[n] for n in group]
            store.init(group, weights)

    def _resync_kvstore(self):
        """After parameters change under an installed optimizer: a fresh local store holds
        the new weights (optimizer state such as momentum starts over)."""
        if self._kvstore is None or "dist" in self._kvstore.type.lower() or self._on_executor:
            return
        self._kvstore = kvs.create(self._kvstore.type)
        self._install_kvstore()

    @property
    def optimizer(self):
        return self._optimizer

    # -- computation ----------------------------------------------------------------------
    def _batch_inputs(self, data_batch):
        """{argument name: array} of a batch: worker-side views first (no bytes move), then
        host arrays, then whatever the batch holds."""
        data = getattr(data_batch, "device_data", None) or \
            getattr(data_batch, "host_data", None) or data_batch.data
        labels = getattr(data_batch, "device_label", None) or \
            getattr(data_batch, "host_label", None) or data_batch.label
        inputs = dict(zip(self._data_names, data))
        if labels is not None and self._label_names:
            inputs.update(zip(self._label_names, labels))
        return inputs

    def _shapes_match(self, inputs):
        arg_dict = self._exec.arg_dict
        return all(tuple(inputs[d.name].shape) == tuple(arg_dict[d.name].shape)
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
        self._exec.forward(is_train=is_train, **inputs)

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
        if self._on_executor and executor is not None:
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
            label_shapes = [DataDesc(d.name, inputs[d.name].shape if d.name in inputs
                                     else (inputs[self._data_names[0]].shape[0],)
                                     + tuple(d.shape[1:]), d.dtype, d.layout)
                            for d in self._label_shapes]
        self.reshape(data_shapes, label_shapes)

    def backward(self, out_grads=None):
        assert self.binded and self.params_initialized
        self._exec.backward(out_grads=out_grads)

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
        grads = self._exec.grad_dict
        args = self._exec.arg_dict
        for store, names in self._kv_groups:
            store.push(names, [grads[n] for n in names])
        for store, names in self._kv_groups:
            store.pull(names, out=[args[n] for n in names])

    def get_outputs(self, merge_multi_context=True):
        assert self.binded and self.params_initialized
        return list(self._exec.outputs)

    def get_input_grads(self, merge_multi_context=True):
        assert self.binded and self.params_initialized and self.inputs_need_grad
        grads = self._exec.grad_dict
        return [grads[n] for n in self._data_names]

    def update_metric(self, eval_metric, labels, pre_sliced=False):
        """Updates ``eval_metric`` with ``labels`` and the current outputs (downloaded once;
        with a deferred step, its values come back with it)."""
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
        raise MXNetError("mxgrid's Module has no monitor support")

    # -- checkpoints ----------------------------------------------------------------------
    def save_checkpoint(self, prefix, epoch, save_optimizer_states=False,
                        remove_amp_cast=True):
        """Writes ``prefix-symbol.json`` and ``prefix-%04d.params`` (MXNet's layout)."""
        if save_optimizer_states and not self._dist():
            raise MXNetError("optimizer states live on the worker's executor; mxgrid saves "
                             "them only for dist kvstores")
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

