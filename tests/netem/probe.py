#!/usr/bin/python3
"""probe.py — measure a path through build/netem: round trips, lost packets, rate.

Used by tests/netem/run.sh from inside the namespaces of tests/netem/topology.sh.
Each measuring command prints one line of key=value pairs.

    probe.py serve ADDR PORT                UDP echo and TCP echo (and bulk sink) on ADDR:PORT
    probe.py udp-rtt HOST PORT COUNT        COUNT sequential UDP round trips: min/p10/p50/p90 ms
    probe.py tcp-rtt HOST PORT COUNT        the same over one TCP connection (TCP_NODELAY)
    probe.py udp-loss HOST PORT COUNT       COUNT numbered datagrams 0.5 ms apart; which echoes
                                            never came back (lost=i,j,...), how many came back
                                            after a later one (reordered=K)
    probe.py tcp-bulk HOST PORT BYTES       BYTES over TCP; goodput in bit/s until the sink's ack
    probe.py expect-lost SEED RULE PCT COUNT  the packets netem's rule RULE loses among its first
                                            COUNT with --seed SEED (numpy's PCG64 stream, as in
                                            tests/netem/netem.c), in udp-loss's format
"""
import socket
import struct
import sys
import threading
import time

TIMEOUT = 5.0


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def report(**kv):
    print(" ".join(f"{k}={v}" for k, v in kv.items()), flush=True)


def rtt_report(rtts):
    ms = [r * 1e3 for r in rtts]
    report(count=len(ms), min_ms=f"{min(ms):.3f}", p10_ms=f"{pct(ms, 0.1):.3f}",
           p50_ms=f"{pct(ms, 0.5):.3f}", p90_ms=f"{pct(ms, 0.9):.3f}", max_ms=f"{max(ms):.3f}")


def recv_exact(conn, n):
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("peer closed")
        buf += chunk
    return buf


# ------------------------------------------------------------------ server

def serve_tcp_conn(conn):
    """First byte picks the mode: 'e' echo 8-byte frames, 'b' bulk: an 8-byte length, then
    that many bytes, answered by one byte once all arrived."""
    with conn:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        mode = recv_exact(conn, 1)
        if mode == b"e":
            while True:
                try:
                    conn.sendall(recv_exact(conn, 8))
                except ConnectionError:
                    return
        elif mode == b"b":
            (n,) = struct.unpack("<Q", recv_exact(conn, 8))
            got = 0
            while got < n:
                chunk = conn.recv(min(1 << 16, n - got))
                if not chunk:
                    return
                got += len(chunk)
            conn.sendall(b"k")


def serve(addr, port):
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind((addr, port))
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tcp.bind((addr, port))
    tcp.listen(8)

    def accept_loop():
        while True:
            conn, _ = tcp.accept()
            threading.Thread(target=serve_tcp_conn, args=(conn,), daemon=True).start()

    threading.Thread(target=accept_loop, daemon=True).start()
    print("probe: serving", flush=True)
    while True:
        data, peer = udp.recvfrom(2048)
        udp.sendto(data, peer)


# ------------------------------------------------------------------ clients

def udp_rtt(host, port, count):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(TIMEOUT)
    s.connect((host, port))
    rtts = []
    for i in range(count):
        msg = struct.pack("<Q", i)
        t0 = time.perf_counter()
        s.send(msg)
        while s.recv(64) != msg:  # a late echo of an earlier probe
            pass
        rtts.append(time.perf_counter() - t0)
    rtt_report(rtts)


def tcp_connect(host, port, mode):
    s = socket.create_connection((host, port), timeout=TIMEOUT)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.sendall(mode)
    return s


def tcp_rtt(host, port, count):
    s = tcp_connect(host, port, b"e")
    rtts = []
    for i in range(count):
        msg = struct.pack("<Q", i)
        t0 = time.perf_counter()
        s.sendall(msg)
        if recv_exact(s, 8) != msg:
            raise RuntimeError("tcp echo out of order")
        rtts.append(time.perf_counter() - t0)
    s.close()
    rtt_report(rtts)


def udp_loss(host, port, count):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect((host, port))
    s.setblocking(False)
    seen = set()
    order = {"top": -1, "reordered": 0}

    def drain():
        while True:
            try:
                i = struct.unpack("<Q", s.recv(64))[0]
            except BlockingIOError:
                return
            seen.add(i)
            if i < order["top"]:
                order["reordered"] += 1
            order["top"] = max(order["top"], i)

    start = time.perf_counter()
    for i in range(count):
        while time.perf_counter() < start + i * 0.0005:
            pass
        s.send(struct.pack("<Q", i))
        drain()
    until = time.perf_counter() + 1.0  # longer than any delay a test sets
    while time.perf_counter() < until:
        drain()
        time.sleep(0.01)
    lost = [i for i in range(count) if i not in seen]
    report(sent=count, received=len(seen), reordered=order["reordered"],
           lost=",".join(map(str, lost)) or "-")


def tcp_bulk(host, port, nbytes):
    s = tcp_connect(host, port, b"b")
    block = b"\0" * (1 << 16)
    t0 = time.perf_counter()
    s.sendall(struct.pack("<Q", nbytes))
    left = nbytes
    while left > 0:
        s.sendall(block[:min(left, len(block))])
        left -= min(left, len(block))
    s.settimeout(30)
    if recv_exact(s, 1) != b"k":
        raise RuntimeError("bulk sink did not acknowledge")
    dt = time.perf_counter() - t0
    s.close()
    report(bytes=nbytes, seconds=f"{dt:.3f}", goodput_bps=f"{nbytes * 8 / dt:.0f}")


def expect_lost(seed, rule, loss_pct, count):
    import numpy as np
    u = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, rule, 0]))).random(count)
    lost = np.flatnonzero(u < loss_pct / 100)
    report(sent=count, received=count - len(lost), lost=",".join(map(str, lost)) or "-")


def main():
    cmd, args = (sys.argv[1], sys.argv[2:]) if len(sys.argv) > 1 else ("", [])
    if cmd == "serve" and len(args) == 2:
        serve(args[0], int(args[1]))
    elif cmd in ("udp-rtt", "tcp-rtt", "udp-loss", "tcp-bulk") and len(args) == 3:
        fn = {"udp-rtt": udp_rtt, "tcp-rtt": tcp_rtt, "udp-loss": udp_loss, "tcp-bulk": tcp_bulk}[cmd]
        fn(args[0], int(args[1]), int(args[2]))
    elif cmd == "expect-lost" and len(args) == 4:
        expect_lost(int(args[0]), int(args[1]), float(args[2]), int(args[3]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
