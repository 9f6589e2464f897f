#!/usr/bin/env python3
"""Capture the seed corpora of the fuzz targets from this machine.

Real inotify and fanotify read buffers come from a temporary directory
that this script creates and touches. /proc samples come from this
process, a child it starts, and the TCP tables while it has loopback
connections of its own open. Environment blocks are synthetic, because a real
environ can hold secrets. Hand-written seeds for the other targets are
written too.

Run as root (fanotify needs CAP_SYS_ADMIN) from the repository root:

    python3 fuzz/seeds/capture.py

Each file is named after what it holds and rewritten on every run.
"""

import ctypes
import ctypes.util
import os
import socket
import struct
import subprocess
import sys
import tempfile

CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "corpus")

libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
libc.fanotify_mark.argtypes = [
    ctypes.c_int,
    ctypes.c_uint,
    ctypes.c_uint64,
    ctypes.c_int,
    ctypes.c_char_p,
]

# <sys/inotify.h>
IN_NONBLOCK = 0o4000
IN_ALL_EVENTS = 0xFFF
# <linux/fanotify.h>
FAN_CLASS_NOTIF = 0x0
FAN_NONBLOCK = 0x2
FAN_CLOEXEC = 0x1
FAN_REPORT_FID = 0x200
FAN_MARK_ADD = 0x1
FAN_ACCESS = 0x1
FAN_MODIFY = 0x2
FAN_CLOSE_WRITE = 0x8
FAN_CLOSE_NOWRITE = 0x10
FAN_OPEN = 0x20
FAN_ATTRIB = 0x4
FAN_CREATE = 0x100
FAN_DELETE = 0x200
FAN_EVENT_ON_CHILD = 0x08000000
FAN_ONDIR = 0x40000000
AT_FDCWD = -100
O_RDONLY = os.O_RDONLY


def check(result, what):
    if result < 0:
        error = ctypes.get_errno()
        raise OSError(error, f"{what}: {os.strerror(error)}")
    return result


