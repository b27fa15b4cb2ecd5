# ptychat: one terminal window per TCP client.

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
MANPREFIX ?= $(PREFIX)/share/man
SYSTEMDUSERDIR ?= $(PREFIX)/lib/systemd/user

CC ?= cc
CFLAGS ?= -O2 -g
LDFLAGS ?=

# Required flags, kept apart from the user's CFLAGS.
WARNINGS = -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wpointer-arith \
	-Wstrict-prototypes -Wmissing-prototypes -Wvla -Wcast-qual \
	-Wwrite-strings -Wnull-dereference
PTY_CFLAGS = -std=c11 -D_GNU_SOURCE -pthread $(WARNINGS)
PTY_LDLIBS = -lutil -pthread -lssl -lcrypto

# make V=1 shows the full commands.
ifeq ($(V),1)
Q =
say = @:
else
Q = @
say = @printf '  %-6s %s\n'
endif

# Objects go to $(O); binaries to $(OUT).  The sanitizer builds set both.
O ?= build
OUT ?= .

COMMON_SRC = src/io.c src/log.c src/net.c src/number.c src/sanitize.c \
	src/thread.c src/utf8.c src/keys.c
SERVER_SRC = src/ptychatd.c src/session.c src/relay.c src/termcmd.c src/access.c \
	src/child.c \
	src/notify.c src/attention.c \
	src/tty.c src/transcript.c src/terminal.c src/window.c src/editor.c \
	src/console.c src/outbox.c src/telnet.c src/chatline.c \
	src/tls.c \
	src/identity.c \
	src/lobby.c \
	src/desk.c \
	src/proxy.c \
	$(COMMON_SRC)
CLIENT_SRC = src/ptychat.c src/chatline.c src/editor.c src/tty.c src/tls.c \
	src/identity.c \
	$(COMMON_SRC)
BRIDGE_SRC = src/bridge.c src/io.c src/tty.c
UNIT_TESTS = test_sanitize test_termcmd test_net test_access test_terminal \
	test_editor test_telnet test_chatline test_child test_utf8 test_keys \
	test_tls test_identity test_notify \
	test_proxy

SERVER_OBJ = $(SERVER_SRC:src/%.c=$(O)/%.o)
CLIENT_OBJ = $(CLIENT_SRC:src/%.c=$(O)/%.o)
BRIDGE_OBJ = $(BRIDGE_SRC:src/%.c=$(O)/%.o)
UNIT_BIN = $(UNIT_TESTS:%=$(O)/%)
STANDIN = $(O)/standin-term

all: $(OUT)/ptychatd $(OUT)/ptychat $(OUT)/ptychat-bridge

