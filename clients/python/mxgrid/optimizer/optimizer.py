"""The Optimizer base class, the registry, Updater and get_updater (MXNet 1.9.1 semantics).

Thread-safety: optimizers and updaters keep per-index state without locks; use one from
one thread at a time, as MXNet's.
"""
import pickle
import warnings

import numpy as np

from .. import ndarray as nd
from ..base import MXNetError

__all__ = ["Optimizer", "register", "create", "Updater", "get_updater"]


class Optimizer:
    """The base class of every optimizer: learning rate (or lr_scheduler), weight decay,
    gradient rescaling and clipping, per-parameter lr/wd multipliers (from
    set_lr_mult/set_wd_mult, the symbol's __lr_mult__/__wd_mult__ attributes or
    param_dict), and per-index update counts."""

    opt_registry = {}
    # The name the servers know this optimizer by (libs/kvstore/optimizer.h), or None.
    server_name = None

    def __init__(self, rescale_grad=1., param_idx2name=None, wd=0., clip_gradient=None,
                 learning_rate=None, lr_scheduler=None, sym=None, begin_num_update=0,
                 multi_precision=False, param_dict=None):
        self.rescale_grad = rescale_grad
        self.lr_scheduler = lr_scheduler
        if self.lr_scheduler is None and learning_rate is None:
            learning_rate = 0.01
        self.lr = learning_rate
        if self.lr_scheduler is not None and learning_rate is not None:
            if self.lr_scheduler.base_lr != learning_rate:
                print(UserWarning("learning rate from ``lr_scheduler`` has been overwritten "
                                  "by ``learning_rate`` in optimizer."))
                self.lr_scheduler.base_lr = learning_rate
        self.wd = wd
        self.lr_mult = {}
        self.wd_mult = {}
        self.begin_num_update = begin_num_update
        self.num_update = begin_num_update
        self._all_index_update_counts = {0: {}}
        self._index_update_count = self._all_index_update_counts[0]
        self.clip_gradient = clip_gradient
        self.multi_precision = multi_precision
        self.aggregate_num = 0
        if param_idx2name is None:
            param_idx2name = {}
        assert isinstance(param_idx2name, dict), \
            "param_idx2name should be a dict of param indexes to names."
        self.idx2name = param_idx2name.copy()
        self.sym_info = (sym.attr_dict(), sym.list_arguments()) if sym is not None else ()
        self.param_dict = param_dict if param_dict else {}
        self.allow_np_array = False
        self.set_lr_mult({})
        self.set_wd_mult({})

    # -- registry ---------------------------------------------------------------------------
    @staticmethod
    def register(klass):
        """Registers ``klass`` under its lower-cased name (for create)."""
        assert isinstance(klass, type)
        name = klass.__name__.lower()
        if name in Optimizer.opt_registry:
            warnings.warn("WARNING: New optimizer %s.%s is overriding existing optimizer "
                          "%s.%s" % (klass.__module__, klass.__name__,
                                     Optimizer.opt_registry[name].__module__,
                                     Optimizer.opt_registry[name].__name__))
        Optimizer.opt_registry[name] = klass
        return klass

    @staticmethod
    def create_optimizer(name, **kwargs):
        """An optimizer by registered name (case-insensitive)."""
        if name.lower() in Optimizer.opt_registry:
            return Optimizer.opt_registry[name.lower()](**kwargs)
        raise ValueError("Cannot find optimizer %s" % name)

    # -- learning rate ----------------------------------------------------------------------
    @property
    def learning_rate(self):
        if self.lr_scheduler is not None:
            return self.lr_scheduler(self.num_update)
        return self.lr

    def set_learning_rate(self, lr):
        if self.lr_scheduler is not None:
            raise UserWarning("LRScheduler of the optimizer has already been defined. Note "
                              "that set_learning_rate can mutate the value of the learning "
                              "rate of the optimizer only when the LRScheduler of the "
                              "optimizer is undefined.")
        self.lr = lr

    def set_lr_scale(self, args_lrscale):  # pylint: disable=unused-argument
        raise DeprecationWarning

    def set_lr_mult(self, args_lr_mult):
        """Learning-rate multipliers by index or name: the symbol's __lr_mult__ attributes,
        then ``args_lr_mult``."""
        self.lr_mult = {}
        if self.sym_info:
            attr, arg_names = self.sym_info
            for name in arg_names:
                if name in attr and "__lr_mult__" in attr[name]:
                    self.lr_mult[name] = float(attr[name]["__lr_mult__"])
        self.lr_mult.update(args_lr_mult)

    def set_wd_mult(self, args_wd_mult):
        """Weight-decay multipliers: 0 for parameters not named *_weight or *_gamma, the
        symbol's __wd_mult__ attributes, then ``args_wd_mult``."""
        self.wd_mult = {}
        for n in self.idx2name.values():
            if not (n.endswith("_weight") or n.endswith("_gamma")):
                self.wd_mult[n] = 0.0
        if self.sym_info:
            attr, arg_names = self.sym_info
            for name in arg_names:
                if name in attr and "__wd_mult__" in attr[name]:
                    self.wd_mult[name] = float(attr[name]["__wd_mult__"])
        self.wd_mult.update(args_wd_mult)

    # -- state and updates ------------------------------------------------------------------
    def create_state(self, index, weight):
        """The auxiliary state of one weight (None when the optimizer keeps none)."""

    def create_state_multi_precision(self, index, weight):
        """create_state, with a float32 master copy first for float16 weights when
        multi_precision is set."""
        if self.multi_precision and weight.dtype == np.float16:
            weight_master_copy = _cast(weight, np.float32)
            return (weight_master_copy,) + (self.create_state(index, weight_master_copy),)
        if weight.dtype == np.float16 and not self.multi_precision:
            warnings.warn("Accumulating with float16 in optimizer can lead to poor accuracy "
                          "or slow convergence. Consider using multi_precision=True option "
                          "of the optimizer")
        return self.create_state(index, weight)

    def update(self, index, weight, grad, state):
        raise NotImplementedError("%s does not define update" % type(self).__name__)

    def _each(self, index, weight, grad, state):
        """For a list of indices (MXNet's multi-tensor calls): updates them one by one and
        returns True."""
        if not isinstance(index, (list, tuple)):
            return False
        for args in zip(index, weight, grad, state):
            self.update_multi_precision(*args)
        return True

    def update_multi_precision(self, index, weight, grad, state):
        """update, on the float32 master copy for float16 weights with multi_precision."""
        if self._each(index, weight, grad, state):
            return
        if self.multi_precision and weight.dtype == np.float16:
            weight_master_copy, original_state = state[0], state[1]
            grad32 = _cast(grad, np.float32)
            self.update(index, weight_master_copy, grad32, original_state)
            _cast(weight_master_copy, weight.dtype, out=weight)
        else:
            self.update(index, weight, grad, state)

    def _set_current_context(self, device_id):
        if device_id not in self._all_index_update_counts:
            self._all_index_update_counts[device_id] = {}
        self._index_update_count = self._all_index_update_counts[device_id]

    def _update_count(self, index):
        if not isinstance(index, (list, tuple)):
            index = [index]
        for idx in index:
            if idx not in self._index_update_count:
                self._index_update_count[idx] = self.begin_num_update
            self._index_update_count[idx] += 1
            self.num_update = max(self._index_update_count[idx], self.num_update)

    def _get_lrs(self, indices):
        lr = self.lr_scheduler(self.num_update) if self.lr_scheduler is not None else self.lr
        return [lr * self._mult(index, self.lr_mult, "lr_mult") for index in indices]

    def _get_lr(self, index):
        return self._get_lrs([index])[0]

    def _get_wds(self, indices):
        return [self.wd * self._mult(index, self.wd_mult, "wd_mult") for index in indices]

    def _get_wd(self, index):
        return self._get_wds([index])[0]

    def _mult(self, index, mults, attr):
        if index in self.param_dict:
            return getattr(self.param_dict[index], attr)
        if index in mults:
            return mults[index]
        if index in self.idx2name:
            return mults.get(self.idx2name[index], 1.0)
        return 1.0

    # -- the servers' form ------------------------------------------------------------------
    def _server_params(self):
        """The class's own parameters for the servers (overridden by the classes they know)."""
        return {}

    def _server_form(self):
        """(name, {parameter: str(value)}) as the servers parse it, or None when they cannot
        run this optimizer (a class they do not know, or an lr_scheduler)."""
        if self.server_name is None or self.lr_scheduler is not None:
            return None
        out = {"learning_rate": self.lr, "wd": self.wd, "rescale_grad": self.rescale_grad,
               "begin_num_update": self.begin_num_update,
               "multi_precision": self.multi_precision}
        if self.clip_gradient is not None:
            out["clip_gradient"] = self.clip_gradient
        out.update(self._server_params())
        return self.server_name, {k: str(v) for k, v in out.items() if v is not None}

    def _server_refusal(self):
        """Why the servers cannot run this optimizer (for dist stores' errors)."""
        if self.server_name is None:
            return ("the kvstore servers run sgd, nag, adam, rmsprop and adagrad; %s runs "
                    "only client-side (a local kvstore or mx.optimizer.get_updater)"
                    % type(self).__name__)
        return "the kvstore servers' optimizers take no lr_scheduler"

    def _key_mults(self):
        """({key: lr multiplier}, {key: wd multiplier}) for a store's optimizer, by key as
        the store names it (int keys in decimal): every index or name this optimizer has a
        multiplier for, resolved as _get_lr/_get_wd resolve it; keys not named have 1."""
        candidates = set(self.param_dict) | set(self.lr_mult) | set(self.wd_mult) | set(
            self.idx2name)
        lrs, wds = {}, {}
        for c in candidates:
            if isinstance(c, bool) or not isinstance(c, (int, np.integer, str)):
                continue
            key = str(int(c)) if isinstance(c, (int, np.integer)) else c
            lr, wd = self._mult(c, self.lr_mult, "lr_mult"), self._mult(c, self.wd_mult,
                                                                          "wd_mult")
            if lr != 1.0:
                lrs[key] = float(lr)
            if wd != 1.0:
                wds[key] = float(wd)
        return lrs, wds

    def _has_custom_mults(self):
        """True when the lr/wd multipliers differ from what the servers apply (lr_mult 1;
        weight decay on *_weight and *_gamma parameters only, and on every parameter of an
        optimizer without parameter names)."""
        if self.param_dict or any(v != 1.0 for v in self.lr_mult.values()):
            return True
        for name, mult in self.wd_mult.items():
            decayed = isinstance(name, str) and (name.endswith("_weight") or
                                                 name.endswith("_gamma"))
            if mult != (1.0 if decayed else 0.0):
                return True
        return False

    def __getstate__(self):
        ret = self.__dict__.copy()
        ret.pop("param_dict", None)
        return ret

    def __setstate__(self, state):
        self.__dict__ = state
        self.param_dict = {}

    def __repr__(self):
        form = self._server_form()
        params = form[1] if form else {"learning_rate": self.lr, "wd": self.wd}
        return "%s(%s)" % (type(self).__name__,
                           ", ".join("%s=%s" % kv for kv in sorted(params.items())))

    @property
    def name(self):
        """The servers' name for this optimizer, else the lower-cased class name."""
        return self.server_name or type(self).__name__.lower()


