"""mx.contrib.amp: MXNet's automatic mixed precision (float16 / bfloat16 casts inserted into
graphs, dynamic loss scaling) is not available in mxgrid: the worker's kernels compute in
float32/float64 only, so a converted graph could not run. The module exists so that code
importing it (as MXNet's own tests do) imports; each entry point raises MXNetError saying
so, rather than returning a graph that would fail later.
"""
from ...base import MXNetError

__all__ = ["init", "init_trainer", "scale_loss", "unscale", "convert_symbol", "convert_model",
           "convert_hybrid_block"]


def _refuse(what):
    return MXNetError("mx.contrib.amp.%s: automatic mixed precision is not available in "
                      "mxgrid (the worker has no float16/bfloat16 kernels); train in float32"
                      % what)


def init(target_dtype="float16", target_precision_ops=None, conditional_fp32_ops=None,
         fp32_ops=None, layout_optimization=False):
    raise _refuse("init")


def init_trainer(optimizer_or_trainer):
    raise _refuse("init_trainer")


def scale_loss(loss, optimizer_or_trainer):
    raise _refuse("scale_loss")


def unscale(optimizer_or_trainer):
    raise _refuse("unscale")


def convert_symbol(sym, target_dtype="float16", **kwargs):
    raise _refuse("convert_symbol")


def convert_model(sym, arg_params, aux_params, target_dtype="float16", **kwargs):
    raise _refuse("convert_model")


def convert_hybrid_block(block, target_dtype="float16", **kwargs):
    raise _refuse("convert_hybrid_block")
