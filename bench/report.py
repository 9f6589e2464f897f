"""Facts about the machine and binaries, the latency chart, and the page."""

import datetime
import os
import platform
import re
import subprocess

from stats import Summary, ratio, spread

HERE = os.path.dirname(os.path.abspath(__file__))

# Targets that the page states as reached or not.
SIZE_TARGET_KIB = 32
RSS_TARGET_KIB = 64
FANOTIFY_P99_TARGET_US = 100
OPEN_COST_P99_TARGET_US = 100
FLOOD_CPU_TARGET = 0.10

PEERS = ("inotifywait", "fatrace")


def run_text(command):
    """Run `command` and return its stdout, or "not available" on failure."""
    try:
        result = subprocess.run(command, capture_output=True, text=True, check=False)
    except OSError:
        return "not available"
    if result.returncode != 0:
        return "not available"
    return result.stdout.strip()


# --- machine and versions ----------------------------------------------------


def load_average():
    with open("/proc/loadavg", encoding="ascii") as loadavg:
        return " ".join(loadavg.read().split()[:3])


def machine_facts():
    cpu = "unknown"
    with open("/proc/cpuinfo", encoding="ascii", errors="replace") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo", encoding="ascii") as meminfo:
        total_kib = int(meminfo.readline().split()[1])
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "kernel": f"{platform.release()} ({platform.machine()})",
        "memory": f"{total_kib / 1024 / 1024:.1f} GiB",
        "load_before": load_average(),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def descriptor_counts(pid):
    """Return (descriptors, sockets, unreadable links) of process `pid`."""
    try:
        names = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return 0, 0, 0
    sockets = 0
    unreadable = 0
    for name in names:
        try:
            sockets += os.readlink(f"/proc/{pid}/fd/{name}").startswith("socket:")
        except OSError:
            unreadable += 1
    return len(names), sockets, unreadable


def process_context(pid):
    """Facts that ttrapd's per-alert /proc work depends on, for the page.

    The fanotify culprit search reads the descriptors of the opener and its
    ancestors; the inotify-mode holders scan reads those of every process.
    """
    ancestors = []
    current = pid
    while current > 1:
        with open(f"/proc/{current}/stat", encoding="ascii", errors="replace") as stat:
            text = stat.read()
        current = int(text[text.rindex(")") + 2 :].split()[1])
        ancestors.append(current)
    chain = [descriptor_counts(ancestor) for ancestor in ancestors]
    processes = [int(name) for name in os.listdir("/proc") if name.isdigit()]
    everything = [descriptor_counts(process) for process in processes]
    tcp_lines = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table, encoding="ascii") as file:
                tcp_lines += sum(1 for _ in file) - 1
        except OSError:
            pass
    return {
        "ancestors": len(ancestors),
        "ancestor_fds": sum(counts[0] for counts in chain),
        "ancestor_sockets": sum(counts[1] for counts in chain),
        "ancestor_unreadable": sum(counts[2] for counts in chain),
        "processes": len(processes),
        "process_fds": sum(counts[0] for counts in everything),
        "tcp_sockets": tcp_lines,
    }


def package_version(package):
    return run_text(["dpkg-query", "-W", "-f", "${Version}", package])


def source_revision():
    """Return the commit of the work tree, marked when it has local changes."""
    commit = run_text(["git", "-C", HERE, "rev-parse", "--short=12", "HEAD"])
    changes = run_text(["git", "-C", HERE, "status", "--porcelain", "--untracked-files=no"])
    if commit == "not available":
        return "not a git checkout"
    return f"{commit} with uncommitted changes" if changes else commit


def versions(ttrapd):
    return {
        "rustc": run_text(["rustc", "--version"]),
        "ttrapd": f"{run_text([ttrapd, '--version'])}, source {source_revision()}",
        "inotify-tools": package_version("inotify-tools"),
        "fatrace": package_version("fatrace"),
        "libc6": package_version("libc6"),
        "gnuplot": run_text(["gnuplot", "--version"]),
        "python": platform.python_version(),
    }


# --- binaries -------------------------------------------------------------------


