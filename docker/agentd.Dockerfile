# agentd — the DQN learner, as a container.
#
#   podman build --format docker -f docker/agentd.Dockerfile -t localhost/agentd .
#   podman run --rm -v agentd-data:/var/lib/agentd -e AGENTD_ENV=tcp://envd:5555 localhost/agentd
#
# Build context: the repository root. Configuration is by AGENTD_* variables,
# the twins of agentd's flags (agentd --help lists them): AGENTD_ENV (a
# comma-separated list of envd endpoints) or AGENTD_ENV_DNS (HOST:PORT, every
# address of the name is one envd), AGENTD_SESSIONS, AGENTD_TARGET_RETURN,
# AGENTD_SEED. Checkpoint and logs live on the volume /var/lib/agentd.
# agentd writes its checkpoint when it gets SIGTERM (`podman stop`), so give
# it time: `podman stop -t 30`, or stop_grace_period in compose.

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
COPY agent agent
RUN make -j"$(nproc)" BUILD=/build /build/agentd && strip /build/agentd && /build/agentd --version

# -------------------------------------------------------------- runtime
FROM debian:bookworm-slim
LABEL org.envd.project=envd org.envd.stage=runtime
RUN apt-get update -q \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      libsodium23 libprotobuf-c1 libuv1 \
 && rm -rf /var/lib/apt/lists/*
# (The layer above is the same in both images, so it is built and stored once.)
RUN useradd --system --uid 10002 --user-group --home-dir /var/lib/agentd \
      --shell /usr/sbin/nologin agentd \
 && mkdir -p /var/lib/agentd/logs \
 && chown -R agentd:agentd /var/lib/agentd
COPY --from=build /build/agentd /usr/local/bin/agentd
USER agentd:agentd
WORKDIR /var/lib/agentd
ENV AGENTD_SAVE=/var/lib/agentd/checkpoint.bin \
    AGENTD_LOGDIR=/var/lib/agentd/logs
VOLUME /var/lib/agentd
# agentd saves its checkpoint on SIGTERM, then exits.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/agentd"]
