#!/usr/bin/env python3
"""Quick alert-latency comparison: ttrapd in inotify mode without the
holders scan, inotifywait -m, and ttrapd in fanotify mode.

Usage (as root): quick_latency.py TTRAPD [COUNT]

Each round opens a trap COUNT times (default 10000) from this process and
times, on the monotonic clock, from just before open() to the alert: a
datagram at a socket this script binds for ttrapd, a line on a pipe for
inotifywait. Prints median, p99 and maximum in microseconds per subject
and round. bench/bench.py is the full benchmark; this is its latency step
for the subjects above only.
"""

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time


def summary(samples):
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[int(len(ordered) * 0.99) - 1], ordered[-1]


def ttrapd_latency(binary, folder, trap, options, count):
    path = os.path.join(folder, "log")
    if os.path.exists(path):
        os.unlink(path)
    collector = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    collector.bind(path)
    collector.settimeout(5)
    daemon = subprocess.Popen(
        [binary, "-f", "--quiet", "0", "-l", path, *options, trap], stderr=subprocess.DEVNULL
    )
    try:
        collector.recv(4096)  # START
        # Drop whatever else start-up wrote.
        collector.settimeout(0.2)
        try:
            while True:
                collector.recv(4096)
        except socket.timeout:
            pass
        collector.settimeout(5)
        samples = []
        for _ in range(count):
            start = time.monotonic_ns()
            os.close(os.open(trap, os.O_RDONLY))
            while True:
                line = collector.recv(4096)
                if b" ALERT " in line and b"event=open" in line:
                    break
            samples.append((time.monotonic_ns() - start) / 1000)
        return samples
    finally:
        daemon.terminate()
        daemon.wait()
        collector.close()


def inotifywait_latency(trap, count):
    watcher = subprocess.Popen(
        ["inotifywait", "-m", "-e", "open", trap], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        watcher.stderr.readline()  # "Setting up watches."
        watcher.stderr.readline()  # "Watches established."
        samples = []
        for _ in range(count):
            start = time.monotonic_ns()
            os.close(os.open(trap, os.O_RDONLY))
            watcher.stdout.readline()
            samples.append((time.monotonic_ns() - start) / 1000)
        return samples
    finally:
        watcher.terminate()
        watcher.wait()


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: quick_latency.py TTRAPD [COUNT]")
    binary = os.path.abspath(sys.argv[1])
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 10000
    with tempfile.TemporaryDirectory(prefix="ttrapd-latency-") as folder:
        trap = os.path.join(folder, "trap")
        with open(trap, "w") as file:
            file.write("decoy\n")
        for round_number in range(3):
            subjects = [
                ("ttrapd --no-fanotify --no-holders", ttrapd_latency(
                    binary, folder, trap, ["--no-fanotify", "--no-holders"], count)),
                ("inotifywait -m", inotifywait_latency(trap, count)),
                ("ttrapd (fanotify)", ttrapd_latency(binary, folder, trap, [], count)),
            ]
            for name, samples in subjects:
                median, p99, maximum = summary(samples)
                print(f"round {round_number} {name:36} median {median:8.1f}  p99 {p99:8.1f}"
                      f"  max {maximum:9.1f} us")


if __name__ == "__main__":
    main()
