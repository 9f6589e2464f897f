#!/usr/bin/env python3
"""Benchmark ttrapd against inotifywait and fatrace and write the results.

Usage: bench.py --ttrapd BIN --helpers DIR --out FILE.md --chart FILE.png
       bench.py --render RESULTS --out FILE.md --chart FILE.png

One run measures binary size and linking, resident memory and start-up
time. It also measures alert latency (against an inotify floor reader as
the lower bound), the extra open() cost a trap puts on the opener, CPU
under a read flood, and wake-ups while idle. Then it writes a Markdown
page and a gnuplot chart of the latency distributions.

With BENCH_SMOKE=1 in the environment every step runs with tiny counts and
the page and chart go to a new temporary folder, so docs/ is untouched.
A passing smoke run removes that folder, but a failing one keeps it and
prints its path. The raw results are saved (DIR/results.pickle by default)
so that --render can write the page again without measuring. BENCH_KEEP=1
keeps the temporary folder of traps, sockets and pidfiles, and the smoke
run's output folder.

Needs root (fanotify), Linux x86_64, python3, readelf and strip
(binutils), inotifywait (inotify-tools), fatrace and gnuplot; DIR must hold
inotify_floor and pread_loop built from the .rs files beside this script.
"""

import argparse
import dataclasses
import functools
import gc
import os
import pickle
import shutil
import sys
import tempfile
import threading
import time

import report
import subjects
import timing
from subjects import BenchError, Collector, Peer

REQUIRED_TOOLS = {
    "readelf": "binutils",
    "strip": "binutils",
    "ldd": "libc-bin",
    "inotifywait": "inotify-tools",
    "fatrace": "fatrace",
    "gnuplot": "gnuplot-nox",
    "dpkg-query": "dpkg",
}

# Names of the latency subjects, in the order they run within each round.
LATENCY_SUBJECTS = (
    "floor-socket",
    "floor-pipe",
    "ttrapd-inotify",
    "ttrapd-fanotify",
    "ttrapd-fanotify-newproc",
    "inotifywait",
    "fatrace",
)


@dataclasses.dataclass(frozen=True)
class Counts:
    """How much each step does; the smoke run uses tiny values."""

    startup_repeats: int
    latency_rounds: int
    latency_opens: int
    latency_warmup: int
    cost_opens: int
    flood_reads: int
    flood_runs: int
    idle_seconds: float
    trap_counts: tuple = (1, 10, 1000)


FULL = Counts(
    startup_repeats=10,
    latency_rounds=3,
    latency_opens=10_000,
    latency_warmup=200,
    cost_opens=10_000,
    flood_reads=1_000_000,
    flood_runs=3,
    idle_seconds=10.0,
)
SMOKE = Counts(
    startup_repeats=1,
    latency_rounds=1,
    latency_opens=50,
    latency_warmup=5,
    cost_opens=100,
    flood_reads=10_000,
    flood_runs=1,
    idle_seconds=1.0,
)


class Bench:
    """The state shared by the steps: paths, counts, started processes."""

    def __init__(self, args, counts, workdir):
        self.counts = counts
        self.workdir = workdir
        self.binary = os.path.abspath(args.ttrapd)
        self.floor_helper = os.path.abspath(os.path.join(args.helpers, "inotify_floor"))
        self.pread_helper = os.path.abspath(os.path.join(args.helpers, "pread_loop"))
        self.registry = subjects.Registry()
        self.ttrapd = subjects.Ttrapd(self.binary, workdir, self.registry)
        self.pid = os.getpid()
        self.traps = make_files(os.path.join(workdir, "traps"), "trap", max(counts.trap_counts) + 30)
        self.plain = make_files(os.path.join(workdir, "plain"), "file", 1)[0]
        # Commands as run, keyed by what they measure, for the page.
        self.commands = {}
        self.serial = 0

    def note_command(self, key, command):
        self.commands.setdefault(key, " ".join(command))

    def next_path(self, name):
        self.serial += 1
        return os.path.join(self.workdir, f"{name}-{self.serial}")

    def start_peer(self, command):
        return Peer(self.registry, command, self.next_path("peer-stderr"))


