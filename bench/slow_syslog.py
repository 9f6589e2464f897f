#!/usr/bin/env python3
"""Time spent in open() of a trap while the syslog receiver is slow.

Usage (as root): slow_syslog.py TTRAPD [COUNT]

Binds a datagram socket for ttrapd's syslog lines and reads one line from
it every 20 ms, far slower than ttrapd writes them. This process then
opens and closes the trap COUNT times (default 2000) and prints the
median, p99 and maximum time of one open() in microseconds, and the total.
A daemon that waited on its syslog socket would make each open wait for
the receiver too.
"""

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

READ_INTERVAL_S = 0.02


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: slow_syslog.py TTRAPD [COUNT]")
    ttrapd = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    with tempfile.TemporaryDirectory(prefix="ttrapd-slow-syslog-") as folder:
        trap = os.path.join(folder, "vpn.key")
        with open(trap, "w") as file:
            file.write("decoy\n")
        path = os.path.join(folder, "log.sock")
        receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        receiver.bind(path)
        receiver.settimeout(0.5)
        stop = threading.Event()

        def read_slowly():
            while not stop.is_set():
                try:
                    receiver.recv(4096)
                except OSError:
                    pass
                time.sleep(READ_INTERVAL_S)

        thread = threading.Thread(target=read_slowly, daemon=True)
        thread.start()
        daemon = subprocess.Popen(
            [ttrapd, "-f", "--quiet", "0", "-l", path, trap], stderr=subprocess.DEVNULL
        )
        try:
            time.sleep(0.5)
            times = []
            for _ in range(count):
                start = time.monotonic_ns()
                os.close(os.open(trap, os.O_RDONLY))
                times.append((time.monotonic_ns() - start) / 1000)
        finally:
            daemon.terminate()
            daemon.wait()
            stop.set()
            thread.join()
    times.sort()
    p99 = times[max(0, int(len(times) * 0.99) - 1)]
    print(
        f"{ttrapd}: {count} opens, median {statistics.median(times):.0f} us, "
        f"p99 {p99:.0f} us, max {times[-1]:.0f} us, total {sum(times) / 1e6:.2f} s"
    )


if __name__ == "__main__":
    main()
