#!/bin/sh
# Installs what the tests need when it is missing: busybox (syslogd for the
# integration tests), rsyslog (the remote collector), python3 (the mmap
# reader and other intruders), readelf (binutils), setpriv and unshare
# (util-linux), pkill (procps) and rustfmt. Uses apt-get on Debian-like
# systems; elsewhere it names the missing programs and fails.
set -eu

missing=""
command -v busybox >/dev/null 2>&1 || missing="$missing busybox"
command -v rsyslogd >/dev/null 2>&1 || missing="$missing rsyslog"
command -v setpriv >/dev/null 2>&1 || missing="$missing util-linux"
command -v python3 >/dev/null 2>&1 || missing="$missing python3"
command -v readelf >/dev/null 2>&1 || missing="$missing binutils"
command -v unshare >/dev/null 2>&1 || missing="$missing util-linux"
command -v pkill >/dev/null 2>&1 || missing="$missing procps"

if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "installing test dependencies:$missing"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        # shellcheck disable=SC2086
        apt-get install -y -qq --no-install-recommends $missing >/dev/null
    else
        echo "missing test dependencies:$missing; install them (as root) and retry" >&2
        exit 1
    fi
fi

if ! cargo fmt --version >/dev/null 2>&1; then
    rustup component add rustfmt
fi

if [ "$(id -u)" != 0 ]; then
    echo "the integration tests need root: they mount a private /dev and use fanotify" >&2
    exit 1
fi
