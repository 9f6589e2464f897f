#!/bin/sh
# Runs every fuzz target for FUZZ_SECONDS seconds (default 60) and prints
# the executions of each. Exits 1 if any target found a crash, a failed
# property or a hang. The input that caused it is in fuzz/artifacts/TARGET/.
#
# Each target starts from its seed corpus in fuzz/corpus/TARGET and keeps
# the inputs it finds in fuzz/work/TARGET, so the seeds stay as captured
# and later runs go on where earlier ones stopped.
#
# Needs a nightly toolchain (FUZZ_TOOLCHAIN, default +nightly); cargo-fuzz
# is installed when missing.
set -eu
cd "$(dirname "$0")"

seconds=${FUZZ_SECONDS:-60}
toolchain=${FUZZ_TOOLCHAIN:-+nightly}
cargo=${CARGO:-cargo}

if ! "$cargo" "$toolchain" fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz"
    "$cargo" install cargo-fuzz --version 0.13.2 --locked
fi

# -a: debug assertions, so integer overflow panics as it does in the unit
# tests instead of wrapping.
"$cargo" "$toolchain" fuzz build -a

failed=""
passed=0
failures=0
for target in $("$cargo" "$toolchain" fuzz list); do
    mkdir -p "work/$target"
    log="work/$target.log"
    started=$(date +%s)
    # Number parsers get integer boundaries, option parsers option names.
    case $target in
        proc_* | tcp_peer | socket_inode | remote_url | ssh_address) dict=dicts/numbers.dict ;;
        args | config_file | kernel_cmdline) dict=dicts/options.dict ;;
        *) dict="" ;;
    esac
    # -timeout: an input that takes 10 s counts as a hang and fails the run.
    if "$cargo" "$toolchain" fuzz run -a "$target" "work/$target" "corpus/$target" -- \
        -max_total_time="$seconds" -timeout=10 -print_final_stats=1 ${dict:+-dict=$dict} \
        >"$log" 2>&1; then
        result=ok
    else
        result=FAILED
        failed="$failed $target"
    fi
    elapsed=$(($(date +%s) - started))
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    printf '%-14s %-6s %12s executions in %ss\n' "$target" "$result" "${runs:-?}" "$elapsed"
    if [ "$result" = ok ]; then
        passed=$((passed + 1))
    else
        failures=$((failures + 1))
    fi
    if [ "$result" = FAILED ]; then
        grep -E 'panicked|ERROR|SUMMARY|Test unit written|^Output of' "$log" | head -n 12 | sed 's/^/    /'
    fi
done

echo "fuzz: $passed passed, $failures failed"
if [ -n "$failed" ]; then
    echo "fuzzing failed:$failed (logs in fuzz/work/TARGET.log)" >&2
    exit 1
fi
