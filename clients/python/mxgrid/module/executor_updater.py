"""The optimizer state of a Module whose optimizer runs on its worker executor
(SetExecutorOptimizer), seen as MXNet's mx.optimizer.Updater: Module._updater.

MXNet's Module with one device and no kvstore keeps an Updater whose ``states`` maps each
parameter's index (its position in the module's parameter names) to the optimizer's state:
None (sgd / nag without momentum), an NDArray (momentum, AdaGrad's history) or a tuple
(Adam's mean and variance, RMSProp's arrays). Here the state lives on the worker; ``states``
downloads a copy (GetExecutorOptimizerStates) and ``set_states`` uploads one
(SetExecutorOptimizerStates), so ``get_states`` / ``set_states`` read and write the layout of
MXNet's ``.states`` file: the pickled dict (with dump_optimizer, the pair (states,
optimizer)). The pickled arrays are mxgrid NDArrays, whose state is MXNet's NDArray record
but whose class path is mxgrid's: MXNet cannot unpickle the file, nor mxgrid MXNet's.

Thread-safety: not thread-safe (as the Module).
"""
import pickle

from .. import ndarray as nd
from ..base import MXNetError
from ..kvstore import group_store_states, state_value
from ..ndarray import NDArray

__all__ = ["ExecutorUpdater"]

# What an mx.nd.save file (a store's saved state) starts with.
_ND_MAGIC = (0x112).to_bytes(8, "little")


class ExecutorUpdater:
    """``states`` / ``get_states`` / ``set_states`` of the optimizer on ``module``'s
    executor. Updates themselves run on the worker (Module.update).

    Keys are MXNet's parameter indexes, as MXNet's Module numbers its single device's
    updates, until states keyed by parameter name are loaded (a file a kvstore saved: MXNet's
    Module keys its store by name); ``states`` then reports names, as MXNet's Updater keeps
    whatever dict it loaded."""

    def __init__(self, module):
        self._module = module
        self._by_name = False

    @property
    def optimizer(self):
        return self._module._optimizer

    def _executor_names(self):
        """{executor optimizer index: parameter name}: the executor numbers the arguments
        that have a gradient."""
        executor = self._module._exec  # sends a deferred step first
        names = [n for n, g in zip(executor._arg_names, executor.grad_arrays) if g is not None]
        return dict(enumerate(names))

    def _key(self, name):
        return name if self._by_name else self._module._param_names.index(name)

    @property
    def states(self):
        """{parameter index (or name): state} of every parameter updated so far (copies)."""
        names = self._executor_names()
        return {self._key(names[j]): state_value(self.optimizer, arrays)
                for j, (_, arrays) in self._module._exec._optimizer_states().items()
                if names.get(j) in self._module._param_names}

    def get_states(self, dump_optimizer=False):
        """MXNet's Updater.get_states: the pickled states (and optimizer)."""
        if not dump_optimizer:
            return pickle.dumps(self.states)
        names = self._executor_names()
        raw = self._module._exec._optimizer_states()
        states = {self._key(names[j]): state_value(self.optimizer, arrays)
                  for j, (_, arrays) in raw.items()}
        self.optimizer._index_update_count.update(
            {self._key(names[j]): count for j, (count, _) in raw.items()})
        return pickle.dumps((states, self.optimizer))

    def set_states(self, states):
        """MXNet's Updater.set_states: replaces the executor's state with the pickled one
        (an update count comes from a dumped optimizer, else each index keeps its own). Also
        takes what a kvstore's save_optimizer_states wrote (mx.nd.save arrays
        "<key>/<part>/<i>", keyed by parameter name)."""
        counts = {}
        if states[:8] == _ND_MAGIC:
            saved = nd.load_frombuffer(states)
            if not isinstance(saved, dict):
                raise MXNetError("optimizer states: the file holds unnamed arrays")
            grouped = group_store_states(list(saved), list(saved.values()))
            loaded = {key: state_value(self.optimizer, arrays)
                      for key, (_, arrays) in grouped.items()}
            counts = {key: count for key, (count, _) in grouped.items()}
        else:
            loaded = pickle.loads(states)
            if isinstance(loaded, tuple) and len(loaded) == 2:
                loaded, optimizer = loaded
                counts = dict(getattr(optimizer, "_index_update_count", {}) or {})
        if not isinstance(loaded, dict):
            raise MXNetError("optimizer states must be a dict {index: state}, got %s"
                             % type(loaded).__name__)
        param_names = self._module._param_names
        to_executor = {n: j for j, n in self._executor_names().items()}
        current = self._module._exec._optimizer_states()
        default = getattr(self.optimizer, "begin_num_update", 0)
        upload = {}
        for key, state in loaded.items():
            if isinstance(key, str):
                name = key
            elif isinstance(key, int) and 0 <= key < len(param_names):
                name = param_names[key]
            else:
                name = None
            if name not in to_executor:
                raise MXNetError("optimizer states name parameter %r, which this module does "
                                 "not update" % (key,))
            j = to_executor[name]
            if state is None:
                arrays = []
            elif isinstance(state, NDArray):
                arrays = [state]
            elif isinstance(state, (tuple, list)) and all(isinstance(a, NDArray)
                                                           for a in state):
                arrays = list(state)
            else:
                raise MXNetError("optimizer state of %r must be None, an NDArray or a tuple "
                                 "of NDArrays, got %s" % (key, type(state).__name__))
            count = counts.get(key, current.get(j, (default, None))[0])
            upload[j] = (int(count), arrays)
        self._module._exec._set_optimizer_states(upload)
        self._by_name = any(isinstance(k, str) for k in loaded)
