"""mx.gluon, the part mxgrid serves: ``gluon.loss`` (loss functions over NDArrays). Blocks,
Parameters and Trainer are not provided."""
from . import loss

__all__ = ["loss"]
