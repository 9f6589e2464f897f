"""Timed loops of open() calls, and checks of what each open produced.

Every interval is taken with time.perf_counter_ns() (CLOCK_MONOTONIC) in
the process that calls open(), and for latency that same process receives
the report. The "forked" variants run each open in a new child process,
so ttrapd cannot reuse what it read from /proc for the previous open. The
child measures its own interval and passes it back through a pipe.
"""

import os
import re
import struct
import time

import subjects

# Verdicts of a check: a wrong or foreign report, a report that does not
# name the opener, or one that does.
BAD, ALERT, CULPRIT = "bad", "alert", "culprit"


def new_verdicts():
    return {BAD: 0, ALERT: 0, CULPRIT: 0}


def time_alerts(trap, count, wait, check):
    """Open `trap` `count` times, each time waiting for its report.

    The interval runs from just before open() to the return of `wait`.
    Returns the samples in ns and the count of each verdict of `check`,
    which gets the report and the opener's pid.
    """
    samples = [0] * count
    verdicts = new_verdicts()
    clock = time.perf_counter_ns
    open_file = os.open
    close_file = os.close
    read_only = os.O_RDONLY
    pid = os.getpid()
    for index in range(count):
        begin = clock()
        fd = open_file(trap, read_only)
        message = wait()
        end = clock()
        close_file(fd)
        samples[index] = end - begin
        verdicts[check(message, pid)] += 1
    return samples, verdicts


def time_alerts_forked(trap, count, wait, check):
    """time_alerts with each open and wait done by a new child process."""

    def child_work():
        begin = time.perf_counter_ns()
        fd = os.open(trap, os.O_RDONLY)
        message = wait()
        end = time.perf_counter_ns()
        os.close(fd)
        return end - begin, message

    samples = [0] * count
    verdicts = new_verdicts()
    for index in range(count):
        pid, elapsed, message = run_in_child(child_work)
        samples[index] = elapsed
        verdicts[check(message, pid)] += 1
    return samples, verdicts


def time_open_close(path, count, after=None):
    """Time open()+close() of `path` `count` times; call `after` untimed."""
    samples = [0] * count
    clock = time.perf_counter_ns
    open_file = os.open
    close_file = os.close
    read_only = os.O_RDONLY
    for index in range(count):
        begin = clock()
        close_file(open_file(path, read_only))
        samples[index] = clock() - begin
        if after is not None:
            after()
    return samples


def time_open_close_forked(path, count, after):
    """time_open_close with each open+close done by a new child process.

    `after` runs in the child after the timed interval and returns bytes
    (the alert), which come back to the caller in a list.
    """

    def child_work():
        begin = time.perf_counter_ns()
        os.close(os.open(path, os.O_RDONLY))
        elapsed = time.perf_counter_ns() - begin
        return elapsed, after()

    samples = [0] * count
    messages = []
    for index in range(count):
        _, samples[index], message = run_in_child(child_work)
        messages.append(message)
    return samples, messages


def run_in_child(work):
    """Fork, run `work` in the child, and return (child pid, *its result).

    `work` returns (nanoseconds, message bytes), and both travel back in one
    write to a pipe. Such a write is atomic only up to PIPE_BUF (4096 bytes),
    so the message is cut to 4000 bytes, more than an alert line.
    """
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            os.close(read_end)
            elapsed, message = work()
            os.write(write_end, struct.pack("=q", elapsed) + message[:4000])
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    try:
        _, status = os.waitpid(pid, 0)
        data = os.read(read_end, 1 << 16)
    finally:
        os.close(read_end)
    if os.waitstatus_to_exitcode(status) != 0 or len(data) < 8:
        raise subjects.BenchError(f"timing child {pid} failed with status {status}")
    (elapsed,) = struct.unpack("=q", data[:8])
    return pid, elapsed, data[8:]


# --- checks of reports ---------------------------------------------------------


def ttrapd_check(trap, mode):
    """Return a check for ttrapd's datagrams: an open ALERT on `trap`.

    The culprit is named when a fanotify alert carries the opener's pid
    and an exe, or an inotify alert lists the opener among the holders.
    """
    prefix = f"ALERT trap={trap} event=open ".encode()

    def check(datagram, pid):
        _, _, message = datagram.partition(b"]: ")
        if not message.startswith(prefix):
            return BAD
        if mode == "fanotify":
            named = re.search(rb" pid=%d .* exe=/" % pid, message)
        else:
            named = re.search(rb" holders=(?:\S*,)?%d:" % pid, message)
        return CULPRIT if named else ALERT

    return check


def floor_check(expected):
    def check(message, _pid):
        return ALERT if message == expected else BAD

    return check


def whole_line(fd, data):
    """Complete a partial line read from a pipe (outside the timed interval)."""
    while not data.endswith(b"\n"):
        more = os.read(fd, 1 << 16)
        if not more:
            break
        data += more
    return data


def inotifywait_check(fd, trap):
    expected = f"{trap} OPEN\n".encode()

    def check(data, _pid):
        return ALERT if whole_line(fd, data) == expected else BAD

    return check


def fatrace_check(fd, trap):
    """fatrace lines read `COMM(PID): O PATH`; the pid names the opener."""

    def check(data, pid):
        data = whole_line(fd, data)
        if data.count(b"\n") != 1 or not data.endswith(f" {trap}\n".encode()):
            return BAD
        owner = f"{subjects.BENCH_COMM}({pid}):".encode()
        return CULPRIT if owner in data else ALERT

    return check
