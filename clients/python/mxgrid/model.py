"""mx.model: checkpoints in MXNet's layout (``prefix-symbol.json`` and ``prefix-%04d.params``
with ``arg:`` / ``aux:`` key prefixes), readable and writable by MXNet 1.9.1, and
BatchEndParam, the argument of batch-end callbacks.

    mx.model.save_checkpoint('mlp', 3, net, arg_params, aux_params)
    net, arg_params, aux_params = mx.model.load_checkpoint('mlp', 3)

Thread-safety: plain functions over files; safe to call from any thread.
"""
import logging
from collections import namedtuple

from . import ndarray as nd
from . import symbol as sym

__all__ = ["BatchEndParam", "save_checkpoint", "load_checkpoint", "load_params"]

BatchEndParam = namedtuple("BatchEndParams", ["epoch", "nbatch", "eval_metric", "locals"])


def save_checkpoint(prefix, epoch, symbol, arg_params, aux_params, remove_amp_cast=True):
    """Writes ``prefix-symbol.json`` (when symbol is given) and ``prefix-%04d.params``."""
    if symbol is not None:
        symbol.save("%s-symbol.json" % prefix, remove_amp_cast=remove_amp_cast)
    save_dict = {("arg:%s" % k): v for k, v in arg_params.items()}
    save_dict.update({("aux:%s" % k): v for k, v in (aux_params or {}).items()})
    param_name = "%s-%04d.params" % (prefix, epoch)
    nd.save(param_name, save_dict)
    logging.info('Saved checkpoint to "%s"', param_name)


def load_params(prefix, epoch):
    """(arg_params, aux_params) of ``prefix-%04d.params``, uploaded to the worker."""
    param_name = "%s-%04d.params" % (prefix, epoch)
    save_dict = nd.load(param_name)
    arg_params, aux_params = {}, {}
    if not save_dict:
        logging.warning("Params file '%s' is empty", param_name)
        return (arg_params, aux_params)
    if not isinstance(save_dict, dict):
        raise ValueError("%s holds arrays without names; a checkpoint names them arg:/aux:"
                         % param_name)
    for k, v in save_dict.items():
        tp, name = k.split(":", 1)
        if tp == "arg":
            arg_params[name] = v
        if tp == "aux":
            aux_params[name] = v
    return (arg_params, aux_params)


def load_checkpoint(prefix, epoch):
    """(symbol, arg_params, aux_params) of a checkpoint written by MXNet or mxgrid."""
    symbol = sym.load("%s-symbol.json" % prefix)
    arg_params, aux_params = load_params(prefix, epoch)
    return (symbol, arg_params, aux_params)