$(OUT)/ptychat-bridge: $(BRIDGE_OBJ)
	@mkdir -p $(OUT)
	$(say) LD $@
	$(Q)$(CC) $(PTY_CFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $(BRIDGE_OBJ) $(PTY_LDLIBS)

$(O)/%.o: src/%.c src/ptychat.h
	@mkdir -p $(O)
	$(say) CC $<
	$(Q)$(CC) $(PTY_CFLAGS) $(CFLAGS) -c -o $@ $<

$(OUT)/ptychatd: $(SERVER_OBJ)
	@mkdir -p $(OUT)
	$(say) LD $@
	$(Q)$(CC) $(PTY_CFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $(SERVER_OBJ) $(PTY_LDLIBS)

$(OUT)/ptychat: $(CLIENT_OBJ)
	@mkdir -p $(OUT)
	$(say) LD $@
	$(Q)$(CC) $(PTY_CFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $(CLIENT_OBJ) $(PTY_LDLIBS)

# Each unit test links the object it tests, and what that one needs.
$(O)/test_%: tests/unit/test_%.c tests/unit/tap.h $(O)/%.o
	$(say) CC $<
	$(Q)$(CC) $(PTY_CFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< \
	    $(filter %.o,$^) $(PTY_LDLIBS)
$(O)/test_terminal: $(O)/termcmd.o $(O)/child.o $(O)/io.o $(O)/tty.o \
	$(O)/log.o $(O)/thread.o $(O)/sanitize.o $(O)/utf8.o
$(O)/test_chatline: $(O)/editor.o $(O)/io.o $(O)/keys.o $(O)/utf8.o
$(O)/test_child: $(O)/io.o $(O)/log.o $(O)/thread.o $(O)/sanitize.o \
	$(O)/utf8.o
$(O)/test_notify: $(O)/terminal.o $(O)/termcmd.o $(O)/child.o $(O)/io.o \
	$(O)/tty.o $(O)/log.o $(O)/thread.o $(O)/sanitize.o $(O)/utf8.o
$(O)/test_access: $(O)/number.o
$(O)/test_net: $(O)/number.o
$(O)/test_sanitize: $(O)/utf8.o
$(O)/test_editor: $(O)/keys.o $(O)/utf8.o
$(O)/test_keys: $(O)/utf8.o
$(O)/test_tls: $(O)/io.o $(O)/number.o $(O)/identity.o $(O)/utf8.o
$(O)/test_identity: $(O)/io.o $(O)/utf8.o
$(O)/test_proxy: $(O)/number.o

$(STANDIN): tests/standin-term.c
	@mkdir -p $(O)
	$(say) CC $<
	$(Q)$(CC) $(PTY_CFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $<

# Starts the server with its defaults: port 6666, an xterm per client.
run: all
	$(OUT)/ptychatd

# PTYCHAT_REQUIRE_X=1 turns a missing Xvfb, xterm or xdotool into a failure.
check: all $(UNIT_BIN) $(STANDIN)
	PTYCHAT_BIN=$(OUT) PTYCHAT_STANDIN=$(STANDIN) \
	    prove --exec '' $(UNIT_BIN) tests/*.t

# The sanitizer builds: every test runs against instrumented binaries, and
# any report the runtimes write into $(O)/reports fails the run.
SAN_FLAGS = -O1 -g -fno-omit-frame-pointer -fno-sanitize-recover=all
check-asan:
	$(MAKE) O=build/asan OUT=build/asan \
	    CFLAGS="$(SAN_FLAGS) -fsanitize=address,undefined" check-reports
check-tsan:
	$(MAKE) O=build/tsan OUT=build/tsan \
	    CFLAGS="$(SAN_FLAGS) -fsanitize=thread" check-reports
check-reports: all $(UNIT_BIN) $(STANDIN)
	rm -rf $(O)/reports && mkdir -p $(O)/reports
	ASAN_OPTIONS=log_path=$(CURDIR)/$(O)/reports/asan \
	UBSAN_OPTIONS=log_path=$(CURDIR)/$(O)/reports/ubsan:print_stacktrace=1 \
	TSAN_OPTIONS=log_path=$(CURDIR)/$(O)/reports/tsan:atexit_sleep_ms=0 \
	PTYCHAT_TIME_FACTOR=4 PTYCHAT_BIN=$(OUT) PTYCHAT_STANDIN=$(STANDIN) \
	    prove --exec '' $(UNIT_BIN) tests/*.t
	@if [ -n "$$(ls $(O)/reports)" ]; then \
	    cat $(O)/reports/*; echo "sanitizer reports in $(O)/reports"; \
	    exit 1; fi

# valgrind memcheck over multi-session exchanges, plain and over TLS; any
# error or leak fails.
VALGRIND = valgrind --quiet --error-exitcode=99 --leak-check=full \
	--show-leak-kinds=definite,indirect \
	--errors-for-leak-kinds=definite,indirect \
	--log-file=$(CURDIR)/$(O)/valgrind/%p.log
check-valgrind: all $(STANDIN)
	rm -rf $(O)/valgrind && mkdir -p $(O)/valgrind
	PTYCHAT_WRAP="$(VALGRIND)" PTYCHAT_TIME_FACTOR=10 \
	PTYCHAT_BIN=$(OUT) PTYCHAT_STANDIN=$(STANDIN) \
	    prove --exec '' tests/sessions.t tests/lifecycle.t tests/limits.t \
	    tests/trust-server.t
	@# openpty's TIOCGPTPEER ioctl draws a warning that is not an error.
	@if cat $(O)/valgrind/*.log | grep -v -e 'unhandled ioctl 0x5441' \
	    -e 'spurious value errors' -e 'README_MISSING_SYSCALL' | \
	    grep .; then echo "valgrind found errors"; exit 1; fi

# libFuzzer on the key parser (with the editor behind it), the sanitiser,
# the telnet parser, and the clients and known_hosts files; each target
# runs for FUZZ_SECONDS, so the whole run takes about seven times that.
# fuzz_front: a connection's first bytes through the front door.
# fuzz_proxy: a PROXY protocol header, v1 or v2.
FUZZ_SECONDS ?= 60
FUZZ_CC ?= clang
$(O)/fuzz_sanitize: tests/fuzz/fuzz_sanitize.c src/sanitize.c src/utf8.c \
    src/editor.c src/keys.c src/ptychat.h
	@mkdir -p $(O)
	$(FUZZ_CC) -std=c11 -D_GNU_SOURCE -g -O1 \
	    -fsanitize=fuzzer,address,undefined -o $@ \
	    tests/fuzz/fuzz_sanitize.c src/sanitize.c src/utf8.c \
	    src/editor.c src/keys.c
$(O)/fuzz_telnet: tests/fuzz/fuzz_telnet.c src/telnet.c src/ptychat.h
	@mkdir -p $(O)
	$(FUZZ_CC) -std=c11 -D_GNU_SOURCE -g -O1 \
	    -fsanitize=fuzzer,address,undefined -o $@ \
	    tests/fuzz/fuzz_telnet.c src/telnet.c
$(O)/fuzz_keys: tests/fuzz/fuzz_keys.c src/keys.c src/utf8.c src/editor.c \
    src/ptychat.h
	@mkdir -p $(O)
	$(FUZZ_CC) -std=c11 -D_GNU_SOURCE -g -O1 \
	    -fsanitize=fuzzer,address,undefined -o $@ \
	    tests/fuzz/fuzz_keys.c src/keys.c src/utf8.c src/editor.c
$(O)/fuzz_clients: tests/fuzz/fuzz_clients.c src/identity.c src/io.c \
    src/utf8.c src/ptychat.h
	@mkdir -p $(O)
	$(FUZZ_CC) -std=c11 -D_GNU_SOURCE -g -O1 \
	    -fsanitize=fuzzer,address,undefined -o $@ \
	    tests/fuzz/fuzz_clients.c src/identity.c src/io.c src/utf8.c \
	    -lcrypto
$(O)/fuzz_known_hosts: tests/fuzz/fuzz_known_hosts.c src/identity.c \
    src/io.c src/utf8.c src/ptychat.h
	@mkdir -p $(O)
	$(FUZZ_CC) -std=c11 -D_GNU_SOURCE -g -O1 \
	    -fsanitize=fuzzer,address,undefined -o $@ \
	    tests/fuzz/fuzz_known_hosts.c src/identity.c src/io.c src/utf8.c \
	    -lcrypto
$(O)/fuzz_front: tests/fuzz/fuzz_front.c src/tls.c src/identity.c src/io.c \
    src/utf8.c src/ptychat.h
	@mkdir -p $(O)
	$(FUZZ_CC) -std=c11 -D_GNU_SOURCE -g -O1 -pthread \
	    -fsanitize=fuzzer,address,undefined -o $@ \
	    tests/fuzz/fuzz_front.c src/tls.c src/identity.c src/io.c \
	    src/utf8.c -lssl -lcrypto
$(O)/fuzz_proxy: tests/fuzz/fuzz_proxy.c src/proxy.c src/number.c \
    src/ptychat.h
	@mkdir -p $(O)
	$(FUZZ_CC) -std=c11 -D_GNU_SOURCE -g -O1 \
	    -fsanitize=fuzzer,address,undefined -o $@ \
	    tests/fuzz/fuzz_proxy.c src/proxy.c src/number.c
fuzz: $(O)/fuzz_sanitize $(O)/fuzz_telnet $(O)/fuzz_keys \
    $(O)/fuzz_clients $(O)/fuzz_known_hosts $(O)/fuzz_front \
    $(O)/fuzz_proxy
	mkdir -p $(O)/fuzz-corpus $(O)/fuzz-corpus-telnet $(O)/fuzz-corpus-keys
	mkdir -p $(O)/fuzz-corpus-clients $(O)/fuzz-corpus-known-hosts
	$(O)/fuzz_keys -max_total_time=$(FUZZ_SECONDS) -max_len=4096 \
	    -print_final_stats=1 $(O)/fuzz-corpus-keys tests/fuzz/corpus-keys
	$(O)/fuzz_sanitize -max_total_time=$(FUZZ_SECONDS) -max_len=4096 \
	    -print_final_stats=1 $(O)/fuzz-corpus tests/fuzz/corpus
	$(O)/fuzz_telnet -max_total_time=$(FUZZ_SECONDS) -max_len=4096 \
	    -print_final_stats=1 $(O)/fuzz-corpus-telnet \
	    tests/fuzz/corpus-telnet
	$(O)/fuzz_clients -max_total_time=$(FUZZ_SECONDS) -max_len=4096 \
	    -print_final_stats=1 $(O)/fuzz-corpus-clients \
	    tests/fuzz/corpus-clients
	$(O)/fuzz_known_hosts -max_total_time=$(FUZZ_SECONDS) -max_len=4096 \
	    -print_final_stats=1 $(O)/fuzz-corpus-known-hosts \
	    tests/fuzz/corpus-known-hosts
	mkdir -p $(O)/fuzz-corpus-front
	$(O)/fuzz_front -max_total_time=$(FUZZ_SECONDS) -max_len=8192 \
	    -timeout=30 -print_final_stats=1 $(O)/fuzz-corpus-front \
	    tests/fuzz/corpus-front
	mkdir -p $(O)/fuzz-corpus-proxy
	$(O)/fuzz_proxy -max_total_time=$(FUZZ_SECONDS) -max_len=4096 \
	    -print_final_stats=1 $(O)/fuzz-corpus-proxy \
	    tests/fuzz/corpus-proxy

# Benchmarks against socat, nc and the bare pty (bench/README.md).
# BENCH_FLAGS=--quick for a short run.
bench: all
	CC="$(CC)" PTYCHAT_BIN=$(OUT) ./bench/run $(BENCH_FLAGS)

# README.md's Performance tables, from the last run's results.csv.
bench-readme:
	./bench/report build/bench/results.csv README.md

install: all
	mkdir -p $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANPREFIX)/man1
	install -m 755 $(OUT)/ptychatd $(OUT)/ptychat $(OUT)/ptychat-bridge \
	    $(DESTDIR)$(BINDIR)/
	install -m 644 man/ptychatd.1 man/ptychat.1 $(DESTDIR)$(MANPREFIX)/man1/
	mkdir -p $(DESTDIR)$(SYSTEMDUSERDIR)
	install -m 644 systemd/ptychatd.socket $(DESTDIR)$(SYSTEMDUSERDIR)/
	sed 's|@BINDIR@|$(BINDIR)|g' systemd/ptychatd.service \
	    >$(DESTDIR)$(SYSTEMDUSERDIR)/ptychatd.service
	chmod 644 $(DESTDIR)$(SYSTEMDUSERDIR)/ptychatd.service

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/ptychatd $(DESTDIR)$(BINDIR)/ptychat
	rm -f $(DESTDIR)$(BINDIR)/ptychat-bridge
	rm -f $(DESTDIR)$(MANPREFIX)/man1/ptychatd.1
	rm -f $(DESTDIR)$(MANPREFIX)/man1/ptychat.1
	rm -f $(DESTDIR)$(SYSTEMDUSERDIR)/ptychatd.socket
	rm -f $(DESTDIR)$(SYSTEMDUSERDIR)/ptychatd.service

clean:
	rm -rf build ptychatd ptychat ptychat-bridge

.PHONY: all run check check-asan check-tsan check-reports check-valgrind \
	fuzz bench bench-readme install uninstall clean
