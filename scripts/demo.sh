#!/bin/sh
# Runs ttrapd in the foreground on a decoy in a fresh temporary folder,
# reads the decoy once so the first alert shows, and explains how to trip
# it by hand. Ctrl-C stops it. DEMO_SECONDS=N stops it after N seconds.
set -eu

bin=${1:-target/release/ttrapd}
dir=$(mktemp -d "${TMPDIR:-/tmp}/ttrapd-demo.XXXXXX")
decoy="$dir/vpn.key"
printf '%s\n' '-----BEGIN PRIVATE KEY-----' 'decoy, not a real key' > "$decoy"

cleanup() {
    rm -rf "$dir"
}
trap cleanup EXIT

cat <<TEXT
ttrapd demo: the decoy is $decoy
Alerts appear below, and in syslog, facility authpriv; where /dev/log is
missing they go to the kernel log (dmesg) instead. Flood control is off
for the demo (--quiet 0), so every access shows; by default, repeats
within 10 seconds are counted in one REPEAT line. Trip the trap by hand
from another terminal, for example:

    cat $decoy
    chmod 600 $decoy
    rm $decoy && touch $decoy

TEXT
if [ -n "${DEMO_SECONDS:-}" ]; then
    echo "The demo stops by itself after $DEMO_SECONDS seconds."
else
    echo "Press Ctrl-C to stop."
fi
echo

"$bin" -f --quiet 0 "$decoy" &
pid=$!
# Ctrl-C stops ttrapd through the shell: a command started with & in a
# script may ignore SIGINT.
trap 'kill -TERM "$pid" 2>/dev/null || true' INT TERM

# Read the decoy a moment after start so the first alert shows at once.
( sleep 1; cat "$decoy" > /dev/null ) &

if [ -n "${DEMO_SECONDS:-}" ]; then
    ( sleep "$DEMO_SECONDS"; kill -TERM "$pid" 2>/dev/null || true ) &
fi

status=0
while :; do
    wait "$pid" && status=0 || status=$?
    # A wait cut short by a signal to the shell returns above 128 while
    # ttrapd still runs.
    kill -0 "$pid" 2>/dev/null || break
done
# 0 is the status of a stop by Ctrl-C or SIGTERM.
exit "$status"
