#!/usr/bin/env python3
"""Regenerates tests/vectors/redis-7.0.15/lzf_corpus.rdb: a dump written by a real
redis-server 7.0 holding string values shaped to exercise every path of liblzf's
compressor (literal runs of every length, matches up to the 264-byte cap, offsets up to
8 KB and beyond, matches ending at the input's tail, values just over the 20-byte
threshold, incompressible data). proto's rdb_vectors test rewrites it byte for byte.

Usage: python3 ci/make-lzf-vector.py [redis-server binary]   (loopback only; the server
is started here and stopped by its own PID)."""
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests/vectors/redis-7.0.15/lzf_corpus.rdb")


def values():
    rng = random.Random(0x1F2E3D)
    words = [bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9))) for _ in range(64)]
    out = []
    for n in range(21, 60):  # just over the threshold: tails and tiny budgets
        out.append(bytes(rng.choice(b"ab") for _ in range(n)))
    for run in (3, 4, 16, 17, 18, 19, 20, 31, 32, 33, 263, 264, 265, 266, 600):
        out.append(b"x" + b"y" * run + b"z" * (run // 2) + b"tail")
    for period in (3, 7, 100, 1000, 4096, 8191, 8192, 8193, 9000):
        unit = bytes(rng.getrandbits(8) for _ in range(period))
        out.append(unit * 3 + unit[: period // 3])
    for _ in range(40):  # text-like
        out.append(b" ".join(rng.choice(words) for _ in range(rng.randint(5, 3000))))
    for _ in range(10):  # binary with sparse repeats
        n = rng.randint(30, 20000)
        b = bytearray(rng.getrandbits(8) for _ in range(n))
        for _ in range(n // 50):
            a, l = rng.randrange(n), rng.randint(3, 300)
            d = rng.randrange(n)
            seg = b[a : a + l]
            b[d : d + len(seg)] = seg
        out.append(bytes(b))
    for n in (21, 100, 5000):  # incompressible: stored raw
        out.append(bytes(rng.getrandbits(8) for _ in range(n)))
    return out


def resp(*args):
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(parts)


def main():
    server = sys.argv[1] if len(sys.argv) > 1 else "redis-server"
    d = tempfile.mkdtemp()
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    p = subprocess.Popen([server, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no", "--dir", d],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                c = socket.create_connection(("127.0.0.1", port))
                break
            except OSError:
                time.sleep(0.05)
        vals = values()
        for i, v in enumerate(vals):
            c.sendall(resp("SET", "v%03d" % i, v))
        c.sendall(resp("SAVE"))
        want = len(vals) + 1
        buf = b""
        while buf.count(b"\r\n") < want:
            buf += c.recv(65536)
        assert buf == b"+OK\r\n" * want, buf[:200]
        shutil.copy(os.path.join(d, "dump.rdb"), OUT)
        print(f"{OUT}: {len(vals)} values, {os.path.getsize(OUT)} bytes")
    finally:
        p.terminate()
        p.wait()
        shutil.rmtree(d)


if __name__ == "__main__":
    main()