def stripped_size(path, workdir):
    copy = os.path.join(workdir, "stripped-" + os.path.basename(path))
    subprocess.run(["strip", "-o", copy, path], check=True, capture_output=True)
    size = os.stat(copy).st_size
    os.unlink(copy)
    return size


def shared_libraries(path):
    """Return (name, resolved path) for each library ldd lists for `path`."""
    libraries = []
    for line in run_text(["ldd", path]).splitlines():
        match = re.match(r"\s*(\S+)(?: => (\S+))? \(0x", line)
        if not match or match.group(1).startswith("linux-vdso"):
            continue
        resolved = match.group(2) or match.group(1)
        libraries.append((os.path.basename(match.group(1)), os.path.realpath(resolved)))
    return libraries


def binary_facts(path, workdir):
    """Size, stripped size and linking of the executable at `path`."""
    program_headers = run_text(["readelf", "-lW", path])
    dynamic_section = run_text(["readelf", "-dW", path])
    interpreter = re.search(r"Requesting program interpreter: ([^\]]+)\]", program_headers)
    static = interpreter is None and "There is no dynamic section" in dynamic_section
    libraries = [] if static else shared_libraries(path)
    return {
        "path": path,
        "size": os.stat(path).st_size,
        "stripped": stripped_size(path, workdir),
        "interp": interpreter.group(1) if interpreter else None,
        "dynamic": "There is no dynamic section" not in dynamic_section,
        "static": static,
        "needed": re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", dynamic_section),
        "libraries": [
            {"name": name, "path": real, "size": os.stat(real).st_size,
             "stripped": stripped_size(real, workdir)}
            for name, real in libraries
        ],
    }


# --- chart ----------------------------------------------------------------------


