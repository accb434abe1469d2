# shellcheck shell=bash
# docker/env.sh — sourced by the scripts that run podman: use the project's
# containers.conf (see the comments in it) rather than podman's defaults,
# which fail in sandboxes like CI's.
CONTAINERS_CONF="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/containers.conf"
export CONTAINERS_CONF
BUILDAH_FORMAT=docker  # keep HEALTHCHECK and STOPSIGNAL in built images (OCI drops HEALTHCHECK)
export BUILDAH_FORMAT
