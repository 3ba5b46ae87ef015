# syntax=docker/dockerfile:1
# The mxgrid-compiler image. Build from the repository root (the build context):
#   docker build -f deploy/docker/compiler.Dockerfile -t mxgrid/compiler:0.1.0 .
# Stage `build` compiles the server with Bazel from Debian's packages (tools/setup's list);
# the final stage is debian:12-slim with only the runtime libraries (runtime-packages.txt),
# the binary and mxgrid-health, run as an unprivileged user. tools/images builds the same
# final stage without a Docker daemon.

# Debian point release of both stages; pin by digest (debian:12.11@sha256:...) for releases.
ARG DEBIAN=12.11

FROM debian:${DEBIAN} AS build
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
COPY tools/setup /tmp/setup
# The build packages are tools/setup's APT_PACKAGES, read from it so that the two cannot
# drift. Versions are Debian 12's: a stable release changes them only for fixes, and pinning
# exact versions would break the build when the mirror drops a superseded security update.
# hadolint ignore=DL3008
RUN eval "$(sed -n '/^APT_PACKAGES=(/,/^)/p' /tmp/setup)" \
 && apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      "${APT_PACKAGES[@]}" \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# The cache mount keeps Bazel's output base and disk cache (.bazelrc) between builds. The
# binary is copied out in the same step: bazel-bin points into the cache mount.
RUN --mount=type=cache,target=/root/.cache \
    bazel build -c opt //services/compiler:mxgrid-compiler \
 && install -D -m 0755 bazel-bin/services/compiler/mxgrid-compiler /out/mxgrid-compiler \
 && bazel shutdown

FROM debian:${DEBIAN}-slim
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
COPY deploy/docker/runtime-packages.txt /tmp/
# Package versions: as in the build stage (Debian 12's, not pinned).
# hadolint ignore=DL3008
RUN apt-get update \
 && grep -v '^#' /tmp/runtime-packages.txt \
    | DEBIAN_FRONTEND=noninteractive xargs apt-get install -y --no-install-recommends \
 && rm -rf /var/lib/apt/lists/* /tmp/runtime-packages.txt \
 && useradd --system --uid 10001 --user-group --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin mxgrid
COPY deploy/docker/mxgrid-health /usr/local/bin/
COPY --from=build /out/mxgrid-compiler /usr/local/bin/
USER 10001:10001
# gRPC (reflection and grpc.health.v1 included); grpc.health.v1 alone, in plaintext (the
# HEALTHCHECK's port, and the Kubernetes probes'); Prometheus /metrics.
EXPOSE 50051 8081 9090
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 CMD ["mxgrid-health"]
ENTRYPOINT ["/usr/local/bin/mxgrid-compiler"]
# Arguments of your own replace these: keep --health_address for the HEALTHCHECK.
CMD ["--address=0.0.0.0:50051", "--health_address=0.0.0.0:8081", \
     "--metrics_address=0.0.0.0:9090"]
