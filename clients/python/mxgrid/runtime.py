"""mxnet.runtime: the features of the mxgrid build this client drives (MXNet's
runtime.Features / feature_list), with MXNet's feature names.

Thread-safety: Features objects are immutable.
"""
import collections

from . import context

__all__ = ["Feature", "Features", "feature_list"]

Feature = collections.namedtuple("Feature", ["name", "enabled"])

# MXNet's feature names and whether mxgrid's CPU backend has them: oneDNN kernels (MKLDNN),
# OpenMP-free thread pools, 64-bit shapes and indices (INT64_TENSOR_SIZE), signal handlers,
# the dist kvstore over its own shards. Sparse storage, TensorRT, OpenCV, LAPACK-backed
# linalg and the others are absent.
_CPU_FEATURES = {
    "CUDA": False, "CUDNN": False, "NCCL": False, "CUDA_RTC": False, "TENSORRT": False,
    "CPU_SSE": True, "CPU_SSE2": True, "CPU_SSE3": True, "CPU_SSE4_1": True,
    "CPU_SSE4_2": True, "CPU_SSE4A": False, "CPU_AVX": True, "CPU_AVX2": True,
    "OPENMP": False, "SSE": True, "F16C": True, "JEMALLOC": False, "BLAS_OPEN": False,
    "BLAS_ATLAS": False, "BLAS_MKL": False, "BLAS_APPLE": False, "LAPACK": False,
    "MKLDNN": True, "OPENCV": False, "CAFFE": False, "PROFILER": False,
    "DIST_KVSTORE": True, "CXX14": True, "INT64_TENSOR_SIZE": True, "SIGNAL_HANDLER": True,
    "DEBUG": False, "TVM_OP": False,
}


def feature_list():
    """Every Feature of the build, in name order; CUDA/CUDNN when the worker has GPUs."""
    gpus = context.num_gpus() > 0 if hasattr(context, "num_gpus") else False
    table = dict(_CPU_FEATURES, CUDA=gpus, CUDNN=gpus)
    return [Feature(name, enabled) for name, enabled in sorted(table.items())]


class Features(collections.OrderedDict):
    """name -> Feature, as MXNet's runtime.Features."""

    def __init__(self):
        super().__init__((f.name, f) for f in feature_list())

    def __repr__(self):
        return str(list(self.values()))

    def is_enabled(self, feature_name):
        """Whether the feature is enabled; RuntimeError for a name MXNet does not have."""
        name = feature_name.upper()
        if name not in self:
            raise RuntimeError("Feature '%s' is unknown, known features are: %s"
                               % (feature_name, list(self.keys())))
        return self[name].enabled
