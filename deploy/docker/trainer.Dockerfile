# syntax=docker/dockerfile:1
# The image of the training Job (deploy/k8s/job): the mxgrid Python client with its
# dependencies, the protos and examples/. It runs user code against the servers; it holds no
# server. Build from the repository root (the build context):
#   docker build -f deploy/docker/trainer.Dockerfile -t mxgrid/trainer:0.1.0 .
# To train your own script, build FROM this image and COPY it in.

ARG DEBIAN=12.11

FROM debian:${DEBIAN}-slim AS build
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# Debian 12's python3 (3.11), unpinned like the servers' packages.
# hadolint ignore=DL3008
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      python3 python3-venv \
 && rm -rf /var/lib/apt/lists/*
COPY tools/requirements.txt /tmp/
# The client's dependencies at tools/requirements.txt's pinned versions (gRPC, protobuf,
# NumPy; SciPy and scikit-learn for examples/train_digits.py's data; Pillow for mx.image),
# not the test-only ones (MXNet, pytest).
RUN python3 -m venv /opt/venv \
 && grep -E '^(numpy|scipy|scikit-learn|grpcio|grpcio-tools|grpcio-health-checking|protobuf|Pillow)==' \
      /tmp/requirements.txt > /tmp/client-requirements.txt \
 && /opt/venv/bin/pip install --no-cache-dir -r /tmp/client-requirements.txt
WORKDIR /opt/mxgrid
COPY proto/ proto/
COPY clients/python/ clients/python/
COPY examples/ examples/
# Generates the gRPC stubs now (clients/python/mxgrid/_gen): the running container's root
# filesystem is read-only. Byte-compiles the client for the same reason.
RUN PYTHONPATH=clients/python /opt/venv/bin/python -c 'import mxgrid._proto' \
 && /opt/venv/bin/python -m compileall -q clients/python examples

FROM debian:${DEBIAN}-slim
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# hadolint ignore=DL3008
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin mxgrid
COPY --from=build /opt/venv /opt/venv
COPY --from=build /opt/mxgrid /opt/mxgrid
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/opt/mxgrid/clients/python \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
WORKDIR /opt/mxgrid
USER 10001:10001
# A batch client with no port of its own: nothing to health-check.
HEALTHCHECK NONE
CMD ["python", "examples/train_digits.py", "--kv-store", "dist_sync"]
