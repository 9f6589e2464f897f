#!/bin/sh
# Usage (as root): bench/flood_cpu.sh TTRAPD [OPTION]...
# Prints the CPU time (user plus system, in clock ticks of 1/100 s) that
# ttrapd spends while target/bench/pread_loop (built by `make bench`) reads
# one trap 1,000,000 times, the reader's own CPU time, and ttrapd's RSS
# after. bench/bench.py is the full benchmark; this is its flood step alone.
set -eu
bin=$1; shift
work=$(mktemp -d /tmp/ttrapd-flood.XXXXXX)
echo decoy > "$work/trap"
python3 -c "
import socket,os,time
p='$work/log'
os.path.exists(p) and os.unlink(p)
s=socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind(p); s.settimeout(30)
n=0
try:
    while True: s.recv(65536); n+=1
except Exception: pass
print('lines at the collector:', n)
" &
sleep 0.3
"$bin" -p "$work/pid" -l "$work/log" "$@" "$work/trap"
P=$(cat "$work/pid")
before=$(awk '{print $14+$15}' /proc/$P/stat)
/usr/bin/time -f "reader user %U s sys %S s" target/bench/pread_loop "$work/trap" 1000000
sleep 1
after=$(awk '{print $14+$15}' /proc/$P/stat)
echo "ttrapd CPU ticks (1/100 s): $((after - before))  RSS: $(grep VmRSS /proc/$P/status)"
kill "$P"
sleep 0.5
rm -rf "$work"
