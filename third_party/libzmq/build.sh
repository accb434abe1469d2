#!/bin/bash
# third_party/libzmq/build.sh — build the libzmq envd links: Debian 12's own
# libzmq 4.3.4 source (the orig tarball and Debian's patches, from the
# Debian archive apt uses) plus envd.patch, as a static library.
#
#   third_party/libzmq/build.sh OUT     OUT/prefix/{include,lib/libzmq.a}
#
# Why envd does not link the system libzmq: README.md beside this file.
# The tarballs are kept in third_party/libzmq/dl/ (checked against the
# hashes below) so that a rebuild, `make clean` or a container build does
# not download them again; ZMQ_MIRROR overrides the mirror.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${1:?usage: build.sh OUT}
mkdir -p "$out"
out=$(cd "$out" && pwd)
dl="$here/dl"

ORIG=zeromq3_4.3.4.orig.tar.gz
ORIG_SHA256=0ff5a531c9ffaf0dfdc7dc78d13d1383088f454896d252934c429b2554d10559
DEBIAN=zeromq3_4.3.4-6.debian.tar.xz
DEBIAN_SHA256=fbb0dcb4ffbf483d416d9af722db74ad4edd7004625ce10381e8cd3a71b6cd58

say() { printf 'libzmq: %s\n' "$*" >&2; }

# The Debian mirror apt downloads from: the part of a package URI before /pool/.
mirror() {
    if [ -n "${ZMQ_MIRROR:-}" ]; then
        printf '%s\n' "$ZMQ_MIRROR"
        return
    fi
    local uri
    uri=$(apt-get --print-uris download base-files 2>/dev/null | sed -n "s|^'\(.*\)/pool/.*|\1|p" | head -1 || true)
    printf '%s\n' "${uri:-http://deb.debian.org/debian}"
}

fetch() { # file sha256
    local f=$1 sum=$2
    if [ -f "$dl/$f" ] && echo "$sum  $dl/$f" | sha256sum -c --status; then
        return
    fi
    mkdir -p "$dl"
    local url
    url="$(mirror)/pool/main/z/zeromq3/$f"
    say "downloading $url"
    curl -fsSL --retry 3 -o "$dl/$f.part" "$url" || { say "cannot download $url (set ZMQ_MIRROR to a Debian mirror)"; exit 1; }
    if ! echo "$sum  $dl/$f.part" | sha256sum -c --status; then
        say "$f: checksum mismatch (expected $sum)"
        rm -f "$dl/$f.part"
        exit 1
    fi
    mv "$dl/$f.part" "$dl/$f"
}

fetch "$ORIG" "$ORIG_SHA256"
fetch "$DEBIAN" "$DEBIAN_SHA256"

src="$out/src"
rm -rf "$src" "$out/build" "$out/prefix"
mkdir -p "$src"
tar -xzf "$dl/$ORIG" -C "$src" --strip-components=1
tar -xJf "$dl/$DEBIAN" -C "$src"
(
    cd "$src"
    while read -r p; do
        case $p in ''|'#'*) continue ;; esac
        patch -p1 -s -i "debian/patches/$p"
    done < debian/patches/series
    patch -p1 -s -i "$here/envd.patch"
)
say "configuring (static, CURVE through libsodium, no draft API)"
# Not the caller's CFLAGS: they are for the project's own code.
env -u CFLAGS -u CXXFLAGS -u CPPFLAGS -u LDFLAGS \
    cmake -S "$src" -B "$out/build" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_INSTALL_PREFIX="$out/prefix" -DCMAKE_INSTALL_LIBDIR=lib \
    -DCMAKE_POSITION_INDEPENDENT_CODE=ON \
    -DBUILD_SHARED=OFF -DBUILD_STATIC=ON -DBUILD_TESTS=OFF -DWITH_DOCS=OFF \
    -DWITH_LIBSODIUM=ON -DENABLE_CURVE=ON -DWITH_LIBBSD=OFF -DENABLE_DRAFTS=OFF \
    -DWITH_PERF_TOOL=OFF -DENABLE_CPACK=OFF -DENABLE_WS=OFF >"$out/configure.log" 2>&1 ||
    { tail -20 "$out/configure.log" >&2; exit 1; }
grep -q '^#define ZMQ_USE_LIBSODIUM' "$out/build/platform.hpp" ||
    { say "libsodium not found (libsodium-dev): CURVE would be missing"; exit 1; }
say "building"
cmake --build "$out/build" -j "$(nproc)" >"$out/build.log" 2>&1 || { tail -20 "$out/build.log" >&2; exit 1; }
cmake --install "$out/build" >"$out/install.log" 2>&1 || { tail -20 "$out/install.log" >&2; exit 1; }
say "installed in $out/prefix"
