# Build, test, install and try out ttrapd.
#
#   make                 build the static release binary
#   make test            install missing test dependencies, then run the
#                        unit and integration tests (needs root)
#   make e2e             boot a Debian kernel under QEMU with a busybox
#                        initramfs and trip ttrapd's traps there (needs root
#                        and apt; see e2e/run.sh)
#   make install         install the binary to $(DESTDIR)$(PREFIX)/sbin and
#                        the man page to $(DESTDIR)$(MANDIR)/man8
#   make demo            run ttrapd in the foreground on a decoy file
#   make fuzz            run each fuzz target for FUZZ_SECONDS (default 60)
#                        with cargo-fuzz on the nightly toolchain
#   make bench           measure ttrapd against inotifywait and fatrace and
#                        write docs/benchmarks.md and docs/latency.png
#                        (needs root; about 12 minutes on 2 cores)
#   make bench-smoke     run every benchmark step with tiny counts, leaving
#                        docs/ unchanged (also: BENCH_SMOKE=1 make bench)

PREFIX ?= /usr/local
MANDIR ?= $(PREFIX)/share/man
DESTDIR ?=
CARGO ?= cargo
BIN := target/release/ttrapd
FUZZ_SECONDS ?= 60

BENCH_HELPERS := target/bench/inotify_floor target/bench/pread_loop

.PHONY: all build test e2e install demo fuzz clean bench bench-smoke

all: build

build:
	$(CARGO) build --release --locked

test:
	sh scripts/test-deps.sh
	$(CARGO) fmt --check
	$(CARGO) test --locked

e2e: build
	bash e2e/run.sh $(BIN)

install: build
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/sbin/ttrapd
	install -D -m 0644 ttrapd.8 $(DESTDIR)$(MANDIR)/man8/ttrapd.8

demo: build
	sh scripts/demo.sh $(BIN)

fuzz:
	FUZZ_SECONDS=$(FUZZ_SECONDS) CARGO=$(CARGO) sh fuzz/run.sh

clean:
	$(CARGO) clean

bench: build $(BENCH_HELPERS)
	sh bench/deps.sh
	python3 bench/bench.py --ttrapd $(BIN) --helpers target/bench \
		--out docs/benchmarks.md --chart docs/latency.png

bench-smoke:
	BENCH_SMOKE=1 $(MAKE) bench

# Small std programs the benchmark runs: the inotify floor reader and the
# flood reader, built with rustc alone, outside the crate.
target/bench/%: bench/%.rs
	mkdir -p target/bench
	rustc --edition 2024 -O -o $@ $<
