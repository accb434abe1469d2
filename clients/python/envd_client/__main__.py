"""``python3 -m envd_client [ENDPOINT]``: is an envd there, and what does it offer?

The first thing to run against a server. It asks envd, over the same
protocol the environments use, for everything a client can learn: hello
(server and protocol version, environment ids, limits), a few pings (round
trip time), describe of every environment (spaces, time limit, reward
threshold) and stats (sessions, steps, requests, errors, uptime), and
prints them. Nothing is created on the server.

Exit status: 0 when the server answered everything, 1 when it could not be
reached or refused a request (the message says what to check), 2 for a
usage error (a bad flag, endpoint or key).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Sequence

from .client import CLI_HINT, DEFAULT_ENDPOINT, DEFAULT_TIMEOUT, PROTOCOL_MAJOR, PROTOCOL_MINOR, Client
from .errors import EnvdError, InvalidArgument

PROG = "python3 -m envd_client"
PINGS = 5
_DTYPE_NAMES = {1: "float32", 2: "float64", 3: "int64", 4: "int32", 5: "uint8"}


def format_space(space) -> str:
    """An ``envd.v1.Space`` in a line: ``Discrete(3)``, ``Box(4,) float32``."""
    kind = space.WhichOneof("kind")
    if kind == "discrete":
        d = space.discrete
        return f"Discrete({d.n})" if d.start == 0 else f"Discrete({d.n}, start={d.start})"
    if kind == "box":
        b = space.box
        shape = "(" + ", ".join(str(n) for n in b.shape) + ("," if len(b.shape) == 1 else "") + ")"
        return f"Box{shape} {_DTYPE_NAMES.get(b.dtype, f'dtype {b.dtype}')}"
    return f"unknown space {kind!r}"


def format_spec(spec) -> str:
    limit = f"max_episode_steps {spec.max_episode_steps}" if spec.max_episode_steps else "no time limit"
    if spec.HasField("reward_threshold"):
        return f"{limit}, reward_threshold {spec.reward_threshold:g}"
    return limit


def report(client: Client, out) -> None:
    """Prints what the server says; raises EnvdError when it does not answer."""
    hello = client.hello(f"{PROG} (envd_client)")
    print(f"envd at {client.endpoint}: {hello.server_version}, protocol {hello.major}.{hello.minor} "
          f"(this client speaks {PROTOCOL_MAJOR}.{PROTOCOL_MINOR})", file=out)

    rtts = []
    for i in range(PINGS):
        payload = b"envd_client %d" % i
        t0 = time.perf_counter()
        echoed = client.ping(payload)
        rtts.append((time.perf_counter() - t0) * 1e6)
        if echoed != payload:
            raise EnvdError(f"ping echoed {echoed!r}, not {payload!r}")
    print(f"ping: median {statistics.median(rtts):.0f} us, max {max(rtts):.0f} us over {PINGS}",
          file=out)

    print(f"environments ({len(hello.env_ids)}):", file=out)
    width = max((len(e) for e in hello.env_ids), default=0)
    for env_id in hello.env_ids:
        d = client.describe(env_id=env_id)
        print(f"  {env_id:<{width}}  observation {format_space(d.observation_space)}, "
              f"action {format_space(d.action_space)}, {format_spec(d.spec)}", file=out)

    lim = hello.limits
    print(f"limits: max_batch {lim.max_batch}, max_sessions {lim.max_sessions}, "
          f"session_ttl {lim.session_ttl_ms / 1000:g} s, max_message_size {lim.max_message_size} bytes",
          file=out)

    st = client.stats()
    print(f"stats: {st.active_sessions} active sessions, {st.sessions_created} created, "
          f"{st.sessions_reclaimed} reclaimed, {st.env_steps} env steps, {st.requests} requests, "
          f"{st.errors} errors, up {st.uptime_ms / 1000:.1f} s", file=out)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog=PROG, description="Ask an envd server for its version, environments, limits and stats.",
        epilog="Exit status: 0 the server answered, 1 unreachable or refused, 2 usage error.")
    p.add_argument("endpoint", nargs="?", default=DEFAULT_ENDPOINT,
                   help=f"envd's ZeroMQ endpoint (default {DEFAULT_ENDPOINT})")
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                   help=f"wait at most this long for each reply (default {DEFAULT_TIMEOUT:g})")
    p.add_argument("--server-public-key", metavar="KEY",
                   help="CURVE: envd's public key (Z85 text or a .pub file from envd --keygen)")
    p.add_argument("--secret-key", metavar="KEY", help="CURVE: this client's secret key (.key file)")
    p.add_argument("--public-key", metavar="KEY",
                   help="CURVE: this client's public key (default: derived from --secret-key)")
    args = p.parse_args(argv)

    try:
        client = Client(args.endpoint, args.timeout, server_public_key=args.server_public_key,
                        public_key=args.public_key, secret_key=args.secret_key)
    except InvalidArgument as exc:
        print(f"{PROG}: {exc.message}", file=sys.stderr)
        return 2
    except EnvdError as exc:  # e.g. a host name that does not resolve
        print(f"{PROG}: {exc.message}", file=sys.stderr)
        return 1
    with client:
        try:
            report(client, sys.stdout)
        except EnvdError as exc:
            sys.stdout.flush()
            print(f"{PROG}: {str(exc).replace(' ' + CLI_HINT, '')}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
