# Build, test, install and try out ttrapd.
#
#   make                 build the static release binary
#   make test            install missing test dependencies, then run the
#                        unit and integration tests (needs root)
#   make install         install to $(DESTDIR)$(PREFIX)/sbin
#   make demo            run ttrapd in the foreground on a decoy file

PREFIX ?= /usr/local
DESTDIR ?=
CARGO ?= cargo
BIN := target/release/ttrapd

.PHONY: all build test install demo clean

all: build

build:
	$(CARGO) build --release --locked

test:
	sh scripts/test-deps.sh
	$(CARGO) fmt --check
	$(CARGO) test --locked

install: build
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/sbin/ttrapd

demo: build
	sh scripts/demo.sh $(BIN)

clean:
	$(CARGO) clean