def write_chart(latency, datadir, output):
    """Write one data file per latency subject and plot them with gnuplot."""
    os.makedirs(datadir, exist_ok=True)
    for name, rounds in latency.items():
        pooled = sorted(sample for run in rounds for sample in run["samples_ns"])
        step = max(1, len(pooled) // 2000)
        with open(os.path.join(datadir, f"{name}.dat"), "w", encoding="ascii") as data:
            for index in list(range(0, len(pooled), step)) + [len(pooled) - 1]:
                fraction = (index + 1) / len(pooled)
                data.write(f"{pooled[index] / 1000:.3f} {fraction:.6f} {1 - fraction + 1e-9:.9g}\n")
    subprocess.run(
        ["gnuplot", "-e", f"datadir='{datadir}'; output='{output}'",
         os.path.join(HERE, "latency.gp")],
        check=True,
    )


# --- page -------------------------------------------------------------------------


def kib(size):
    return f"{size / 1024:.1f} KiB"


def us(value_ns):
    return f"{value_ns / 1000:.1f}"


def ms(value_ns):
    return f"{value_ns / 1e6:.2f}"


def times(value):
    return "n/a" if value is None else f"{value:.2f}×"


def yes_no(flag):
    return "reached" if flag else "**not reached**"


class Page:
    """Markdown lines being collected."""

    def __init__(self):
        self.lines = []

    def add(self, *lines):
        self.lines.extend(lines)

    def table(self, header, rows):
        self.lines.append("| " + " | ".join(header) + " |")
        self.lines.append("|" + "---|" * len(header))
        for row in rows:
            self.lines.append("| " + " | ".join(str(cell) for cell in row) + " |")
        self.lines.append("")

    def text(self):
        return "\n".join(self.lines).rstrip() + "\n"


def latency_figures(latency):
    """Summaries per subject: pooled, and per round."""
    figures = {}
    for name, rounds in latency.items():
        pooled = [sample for run in rounds for sample in run["samples_ns"]]
        per_round = [Summary(run["samples_ns"]) for run in rounds]
        verdicts = {key: sum(run["verdicts"][key] for run in rounds) for key in ("bad", "alert", "culprit")}
        figures[name] = {
            "pooled": Summary(pooled),
            "rounds": per_round,
            "verdicts": verdicts,
            "rss_after": [run["rss_after_kib"] for run in rounds],
            "cpu_per_open": [run["cpu_per_open_ns"] for run in rounds],
        }
    return figures


def best_peer(values):
    """Return (name, value) of the lowest figure among the peers."""
    candidates = [(values[name], name) for name in PEERS if values.get(name) is not None]
    if not candidates:
        return None, None
    value, name = min(candidates)
    return name, value


def write_page(results, out, chart):
    page = Page()
    figures = latency_figures(results["latency"])
    counts = results["counts"]
    write_header(page, results)
    write_targets(page, results, figures)
    write_binary(page, results["binary"])
    write_memory(page, results, figures)
    write_startup(page, results)
    write_latency(page, results, figures, os.path.relpath(chart, os.path.dirname(os.path.abspath(out))))
    write_open_cost(page, results["open_cost"], counts)
    write_flood(page, results["flood"])
    write_idle(page, results["idle"], counts)
    write_commands(page, results)
    with open(out, "w", encoding="utf-8") as file:
        file.write(page.text())


def write_header(page, results):
    machine = results["machine"]
    versions = results["versions"]
    mode = "smoke run (tiny counts, not for reading)" if results["smoke"] else "full run"
    page.add(
        "# Benchmarks",
        "",
        f"Written by `make bench` (`bench/bench.py`), {mode}, on {machine['date']};"
        f" the whole run took {results['seconds']:.0f} s. Every figure below comes from"
        " this one run. Times are wall-clock on the monotonic clock.",
        "",
        "The machine is shared: other engineers' builds and tests ran at the same"
        " time, so tails (p99, max) carry their noise. The load average was"
        f" {machine['load_before']} at the start and {results['load_after']} at the end."
        " Latency rounds are interleaved (one of each subject per round) so drifts"
        " in load hit every subject alike.",
        "",
        "## Machine",
        "",
    )

    page.table(
        ["CPU", "cores", "kernel", "memory"],
        [[machine["cpu"], machine["cores"], machine["kernel"], machine["memory"]]],
    )
    context = results["context"]
    page.add(
        f"When the run started the machine had {context['processes']} processes holding"
        f" {context['process_fds']} descriptors (the inotify-mode `holders` scan reads"
        f" them all), and TCP sockets: {context['tcp_sockets']}. The bench process had"
        f" {context['ancestors']} ancestors holding {context['ancestor_fds']} descriptors,"
        f" {context['ancestor_sockets']} of them sockets and {context['ancestor_unreadable']}"
        " whose link even root could not read. ttrapd's culprit search reads the"
        " descriptors of the opener and its ancestors, and when it finds any socket"
        " among them it reads `/proc/PID/net/tcp` and `tcp6` to find a TCP peer. The"
        " bench's openers hold the collector socket, so every new opener has that scan.",
        "",
    )

    counts = results["counts"]
    page.add("## Runs behind each figure", "")
    page.table(
        ["figure", "runs", "spread shown as"],
        [
            ["binary", "1 (sizes do not vary)", "—"],
            ["memory, start-up",
             f"{counts.startup_repeats} starts per subject and trap count", "min–max of the starts"],
            ["alert latency",
             f"{counts.latency_rounds} rounds × {counts.latency_opens:,} opens per subject",
             "min–max of the per-round medians and p99s"],
            ["cost to the opener", f"1 run of {counts.cost_opens:,} opens per series, in 10 blocks",
             "min–max of the block medians"],
            ["flood", f"{counts.flood_runs} runs × {counts.flood_reads:,} reads per subject",
             "every run listed"],
            ["idle", f"1 run of {counts.idle_seconds:.0f} s, all subjects at once", "—"],
        ],
    )

    page.add("## Versions", "")
    page.table(
        ["program", "version"],
        [[name, f"`{value}`"] for name, value in versions.items()],
    )


def fanotify_target(figure):
    """Return (rounds within the p99 target, all alerts named the culprit)."""
    within = sum(run.p99 <= FANOTIFY_P99_TARGET_US * 1000 for run in figure["rounds"])
    named = figure["verdicts"]["culprit"] == figure["pooled"].count
    return within, named


def target_rows(results, figures):
    """Return the rows of the targets table: target, measured, result."""
    binary = results["binary"]["ttrapd"]
    rss = results["startup"]["rss_kib"]
    rss_10 = Summary(rss[("ttrapd-fanotify", 10)]).median
    rss_10_inotify = Summary(rss[("ttrapd-inotify", 10)]).median

    inotify_rounds = figures["ttrapd-inotify"]["rounds"]
    peer_rounds = figures["inotifywait"]["rounds"]
    rounds_won = sum(ours.p99 <= theirs.p99 for ours, theirs in zip(inotify_rounds, peer_rounds))
    count = len(inotify_rounds)
    fan = figures["ttrapd-fanotify"]
    fresh = figures["ttrapd-fanotify-newproc"]
    fan_within, fan_named = fanotify_target(fan)
    fresh_within, fresh_named = fanotify_target(fresh)

    series = {name: Summary(samples) for name, samples in results["open_cost"]["series_ns"].items()}
    extra_p99 = series["trapped"].p99 - series["untrapped"].p99
    fresh_extra_p99 = series["trapped-newproc"].p99 - series["untrapped-newproc"].p99

    flood_runs = results["flood"]["ttrapd-fanotify"]
    flood_shares = [run["cpu_s"] / run["reader_cpu_s"] for run in flood_runs]
    idle = results["idle"]
    idle_wakeups = idle["ttrapd-fanotify"]["voluntary"] + idle["ttrapd-inotify"]["voluntary"]

    return [
        [f"stripped size ≤ {SIZE_TARGET_KIB} KiB", kib(binary["stripped"]),
         yes_no(binary["stripped"] <= SIZE_TARGET_KIB * 1024)],
        [f"RSS ≤ {RSS_TARGET_KIB} KiB with 10 traps",
         f"{rss_10:.0f} KiB (fanotify mode), {rss_10_inotify:.0f} KiB (inotify mode),"
         " medians of starts",
         yes_no(max(rss_10, rss_10_inotify) <= RSS_TARGET_KIB)],
        ["alert latency p99 in inotify mode no worse than `inotifywait -m` in the same round",
         f"no worse in {rounds_won} of {count} rounds; pooled p99"
         f" {us(figures['ttrapd-inotify']['pooled'].p99)} µs against"
         f" {us(figures['inotifywait']['pooled'].p99)} µs",
         yes_no(rounds_won == count)],
        [f"alert latency p99 ≤ {FANOTIFY_P99_TARGET_US} µs in fanotify mode, culprit named",
         f"pooled p99 {us(fan['pooled'].p99)} µs, within the target in {fan_within} of {count} rounds;"
         f" culprit (pid and exe) in {fan['verdicts']['culprit']} of {fan['pooled'].count} alerts",
         yes_no(fan_within == count and fan_named)],
        ["the same, new process per open",
         f"pooled p99 {us(fresh['pooled'].p99)} µs, within the target in {fresh_within} of {count} rounds;"
         f" culprit in {fresh['verdicts']['culprit']} of {fresh['pooled'].count} alerts",
         yes_no(fresh_within == count and fresh_named)],
        [f"extra open() cost p99 ≤ {OPEN_COST_P99_TARGET_US} µs",
         f"{us(extra_p99)} µs (same process), {us(fresh_extra_p99)} µs (new process per open)",
         yes_no(max(extra_p99, fresh_extra_p99) <= OPEN_COST_P99_TARGET_US * 1000)],
        [f"flood CPU ≤ {FLOOD_CPU_TARGET:.0%} of the reader's CPU (fanotify mode)",
         f"{', '.join(f'{share:.2%}' for share in flood_shares)} in {len(flood_shares)} runs",
         yes_no(max(flood_shares) <= FLOOD_CPU_TARGET)],
        ["zero idle wake-ups (no --heartbeat)",
         f"{idle_wakeups} voluntary context switches in {results['counts'].idle_seconds:.0f} s"
         " (both modes together)",
         yes_no(idle_wakeups == 0)],
    ]


def write_targets(page, results, figures):
    page.add(
        "## Targets",
        "",
        "Where a target is judged on several rounds it is reached only if every round"
        " reached it. The fanotify rows are judged on the bench process's repeated opens"
        " (what the target describes) and, separately, with a new process per open.",
        "",
    )
    page.table(["target", "measured", "result"], target_rows(results, figures))


def write_binary(page, binaries):
    page.add(
        "## 1. Binary",
        "",
        "Stripped size is the file after `strip -o`. Static means `readelf -l`"
        " shows no INTERP header and `readelf -d` no dynamic section. For the"
        " peers the libraries that `ldd` resolves are listed with their"
        " stripped sizes; the C library is shared with the rest of the system,"
        " so the total counts the program and its own library only.",
        "",
    )
    rows = []
    ttrapd = binaries["ttrapd"]
    rows.append(["ttrapd", kib(ttrapd["size"]), kib(ttrapd["stripped"]),
                 "yes" if ttrapd["static"] else "no",
                 "nothing but the Linux x86_64 kernel" if ttrapd["static"]
                 else ", ".join(ttrapd["needed"]), "1.00×"])
    own_totals = {}
    for name in PEERS:
        facts = binaries[name]
        own = [lib for lib in facts["libraries"] if not lib["name"].startswith(("libc.", "ld-linux"))]
        own_totals[name] = facts["stripped"] + sum(lib["stripped"] for lib in own)
    for name in PEERS:
        facts = binaries[name]
        parts = [f"{name} {kib(facts['stripped'])}"]
        parts += [f"{lib['name']} {kib(lib['stripped'])}" for lib in facts["libraries"]]
        needs = ", ".join(lib["name"] for lib in facts["libraries"])
        rows.append([
            name, kib(facts["size"]),
            f"{kib(own_totals[name])} ({' + '.join(parts[:1] + [p for p in parts[1:] if 'libinotify' in p])})",
            "yes" if facts["static"] else f"no (INTERP {facts['interp']})",
            f"{needs} ({' + '.join(parts[1:])})",
            times(ratio(ttrapd["stripped"], own_totals[name])),
        ])
    page.table(["program", "file size", "stripped (own code)", "static", "needs at run time",
                "ttrapd ÷ this"], rows)


def write_memory(page, results, figures):
    counts = results["counts"]
    rss = results["startup"]["rss_kib"]
    page.add(
        "## 2. Resident memory",
        "",
        f"VmRSS from `/proc/PID/status` of the armed process, median of"
        f" {counts.startup_repeats} starts (min–max in brackets), read right after"
        " start-up and before any alert. fatrace watches every mount whatever it"
        " is given, so it has one figure. The last column is ttrapd's RSS after"
        f" {counts.latency_opens:,} alerts in each latency round (1 trap).",
        "",
    )
    rows = []
    for subject in ("ttrapd-fanotify", "ttrapd-inotify", "inotifywait", "fatrace"):
        cells = [subject]
        for position, trap_count in enumerate(counts.trap_counts):
            if subject == "fatrace" and position > 0:
                cells.append("(same process, watches all)")
                continue
            values = rss[(subject, 0 if subject == "fatrace" else trap_count)]
            low, high = spread(values)
            cells.append(f"{Summary(values).median:.0f} KiB ({low}–{high})")
        after = figures.get(subject, {}).get("rss_after")
        cells.append(", ".join(f"{v} KiB" for v in after) if after and subject.startswith("ttrapd") else "")
        rows.append(cells)
    header = ["subject"] + [f"{n} trap{'s' if n > 1 else ''}" for n in counts.trap_counts]
    page.table(header + ["after the latency rounds"], rows)
    ratios = []
    for trap_count in counts.trap_counts:
        ours = Summary(rss[("ttrapd-fanotify", trap_count)]).median
        peers = {"inotifywait": Summary(rss[("inotifywait", trap_count)]).median,
                 "fatrace": Summary(rss[("fatrace", 0)]).median}
        name, value = best_peer(peers)
        ratios.append(f"{trap_count}: {times(ratio(ours, value))} of {name}")
    page.add("ttrapd (fanotify mode) against the best peer, by trap count: " + "; ".join(ratios) + ".", "")


def write_startup(page, results):
    counts = results["counts"]
    startup = results["startup"]["startup_ns"]
    page.add(
        "## 3. Start-up",
        "",
        "From just before the bench starts the process to \"armed\", median of"
        f" {counts.startup_repeats} starts in ms (min–max in brackets). For ttrapd"
        " armed is the return of `ttrapd -p PIDFILE -l SOCK TRAPS...` with status 0"
        " (the daemon-mode parent waits for the daemon to arm every trap); after each"
        " start the bench opens the last trap once and requires an ALERT for it."
        " For the peers it is the arrival of the first line reporting an open of the"
        " last file given, opened in a loop every 0.2 ms from the start. Both include"
        " Python's fork and exec of the program.",
        "",
    )
    rows = []
    for subject in ("ttrapd-fanotify", "ttrapd-inotify", "inotifywait", "fatrace"):
        cells = [subject]
        for position, trap_count in enumerate(counts.trap_counts):
            if subject == "fatrace" and position > 0:
                cells.append("(same process, watches all)")
                continue
            values = startup[(subject, 0 if subject == "fatrace" else trap_count)]
            low, high = spread(values)
            cells.append(f"{ms(Summary(values).median)} ({ms(low)}–{ms(high)})")
        rows.append(cells)
    header = ["subject"] + [f"{n} trap{'s' if n > 1 else ''}" for n in counts.trap_counts]
    page.table(header, rows)
    ratios = []
    for trap_count in counts.trap_counts:
        ours = Summary(startup[("ttrapd-fanotify", trap_count)]).median
        peers = {"inotifywait": Summary(startup[("inotifywait", trap_count)]).median,
                 "fatrace": Summary(startup[("fatrace", 0)]).median}
        name, value = best_peer(peers)
        ratios.append(f"{trap_count}: {times(ratio(ours, value))} of {name}")
    page.add("ttrapd (fanotify mode) against the best peer, by trap count: " + "; ".join(ratios) + ".", "")


LATENCY_ROWS = (
    ("floor-socket", "inotify floor, datagram"),
    ("floor-pipe", "inotify floor, pipe"),
    ("ttrapd-inotify", "ttrapd --no-fanotify"),
    ("ttrapd-fanotify", "ttrapd (fanotify)"),
    ("ttrapd-fanotify-newproc", "ttrapd (fanotify), new process per open"),
    ("inotifywait", "inotifywait -m"),
    ("fatrace", "fatrace"),
)


def write_latency(page, results, figures, chart):
    counts = results["counts"]
    rounds = counts.latency_rounds
    page.add(
        "## 4. Alert latency",
        "",
        f"From just before `open()` of the trap to the arrival of its report, in µs,"
        f" {counts.latency_opens:,} opens per subject per round, {rounds} interleaved"
        f" rounds ({counts.latency_warmup} untimed opens first in each). One Python"
        " process opens the file, blocks in `recv()` on the collector socket (or"
        " `read()` on the subject's stdout pipe), then closes the file. Both ends of the"
        " interval are `time.perf_counter_ns()` (CLOCK_MONOTONIC) in that process."
        " ttrapd runs with `--quiet 0` so that every open alerts.",
        "",
        "- inotify floor: `inotify_floor` (bench/inotify_floor.rs) reads each `IN_OPEN`"
        " event and sends a fixed message, as a datagram to the collector (the transport"
        " ttrapd uses) or as a line on a pipe (the transport inotifywait uses). Nothing"
        " built on inotify can report faster over the same transport.",
        "- ttrapd --no-fanotify scans every process's descriptors in `/proc` for the"
        " `holders` field before it sends each open alert. That scan is part of the"
        " figure, and it grows with the number of processes on the machine.",
        "- ttrapd (fanotify, the default) holds the opener in `open()` until it has read"
        " `/proc` for the culprit and answered, and the alert follows. ttrapd keeps what"
        " it read about the last culprit while that process lives, so repeated opens by"
        " the bench process reuse it. In the \"new process per open\" row every open"
        " comes from a new child of the bench (which times its own open and receive),"
        " so each alert reads `/proc` afresh, as a real intruder's first access does.",
        "- fatrace gets every open on the machine (fanotify notification events, which"
        " never hold the opener) and prints only those of the bench process (`-C`).",
        "",
    )
    best_median, best_p99, rows = latency_rows(figures)
    page.table(
        ["subject", "opens", "median", "p99", "max", "round medians", "round p99s",
         f"median ÷ {best_median}", f"p99 ÷ {best_p99}", "subject CPU per open",
         "wrong reports", "culprit named"],
        rows,
    )
    page.add(
        "Pooled figures are over all rounds. \"round medians\" and \"round p99s\" give"
        " the lowest and highest of the per-round figures, the spread between rounds."
        " The best peer is the one with the lower pooled figure. \"culprit named\""
        " counts fanotify alerts with the opener's `pid=` and an `exe=`, inotify-mode"
        " alerts whose `holders` list the opener, and fatrace lines with the opener's"
        " pid. inotifywait and the floor name no one. \"subject CPU per open\" is the"
        " subject's own CPU time over a round (process CPU clock) divided by the opens,"
        " median of the rounds. It is the work behind each report, without any wait for"
        " a CPU on this busy 2-core machine. fatrace's includes the other opens on the"
        " machine that it reads and filters out.",
        "",
        "Per round (median / p99 / max, µs):",
        "",
    )
    round_rows = []
    for index in range(rounds):
        cells = [str(index + 1)]
        for name, _ in LATENCY_ROWS:
            run = figures[name]["rounds"][index]
            cells.append(f"{us(run.median)} / {us(run.p99)} / {us(run.max)}")
        round_rows.append(cells)
    page.table(["round"] + [name for name, _ in LATENCY_ROWS], round_rows)

    page.add(
        f"![Latency distributions, all rounds pooled]({chart})",
        "",
        "Left: share of opens reported within a time. Right: share of opens slower than"
        " a time, which shows the tail on a log scale.",
        "",
    )


def latency_rows(figures):
    """Return the best peers by median and by p99, and the latency table rows."""
    best_median = best_peer({name: figures[name]["pooled"].median for name in PEERS})
    best_p99 = best_peer({name: figures[name]["pooled"].p99 for name in PEERS})
    rows = []
    for name, label in LATENCY_ROWS:
        figure = figures[name]
        pooled = figure["pooled"]
        medians = [run.median for run in figure["rounds"]]
        p99s = [run.p99 for run in figure["rounds"]]
        verdicts = figure["verdicts"]
        named = "—" if name.startswith("floor") or name == "inotifywait" else verdicts["culprit"]
        cpu = Summary(figure["cpu_per_open"]).median
        rows.append([
            label, pooled.count, us(pooled.median), us(pooled.p99), us(pooled.max),
            f"{us(min(medians))}–{us(max(medians))}", f"{us(min(p99s))}–{us(max(p99s))}",
            times(ratio(pooled.median, best_median[1])), times(ratio(pooled.p99, best_p99[1])),
            us(cpu), verdicts["bad"], named,
        ])
    return best_median[0], best_p99[0], rows


def block_medians(samples, block_size):
    """Return the median of each consecutive block of `block_size` samples."""
    return [
        Summary(samples[start : start + block_size]).median
        for start in range(0, len(samples), block_size)
    ]


def write_open_cost(page, cost, counts):
    series = {name: Summary(samples) for name, samples in cost["series_ns"].items()}
    page.add(
        "## 5. Cost to the opener",
        "",
        "`open()`+`close()` of a trap with ttrapd in fanotify mode (`--quiet 0`) against"
        " a plain file in another folder of the same file system, in µs, in 10"
        " alternating blocks per pair. The opener waits in the kernel while ttrapd reads `/proc`"
        " and answers. After each trapped open the alert is received outside the timed"
        " interval, so each open finds ttrapd idle. \"Same process\" opens come from"
        " the bench process, whose details ttrapd keeps from one open to the next."
        " \"New process\" opens each come from a new child of the bench, which times"
        " its own call. Their baseline is the plain file opened by new children too.",
        "",
    )
    rows = []
    for label, trapped, untrapped in (
        ("same process", "trapped", "untrapped"),
        ("new process per open", "trapped-newproc", "untrapped-newproc"),
    ):
        ours, base = series[trapped], series[untrapped]
        low, high = spread(block_medians(cost["series_ns"][trapped], cost["block_size"]))
        rows.append([label, ours.count, f"{us(ours.median)} / {us(ours.p99)} / {us(ours.max)}",
                     f"{us(low)}–{us(high)}",
                     f"{us(base.median)} / {us(base.p99)} / {us(base.max)}",
                     us(ours.median - base.median), us(ours.p99 - base.p99)])
    page.table(["opener", "opens", "trapped median / p99 / max", "trapped block medians",
                "untrapped median / p99 / max", "extra median", "extra p99"], rows)
    kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(cost["alert_kinds"].items()))
    page.add(f"Lines received for the trapped opens (100 warm-up opens included): {kinds}.", "")


