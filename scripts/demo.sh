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
Alerts appear below (and in syslog, facility authpriv, where /dev/log
exists). Trip the trap by hand from another terminal, for example:

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

# Read the decoy a moment after start so the first alert shows at once.
( sleep 1; cat "$decoy" > /dev/null ) &

if [ -n "${DEMO_SECONDS:-}" ]; then
    ( sleep "$DEMO_SECONDS"; pkill -INT -f "^$bin -f $decoy\$" ) &
fi

status=0
"$bin" -f "$decoy" || status=$?
# 0 is the status of a stop by Ctrl-C or SIGTERM.
exit "$status"
