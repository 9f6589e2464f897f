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
OBJCOPY ?= objcopy
BIN := target/release/ttrapd

.PHONY: all build test install demo clean

all: build

# Nothing in a panic = "abort" binary unwinds, so the unwind tables that the
# prebuilt core library brings along are removed after the link.
build:
	$(CARGO) build --release --locked
	$(OBJCOPY) --remove-section=.eh_frame --remove-section=.eh_frame_hdr $(BIN)

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