def write_flood(page, flood):
    any_run = next(iter(flood.values()))[0]
    page.add(
        "## 6. Flood",
        "",
        f"`pread_loop` (bench/pread_loop.rs) opens the trap once and reads its first"
        f" byte {any_run['reads']:,} times with `pread()`, once per run against each"
        f" subject, runs interleaved. A warm-up flood of {any_run['reads'] // 100:,}"
        " reads comes first in each run and is not counted in the CPU figures. ttrapd"
        " runs with default flood control (`--quiet 10`): the first event of each kind"
        " alerts, and the rest are counted into one REPEAT line, sent here at the STOP."
        " CPU is utime+stime. For the subjects it is read from `/proc/PID/stat` in clock"
        " ticks (1/100 s) and, more finely, from the process CPU clock, which the share"
        " uses. The reader's comes from `wait4()`. The kernel merges identical queued"
        " events, so a subject sees fewer events than there are reads, and a slower"
        " subject sees fewer still. fatrace gets every file event on the machine, so"
        " its CPU includes other processes' events over the same seconds.",
        "",
    )
    rows = []
    for name, runs in flood.items():
        for index, run in enumerate(runs):
            share = run["cpu_s"] / run["reader_cpu_s"]
            lines = ", ".join(f"{kind} {n}" for kind, n in sorted(run["lines"].items()))
            stop = run["stop_counts"]
            events = ""
            if stop:
                events = f"{stop['events']} events, {stop['alerts']} alerts, {stop['repeated']} repeated"
            rows.append([
                name, index + 1, f"{run['cpu_s']:.4f} s ({run['cpu_ticks']} ticks)",
                f"{run['reader_cpu_s']:.3f} s", f"{share:.2%}", lines, events,
                f"{run['rss_start_kib']} → {run['rss_before_kib']} → {run['rss_after_kib']} KiB",
            ])
    page.table(["subject", "run", "subject CPU", "reader CPU", "subject ÷ reader",
                "lines (warm-up included)", "ttrapd STOP counts",
                "RSS at start → after warm-up → after flood"], rows)

    medians = {name: Summary([run["cpu_s"] for run in runs]).median for name, runs in flood.items()}
    peer, value = best_peer(medians)
    page.add(
        "Median subject CPU over the runs: "
        + ", ".join(f"{name} {cpu:.3f} s" for name, cpu in medians.items())
        + f". ttrapd against the best peer ({peer}): fanotify mode"
        f" {times(ratio(medians['ttrapd-fanotify'], value))}, inotify mode"
        f" {times(ratio(medians['ttrapd-inotify'], value))}.",
        "",
    )


