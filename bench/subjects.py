"""Start, probe and stop the programs under test.

The subjects are ttrapd (as a daemon, logging to a collector socket that
the bench binds), the peers inotifywait and fatrace (reading their lines
from a pipe), and the inotify floor reader built from inotify_floor.rs.
Every process started here is tracked in a Registry and stopped by its pid.
"""

import contextlib
import os
import re
import select
import signal
import socket
import struct
import subprocess
import time

# The bench process renames itself so that `fatrace -C` can select its opens
# and ttrapd's alerts name it clearly.
BENCH_COMM = "ttrapd-bench"

# Maximum wait for anything that should come at once: a START line, a
# datagram after an open, a peer's first line.
REPLY_TIMEOUT_S = 5.0


class BenchError(Exception):
    """A step of the benchmark failed; the message names the step and the cause."""


def set_own_comm(name):
    with open("/proc/self/comm", "w", encoding="ascii") as comm:
        comm.write(name)


@contextlib.contextmanager
def watchdog(seconds, description):
    """Raise BenchError if the block runs longer than `seconds`.

    A SIGALRM interrupts a blocking recv() or read() without adding a
    poll() to every timed iteration.
    """

    def expire(_signum, _frame):
        raise BenchError(f"{description} did not finish within {seconds:.0f} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# --- /proc readers ---------------------------------------------------------


def proc_status(pid):
    """Return /proc/PID/status as a dict of field name to text value."""
    fields = {}
    with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as status:
        for line in status:
            name, _, value = line.partition(":")
            fields[name] = value.strip()
    return fields


def rss_kib(pid):
    return int(proc_status(pid)["VmRSS"].split()[0])


def context_switches(pid):
    """Return (voluntary, involuntary) context switches of process `pid`."""
    status = proc_status(pid)
    return (
        int(status["voluntary_ctxt_switches"]),
        int(status["nonvoluntary_ctxt_switches"]),
    )


def cpu_ticks(pid):
    """Return utime + stime of process `pid` in clock ticks (/proc/PID/stat)."""
    with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
        text = stat.read()
    # The command name is in parentheses and may contain spaces, so fields
    # are counted from the last ")". utime and stime are fields 14 and 15.
    after_comm = text[text.rindex(")") + 2 :].split()
    return int(after_comm[11]) + int(after_comm[12])


def cpu_ns(pid):
    """Return the CPU time of process `pid` in nanoseconds.

    Reads the process's CPU-time clock, whose id the kernel builds as
    MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED) = (~pid << 3) | 2.
    """
    return time.clock_gettime_ns(((~pid) << 3) | 2)


def process_comm(pid):
    try:
        with open(f"/proc/{pid}/comm", encoding="ascii", errors="replace") as comm:
            return comm.read().strip()
    except FileNotFoundError:
        return None


def process_gone(pid):
    """Report whether `pid` has exited (absent, or a zombie not yet reaped)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            text = stat.read()
    except FileNotFoundError:
        return True
    return text[text.rindex(")") + 2] == "Z"


def select_readable(fd, timeout_s):
    return bool(select.select([fd], [], [], timeout_s)[0])


def wait_cpu_settled(pid, quiet_s=0.1, limit_s=10.0):
    """Wait until process `pid` has used no CPU for `quiet_s` seconds.

    Returns False if it still used CPU after `limit_s` seconds.
    """
    deadline = time.monotonic() + limit_s
    last = cpu_ns(pid)
    while time.monotonic() < deadline:
        time.sleep(quiet_s)
        now = cpu_ns(pid)
        if now == last:
            return True
        last = now
    return False


# --- collector socket ------------------------------------------------------


class Collector:
    """A unix datagram socket bound in the work folder, in place of /dev/log."""

    def __init__(self, path, timeout_s=REPLY_TIMEOUT_S):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.set_timeout(timeout_s)

    def set_timeout(self, seconds):
        # A kernel receive timeout (SO_RCVTIMEO) keeps recv() one system
        # call; Python's own socket timeout would add a poll() to each.
        whole = int(seconds)
        timeval = struct.pack("ll", whole, int((seconds - whole) * 1_000_000))
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval)

    def recv(self):
        try:
            return self.sock.recv(8192)
        except BlockingIOError as error:
            raise BenchError(f"no datagram arrived at {self.path}") from error

    def recv_kind(self, kind):
        """Receive lines until one of `kind` (START, STOP, ...) and return it."""
        while True:
            line = self.recv()
            if line_kind(line) == kind:
                return line

    def close(self):
        self.sock.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


def line_kind(datagram):
    """Return the first word after the syslog tag: ALERT, START, STOP, ..."""
    _, _, message = datagram.partition(b"]: ")
    return message.split(b" ", 1)[0].decode("ascii", "replace")


def line_number(datagram, field):
    match = re.search(rb" " + field.encode() + rb"=(\d+)", datagram)
    return int(match.group(1)) if match else None


# --- process registry ------------------------------------------------------


class Registry:
    """Everything the bench started, so that a failure stops all of it."""

    def __init__(self):
        self.children = []
        self.daemons = []
        self.collectors = []

    def stop_all(self):
        for daemon in list(self.daemons):
            with contextlib.suppress(Exception):
                daemon.stop()
        for child in list(self.children):
            stop_child(child)
        for collector in list(self.collectors):
            collector.close()


def stop_child(child):
    """Stop a subprocess.Popen child with SIGTERM (SIGKILL after 5 s)."""
    if child.poll() is None:
        child.terminate()
        try:
            child.wait(timeout=5)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


# --- ttrapd ----------------------------------------------------------------


class Daemon:
    """A running ttrapd daemon, its pid from the pidfile and its collector."""

    def __init__(self, registry, pid, collector, start_ns, command):
        self.registry = registry
        self.pid = pid
        self.collector = collector
        self.start_ns = start_ns
        self.command = command
        self.stopped = False

    def stop(self, read_stop=True):
        """Send SIGTERM and wait for the exit.

        Returns the STOP line and closes the collector, or with `read_stop`
        false (another thread reads the collector) returns None and leaves
        the collector for close_collector().
        """
        if self.stopped:
            return None
        self.stopped = True
        self.registry.daemons.remove(self)
        # The daemon is not our child (it detached), so its pid is checked
        # against its name before the signal.
        if process_comm(self.pid) != "ttrapd":
            raise BenchError(f"pid {self.pid} is no longer ttrapd")
        os.kill(self.pid, signal.SIGTERM)
        stop_line = self.collector.recv_kind("STOP") if read_stop else None
        deadline = time.monotonic() + REPLY_TIMEOUT_S
        while not process_gone(self.pid):
            if time.monotonic() > deadline:
                raise BenchError(f"ttrapd {self.pid} did not exit after SIGTERM")
            time.sleep(0.005)
        if read_stop:
            self.close_collector()
        return stop_line

    def close_collector(self):
        if self.collector in self.registry.collectors:
            self.registry.collectors.remove(self.collector)
            self.collector.close()


class Ttrapd:
    """Starts ttrapd daemons with a fresh pidfile and collector each time."""

    def __init__(self, binary, workdir, registry):
        self.binary = binary
        self.workdir = workdir
        self.registry = registry
        self.serial = 0

    def command(self, traps, mode, quiet, pidfile, socket_path):
        command = [self.binary, "-p", pidfile, "-l", socket_path]
        if mode == "inotify":
            command.append("--no-fanotify")
        if quiet is not None:
            command += ["--quiet", str(quiet)]
        return command + list(traps)

    def start(self, traps, mode, quiet=None):
        """Start a daemon and return it once the command has returned 0.

        `mode` is "fanotify" (the default, permission events) or "inotify"
        (--no-fanotify); `quiet` None leaves flood control at its default.
        The time from exec to the first process's exit is `start_ns`.
        """
        self.serial += 1
        pidfile = os.path.join(self.workdir, f"ttrapd-{self.serial}.pid")
        collector = Collector(os.path.join(self.workdir, f"log-{self.serial}.sock"))
        self.registry.collectors.append(collector)
        command = self.command(traps, mode, quiet, pidfile, collector.path)
        begin = time.perf_counter_ns()
        result = subprocess.run(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, check=False,
        )
        start_ns = time.perf_counter_ns() - begin
        if result.returncode != 0:
            message = result.stderr.decode(errors="replace").strip()
            raise BenchError(f"ttrapd exited {result.returncode}: {message}")
        with open(pidfile, encoding="ascii") as file:
            pid = int(file.read().split()[0])
        daemon = Daemon(self.registry, pid, collector, start_ns, command)
        self.registry.daemons.append(daemon)
        start_line = collector.recv_kind("START")
        expected = b"mode=inotify" if mode == "inotify" else b"mode=fanotify-perm"
        if expected not in start_line:
            raise BenchError(f"ttrapd started in the wrong mode: {start_line!r}")
        return daemon


# --- peers reading from a pipe ---------------------------------------------


class Peer:
    """A peer program (inotifywait, fatrace) whose stdout is a pipe to us."""

    def __init__(self, registry, command, stderr_path):
        self.command = command
        self.registry = registry
        self.begin_ns = time.perf_counter_ns()
        with open(stderr_path, "wb") as stderr:
            self.child = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr,
            )
        registry.children.append(self.child)
        self.pid = self.child.pid
        self.fd = self.child.stdout.fileno()
        self.stderr_path = stderr_path

    def wait_armed(self, touch_path, poll_s=0.0002, limit_s=60.0, marker=None):
        """Open `touch_path` until the peer prints a line naming it.

        Returns nanoseconds from just before the peer was started to the
        arrival of that first line, then drains what is left. `marker` is
        the text to look for when the peer does not print the path.
        """
        deadline = time.monotonic() + limit_s
        marker = marker or touch_path.encode()
        while time.monotonic() < deadline:
            os.close(os.open(touch_path, os.O_RDONLY))
            ready, _, _ = select.select([self.fd], [], [], poll_s)
            if not ready:
                if self.child.poll() is not None:
                    raise BenchError(
                        f"{self.command[0]} exited with status {self.child.returncode}"
                        f" before arming: {self.stderr_text()}"
                    )
                continue
            arrived = time.perf_counter_ns()
            if marker in os.read(self.fd, 1 << 16):
                self.drain()
                return arrived - self.begin_ns
        raise BenchError(
            f"timed out after {limit_s:.0f} s waiting for {self.command[0]} to report {touch_path}"
        )

    def drain(self, quiet_s=0.1):
        """Read and discard output until none comes for `quiet_s` seconds."""
        while select.select([self.fd], [], [], quiet_s)[0]:
            if not os.read(self.fd, 1 << 16):
                return

    def stderr_text(self):
        with open(self.stderr_path, encoding="utf-8", errors="replace") as stderr:
            return stderr.read().strip()

    def stop(self):
        stop_child(self.child)
        self.registry.children.remove(self.child)


def inotifywait_command(files, events=("open",)):
    command = ["inotifywait", "-m", "-q", "--format", "%w%f %e"]
    for event in events:
        command += ["-e", event]
    return command + list(files)


def fatrace_command(comm, types=None):
    """Return a fatrace command reporting only processes named `comm`.

    `types` is fatrace's --filter (O for opens, R for reads); None reports
    every kind.
    """
    command = ["fatrace", "-C", comm]
    if types:
        command += ["-f", types]
    return command


# --- the floor reader --------------------------------------------------------


class FloorReader:
    """The inotify floor reader (inotify_floor.rs) sending to a collector."""

    def __init__(self, registry, helper, trap, collector):
        self.registry = registry
        self.collector = collector
        self.command = [helper, trap, collector.path]
        self.child = subprocess.Popen(self.command, stdin=subprocess.DEVNULL)
        registry.children.append(self.child)
        self.pid = self.child.pid
        if collector.recv() != b"ready":
            raise BenchError("the inotify floor reader did not report ready")

    def stop(self):
        stop_child(self.child)
        self.registry.children.remove(self.child)
