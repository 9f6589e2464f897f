#!/bin/bash
# End-to-end test: boots Debian's cloud kernel under QEMU (TCG, no KVM)
# with a busybox initramfs, where busybox init starts ttrapd as
# contrib/inittab specifies and e2e/guest/intruder trips its traps. The
# guest writes markers and its syslog file to its second serial port. This
# script decides from that output, because QEMU exits 0 after a kernel
# panic as well as after a clean power-off.
#
# Usage: e2e/run.sh [TTRAPD_BINARY]   (default target/release/ttrapd)
#
# Needs root and apt: installs qemu-system-x86 and busybox-static when
# missing, and downloads the kernel package (not installed, only unpacked)
# into $E2E_CACHE (default target/e2e-cache), where later runs find it.
# Remove that folder to fetch the current kernel again. E2E_TIMEOUT sets
# the limit for the boot in seconds (default 180). The guest and its
# output stay in $E2E_WORK (default target/e2e) for inspection.
set -euo pipefail

cd "$(dirname "$0")/.."
binary=${1:-target/release/ttrapd}
cache=${E2E_CACHE:-target/e2e-cache}
work=${E2E_WORK:-target/e2e}
boot_timeout=${E2E_TIMEOUT:-180}
started=$SECONDS

say() {
    echo "e2e: $*"
}

die() {
    echo "e2e: error: $*" >&2
    echo "e2e summary: FAIL ($*)" >&2
    exit 1
}

[ -x "$binary" ] || die "ttrapd binary not found at $binary: run 'make' first"
[ "$(id -u)" = 0 ] || die "must run as root: it installs packages with apt-get and creates /dev/console in the initramfs"

# --- Tools -------------------------------------------------------------

apt_updated=no
apt_update() {
    if [ "$apt_updated" = no ]; then
        say "apt-get update"
        apt-get update -qq
        apt_updated=yes
    fi
}

missing=""
command -v qemu-system-x86_64 >/dev/null 2>&1 || missing="$missing qemu-system-x86"
# The guest needs a static busybox, and the busybox package is linked
# dynamically.
if [ "$(dpkg-query -W -f='${Status}' busybox-static 2>/dev/null)" != "install ok installed" ]; then
    missing="$missing busybox-static"
fi
if [ -n "$missing" ]; then
    apt_update
    say "installing$missing"
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
# busybox-static installs its binary here.
busybox=/bin/busybox

# --- Kernel ------------------------------------------------------------

