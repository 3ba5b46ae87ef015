# syntax=docker/dockerfile:1
# The mxgrid-worker image with the GPU backend (CUDA 13, cuBLAS, cuDNN 9). Build from the
# repository root (the build context):
#   docker build -f deploy/docker/worker-cuda.Dockerfile -t mxgrid/worker-cuda:0.1.0 .
# Runs on nodes with an NVIDIA driver >= 580 and the NVIDIA container toolkit, which mounts
# the driver's libcuda into the container; without a GPU it serves CPU contexts only.
#
# Why debian:12(-slim) plus NVIDIA's Debian 12 repository, not an nvidia/cuda base image:
# those images are Ubuntu or UBI, whose gRPC, spdlog and oneDNN have other sonames than
# the Debian 12 libraries the binary is built against (libspdlog.so.1.10, libdnnl.so.2, ...),
# and whose glibc differs from the build stage's. NVIDIA publishes CUDA and cuDNN for
# Debian 12 as .debs, so both stages stay Debian 12 and install only the CUDA parts used:
# nvcc and headers to build, cudart, cuBLAS and cuDNN to run.

ARG DEBIAN=12.11
# CUDA packages are named by version: cuda-nvcc-13-0, libcudnn9-cuda-13, ...
ARG CUDA=13-0
ARG CUDA_MAJOR=13
# NVIDIA's signing key and apt source, as a package (https, from NVIDIA's repository).
ARG CUDA_KEYRING=https://developer.download.nvidia.com/compute/cuda/repos/debian12/x86_64/cuda-keyring_1.1-1_all.deb

FROM debian:${DEBIAN} AS build
ARG CUDA
ARG CUDA_MAJOR
ARG CUDA_KEYRING
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
COPY tools/setup /tmp/setup
# tools/setup's APT_PACKAGES (read from it so the two cannot drift), then nvcc, the CUDA
# runtime headers, cuBLAS and cuDNN from NVIDIA's repository. Versions are unpinned: Debian
# 12's are fixed by the release, NVIDIA's by the CUDA/cuDNN major in the package name.
# hadolint ignore=DL3008
RUN eval "$(sed -n '/^APT_PACKAGES=(/,/^)/p' /tmp/setup)" \
 && apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates curl "${APT_PACKAGES[@]}" \
 && curl -fsSL -o /tmp/cuda-keyring.deb "${CUDA_KEYRING}" \
 && dpkg -i /tmp/cuda-keyring.deb \
 && apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      "cuda-nvcc-${CUDA}" "cuda-cudart-dev-${CUDA}" "libcublas-dev-${CUDA}" \
      "libcudnn9-dev-cuda-${CUDA_MAJOR}" \
 && rm -rf /var/lib/apt/lists/* /tmp/cuda-keyring.deb
WORKDIR /src
COPY . .
# --config=cuda adds the GPU kernels (.bazelrc; nvcc from /usr/local/cuda). The cache mount
# keeps Bazel's output base and disk cache; the binary is copied out in the same step.
RUN --mount=type=cache,target=/root/.cache \
    bazel build -c opt --config=cuda //services/worker:mxgrid-worker \
 && install -D -m 0755 bazel-bin/services/worker/mxgrid-worker /out/mxgrid-worker \
 && bazel shutdown

FROM debian:${DEBIAN}-slim
ARG CUDA
ARG CUDA_MAJOR
ARG CUDA_KEYRING
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
COPY deploy/docker/runtime-packages.txt /tmp/
# The CPU worker's runtime libraries plus the CUDA runtime, cuBLAS and cuDNN (unpinned, as
# in the build stage). curl stays: mxgrid-health uses it.
# hadolint ignore=DL3008
RUN apt-get update \
 && grep -v '^#' /tmp/runtime-packages.txt \
    | DEBIAN_FRONTEND=noninteractive xargs apt-get install -y --no-install-recommends \
      ca-certificates \
 && curl -fsSL -o /tmp/cuda-keyring.deb "${CUDA_KEYRING}" \
 && dpkg -i /tmp/cuda-keyring.deb \
 && apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      "cuda-cudart-${CUDA}" "libcublas-${CUDA}" "libcudnn9-cuda-${CUDA_MAJOR}" \
 && rm -rf /var/lib/apt/lists/* /tmp/runtime-packages.txt /tmp/cuda-keyring.deb \
 && useradd --system --uid 10001 --user-group --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin mxgrid \
 && ls -d /usr/local/cuda-*/targets/x86_64-linux/lib > /etc/ld.so.conf.d/mxgrid-cuda.conf \
 && ldconfig
# The loader finds cudart and cuBLAS through mxgrid-cuda.conf above (NVIDIA's packages put
# them in the versioned toolkit folder; the binary's RUNPATH, /usr/local/cuda/lib64, is the
# build machine's), cuDNN in the system folder. The NVIDIA container toolkit reads these:
ENV NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility
COPY deploy/docker/mxgrid-health /usr/local/bin/
COPY --from=build /out/mxgrid-worker /usr/local/bin/
USER 10001:10001
# gRPC (reflection and grpc.health.v1 included); grpc.health.v1 alone, in plaintext (the
# HEALTHCHECK's port, and the Kubernetes probes'); Prometheus /metrics.
EXPOSE 50051 8081 9090
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 CMD ["mxgrid-health"]
ENTRYPOINT ["/usr/local/bin/mxgrid-worker"]
# Arguments of your own replace these: keep --health_address for the HEALTHCHECK.
CMD ["--address=0.0.0.0:50051", "--health_address=0.0.0.0:8081", \
     "--metrics_address=0.0.0.0:9090"]