register = Optimizer.register  # pylint: disable=invalid-name


def create(name, **kwargs):
    """An optimizer by name (an Optimizer instance is returned as it is)."""
    if isinstance(name, Optimizer):
        return name
    return Optimizer.create_optimizer(name, **kwargs)


class Updater:
    """updater(index, grad, weight): creates each index's state on first use and applies
    optimizer.update_multi_precision. get_states/set_states pickle the states (and, with
    dump_optimizer, the optimizer) as MXNet's Updater does."""

    def __init__(self, optimizer):
        self.optimizer = optimizer
        self.states = {}
        self.states_synced = {}
        self.aggregate_updates = False  # mxgrid updates one index per call

    def __call__(self, index, grad, weight):
        if not isinstance(index, (list, tuple)):
            indices, grads, weights = [index], [grad], [weight]
        else:
            indices, grads, weights = list(index), list(grad), list(weight)
        if weights:
            self.optimizer._set_current_context(weights[0].context.device_id)
        for i, idx in enumerate(indices):
            if isinstance(idx, bytes):
                indices[i] = idx = idx.decode()
            if idx not in self.states:
                self.states[idx] = self.optimizer.create_state_multi_precision(idx, weights[i])
                self.states_synced[idx] = True
            elif not self.states_synced[idx]:
                self.states[idx] = self.sync_state_context(self.states[idx], weights[i].context)
                self.states_synced[idx] = True
        for i, w, g in zip(indices, weights, grads):
            self.optimizer.update_multi_precision(i, w, g, self.states[i])

    def sync_state_context(self, state, context):
        """The state with every array on ``context``."""
        if isinstance(state, nd.NDArray):
            return state.as_in_context(context)
        if isinstance(state, (tuple, list)):
            synced = [self.sync_state_context(i, context) for i in state]
            return tuple(synced) if isinstance(state, tuple) else synced
        return state

    def set_states(self, states):
        """Loads states written by get_states (with or without the optimizer)."""
        states = pickle.loads(states)
        if isinstance(states, tuple) and len(states) == 2:
            self.states, self.optimizer = states
        else:
            self.states = states
        self.states_synced = dict.fromkeys(self.states.keys(), False)

    def get_states(self, dump_optimizer=False):
        """The pickled states (and optimizer, with dump_optimizer)."""
        return pickle.dumps((self.states, self.optimizer) if dump_optimizer else self.states)


def get_updater(optimizer):
    """An Updater for ``optimizer``."""
    return Updater(optimizer)


def _cast(src, dtype, out=None):
    """``src`` converted to ``dtype`` (into ``out`` when given). float16 conversions go
    through the client (NumPy's round-to-nearest-even, as MXNet's cast), since the worker's
    Cast takes float32/float64 only; the rest is the Cast operator."""
    dtype = np.dtype(dtype)
    if src.stype != "default" and out is None:
        return src.astype(dtype)  # keeps the storage type (a lazy update needs it)
    if np.dtype(src.dtype) != np.float16 and dtype != np.float16:
        return nd.cast(src, dtype=dtype.name, out=out)
    values = src.asnumpy().astype(dtype)
    if out is None:
        return nd.array(values, ctx=src.context, dtype=dtype)
    out[:] = values
    return out


def _refuse_on_server(optimizer):
    """MXNetError for a dist store given an optimizer the servers cannot run."""
    return MXNetError("cannot run %s on the kvstore servers: %s"
                      % (type(optimizer).__name__, optimizer._server_refusal()))