mkdir -p "$cache"
deb=$(find "$cache" -maxdepth 1 -name 'linux-image-*-cloud-amd64_*.deb' | sort | tail -n 1)
if [ -z "$deb" ]; then
    apt_update
    # linux-image-cloud-amd64 is a metapackage. It depends on the versioned
    # package that contains the kernel.
    package=$(apt-cache depends linux-image-cloud-amd64 |
        awk '$1 == "Depends:" && $2 ~ /^linux-image-/ { print $2; exit }')
    [ -n "$package" ] || die "apt-cache depends linux-image-cloud-amd64 returned no linux-image-* dependency"
    say "downloading $package"
    download="$cache/download.tmp"
    rm -rf "$download"
    mkdir -p "$download"
    # apt-get download runs as the _apt user when _apt can write the folder,
    # and otherwise warns and downloads as root.
    chown _apt "$download" 2>/dev/null || true
    (cd "$download" && apt-get download -q "$package")
    mv "$download"/*.deb "$cache"/
    rm -rf "$download"
    deb=$(find "$cache" -maxdepth 1 -name 'linux-image-*-cloud-amd64_*.deb' | sort | tail -n 1)
    [ -n "$deb" ] || die "apt-get download $package failed: no .deb in $cache"
else
    say "using cached $deb"
fi

unpacked="$cache/$(basename "$deb" .deb)"
if ! find "$unpacked/boot" -name 'vmlinuz-*' 2>/dev/null | grep -q .; then
    say "unpacking ./boot of $(basename "$deb")"
    rm -rf "$unpacked"
    mkdir -p "$unpacked"
    dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$unpacked" ./boot
fi
kernel=$(find "$unpacked/boot" -name 'vmlinuz-*' | head -n 1)
kconfig=$(find "$unpacked/boot" -name 'config-*' | head -n 1)
if [ -z "$kernel" ] || [ -z "$kconfig" ]; then
    die "no vmlinuz or config in ./boot of $deb"
fi

# Without modules the guest can use only what is built in.
for option in BLK_DEV_INITRD RD_GZIP DEVTMPFS PROC_FS SYSFS TMPFS UNIX \
    SERIAL_8250 SERIAL_8250_CONSOLE INOTIFY_USER FANOTIFY \
    FANOTIFY_ACCESS_PERMISSIONS; do
    grep -qx "CONFIG_$option=y" "$kconfig" ||
        die "kernel config $(basename "$kconfig") does not have CONFIG_$option=y, which the guest needs built in"
done

# --- Initramfs ---------------------------------------------------------

rm -rf "$work"
root="$work/root"
mkdir -p "$root"/{bin,dev,etc/e2e,proc,run,sys,tmp,usr/local/sbin,var/log} \
    "$root"/srv/{boot/private,secret}
cp "$busybox" "$root/bin/busybox"
for applet in $("$busybox" --list); do
    [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
done
# The kernel runs /init, and busybox picks the applet by the name it was run
# as.
ln -s bin/busybox "$root/init"
# The kernel opens /dev/console for init before anything can mount devtmpfs.
mknod -m 600 "$root/dev/console" c 5 1
chmod 1777 "$root/tmp"

install -m 0755 "$binary" "$root/usr/local/sbin/ttrapd"
install -m 0755 e2e/guest/rcS e2e/guest/intruder "$root/etc/e2e/"
install -m 0644 e2e/guest/ttrapd.conf "$root/etc/ttrapd.conf"
cat e2e/guest/inittab contrib/inittab >"$root/etc/inittab"

# Decoys: two traps on the kernel command line, three in the config file,
# one that a reload adds.
echo 'decoy VPN key' >"$root/srv/boot/vpn.key"
echo 'decoy backup' >"$root/srv/boot/private/backup.tar"
echo 'aws_secret_access_key = decoy' >"$root/srv/secret/credentials"
echo 'decoy notes' >"$root/srv/secret/notes"
echo 'decoy vault key' >"$root/srv/secret/vault.key"
echo 'decoy ssh key' >"$root/srv/secret/id_rsa"

initramfs="$work/initramfs.cpio.gz"
# busybox cpio prints its block count on stderr, which is discarded. A
# failure still fails the pipeline.
(cd "$root" && find . | "$busybox" cpio -o -H newc -R 0:0 2>/dev/null) | gzip -9 >"$initramfs"
say "initramfs $(du -k "$initramfs" | cut -f1) KiB, kernel $(basename "$kernel")"

# --- Boot --------------------------------------------------------------

append="console=ttyS0 panic=-1 ttrapd.trap=/srv/boot/vpn.key ttrapd.trap=/srv/boot/private ttrapd.quiet=0"
console="$work/console.log"
serial2="$work/ttyS1.log"
say "booting under qemu-system-x86_64 -accel tcg (limit ${boot_timeout} s); console in $console"
boot_started=$SECONDS
qemu_status=0
# TCG emulates the CPU in software, so the test needs no /dev/kvm. The guest
# gets no network card (-nic none) and sends no traffic. ttyS0 (the kernel
# console) goes to $console, ttyS1 (the intruder's report) to $serial2.
timeout "$boot_timeout" qemu-system-x86_64 \
    -accel tcg -m 256 -nographic -no-reboot -nic none \
    -kernel "$kernel" -initrd "$initramfs" -append "$append" \
    -serial mon:stdio -serial "file:$serial2" \
    </dev/null >"$console" 2>&1 || qemu_status=$?
boot_seconds=$((SECONDS - boot_started))
if [ "$qemu_status" = 124 ]; then
    say "qemu did not finish within ${boot_timeout} s and was stopped"
else
    say "qemu exited with status $qemu_status after ${boot_seconds} s"
fi

# --- Verdict -----------------------------------------------------------

output="$work/guest-output.txt"
tr -d '\r' <"$serial2" >"$output" 2>/dev/null || : >"$output"
syslog="$work/guest-syslog.txt"
sed -n '/^E2E-LOG-BEGIN$/,/^E2E-LOG-END$/p' "$output" >"$syslog"

# Prints the value of the first marker "E2E KEY=VALUE".
marker() {
    sed -n "s/^E2E $1=//p" "$output" | head -n 1
}

passed=0
failed=0
pass() {
    passed=$((passed + 1))
    echo "  ok    $1"
}
fail() {
    failed=$((failed + 1))
    echo "  FAIL  $1"
}

# Expects a syslog line that matches the extended regular expression $2.
expect_line() {
    if grep -Eq -- "$2" "$syslog"; then pass "$1"; else fail "$1: no syslog line matches '$2'"; fi
}

# Expects no syslog line that matches $2.
expect_no_line() {
    if grep -Eq -- "$2" "$syslog"; then fail "$1: unexpected syslog line matches '$2'"; else pass "$1"; fi
}

# Expects marker $2 to have the value $3.
expect_marker() {
    local value
    value=$(marker "$2")
    if [ "$value" = "$3" ]; then pass "$1"; else fail "$1: marker $2 is '${value:-missing}', expected '$3'"; fi
}

boot_pid=$(marker boot_pid)
first_pid=$(marker respawn_pid_before)
second_pid=$(marker respawn_pid_after)
is_pid() {
    [[ "$1" =~ ^[0-9]+$ ]]
}

say "checks:"
if grep -qx 'E2E-END' "$output"; then
    pass "guest ran the intruder to its end"
elif grep -qx 'E2E-WATCHDOG-END' "$output"; then
    fail "guest watchdog cut the intruder short after 120 s"
else
    fail "guest output has no E2E-END: the guest hung, panicked or never started the intruder"
fi
errors=$(sed -n 's/^E2E error=//p' "$output" | tr '\n' ' ')
if [ -z "$errors" ]; then pass "guest reported no error"; else fail "guest reported: $errors"; fi
if is_pid "$boot_pid" && is_pid "$first_pid" && is_pid "$second_pid"; then
    pass "pids: sysinit $boot_pid, respawned $first_pid then $second_pid"
else
    fail "pids missing: sysinit '$boot_pid', respawned '$first_pid' then '$second_pid'"
fi
if is_pid "$first_pid" && is_pid "$second_pid" && [ "$first_pid" != "$second_pid" ]; then
    pass "init started a new ttrapd after SIGKILL"
else
    fail "no new respawned ttrapd pid after SIGKILL ('$first_pid' then '$second_pid')"
fi
# Without pids the patterns below must not match any ttrapd.
is_pid "$boot_pid" || boot_pid=none
is_pid "$first_pid" || first_pid=none
is_pid "$second_pid" || second_pid=none

boot="ttrapd\\[$boot_pid\\]: "
first="ttrapd\\[$first_pid\\]: "
second="ttrapd\\[$second_pid\\]: "
expect_line "sysinit ttrapd armed the kernel command-line traps as a daemon" \
    "${boot}START traps=2 mode=fanotify-perm .*run=daemon"
expect_line "respawned ttrapd armed the config file traps in the foreground" \
    "${first}START traps=3 mode=fanotify-perm .*config=/etc/ttrapd.conf .*run=foreground"
expect_line "decoy open names the process" \
    "${boot}ALERT trap=/srv/boot/vpn.key event=open pid=[0-9]+ .*uid=0 .*exe=/bin/busybox comm=cat .*cmd=\"cat /srv/boot/vpn.key\""
expect_line "decoy read names the process" \
    "${boot}ALERT trap=/srv/boot/vpn.key event=read pid=[0-9]+ .*exe=/bin/busybox comm=cat"
expect_line "directory listing alerts" \
    "${boot}ALERT trap=/srv/boot/private event=list pid=[0-9]+ .*comm=ls"
expect_line "trap deletion alerts" \
    "${first}ALERT trap=/srv/secret/credentials event=delete"
expect_line "deleted trap is disarmed" \
    "${first}DISARM trap=/srv/secret/credentials reason=deleted state=waiting-for-path"
expect_line "re-created trap is re-armed" \
    "${first}REARM trap=/srv/secret/credentials ino=[0-9]+"
expect_line "events=write trap alerts on the append" \
    "${first}ALERT trap=/srv/secret/notes event=write pid=[0-9]+"
expect_no_line "events=write trap ignores open and read" \
    "ALERT trap=/srv/secret/notes event=(open|read)"
expect_marker "deny trap refused the open" "step=read-deny-trap result" "refused"
expect_line "deny trap alert says action=denied" \
    "${first}ALERT trap=/srv/secret/vault.key event=open action=denied pid=[0-9]+"
expect_line "new ttrapd took over the stale pidfile and started" \
    "${second}START traps=3 mode=fanotify-perm .*config=/etc/ttrapd.conf .*run=foreground"
expect_line "new ttrapd alerts on touch" \
    "${second}ALERT trap=/srv/secret/credentials event=attrib"
expect_line "new ttrapd alerts on read with the process" \
    "${second}ALERT trap=/srv/secret/credentials event=open pid=[0-9]+ .*comm=cat"
expect_line "SIGHUP adds the new config file trap" \
    "${second}HUP action=trap-added trap=/srv/secret/id_rsa"
expect_line "SIGHUP reload is logged with counts" \
    "${second}HUP action=reloaded traps=4 added=1 removed=0"
expect_line "reload with a missing trap is rejected" \
    "${second}ERROR what=reload-rejected reason=trap-not-armed"
id_rsa_alerts=$(grep -Ec -- "${second}ALERT trap=/srv/secret/id_rsa event=open" "$syslog" || true)
if [ "$id_rsa_alerts" = 2 ]; then
    pass "added trap alerts before and after the rejected reload"
else
    fail "added trap alerted $id_rsa_alerts times, expected 2 (once before, once after the rejected reload)"
fi
expect_line "SIGTERM stops the sysinit ttrapd" \
    "${boot}STOP signal=SIGTERM pid=[0-9]+"
expect_marker "stopped ttrapd removed its pidfile" boot_pidfile removed

total=$((passed + failed))
elapsed=$((SECONDS - started))
if [ "$failed" = 0 ] && [ "$total" -gt 0 ]; then
    echo "e2e summary: PASS, $passed checks ($(basename "$kernel"), boot ${boot_seconds} s, total ${elapsed} s)"
    echo "e2e: $passed passed, 0 failed"
    exit 0
fi
echo "--- last 40 lines of the console ($console) ---"
tail -n 40 "$console" || true
echo "--- guest output: $output ---"
echo "e2e summary: FAIL, $failed of $total checks failed (boot ${boot_seconds} s, qemu status $qemu_status)"
echo "e2e: $passed passed, $failed failed"
exit 1
