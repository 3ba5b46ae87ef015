"""CUDA kernels compiled by nvcc (see ../shared/BUILDING.md).

cuda_library(name, srcs, hdrs, deps) compiles each `.cu` in srcs with nvcc into an object and
wraps the objects in a cc_library. nvcc sees the workspace root and the system headers only:
every header the `.cu` files include from the workspace must reach it through `cuda_hdrs`
(a list of header files or filegroups). Only built under --config=cuda; the objects target
sm_90 and embed compute_90 PTX, so newer GPUs JIT-compile them.
"""

NVCC = "/usr/local/cuda/bin/nvcc"

NVCC_FLAGS = " ".join([
    "-std=c++17",
    "-O3",
    "-Xcompiler -fPIC",
    "-Xcompiler -fno-omit-frame-pointer",
    "-gencode arch=compute_90,code=sm_90",
    "-gencode arch=compute_90,code=compute_90",
    "--expt-relaxed-constexpr",
    "-DMXGRID_CUDA=1",
    "-I.",
])

def cuda_library(name, srcs, hdrs = [], cuda_hdrs = [], deps = [], visibility = None):
    objs = []
    for src in srcs:
        if not src.endswith(".cu"):
            fail("cuda_library srcs must be .cu files: " + src)
        obj = name + "_" + src.replace("/", "_")[:-3] + ".o"
        native.genrule(
            name = name + "_" + src.replace("/", "_")[:-3] + "_nvcc",
            srcs = [src] + hdrs + cuda_hdrs,
            outs = [obj],
            cmd = NVCC + " " + NVCC_FLAGS + " -c $(location " + src + ") -o $@",
            message = "nvcc " + src,
            tags = ["manual"],
        )
        objs.append(obj)
    native.cc_library(
        name = name,
        srcs = objs,
        hdrs = hdrs,
        deps = deps + ["@local_cuda//:cudart"],
        visibility = visibility,
        alwayslink = True,
        # CPU-only builds of //... skip nvcc; --config=cuda reaches these through select().
        tags = ["manual"],
    )

def op_family_cuda(family):
    """The `:cuda` target of an operator family package (libs/ops/<family>): every `.cu` in
    the package, seeing the family's, libs/base's, libs/gpu's and libs/ops' headers, linked
    with the family's CPU library (its parameter structs), cuBLAS and cuDNN."""
    cuda_library(
        name = "cuda",
        srcs = native.glob(["*.cu"]),
        cuda_hdrs = [
            ":headers",
            "//libs/base:headers",
            "//libs/gpu:cuda_headers",
            "//libs/ops:headers",
        ],
        deps = [
            ":" + family,
            "//libs/base",
            "//libs/gpu",
            "//libs/ops:ops_core",
            "@local_cuda//:cublas",
            "@local_cuda//:cudnn",
        ],
    )
