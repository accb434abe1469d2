#!/usr/bin/env python3
"""Connect to a (possibly remote) envd given on the command line.

    python3 clients/python/examples/remote_envd.py --endpoint tcp://envd-host:5555

Says hello (server version, protocol, environments, limits), runs a few
episodes of a balancing heuristic on one session, checks the server's
round-trip time with ping, and prints the server's counters. Every request
is bounded by --timeout: an unreachable server is reported, never waited on
forever.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

try:
    import envd_client
except ImportError:  # run from a checkout without installing: use the package beside us
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import envd_client


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--endpoint", required=True, help="envd's ZeroMQ endpoint, e.g. tcp://host:5555")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for each reply")
    p.add_argument("--episodes", type=int, default=3)
    p.add_argument("--pings", type=int, default=100)
    args = p.parse_args()

    try:
        with envd_client.Client(args.endpoint, args.timeout) as client:
            hello = client.hello("remote_envd example")
            lim = hello.limits
            print(f"connected to {args.endpoint}: {hello.server_version}, protocol {hello.major}.{hello.minor}")
            print(f"environments: {', '.join(hello.env_ids)}")
            print(f"limits: max_batch {lim.max_batch}, max_sessions {lim.max_sessions}, "
                  f"session_ttl {lim.session_ttl_ms / 1000:g} s, max_message_size {lim.max_message_size}")

            rtts = []
            for i in range(args.pings):
                t0 = time.perf_counter()
                client.ping(b"%d" % i)
                rtts.append((time.perf_counter() - t0) * 1e6)
            if rtts:
                print(f"ping: median {statistics.median(rtts):.0f} us over {len(rtts)}")

            with envd_client.EnvdEnv("CartPole-v1", client=client) as env:
                for episode in range(args.episodes):
                    obs, _ = env.reset(seed=episode)
                    total, done = 0.0, False
                    while not done:  # ends by 500 steps at the latest: envd truncates
                        action = int(obs[2] + obs[3] > 0)
                        obs, reward, terminated, truncated, _ = env.step(action)
                        total += reward
                        done = terminated or truncated
                    print(f"episode {episode} (seed {episode}): return {total:.0f}"
                          f"{' (truncated at the time limit)' if truncated and not terminated else ''}")

            st = client.stats()
            print(f"server: {st.active_sessions} active sessions, {st.sessions_created} created, "
                  f"{st.env_steps} env steps, {st.requests} requests, up {st.uptime_ms / 1000:.1f} s")
    except envd_client.EnvdTimeout as exc:
        print(f"no answer from {args.endpoint} within {args.timeout:g} s: is envd running there?\n  {exc}",
              file=sys.stderr)
        return 1
    except envd_client.EnvdError as exc:
        print(f"envd refused: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