def write_idle(page, idle, counts):
    page.add(
        "## 7. Idle",
        "",
        f"Context switches of each armed subject over {counts.idle_seconds:.0f} s in"
        " which nothing touched its files, read from `/proc/PID/status` (ttrapd with 10"
        " traps in each mode, inotifywait with 10 files, no `--heartbeat`). A voluntary"
        " switch is a wake-up from sleep. fatrace wakes for file opens anywhere on the"
        " machine, so its figure depends on what else ran in those seconds.",
        "",
    )
    page.table(
        ["subject", "voluntary", "involuntary"],
        [[name, run["voluntary"], run["involuntary"]] for name, run in idle.items()],
    )


def write_commands(page, results):
    workdir = results["workdir"]
    page.add(
        "## Commands",
        "",
        f"`$W` is the bench's temporary folder ({workdir} in this run). Helpers come"
        " from `bench/*.rs`, built by `make bench` with `rustc -O`. The raw results of"
        " the run are saved in `target/bench/results.pickle`, and"
        " `python3 bench/bench.py --render target/bench/results.pickle` writes this page"
        " and the chart again from them without measuring.",
        "",
        "```",
        "make bench",
    )
    for key, command in results["commands"].items():
        page.add(f"# {key}", command.replace(workdir, "$W"))
    page.add("```", "")
