# envd — the CartPole environment server, as a container.
#
#   podman build --format docker -f docker/envd.Dockerfile -t localhost/envd .
#   podman run --rm -p 127.0.0.1:5555:5555 -p 127.0.0.1:9100:9100 localhost/envd
#
# Build context: the repository root. Configuration is by ENVD_* variables,
# the twins of envd's flags (envd --help lists them); flags given as the
# container's command override them. The HEALTHCHECK probes /healthz on
# ENVD_METRICS, so keep the metrics listener on when the health status
# matters (it is on by default here). Docker-format images keep HEALTHCHECK;
# OCI-format ones drop it, hence --format docker (or BUILDAH_FORMAT=docker).

# ---------------------------------------------------------------- build
FROM debian:bookworm AS build
LABEL org.envd.project=envd org.envd.stage=build
RUN apt-get update -q \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      build-essential pkg-config cmake xz-utils patch curl ca-certificates libsodium-dev \
      libprotobuf-c-dev protobuf-c-compiler libuv1-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# libzmq with envd's fixes (third_party/libzmq/README.md), built static. The
# steps so far are the same in both images, so the layer is built once; the
# Debian source tarballs come from the build context when `make` fetched them.
COPY third_party third_party
RUN third_party/libzmq/build.sh build-libzmq
COPY Makefile ./
COPY proto proto
COPY common common
COPY server server
RUN make -j"$(nproc)" BUILD=/build /build/envd && strip /build/envd && /build/envd --version

# -------------------------------------------------------------- runtime
FROM debian:bookworm-slim
LABEL org.envd.project=envd org.envd.stage=runtime
RUN apt-get update -q \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      libsodium23 libprotobuf-c1 libuv1 \
 && rm -rf /var/lib/apt/lists/*
# (The layer above is the same in both images, so it is built and stored once.)
RUN useradd --system --uid 10001 --user-group --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin envd
COPY --from=build /build/envd /usr/local/bin/envd
COPY docker/envd-healthcheck /usr/local/bin/envd-healthcheck
USER envd:envd
# Plaintext on all interfaces needs ENVD_INSECURE=1: fine on a private
# container network (compose's), not on one other hosts share. For that,
# mount a key pair and client keys and set ENVD_CURVE_SECRET and
# ENVD_CURVE_CLIENTS instead (docs/security.md).
ENV ENVD_BIND=tcp://0.0.0.0:5555 \
    ENVD_INSECURE=1 \
    ENVD_METRICS=0.0.0.0:9100 \
    ENVD_LOG_LEVEL=info
EXPOSE 5555 9100
# envd closes its sessions and sockets on SIGTERM and exits 0.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD ["/usr/local/bin/envd-healthcheck"]
ENTRYPOINT ["/usr/local/bin/envd"]
