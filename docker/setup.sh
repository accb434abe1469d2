#!/bin/bash
# docker/setup.sh — make this Debian 12 machine able to build and run the
# project's containers with podman, without any image registry.
#
#   docker/setup.sh            install what is missing, then the base images
#   docker/setup.sh deps       only the packages (Debian's and npm's)
#   docker/setup.sh images     only the base images
#
# Packages: podman and podman-compose from Debian, runc (crun refuses the
# hybrid cgroup layout of sandboxes like this one), netavark + aardvark-dns
# (the network backend whose DNS answers a scaled compose service with every
# replica's address), iptables for its NAT rules, debootstrap for the images.
# catatonit is the pause process of the pods `podman kube play` makes.
# docker-compose is Debian 12's Compose (1.29), which the test runs
# `config` with so that docker/compose.yaml stays a file it accepts.
# kubectl renders deploy/k8s (`kubectl kustomize`): the machine's own when
# it has one, else Debian's kubernetes-client. The schema checks of
# tests/manifests are npm packages, installed with `npm ci` from its lock
# file into tests/manifests/node_modules (Node.js and npm from Debian when
# the machine has none).
# uidmap, slirp4netns and fuse-overlayfs are only for rootless podman; the
# tests run as root and do not need them.
#
# Base images: the Dockerfiles start FROM debian:bookworm and
# debian:bookworm-slim. When podman's store lacks them (no registry is
# reachable here), they are built once from Debian's own packages with
# debootstrap, from the mirror apt already uses, and imported under the
# docker.io/library names. Podman's image store is the cache: later runs
# find them with `podman image exists` and do nothing.
#
# Podman reads its settings from docker/containers.conf (CONTAINERS_CONF);
# scripts that run podman source docker/env.sh to get the same.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=docker/env.sh
. "$here/env.sh"

DOCKER_DEB_PKGS=(podman podman-compose docker-compose catatonit runc netavark aardvark-dns iptables debootstrap)

say() { printf 'setup: %s\n' "$*" >&2; }

install_deps() {
    local missing=() p
    for p in "${DOCKER_DEB_PKGS[@]}"; do
        dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -qx installed || missing+=("$p")
    done
    command -v kubectl >/dev/null || missing+=(kubernetes-client)
    command -v npm >/dev/null || missing+=(nodejs npm)
    if [ ${#missing[@]} -eq 0 ]; then
        say "container packages present"
    else
        say "installing ${missing[*]}"
        local sudo=
        [ "$(id -u)" = 0 ] || sudo=sudo
        $sudo apt-get update -q
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
    fi
    install_npm
}

# tests/manifests/node_modules, from the lock file; again only when the lock
# file is newer than what was installed from it.
install_npm() {
    local dir=$here/../tests/manifests
    if [ -f "$dir/node_modules/.package-lock.json" ] && [ "$dir/node_modules/.package-lock.json" -nt "$dir/package-lock.json" ]; then
        say "manifest checkers present (tests/manifests/node_modules)"
        return
    fi
    say "installing the manifest checkers: npm ci in tests/manifests"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2)
}

# The Debian mirror apt downloads from: the part of a package URI before /pool/.
debian_mirror() {
    local uri try
    for try in 1 2; do
        uri=$(apt-get --print-uris download base-files 2>/dev/null | sed -n "s|^'\(.*\)/pool/.*|\1|p" | head -1)
        [ -z "$uri" ] || break
        [ $try = 2 ] || apt-get update -q >&2 # no package lists yet
    done
    [ -n "$uri" ] || { say "cannot tell which Debian mirror apt uses"; return 1; }
    printf '%s\n' "$uri"
}

build_base_images() {
    local bookworm=docker.io/library/debian:bookworm slim=docker.io/library/debian:bookworm-slim
    if podman image exists "$bookworm" && podman image exists "$slim"; then
        say "base images present: $bookworm, $slim"
        return
    fi
    local mirror security work
    mirror=$(debian_mirror)
    security=$(grep -rhoE 'https?://[^ ]*/debian-security' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null | head -1 || true)
    work=$(mktemp -d /var/tmp/envd-debootstrap.XXXXXX)
    # shellcheck disable=SC2064
    trap "rm -rf '$work'" EXIT
    say "no $bookworm / $slim in podman's store: building them with debootstrap from $mirror (about 2 minutes, once)"
    local root=$work/root
    debootstrap --variant=minbase bookworm "$root" "$mirror" >"$work/debootstrap.log" 2>&1 || {
        tail -20 "$work/debootstrap.log" >&2
        return 1
    }

    # What Debian's own container images set up, so apt behaves the same.
    {
        printf 'Types: deb\nURIs: %s\nSuites: bookworm bookworm-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$mirror"
        [ -z "$security" ] || printf '\nTypes: deb\nURIs: %s\nSuites: bookworm-security\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$security"
    } >"$root/etc/apt/sources.list.d/debian.sources"
    rm -f "$root/etc/apt/sources.list"
    cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
    printf 'Acquire::Languages "none";\n' >"$root/etc/apt/apt.conf.d/docker-no-languages"
    printf 'Acquire::GzipIndexes "true";\n' >"$root/etc/apt/apt.conf.d/docker-gzip-indexes"
    printf 'APT::AutoRemove::SuggestsImportant "false";\n' >"$root/etc/apt/apt.conf.d/docker-autoremove-suggests"
    # A mirror that serves a dated snapshot has expired Release files; carry
    # over the host's settings for that, if it has any.
    apt-config dump 2>/dev/null | grep -E '^Acquire::Check-(Valid-Until|Date) ' >"$root/etc/apt/apt.conf.d/99mirror" || true
    [ -s "$root/etc/apt/apt.conf.d/99mirror" ] || rm -f "$root/etc/apt/apt.conf.d/99mirror"
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/var/log/* \
        "$root"/tmp/* "$root"/var/tmp/* "$root"/var/cache/apt/*.bin "$root"/debootstrap
    printf 'localhost\n' >"$root/etc/hostname"
    : >"$root/etc/resolv.conf"

    local tarflags=(--numeric-owner --xattrs --exclude=./dev/* --exclude=./proc/* --exclude=./sys/*)
    tar -C "$root" -c "${tarflags[@]}" . |
        podman import --quiet --change 'CMD ["bash"]' --message "debootstrap --variant=minbase bookworm $mirror" - "$bookworm" >/dev/null

    # -slim: Debian's recipe, no documentation and no man pages, and dpkg
    # told to leave them out of every package installed later.
    cat >"$root/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
    find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
    find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
    rm -rf "$root"/usr/share/man/* "$root"/usr/share/groff/* "$root"/usr/share/info/* \
        "$root"/usr/share/lintian/* "$root"/usr/share/linda/*
    find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
    tar -C "$root" -c "${tarflags[@]}" . |
        podman import --quiet --change 'CMD ["bash"]' --message "$bookworm without documentation" - "$slim" >/dev/null
    rm -rf "$work"
    trap - EXIT
    say "built $(podman image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E 'debian:bookworm' | tr '\n' ' ')"
}

case "${1:-all}" in
deps) install_deps ;;
images) build_base_images ;;
all) install_deps && build_base_images ;;
*) echo "usage: $0 [deps|images]" >&2; exit 2 ;;
esac