def make_files(folder, prefix, count):
    os.makedirs(folder)
    paths = []
    for index in range(count):
        path = os.path.join(folder, f"{prefix}{index:04}")
        with open(path, "w", encoding="ascii") as file:
            file.write("not a real secret\n")
        paths.append(path)
    return paths


def check_environment(args):
    """Exit with a clear message when a tool, a helper or root is missing."""
    problems = []
    missing = {tool: package for tool, package in REQUIRED_TOOLS.items() if not shutil.which(tool)}
    if missing:
        packages = " ".join(sorted(set(missing.values())))
        problems.append(
            f"missing tools: {', '.join(sorted(missing))}; install them with"
            f" `apt-get install {packages}` (or run `sh bench/deps.sh` as root)"
        )
    if os.geteuid() != 0:
        problems.append("not root: fanotify mode and fatrace need CAP_SYS_ADMIN; run as root")
    if not os.access(args.ttrapd, os.X_OK):
        problems.append(f"no executable ttrapd at {args.ttrapd}; run `make` first")
    for helper in ("inotify_floor", "pread_loop"):
        if not os.access(os.path.join(args.helpers, helper), os.X_OK):
            problems.append(f"helper {helper} missing in {args.helpers}; `make bench` builds it")
    if problems:
        for problem in problems:
            print(f"bench: {problem}", file=sys.stderr)
        sys.exit(1)


# --- step 1: binary --------------------------------------------------------


def step_binary(bench):
    ttrapd = report.binary_facts(bench.binary, bench.workdir)
    inotifywait = report.binary_facts(shutil.which("inotifywait"), bench.workdir)
    fatrace = report.binary_facts(shutil.which("fatrace"), bench.workdir)
    return {"ttrapd": ttrapd, "inotifywait": inotifywait, "fatrace": fatrace}


# --- steps 2 and 3: memory and start-up --------------------------------------


def check_ttrapd_armed(daemon, trap):
    """Open `trap` once and require an ALERT for it: the start contract."""
    os.close(os.open(trap, os.O_RDONLY))
    line = daemon.collector.recv_kind("ALERT")
    if f"trap={trap} ".encode() not in line:
        raise BenchError(f"the first alert after start names another trap: {line!r}")


def step_startup(bench):
    """Start every subject repeatedly; record start-up time and armed RSS."""
    counts = bench.counts
    startup = {}
    rss = {}
    for _ in range(counts.startup_repeats):
        for trap_count in counts.trap_counts:
            traps = bench.traps[:trap_count]
            for mode in ("fanotify", "inotify"):
                key = (f"ttrapd-{mode}", trap_count)
                daemon = bench.ttrapd.start(traps, mode)
                bench.note_command(f"start-{mode}", shorten(daemon.command, trap_count))
                startup.setdefault(key, []).append(daemon.start_ns)
                rss.setdefault(key, []).append(subjects.rss_kib(daemon.pid))
                check_ttrapd_armed(daemon, traps[-1])
                daemon.stop()

            command = subjects.inotifywait_command(traps)
            bench.note_command("start-inotifywait", shorten(command, trap_count))
            peer = bench.start_peer(command)
            # Watches are added in argument order, so the last file is armed last.
            startup.setdefault(("inotifywait", trap_count), []).append(peer.wait_armed(traps[-1]))
            rss.setdefault(("inotifywait", trap_count), []).append(subjects.rss_kib(peer.pid))
            peer.stop()

        command = subjects.fatrace_command(subjects.BENCH_COMM, "O")
        bench.note_command("start-fatrace", command)
        peer = bench.start_peer(command)
        startup.setdefault(("fatrace", 0), []).append(peer.wait_armed(bench.traps[0]))
        rss.setdefault(("fatrace", 0), []).append(subjects.rss_kib(peer.pid))
        peer.stop()
    return {"startup_ns": startup, "rss_kib": rss}


def shorten(command, trap_count):
    """Show a command with many trap paths as its first path and a count."""
    if trap_count <= 2:
        return command
    head = command[: len(command) - trap_count]
    return head + [command[-trap_count], f"... ({trap_count} files)"]


# --- step 4: alert latency ---------------------------------------------------


