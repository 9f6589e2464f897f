#!/bin/sh
# Installs what `make bench` needs when it is missing: the peers it
# measures, inotifywait (inotify-tools) and fatrace, then gnuplot
# (gnuplot-nox) for the chart, readelf and strip (binutils), and python3.
# Uses apt-get on Debian-like systems as root. Elsewhere it names the
# missing packages and fails.
set -eu

missing=""
command -v inotifywait >/dev/null 2>&1 || missing="$missing inotify-tools"
command -v fatrace >/dev/null 2>&1 || missing="$missing fatrace"
command -v gnuplot >/dev/null 2>&1 || missing="$missing gnuplot-nox"
command -v readelf >/dev/null 2>&1 || missing="$missing binutils"
command -v strip >/dev/null 2>&1 || missing="$missing binutils"
command -v python3 >/dev/null 2>&1 || missing="$missing python3"

if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "installing benchmark dependencies:$missing"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        # shellcheck disable=SC2086
        apt-get install -y -qq --no-install-recommends $missing >/dev/null
    else
        echo "missing benchmark dependencies:$missing; install them (as root) and retry" >&2
        exit 1
    fi
fi

if [ "$(id -u)" != 0 ]; then
    echo "the benchmark needs root: ttrapd's fanotify mode and fatrace need CAP_SYS_ADMIN" >&2
    exit 1
fi
