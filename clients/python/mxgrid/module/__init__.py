"""mx.mod: MXNet 1.9.1's module API (mxnet.module) on the mxgrid worker.

    mod = mx.mod.Module(net, context=[mx.cpu(0), mx.cpu(1)])   # data parallel
    mod.fit(train_iter, num_epoch=10)

- base_module.py: BaseModule, the fit / score / predict loop over a module's primitives.
- executor_group.py: DataParallelExecutorGroup, one executor per device context.
- module.py: Module, a symbol bound over one or more contexts, with its optimizer.
- bucketing_module.py: BucketingModule, one Module per bucket key sharing the parameters.
"""
from .base_module import BaseModule, _ProgressBar
from .bucketing_module import BucketingModule
from .executor_group import DataParallelExecutorGroup
from .module import Module

__all__ = ["BaseModule", "Module", "BucketingModule"]