def save(target, name, data):
    folder = os.path.join(CORPUS, target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as out:
        out.write(data)


def drain(fd):
    """Read every buffer that is ready on a non-blocking descriptor."""
    buffers = []
    while True:
        try:
            data = os.read(fd, 16384)
        except BlockingIOError:
            return buffers
        if not data:
            return buffers
        buffers.append(data)


def capture_inotify(workdir):
    fd = check(libc.inotify_init1(IN_NONBLOCK), "inotify_init1")
    trap = os.path.join(workdir, "vpn.key")
    with open(trap, "w") as out:
        out.write("secret\n")
    check(libc.inotify_add_watch(fd, workdir.encode(), IN_ALL_EVENTS), "watch dir")
    check(libc.inotify_add_watch(fd, trap.encode(), IN_ALL_EVENTS), "watch file")

    steps = {
        "read": lambda: open(trap).read(),
        "write": lambda: open(trap, "a").write("more\n"),
        "chmod": lambda: os.chmod(trap, 0o600),
        "list": lambda: os.listdir(workdir),
        "create_and_delete": lambda: (open(os.path.join(workdir, "new"), "w").close(),
                                      os.unlink(os.path.join(workdir, "new"))),
        "rename": lambda: (os.rename(trap, trap + ".old"), os.rename(trap + ".old", trap)),
        "mkdir_rmdir": lambda: (os.mkdir(os.path.join(workdir, "d")),
                                os.rmdir(os.path.join(workdir, "d"))),
        # Every byte a name can hold, and the longest name.
        "hostile_name": lambda: open(os.path.join(workdir.encode(),
                                                  bytes(range(1, 47)) + bytes(range(48, 256))),
                                     "w").close(),
        "long_name": lambda: open(os.path.join(workdir, "n" * 255), "w").close(),
        "delete_self": lambda: os.unlink(trap),
    }
    for name, step in steps.items():
        step()
        buffers = drain(fd)
        if buffers:
            save("inotify", f"{name}.bin", b"".join(buffers))
    os.close(fd)


def fanotify_events(buffer):
    """Yield (event_len, fd) for each record of a fanotify read buffer."""
    offset = 0
    while offset + 24 <= len(buffer):
        event_len = struct.unpack_from("=I", buffer, offset)[0]
        fd = struct.unpack_from("=i", buffer, offset + 16)[0]
        if event_len < 24:
            return
        yield event_len, fd
        offset += event_len


def capture_fanotify(workdir, report_fid):
    flags = FAN_CLASS_NOTIF | FAN_NONBLOCK | FAN_CLOEXEC
    if report_fid:
        flags |= FAN_REPORT_FID
    group = libc.fanotify_init(flags, O_RDONLY | os.O_CLOEXEC)
    if group < 0:
        print(f"fanotify skipped: {os.strerror(ctypes.get_errno())}", file=sys.stderr)
        return
    trap = os.path.join(workdir, "fan.key")
    with open(trap, "w") as out:
        out.write("secret\n")
    mask = FAN_OPEN | FAN_ACCESS | FAN_MODIFY | FAN_CLOSE_WRITE | FAN_CLOSE_NOWRITE
    if report_fid:
        mask |= FAN_ATTRIB | FAN_CREATE | FAN_DELETE | FAN_ONDIR
        target = workdir
    else:
        mask |= FAN_EVENT_ON_CHILD | FAN_ONDIR
        target = workdir
    check(libc.fanotify_mark(group, FAN_MARK_ADD, mask, AT_FDCWD, target.encode()), "mark dir")
    check(libc.fanotify_mark(group, FAN_MARK_ADD, mask & ~(FAN_ONDIR | FAN_EVENT_ON_CHILD),
                             AT_FDCWD, trap.encode()), "mark file")
    suffix = "fid" if report_fid else "fd"
    steps = {
        "read": lambda: open(trap).read(),
        "write": lambda: open(trap, "a").write("more\n"),
        "chmod": lambda: os.chmod(trap, 0o600),
        "create": lambda: open(os.path.join(workdir, "child"), "w").close(),
        "list": lambda: os.listdir(workdir),
        "delete": lambda: os.unlink(os.path.join(workdir, "child")),
    }
    for name, step in steps.items():
        step()
        buffers = drain(group)
        for buffer in buffers:
            for _, fd in fanotify_events(buffer):
                if fd >= 0:
                    os.close(fd)
        if buffers:
            save("fanotify", f"{name}_{suffix}.bin", b"".join(buffers))
    os.close(group)
    os.unlink(trap)


def capture_proc():
    for name in ["stat", "status", "cmdline", "loginuid", "sessionid"]:
        with open(f"/proc/self/{name}", "rb") as source:
            data = source.read()
        target = {"stat": "proc_stat", "status": "proc_status", "cmdline": "proc_cmdline"}
        save(target.get(name, "proc_number"), f"self_{name}", data)

    # A command name with parentheses and a space, as a process may set it.
    with open("/proc/self/comm", "w") as comm:
        comm.write("a) b (c")
    with open("/proc/self/stat", "rb") as source:
        save("proc_stat", "self_stat_hostile_comm", source.read())
    with open("/proc/self/comm", "w") as comm:
        comm.write("python3")

    # A child with hostile arguments: a space, a newline, invalid UTF-8.
    # It prints "ready" once it runs, so its cmdline is no longer empty.
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys; print('ready', flush=True); sys.stdin.read()",
         "with space", "new\nline", b"\xff\xfe"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        child.stdout.readline()
        with open(f"/proc/{child.pid}/cmdline", "rb") as source:
            save("proc_cmdline", "child_hostile_args", source.read())
        with open(f"/proc/{child.pid}/stat", "rb") as source:
            save("proc_stat", "child_stat", source.read())
    finally:
        child.stdin.close()
        child.wait()

    # Established loopback connections, IPv4 and IPv6, so that the tables
    # hold lines that push_tcp_peer accepts.
    held = []
    loopback = [
        (socket.AF_INET, "127.0.0.1"),
        (socket.AF_INET6, "::1"),
        (socket.AF_INET6, "::ffff:127.0.0.1"),
    ]
    for family, host in loopback:
        try:
            server = socket.socket(family, socket.SOCK_STREAM)
            server.bind((host, 0))
            server.listen(1)
            client = socket.create_connection(server.getsockname()[:2])
            peer, _ = server.accept()
            held += [server, client, peer]
        except OSError as error:
            print(f"loopback {host} skipped: {error}", file=sys.stderr)
    # Only the header and connections between loopback addresses are kept:
    # the tables list every connection of the machine.
    loopback_hex = (b"0100007F:", b"00000000000000000000000001000000:",
                    b"0000000000000000FFFF00000100007F:")
    for table in ["tcp", "tcp6"]:
        with open(f"/proc/net/{table}", "rb") as source:
            lines = source.read().splitlines(keepends=True)
        kept = [lines[0]] + [
            line for line in lines[1:]
            if all(address.startswith(loopback_hex) for address in line.split()[1:3])
        ]
        save("tcp_peer", f"net_{table}", b"".join(kept))
    for fd in os.listdir("/proc/self/fd"):
        try:
            link = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        kind = link.split(":")[0]
        if kind in ("socket", "pipe", "anon_inode") or link == "/dev/null":
            save("socket_inode", f"fd_link_{kind.strip('/').replace('/', '_')}", link.encode())
    save("socket_inode", "not_a_number", b"socket:[x]")
    for sock in held:
        sock.close()


def synthetic_seeds():
    environ = {
        "ssh_connection": b"PATH=/usr/bin\0SSH_CONNECTION=203.0.113.7 51234 192.0.2.1 22\0TERM=xterm\0",
        "ssh_client_last": b"HOME=/root\0SSH_CLIENT=198.51.100.2 4000 22",
        "lookalikes": b"SSH_CLIENTX=1\0XSSH_CONNECTION=1.2.3.4\0SSH_CONNECTIO=2\0SSH_CLIENT=2001:db8::1 5 22\0",
        "not_an_address": b"SSH_CONNECTION=$(reboot) 1 2 3\0",
        "long_value": b"SSH_CONNECTION=" + b"9" * 300 + b"\0",
        "none": b"LANG=C.UTF-8\0SHELL=/bin/sh\0",
    }
    for name, block in environ.items():
        # Four bytes of chunk-size seed come first.
        save("proc_environ", name, struct.pack("=I", 0x1234567) + block)

    ssh = {
        "v4": b"203.0.113.7 51234 192.0.2.1 22",
        "v6": b"2001:db8::1 5 ::1 22",
        "command": b"x;rm -rf / 1 2 3",
        "digits_only": b"1234",
    }
    for name, value in ssh.items():
        save("ssh_address", name, value)

    urls = {
        "udp_v4": b"udp://192.0.2.10:514",
        "tcp_v6": b"tcp://[2001:db8::1]:6514",
        "tcp_loopback6": b"tcp://[::1]:1",
        "host_name": b"udp://loghost:514",
        "no_port": b"tcp://[::1]",
        "full_v6": b"tcp://[1:2:3:4:5:6:7:8]:65535",
    }
    for name, url in urls.items():
        save("remote_url", name, url)

    args = {
        "foreground_quiet": [b"-f", b"--quiet", b"0", b"/srv/trap/vpn.key"],
        "bundle": [b"-fp/run/x.pid", b"-t", b"trapper", b"-l", b"/s", b"a", b"b"],
        "everything": [b"--no-perm", b"--allow=/bin/cat", b"-r", b"udp://127.0.0.1:5514",
                       b"--remote=tcp://[::1]:6514", b"--heartbeat", b"30", b"-x", b"/bin/true",
                       b"--exec-timeout", b"5", b"--facility", b"local3", b"--severity", b"crit",
                       b"--", b"-trap"],
        "deny_conflict": [b"--deny", b"--no-fanotify", b"a"],
        "help": [b"a", b"-h"],
        "bad_value": [b"--tag", b"bad\ntag", b"a"],
    }
    for name, words in args.items():
        save("args", name, b"\0".join(words))

    cap = struct.pack("=H", 200)
    values = {
        "path": b"/srv/trap/vpn.key",
        "forged_line": b"x\n<81>ttrapd[1]: ALERT trap=/etc/shadow \"\xff",
        "separators": "a\u2028b\u202ec\u0085".encode(),
        "every_byte": bytes(range(256)),
        "quotes": b"a \"b\" \\c",
    }
    for name, value in values.items():
        save("escape", name, cap + b"\0" + value)
        save("escape", name + "_quoted", cap + b"\1" + value)

    def field(key, kind, value):
        return bytes([key, kind]) + struct.pack("=H", len(value)) + value

    header = bytes([0]) + struct.pack("=I", 812) + bytes([10 | 1 << 5])
    lines = {
        "alert": header + field(0, 0, b"/srv/trap/vpn.key") + field(1, 1, b"open")
                 + field(3, 3, b"\x92\x10\0\0\0\0\0\0") + field(10, 2, b"cat /srv/trap/vpn.key"),
        "hostile_entry": header + field(2, 0, b"x\n<81>ttrapd[1]: ALERT trap=/etc/shadow"),
        "full_line": header + b"".join(field(k, 0, bytes([0x41 + k]) * 1000) for k in range(12)),
        "cut_cmd": header + field(10, 2, b"python3 " + b"A" * 600),
    }
    for name, data in lines.items():
        save("msg_line", name, data)

    configs = {
        "readme": b"""# /etc/ttrapd.conf
pidfile /run/ttrapd.pid
remote tcp://192.0.2.10:514
heartbeat 60
allow /usr/sbin/backup-agent
trap /etc/shadow
trap /root/.aws/credentials deny
trap "/srv/decoys/vpn key.pem" quiet=0 events=open,read
""",
        "problems": b"""trapp /etc/shadow
trap "/srv/unclosed
trap
trap /x quiet=3601 events=open,bogus
quiet 1 2
tag bad\x01tag # comment "with quote
no-perm\r
deny	yes
""",
    }
    for name, text in configs.items():
        save("config_file", name, text)

    # Synthetic: this machine's own /proc/cmdline describes its host, so a
    # typical distribution line with ttrapd words replaces it.
    cmdlines = {
        "distribution": b"BOOT_IMAGE=/boot/vmlinuz-6.12.0 root=UUID=0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0 "
                        b"ro quiet splash ttrapd.trap=/etc/shadow ttrapd.quiet=5\n",
        "quoted": b'console=ttyS0 ttrapd.trap="/srv/decoy/with space" ttrapd.no-perm '
                  b"ttrapd.remote=udp://192.0.2.1:514 ttrapd.tag=rescue -- init=/bin/sh\n",
        "problems": b'ttrapd.bogus=1 ttrapd.trap ttrapd.quiet=99999 ttrapd.trap="unclosed '
                    b"ttrapd.deny=yes ttrapd.=x ttrapd\n",
    }
    for name, text in cmdlines.items():
        save("kernel_cmdline", name, text)


def main():
    if os.geteuid() != 0:
        print("run as root: fanotify needs CAP_SYS_ADMIN", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="ttrapd-seeds-") as workdir:
        capture_inotify(workdir)
    for report_fid in (False, True):
        with tempfile.TemporaryDirectory(prefix="ttrapd-seeds-") as workdir:
            capture_fanotify(workdir, report_fid)
    capture_proc()
    synthetic_seeds()


if __name__ == "__main__":
    main()
