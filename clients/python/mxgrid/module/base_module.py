"""mx.mod.BaseModule: MXNet 1.9.1's training loop (fit / score / predict) over the primitives a
module implements (bind, init_params, init_optimizer, forward, backward, update, get_outputs,
update_metric); Module and BucketingModule derive from it.

``fit`` prints a progress bar per epoch on stderr (redrawn in place on a terminal, one line
per epoch otherwise; ``progress_bar=False`` turns it off) and logs MXNet's lines
(``Epoch[3] Train-accuracy=...``, ``Epoch[3] Time cost=...``,
``Epoch[3] Validation-accuracy=...``) through ``logger``.

Thread-safety: a module is not thread-safe (as MXNet's).
"""
import logging
import sys
import time

import numpy as np

from .. import initializer as init_mod
from .. import metric as metric_mod
from .. import ndarray as nd
from ..io import DataDesc
from ..model import BatchEndParam

__all__ = ["BaseModule"]


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

    def _train_step(self, data_batch, eval_metric):  # pylint: disable=unused-argument
        """forward_backward + update + update_metric in one round trip where a module can;
        False tells ``fit`` to take the separate steps."""
        return False

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
            from ..io import NDArrayIter
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
        if initializer is None:
            initializer = init_mod.Uniform(0.01)
        self.bind(data_shapes=train_data.provide_data, label_shapes=train_data.provide_label,
                  for_training=True, force_rebind=force_rebind)
        self.init_params(initializer=initializer, arg_params=arg_params,
                         aux_params=aux_params, allow_missing=allow_missing,
                         force_init=force_init)
        if monitor is not None:
            self.install_monitor(monitor)
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
                if monitor is not None:
                    monitor.tic()
                if not self._train_step(data_batch, eval_metric):
                    self.forward_backward(data_batch)
                    self.update()
                    self.update_metric(eval_metric, self._batch_labels(data_batch))
                try:
                    next_data_batch = next(data_iter)
                except StopIteration:
                    end_of_batch = True
                if monitor is not None:
                    monitor.toc_print()
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