class LatencySubject:
    """A started latency subject: how to wait for a report and check it."""

    def __init__(self, pid, wait, check, stop):
        self.pid = pid
        self.wait = wait
        self.check = check
        self.stop = stop


def start_latency_subject(bench, name, trap):
    if name == "floor-socket":
        collector = Collector(bench.next_path("floor.sock"))
        bench.registry.collectors.append(collector)
        reader = subjects.FloorReader(bench.registry, bench.floor_helper, trap, collector)
        bench.note_command(f"latency-{name}", reader.command)

        def stop():
            reader.stop()
            bench.registry.collectors.remove(collector)
            collector.close()

        return LatencySubject(reader.pid, collector.recv, timing.floor_check(b"open"), stop)

    if name.startswith("ttrapd-"):
        mode = name.split("-")[1]
        daemon = bench.ttrapd.start([trap], mode, quiet=0)
        bench.note_command(f"latency-{name}", daemon.command)
        check = timing.ttrapd_check(trap, mode)
        return LatencySubject(daemon.pid, daemon.collector.recv, check, daemon.stop)

    if name == "floor-pipe":
        command = [bench.floor_helper, trap, "-"]
    elif name == "inotifywait":
        command = subjects.inotifywait_command([trap])
    else:
        command = subjects.fatrace_command(subjects.BENCH_COMM, "O")
    bench.note_command(f"latency-{name}", command)
    peer = bench.start_peer(command)
    peer.wait_armed(trap, marker=b"open\n" if name == "floor-pipe" else None)
    if name == "floor-pipe":
        check = timing.floor_check(b"open\n")
        wait = functools.partial(read_line, peer.fd)
    elif name == "inotifywait":
        check = timing.inotifywait_check(peer.fd, trap)
        wait = functools.partial(os.read, peer.fd, 1 << 16)
    else:
        check = timing.fatrace_check(peer.fd, trap)
        wait = functools.partial(os.read, peer.fd, 1 << 16)
    return LatencySubject(peer.pid, wait, check, peer.stop)


def read_line(fd):
    """Read from a pipe; return once a whole line is in."""
    return timing.whole_line(fd, os.read(fd, 1 << 16))


def latency_round(bench, name, trap):
    """Start subject `name`, time its reports of opens of `trap`, stop it."""
    counts = bench.counts
    subject = start_latency_subject(bench, name, trap)
    timer = timing.time_alerts_forked if name.endswith("-newproc") else timing.time_alerts
    limit = 60 + counts.latency_opens * 0.05
    try:
        with subjects.watchdog(limit, f"{counts.latency_opens} opens against {name}"):
            timer(trap, counts.latency_warmup, subject.wait, subject.check)
            cpu_before = subjects.cpu_ns(subject.pid)
            gc.disable()
            try:
                samples, verdicts = timer(trap, counts.latency_opens, subject.wait, subject.check)
            finally:
                gc.enable()
            cpu_after = subjects.cpu_ns(subject.pid)
        rss_after = subjects.rss_kib(subject.pid)
    finally:
        subject.stop()
    return {
        "samples_ns": samples,
        "verdicts": verdicts,
        "rss_after_kib": rss_after,
        "cpu_per_open_ns": (cpu_after - cpu_before) / counts.latency_opens,
    }


