"""Module's optimizer setup (a mixin of mx.mod.Module): where the optimizer runs — on the
worker's executor (one device, no dist store), on the kvstore shards (dist), on the 'local'
store or per device through an mx.optimizer.Updater (several devices) — and its state
(save_optimizer_states / load_optimizer_states, ``_updater``). See module.py's overview.

Thread-safety: not thread-safe (as the Module).
"""
import copy
import os
import warnings

from .. import kvstore as kvs
from .. import optimizer as opt
from .._proto import pb
from ..base import MXNetError
from .executor_updater import ExecutorUpdater

__all__ = ["ModuleOptimizer"]

# Optimizers the worker runs on an executor (libs/kvstore/optimizer.h).
_EXECUTOR_OPTIMIZERS = ("sgd", "nag", "adam", "rmsprop", "adagrad")


class ModuleOptimizer:
    """init_optimizer, borrow_optimizer and the optimizer state of a Module (which provides
    _exec, _single, _batch_size, _symbol, _param_names, _context and the fields its
    __init__ sets)."""
    def init_optimizer(self, kvstore="local", optimizer="sgd",
                       optimizer_params=(("learning_rate", 0.01),), force_init=False):
        """Installs the optimizer. One device: on the worker's executor (kvstore None or
        'local'), or on the kvstore shards for a dist store (see _install_dist_kvstore).
        Several devices: on the store (update_on_kvstore), or an Updater per device."""
        assert self.binded and self.params_initialized
        if self.optimizer_initialized and not force_init:
            self.logger.warning("optimizer already initialized, ignoring...")
            return
        single = self._single()
        if isinstance(kvstore, kvs.KVStore):
            kv = kvstore
        elif kvstore is None and not single:
            kv = None
        else:
            kv = kvs.create(kvstore or "local")
        batch_size = self._batch_size()
        if kv is not None and "dist" in kv.type and "_sync" in kv.type:
            batch_size *= kv.num_workers
        rescale_grad = 1.0 / batch_size
        update_on_kvstore = single or (
            kv is not None and os.environ.get("MXNET_UPDATE_ON_KVSTORE", "1") != "0")
        if update_on_kvstore:
            idx2name = dict(enumerate(self._param_names))
        else:  # an Updater per device: index i * num_device + k, as MXNet
            num = len(self._context)
            idx2name = {i * num + k: n for i, n in enumerate(self._param_names)
                        for k in range(num)}
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
            if not optimizer.idx2name:
                optimizer.idx2name = idx2name.copy()
        self._optimizer = optimizer
        self._kvstore = kv
        self._update_on_kvstore = update_on_kvstore
        self._updater = None
        self._update_names = [n for n in self._param_names
                              if self._exec.grad_dict.get(n) is not None]
        self._on_executor = False
        self._kv_groups = []
        if not single:
            self._install_multi_device()
        elif "dist" in kv.type.lower():
            # The optimizer runs on the shards; the executor pushes and pulls through the
            # store, so a step is still one round trip (see _install_dist_kvstore).
            self._install_dist_kvstore()
            self._on_executor = True
        else:
            # One device and no dist store: the optimizer runs on the worker's executor, as
            # MXNet's Module updates locally when its kvstore would only span one device
            # (not for a bucket's module, whose buckets share the weights and the state).
            form = optimizer._server_form()
            self._on_executor = (form is not None and form[0] in _EXECUTOR_OPTIMIZERS and
                                 not optimizer._has_custom_mults() and
                                 not self._shared_updates and bool(self._update_names))
            if self._on_executor:
                self._exec._set_optimizer(*form)
                self._updater = ExecutorUpdater(self)  # MXNet's Updater, state on the worker
            else:
                self._install_kvstore()
        self.optimizer_initialized = True
        if self._preload_opt_states is not None:
            self.load_optimizer_states(self._preload_opt_states)
            self._preload_opt_states = None

    def _install_multi_device(self):
        """Several devices: the store runs the optimizer on the summed gradients
        (update_on_kvstore; every device pulls the new weight), or the store only sums
        them and an Updater updates each device's copy (kvstore=None: each device's own
        gradient, as MXNet)."""
        if self._update_on_kvstore:
            self._install_kvstore()
            return
        self._updater = opt.get_updater(self._optimizer)
        if self._kvstore is not None and self._update_names:
            names = self._update_names
            self._kvstore.init(names, [self._exec.arg_dict[n] for n in names])

    def borrow_optimizer(self, shared_module):
        """Updates through ``shared_module``'s optimizer, store and state (a bucket's module
        bound on the default bucket's parameters)."""
        assert shared_module.optimizer_initialized
        if shared_module._on_executor:
            raise MXNetError("the shared module's optimizer runs on its executor; bind the "
                             "buckets before init_optimizer (BucketingModule does)")
        self._optimizer = shared_module._optimizer
        self._kvstore = shared_module._kvstore
        self._kv_groups = shared_module._kv_groups  # the same list: resyncs are seen
        self._updater = shared_module._updater
        self._update_on_kvstore = shared_module._update_on_kvstore
        self._on_executor = False
        # A module not bound yet (a bucket of BucketingModule.load) learns its updated
        # parameters when bind borrows again.
        self._update_names = [n for n in self._param_names
                              if self._exec.grad_dict.get(n) is not None] \
            if self.binded else []
        self.optimizer_initialized = True

    def _install_dist_kvstore(self):
        """MXNet 1.9.1's Module with update_on_kvstore: set_optimizer on the store (the
        shards), then every parameter initialized under its name as the key by every rank
        (rank 0's value is stored) and pulled back, so every rank starts from rank 0's
        weights; then the executor is bound to the store (SetExecutorKVStore): Update and
        Forward(update) push each gradient and pull the updated weight on the worker."""
        kv, optimizer = self._kvstore, self._optimizer
        kv.set_optimizer(optimizer)  # with the parameters' lr_mult / wd_mult by name
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

    def _state_store(self):
        """The store that holds the whole optimizer state, or None (an Updater's state, or
        MXNetError where the state lives on the executor or over two stores)."""
        if self._dist():
            return self._kvstore
        if self._updater is not None:  # an Updater, or the executor's (ExecutorUpdater)
            return None
        if len(self._kv_groups) != 1:
            raise MXNetError("the optimizer state is split over two stores (wd exempts the "
                             "biases); mxgrid saves it only from one")
        return self._kv_groups[0][0]

    def save_optimizer_states(self, fname):
        """Writes the optimizer state: the store's (a dist store's from the shards, as
        MXNet's Module with update_on_kvstore), or the per-device Updater's."""
        assert self.optimizer_initialized
        store = self._state_store()
        self._exec  # sends a deferred step first  # pylint: disable=pointless-statement
        if store is None:
            with open(fname, "wb") as fout:
                fout.write(self._updater.get_states())
        else:
            store.save_optimizer_states(fname)

    def load_optimizer_states(self, fname):
        """Replaces the optimizer state with the one in ``fname``."""
        assert self.optimizer_initialized
        store = self._state_store()
        self._exec  # sends a deferred step first  # pylint: disable=pointless-statement
        if store is None:
            with open(fname, "rb") as fin:
                self._updater.set_states(fin.read())
        else:
            store.load_optimizer_states(fname)

    def _install_kvstore(self):
        """Installs the optimizer and the weights. As MXNet's optimizer (given the parameter
        names) weight decay applies only to *_weight and *_gamma: with wd set, the other
        parameters go to a second 'local' store whose optimizer has wd=0."""
        kv, names = self._kvstore, self._update_names
        groups = [(kv, names)]
        if self._optimizer.wd and not self._dist():
            decayed = [n for n in names if n.endswith("_weight") or n.endswith("_gamma")]
            plain = [n for n in names if n not in decayed]
            if plain:
                no_wd = copy.copy(self._optimizer)
                no_wd.wd = 0.0
                groups = [(kv, decayed), (kvs.create(kv.type), plain)]
                groups[1][0].set_optimizer(no_wd)
        kv.set_optimizer(self._optimizer)
        self._kv_groups[:] = [(store, group) for store, group in groups if group]
        execs = self._exec_group.execs
        for store, group in self._kv_groups:
            store.init(group, [execs[0].arg_dict[n] for n in group])
            if len(execs) > 1:  # every device starts from the stored weights
                store.pull(group, out=[[e.arg_dict[n] for e in execs] for n in group])

    def _resync_kvstore(self):
        """After parameters change under an installed optimizer: a fresh local store holds
        the new weights (optimizer state such as momentum starts over)."""
        if self._kvstore is None or self._dist() or self._on_executor or \
                not self._update_on_kvstore:
            return
        self._kvstore = kvs.create(self._kvstore.type)
        self._install_kvstore()

    @property
    def optimizer(self):
        return self._optimizer
