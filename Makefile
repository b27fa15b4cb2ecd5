# ptychat: one terminal window per TCP client.

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
MANPREFIX ?= $(PREFIX)/share/man

CC ?= cc
CFLAGS ?= -O2 -g
LDFLAGS ?=

# Required flags, kept apart from the user's CFLAGS.
WARNINGS = -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wpointer-arith \
	-Wstrict-prototypes -Wmissing-prototypes -Wvla -Wcast-qual \
	-Wwrite-strings -Wnull-dereference
PTY_CFLAGS = -std=c11 -D_GNU_SOURCE -pthread $(WARNINGS)
PTY_LDLIBS = -lutil -pthread

# Objects go to $(O); binaries to $(OUT).  The sanitizer builds set both.
O ?= build
OUT ?= .

COMMON_SRC = src/io.c src/log.c src/net.c src/sanitize.c
SERVER_SRC = src/ptychatd.c src/session.c src/relay.c src/termcmd.c src/access.c \
	$(COMMON_SRC)
CLIENT_SRC = src/ptychat.c $(COMMON_SRC)
UNIT_TESTS = test_sanitize test_termcmd test_net test_access

SERVER_OBJ = $(SERVER_SRC:src/%.c=$(O)/%.o)
CLIENT_OBJ = $(CLIENT_SRC:src/%.c=$(O)/%.o)
UNIT_BIN = $(UNIT_TESTS:%=$(O)/%)
STANDIN = $(O)/standin-term

all: $(OUT)/ptychatd $(OUT)/ptychat

$(O)/%.o: src/%.c src/ptychat.h
	@mkdir -p $(O)
	$(CC) $(PTY_CFLAGS) $(CFLAGS) -c -o $@ $<

$(OUT)/ptychatd: $(SERVER_OBJ)
	@mkdir -p $(OUT)
	$(CC) $(PTY_CFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $(SERVER_OBJ) $(PTY_LDLIBS)

$(OUT)/ptychat: $(CLIENT_OBJ)
	@mkdir -p $(OUT)
	$(CC) $(PTY_CFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $(CLIENT_OBJ) $(PTY_LDLIBS)

# Each unit test links the one object it tests.
$(O)/test_%: tests/unit/test_%.c tests/unit/tap.h $(O)/%.o
	$(CC) $(PTY_CFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(O)/$*.o

$(STANDIN): tests/standin-term.c
	@mkdir -p $(O)
	$(CC) $(PTY_CFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $<

# Starts the server with its defaults: port 6666, an xterm per client.
run: all
	$(OUT)/ptychatd

# PTYCHAT_REQUIRE_X=1 turns a missing Xvfb, xterm or xdotool into a failure.
check: all $(UNIT_BIN) $(STANDIN)
	PTYCHAT_BIN=$(OUT) PTYCHAT_STANDIN=$(STANDIN) \
	    prove --exec '' $(UNIT_BIN) tests/*.t

install: all
	mkdir -p $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANPREFIX)/man1
	install -m 755 $(OUT)/ptychatd $(OUT)/ptychat $(DESTDIR)$(BINDIR)/
	install -m 644 man/ptychatd.1 man/ptychat.1 $(DESTDIR)$(MANPREFIX)/man1/

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/ptychatd $(DESTDIR)$(BINDIR)/ptychat
	rm -f $(DESTDIR)$(MANPREFIX)/man1/ptychatd.1
	rm -f $(DESTDIR)$(MANPREFIX)/man1/ptychat.1

clean:
	rm -rf build ptychatd ptychat

.PHONY: all run check install uninstall clean
