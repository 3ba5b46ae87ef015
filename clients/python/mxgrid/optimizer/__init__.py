"""MXNet 1.9.1's optimizer API (mx.optimizer): Optimizer with create_state / update /
update_multi_precision, the optimizers, ``Updater`` and ``get_updater``.

Updates run on the worker: the fused ones as MXNet's ``*_update`` operators (sgd_update,
adam_update, ... in libs/ops/optimizer), the others as NDArray arithmetic, exactly as
MXNet's Python optimizers; state arrays live on the worker next to the weights.

Optimizers the servers also know (sgd, nag, adam, rmsprop, adagrad) can instead run where a
store lives: ``KVStore.set_optimizer`` and Module send their name and string parameters
(``_server_form``) to the worker's store or executor, or to the kvstore shards.
"""
from .optimizer import (Optimizer, register, create, Updater, get_updater)
from .sgd import SGD, ccSGD, NAG, Signum, LARS, DCASGD, SGLD
from .adaptive import Adam, AdaGrad, RMSProp, AdaDelta, Ftrl, Adamax, Nadam, FTML, LAMB, Test

__all__ = ["Optimizer", "register", "create", "Updater", "get_updater", "SGD", "ccSGD", "NAG",
           "Signum", "LARS", "DCASGD", "SGLD", "Adam", "AdaGrad", "RMSProp", "AdaDelta",
           "Ftrl", "Adamax", "Nadam", "FTML", "LAMB", "Test"]