def step_latency(bench):
    """Run every latency subject once per round, rounds interleaved."""
    trap = bench.traps[0]
    rounds = {name: [] for name in LATENCY_SUBJECTS}
    for round_index in range(bench.counts.latency_rounds):
        for name in LATENCY_SUBJECTS:
            result = latency_round(bench, name, trap)
            rounds[name].append(result)
            median = sorted(result["samples_ns"])[len(result["samples_ns"]) // 2] / 1000
            print(f"bench: latency round {round_index + 1} {name}: median {median:.1f} us", flush=True)
    return rounds


# --- step 5: cost to the opener ----------------------------------------------


def step_open_cost(bench):
    """Compare open()+close() of a trap (fanotify mode) and a plain file.

    Each is timed in the bench process and in a new process per open. Only
    the new processes make ttrapd read /proc afresh for every open.
    """
    trap = bench.traps[0]
    daemon = bench.ttrapd.start([trap], "fanotify", quiet=0)
    bench.note_command("open-cost", daemon.command)
    kinds = {}

    def take_alert():
        line = daemon.collector.recv()
        kind = subjects.line_kind(line)
        kinds[kind] = kinds.get(kind, 0) + 1
        return line

    series = {name: [] for name in ("trapped", "untrapped", "trapped-newproc", "untrapped-newproc")}
    blocks = 10
    per_block = max(1, bench.counts.cost_opens // blocks)
    try:
        with subjects.watchdog(60 + bench.counts.cost_opens * 0.05, "the open() cost step"):
            timing.time_open_close(trap, 100, take_alert)
            timing.time_open_close(bench.plain, 100)
            gc.disable()
            try:
                # Alternate blocks so slow drifts of the machine hit both series
                # of a pair. The same-process pair runs first: after a child's
                # open, ttrapd would read /proc for the bench process again.
                for _ in range(blocks):
                    series["trapped"] += timing.time_open_close(trap, per_block, take_alert)
                    series["untrapped"] += timing.time_open_close(bench.plain, per_block)
                for _ in range(blocks):
                    samples, lines = timing.time_open_close_forked(trap, per_block, daemon.collector.recv)
                    series["trapped-newproc"] += samples
                    for line in lines:
                        kind = subjects.line_kind(line)
                        kinds[kind] = kinds.get(kind, 0) + 1
                    samples, _ = timing.time_open_close_forked(bench.plain, per_block, bytes)
                    series["untrapped-newproc"] += samples
            finally:
                gc.enable()
    finally:
        daemon.stop()
    return {"series_ns": series, "alert_kinds": kinds, "block_size": per_block}


# --- step 6: flood -------------------------------------------------------------


class DatagramCounter(threading.Thread):
    """Counts a daemon's lines by kind until its STOP line."""

    def __init__(self, collector):
        super().__init__(daemon=True)
        self.collector = collector
        collector.set_timeout(0.2)
        self.kinds = {}
        self.stop_line = None
        self.error = None
        self.deadline = None

    def run(self):
        while True:
            try:
                datagram = self.collector.recv()
            except BenchError:
                if self.deadline is not None and time.monotonic() > self.deadline:
                    self.error = "no STOP line arrived"
                    return
                continue
            kind = subjects.line_kind(datagram)
            self.kinds[kind] = self.kinds.get(kind, 0) + 1
            if kind == "STOP":
                self.stop_line = datagram
                return


class PipeLineCounter(threading.Thread):
    """Counts the lines a peer writes to its stdout until it closes."""

    def __init__(self, fd):
        super().__init__(daemon=True)
        self.fd = fd
        self.lines = 0

    def run(self):
        while True:
            data = os.read(self.fd, 1 << 16)
            if not data:
                return
            self.lines += data.count(b"\n")


def run_reader(bench, trap, count):
    """Run pread_loop on `trap`; return its CPU seconds and wall seconds."""
    command = [bench.pread_helper, trap, str(count)]
    bench.note_command("flood-reader", command)
    begin = time.monotonic()
    pid = os.posix_spawn(command[0], command, os.environ)
    _, status, usage = os.wait4(pid, 0)
    wall = time.monotonic() - begin
    if os.waitstatus_to_exitcode(status) != 0:
        raise BenchError(f"pread_loop exited with status {status}")
    return usage.ru_utime + usage.ru_stime, wall


def flood_once(bench, name, trap):
    count = bench.counts.flood_reads
    if name.startswith("ttrapd-"):
        mode = name.split("-", 1)[1]
        daemon = bench.ttrapd.start([trap], mode)
        bench.note_command(f"flood-{mode}", daemon.command)
        pid = daemon.pid
        counter = DatagramCounter(daemon.collector)
    else:
        if name == "inotifywait":
            command = subjects.inotifywait_command([trap], events=())
        else:
            command = subjects.fatrace_command("pread_loop")
        bench.note_command(f"flood-{name}", command)
        peer = bench.start_peer(command)
        if name == "inotifywait":
            peer.wait_armed(trap)
        else:
            wait_fatrace_armed(bench, peer, trap)
        pid = peer.pid
        counter = PipeLineCounter(peer.fd)
    counter.start()

    # A short flood first touches the buffers that any event needs, so the
    # RSS before and after the measured flood shows growth, not first use.
    rss_start = subjects.rss_kib(pid)
    run_reader(bench, trap, count // 100)
    settle_after_flood(name, pid)
    before = (subjects.cpu_ticks(pid), subjects.cpu_ns(pid), subjects.rss_kib(pid))
    reader_cpu, wall = run_reader(bench, trap, count)
    settle_after_flood(name, pid)
    after = (subjects.cpu_ticks(pid), subjects.cpu_ns(pid), subjects.rss_kib(pid))

    stop_counts = None
    if name.startswith("ttrapd-"):
        counter.deadline = time.monotonic() + subjects.REPLY_TIMEOUT_S
        daemon.stop(read_stop=False)
        counter.join()
        daemon.close_collector()
        if counter.error:
            raise BenchError(f"flood with {name}: {counter.error}")
        lines = {kind: n for kind, n in counter.kinds.items() if kind != "STOP"}
        stop_counts = {
            field: subjects.line_number(counter.stop_line, field)
            for field in ("events", "alerts", "repeated")
        }
    else:
        peer.stop()
        counter.join()
        lines = {"lines": counter.lines}
    return {
        "reads": count,
        "reader_cpu_s": reader_cpu,
        "reader_wall_s": wall,
        "cpu_ticks": after[0] - before[0],
        "cpu_s": (after[1] - before[1]) / 1e9,
        "rss_start_kib": rss_start,
        "rss_before_kib": before[2],
        "rss_after_kib": after[2],
        "lines": lines,
        "stop_counts": stop_counts,
    }


def settle_after_flood(name, pid):
    """Wait until subject `name` has handled the events a flood left queued."""
    if name == "fatrace":
        # fatrace is woken by every file access on the machine and may never
        # settle, so it gets a fixed time to catch up with the reader's events.
        time.sleep(0.5)
    elif not subjects.wait_cpu_settled(pid):
        raise BenchError(f"{name} was still using CPU 10 s after the flood ended")


def wait_fatrace_armed(bench, peer, trap):
    """fatrace -C pread_loop ignores our own opens, so pread_loop touches."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        run_reader(bench, trap, 1)
        if subjects.select_readable(peer.fd, 0.05):
            peer.drain()
            return
    raise BenchError("fatrace reported no read by pread_loop within 60 s")


def step_flood(bench):
    """Run the flood against every subject, runs interleaved like latency rounds."""
    trap = bench.traps[0]
    names = ("ttrapd-fanotify", "ttrapd-inotify", "inotifywait", "fatrace")
    results = {name: [] for name in names}
    for run_index in range(bench.counts.flood_runs):
        for name in names:
            run = flood_once(bench, name, trap)
            results[name].append(run)
            print(f"bench: flood run {run_index + 1} {name}: {run['cpu_s']:.3f} s CPU", flush=True)
    return results


# --- step 7: idle ----------------------------------------------------------------


def step_idle(bench):
    """Count context switches of every armed subject over an idle period."""
    traps = bench.traps
    watched = {}
    daemons = []
    peers = []
    for index, mode in enumerate(("fanotify", "inotify")):
        daemon = bench.ttrapd.start(traps[index * 10 : index * 10 + 10], mode)
        bench.note_command(f"idle-{mode}", shorten(daemon.command, 10))
        daemons.append(daemon)
        watched[f"ttrapd-{mode}"] = daemon.pid
    inotifywait = subjects.inotifywait_command(traps[20:30])
    bench.note_command("idle-inotifywait", shorten(inotifywait, 10))
    fatrace = subjects.fatrace_command(subjects.BENCH_COMM, "O")
    bench.note_command("idle-fatrace", fatrace)
    for name, command, touch in (("inotifywait", inotifywait, traps[29]), ("fatrace", fatrace, traps[29])):
        peer = bench.start_peer(command)
        peer.wait_armed(touch)
        peers.append(peer)
        watched[name] = peer.pid

    time.sleep(0.5)
    before = {name: subjects.context_switches(pid) for name, pid in watched.items()}
    time.sleep(bench.counts.idle_seconds)
    after = {name: subjects.context_switches(pid) for name, pid in watched.items()}
    for daemon in daemons:
        daemon.stop()
    for peer in peers:
        peer.stop()
    return {
        name: {
            "voluntary": after[name][0] - before[name][0],
            "involuntary": after[name][1] - before[name][1],
        }
        for name in watched
    }


# --- main --------------------------------------------------------------------------


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ttrapd", default="target/release/ttrapd", help="ttrapd binary")
    parser.add_argument("--helpers", default="target/bench", help="folder of the built helpers")
    parser.add_argument("--out", default="docs/benchmarks.md", help="Markdown page to write")
    parser.add_argument("--chart", default="docs/latency.png", help="latency chart to write (PNG)")
    parser.add_argument(
        "--results", default=None,
        help="file to save the raw results to (default: results.pickle beside the helpers)",
    )
    parser.add_argument(
        "--render", metavar="RESULTS",
        help="measure nothing: write the page and chart again from a saved results file",
    )
    return parser.parse_args()


def render(results, args):
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    os.makedirs(os.path.dirname(os.path.abspath(args.chart)), exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ttrapd-bench-chart-") as chart_data:
        report.write_chart(results["latency"], chart_data, args.chart)
    report.write_page(results, args.out, args.chart)
    print(f"bench: wrote {args.out} and {args.chart}")


def measure(args, counts, smoke):
    """Run every step and return the results."""
    subjects.set_own_comm(subjects.BENCH_COMM)
    began = time.monotonic()
    workdir = tempfile.mkdtemp(prefix="ttrapd-bench-")

    results = {
        "smoke": smoke,
        "counts": counts,
        "machine": report.machine_facts(),
        "versions": report.versions(os.path.abspath(args.ttrapd)),
        "context": report.process_context(os.getpid()),
    }
    bench = Bench(args, counts, workdir)

    steps = (
        ("binary", step_binary),
        ("startup", step_startup),
        ("latency", step_latency),
        ("open_cost", step_open_cost),
        ("flood", step_flood),
        ("idle", step_idle),
    )
    try:
        for name, step in steps:
            print(f"bench: {name}", flush=True)
            results[name] = step(bench)
    finally:
        bench.registry.stop_all()
        if os.environ.get("BENCH_KEEP", "") in ("", "0"):
            shutil.rmtree(workdir, ignore_errors=True)

    results["load_after"] = report.load_average()
    results["commands"] = bench.commands
    results["workdir"] = workdir
    results["seconds"] = time.monotonic() - began
    return results


def main():
    args = parse_args()
    if args.render:
        # The file is one that this script wrote (see --results).
        with open(args.render, "rb") as file:
            render(pickle.load(file), args)
        return

    smoke = os.environ.get("BENCH_SMOKE", "") not in ("", "0")
    check_environment(args)
    if not smoke:
        measure_and_write(args, FULL, smoke=False)
        return

    outdir = tempfile.mkdtemp(prefix="ttrapd-bench-smoke-")
    args.out = os.path.join(outdir, "benchmarks.md")
    args.chart = os.path.join(outdir, "latency.png")
    args.results = os.path.join(outdir, "results.pickle")
    try:
        measure_and_write(args, SMOKE, smoke=True)
    except BaseException:
        print(f"bench: smoke run failed; output kept in {outdir}", file=sys.stderr)
        raise
    if os.environ.get("BENCH_KEEP", "") not in ("", "0"):
        print(f"bench: smoke run passed (docs/ left unchanged); output kept in {outdir}")
        return
    shutil.rmtree(outdir)
    print(f"bench: smoke run passed (docs/ left unchanged); removed {outdir}")


def measure_and_write(args, counts, smoke):
    """Measure every step, save the raw results and write the page and chart."""
    results = measure(args, counts, smoke)
    saved = args.results or os.path.join(args.helpers, "results.pickle")
    with open(saved, "wb") as file:
        pickle.dump(results, file)
    render(results, args)
    print(f"bench: measured in {results['seconds']:.0f} s; raw results in {saved}")


if __name__ == "__main__":
    try:
        main()
    except BenchError as error:
        print(f"bench: failed: {error}", file=sys.stderr)
        sys.exit(1)
