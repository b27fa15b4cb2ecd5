/*
 * ptychat: the client.  One thread copies standard input to the server
 * while the main thread copies the server to standard output, so neither
 * side ever waits for the other.  Both go through one struct conn, TLS
 * unless --no-tls, whose lock lets them share the connection.
 *
 * Before a byte is sent, the server's key is checked: against the
 * fingerprint given with --fingerprint, or else against known_hosts,
 * where the key of a server met for the first time is recorded.
 *
 * On a terminal (standard input and output both), the user types on a
 * chat line at the bottom, which what the server sends never breaks: the
 * same line editor as ptychatd's windows.  Into a pipe, bytes pass as
 * they are.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <linux/tcp.h>

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "ptychat.h"

#define CLIENT_CHUNK	16384
#define CLIENT_HANDSHAKE_MS	10000	/* the whole TLS handshake */
#define CLIENT_SILENCE_MS	3000	/* no byte back at all: not TLS */

/* Exit statuses besides 0, 1 and 2. */
#define EXIT_IDENTITY	3		/* the server's key is not the right one */
#define EXIT_INTERRUPT	130		/* ^C on the chat line */

/* The connection to the server; the stdin thread sends on it. */
static struct conn conn;

/* What the check of the server's key found, during the handshake. */
enum trust_verdict {
	TRUST_UNSEEN,		/* no certificate was looked at */
	TRUST_NEW,		/* not in known_hosts: record it */
	TRUST_MATCH,		/* as recorded, or as pinned */
	TRUST_CHANGED,		/* not what known_hosts says */
	TRUST_PIN_MISMATCH,	/* not what --fingerprint says */
	TRUST_FAILED		/* known_hosts unreadable: err says why */
};

struct trust {
	const char	*host;		/* as typed */
	const char	*port;		/* as a plain number */
	const char	*pin;		/* --fingerprint, or NULL */
	const char	*file;		/* known_hosts */
	enum trust_verdict verdict;
	char		 seen[FINGERPRINT_MAX];
	char		 recorded[FINGERPRINT_MAX];
	int		 line;		/* of recorded, in file */
	char		 err[512];
};

/* The silence watcher's view of the handshake. */
struct silence_watch {
	int		 fd;		/* the socket: only looked at */
	int		 end;		/* its end of a socketpair with main */
};

/*
 * What the server sends is shown through this chat line: an editing one
 * when standard input and output are a terminal, else a plain one.  It
 * is never freed: the stdin thread may use it until the process exits.
 */
static struct chatline chat;
static int chatting;		/* an editing line; set before the thread */
static struct termios chat_saved;
static atomic_int chat_raw;	/* the terminal is raw: restore it */

/* Puts the terminal back as it was; safe in a signal handler too. */
static void
chat_restore(void)
{
	if (atomic_exchange(&chat_raw, 0))
		(void)tcsetattr(STDIN_FILENO, TCSANOW, &chat_saved);
}

static void
chat_on_signal(int sig)
{
	chat_restore();
	signal(sig, SIG_DFL);
	raise(sig);
}

/*
 * Makes the terminal raw for the chat line.  Returns its editor, or NULL
 * (and leaves the terminal alone) when there can be none.
 */
static struct editor *
chat_start(void)
{
	struct sigaction sa;
	struct editor *ed;

	if (tty_background(STDIN_FILENO) ||
	    (ed = editor_new("> ", "you: ", 0)) == NULL)
		return NULL;
	if (tty_raw(STDIN_FILENO, &chat_saved) == -1) {
		editor_free(ed);
		return NULL;
	}
	atomic_store(&chat_raw, 1);
	atexit(chat_restore);
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = chat_on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	return ed;
}

/*
 * Ends the chat line, leaving what was shown and the cursor on a fresh
 * line, and gives the terminal back: that first, so that what the other
 * thread shows from then on meets a terminal that ends lines itself.
 */
static void
chat_stop(void)
{
	chat_restore();
	(void)chatline_finish(&chat);
}

static void __attribute__((noreturn))
usage(int status)
{
	FILE *f = status == 0 ? stdout : stderr;

	fprintf(f, "usage: ptychat [-46hqVv] [--fingerprint SHA256:...] "
	    "[--no-tls] [--plain] [--raw]\n               host [port]\n"
	    "       ptychat --show-key\n");
	if (status != 0) {
		fprintf(f, "Try 'ptychat --help' for more information.\n");
		exit(status);
	}
	fprintf(f,
"\n"
"Connect to a ptychatd server over TLS (or to any TCP service with\n"
"--no-tls) and chat: standard input goes to the server while what it\n"
"sends is printed.\n"
"\n"
"  -4, --ipv4     use IPv4 only\n"
"  -6, --ipv6     use IPv6 only\n"
"      --fingerprint SHA256:...\n"
"                 accept only the server key with this fingerprint;\n"
"                 known_hosts is neither read nor written\n"
"      --no-tls   plain TCP, for a server without TLS: unencrypted\n"
"      --show-key print this client's key fingerprint (made if\n"
"                 missing) and exit, for a server's list of keys\n"
"  -q, --quiet    print errors only\n"
"  -v, --verbose  also print the server's key when it is the one known\n"
"      --plain    no chat line: the terminal edits and echoes lines\n"
"      --raw      pass the server's bytes to a terminal unchanged\n"
"  -h, --help     show this help and exit\n"
"  -V, --version  show the version and exit\n"
"\n"
"The port defaults to " PTYCHAT_DEFAULT_PORT ". The first connection to a "
"host and port\nrecords the server's key in known_hosts, in "
"$XDG_CONFIG_HOME/ptychat\n(~/.config/ptychat), and says so; a key that "
"changes later is refused\nwith exit status 3, before anything is sent. "
"ptychat's own key is\nptychat.key there, made on first use.\n"
"\n"
"On a terminal you type on a chat line that what the server sends never\n"
"breaks. End of input (^D on an empty line) stops sending; ptychat exits\n"
"when the server closes the connection, or at ^C (status 130) once the\n"
"lines typed before it are sent.\n");
	exit(0);
}

/*
 * Feeds keys to the chat line and sends the lines finished, those before
 * a ^C or ^D too.  Returns 1 at the end of input (^D on an empty line),
 * -1 when sending failed; exits at ^C.
 */
static int
chat_keys(const char *keys, size_t n)
{
	struct editor_buf lines = { NULL, 0, 0 };
	int ended, r = 0;

	chatline_keys(&chat, keys, n, CHATLINE_INTR | CHATLINE_EOF, &lines,
	    &ended);
	if (lines.len > 0 &&
	    conn_send_until(&conn, lines.data, lines.len, -1) == -1)
		r = -1;
	editor_buf_free(&lines);
	if (ended != 0)
		chat_stop();
	/* ^C leaves, as it would have without the chat line. */
	if (ended == CHATLINE_INTR)
		exit(EXIT_INTERRUPT);
	return ended == CHATLINE_EOF ? 1 : r;
}

/*
 * Copies standard input to the server; at its end, stops sending: a TLS
 * close_notify, then the TCP half-close, while replies still come in.
 */
static void *
client_stdin_to_socket(void *arg)
{
	char buf[CLIENT_CHUNK];
	ssize_t n;
	int r;

	(void)arg;
	for (;;) {
		n = read(STDIN_FILENO, buf, sizeof buf);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		/* A failed send shows up as a reset on the reading side. */
		if (chatting) {
			if ((r = chat_keys(buf, (size_t)n)) == -1)
				return NULL;
			if (r == 1)
				break;
		} else if (conn_send_until(&conn, buf, (size_t)n, -1) == -1)
			return NULL;
	}
	if (n == -1)
		fprintf(stderr, "ptychat: standard input: %s\n",
		    strerror(errno));
	conn_close_notify(&conn);
	(void)shutdown(conn.fd, SHUT_WR);
	return NULL;
}

/*
 * Shows text from the server, above the chat line if there is one, or
 * exits with a message when standard output fails.
 */
static void
client_show(const char *text, size_t len)
{
	int r;

	/* After ^D the chat line is gone: the text goes as it is. */
	if ((r = chatline_print(&chat, text, len)) == 1)
		r = io_write_all(STDOUT_FILENO, text, len);
	if (r == -1) {
		fprintf(stderr, "ptychat: standard output: %s\n",
		    strerror(errno));
		exit(1);
	}
}

/*
 * How many bytes the server has sent on fd so far, from the kernel's
 * count (OpenSSL may have read them already); -1 when it cannot tell.
 */
static long long
client_bytes_received(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof ti;

	memset(&ti, 0, sizeof ti);
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == -1 ||
	    len < offsetof(struct tcp_info, tcpi_bytes_received) +
	    sizeof ti.tcpi_bytes_received)
		return -1;
	return (long long)ti.tcpi_bytes_received;
}

/*
 * Cancels the handshake when the server has sent nothing at all after
 * CLIENT_SILENCE_MS: a TLS server answers a hello at once, while a
 * plain one (nc -l, a ptychatd without TLS) waits for text.  A server
 * that does answer keeps the whole CLIENT_HANDSHAKE_MS.
 */
static void *
client_watch_silence(void *arg)
{
	struct silence_watch *w = arg;
	struct pollfd pfd;
	int r;

	pfd.fd = w->end;
	pfd.events = POLLIN;
	while ((r = poll(&pfd, 1, CLIENT_SILENCE_MS)) == -1 && errno == EINTR)
		;
	if (r == 0 && client_bytes_received(w->fd) == 0)
		(void)io_write_all(w->end, "x", 1);
	/* Closing this end would cancel too: wait for the main thread's. */
	while (poll(&pfd, 1, -1) == -1 && errno == EINTR)
		;
	close(w->end);
	return NULL;
}

/*
 * Starts the silence watcher on fd.  Returns the fd that turns readable
 * when it cancels (the main thread closes it when the handshake ends),
 * or -1 with errno.
 */
static int
client_watch_start(int fd)
{
	static struct silence_watch watch;
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		return -1;
	watch.fd = fd;
	watch.end = sv[1];
	if ((errno = thread_start(client_watch_silence, &watch)) != 0) {
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	return sv[0];
}

/*
 * OpenSSL's certificate check, replaced: the server's key is judged
 * against the pin or known_hosts inside the handshake, so that a wrong
 * key ends it with an alert, before our certificate or any text goes.
 */
static int
trust_verify(X509_STORE_CTX *store, void *arg)
{
	struct trust *tr = arg;
	X509 *cert;
	int r;

	cert = X509_STORE_CTX_get0_cert(store);
	if (cert == NULL || identity_fingerprint(cert, tr->seen) == -1) {
		X509_STORE_CTX_set_error(store, X509_V_ERR_UNSPECIFIED);
		return 0;
	}
	if (tr->pin != NULL)
		tr->verdict = strcmp(tr->seen, tr->pin) == 0 ? TRUST_MATCH :
		    TRUST_PIN_MISMATCH;
	else {
		r = known_hosts_check(tr->file, tr->host, tr->port, tr->seen,
		    tr->recorded, &tr->line, tr->err, sizeof tr->err);
		tr->verdict = r == KNOWN_NEW ? TRUST_NEW :
		    r == KNOWN_MATCH ? TRUST_MATCH :
		    r == KNOWN_CHANGED ? TRUST_CHANGED : TRUST_FAILED;
	}
	if (tr->verdict == TRUST_NEW || tr->verdict == TRUST_MATCH)
		return 1;
	X509_STORE_CTX_set_error(store, X509_V_ERR_CERT_REJECTED);
	return 0;
}

/* Says why the server's key was refused, and exits. */
static void __attribute__((noreturn))
trust_refuse(const struct trust *tr)
{
	const char *h = tr->host, *p = tr->port;

	switch (tr->verdict) {
	case TRUST_CHANGED:
		fprintf(stderr,
		    "ptychat: WARNING: the key of %s port %s has CHANGED\n"
		    "ptychat: Someone between you and the server may be "
		    "reading and altering\n"
		    "ptychat: the connection, or the server was given a new "
		    "key.\n"
		    "ptychat:   remembered: %s\n"
		    "ptychat:   presented:  %s\n"
		    "ptychat: Nothing was sent, and the connection is closed.\n"
		    "ptychat: If the change is expected (compare with "
		    "'ptychatd --fingerprint'\n"
		    "ptychat: on the server), delete line %d of %s and "
		    "connect again.\n",
		    h, p, tr->recorded, tr->seen, tr->line, tr->file);
		exit(EXIT_IDENTITY);
	case TRUST_PIN_MISMATCH:
		fprintf(stderr,
		    "ptychat: WARNING: the key of %s port %s is NOT the one "
		    "given with --fingerprint\n"
		    "ptychat:   expected:  %s\n"
		    "ptychat:   presented: %s\n"
		    "ptychat: Nothing was sent, and the connection is closed.\n",
		    h, p, tr->pin, tr->seen);
		exit(EXIT_IDENTITY);
	case TRUST_FAILED:
		fprintf(stderr, "ptychat: %s\n", tr->err);
		exit(1);
	default:
		fprintf(stderr, "ptychat: %s port %s presented no key\n", h, p);
		exit(EXIT_IDENTITY);
	}
}

/*
 * Loads (or makes) our key into id, and names known_hosts in file (when
 * not NULL); exits with a message when it cannot.
 */
static void
client_identity(struct identity *id, char *file, size_t filelen)
{
	char dir[PATH_MAX], key[PATH_MAX], err[512];

	/* The other thread may still send when one exits: no clean-up. */
	OPENSSL_init_ssl(OPENSSL_INIT_NO_ATEXIT, NULL);
	memset(id, 0, sizeof *id);
	if (identity_dir(dir, sizeof dir, err, sizeof err) == -1) {
		fprintf(stderr, "ptychat: %s\n", err);
		exit(1);
	}
	if ((size_t)snprintf(key, sizeof key, "%s/ptychat.key", dir) >=
	    sizeof key || (file != NULL &&
	    (size_t)snprintf(file, filelen, "%s/known_hosts", dir) >=
	    filelen)) {
		fprintf(stderr, "ptychat: %s: name too long\n", dir);
		exit(1);
	}
	if (identity_load(id, key, NULL, 1, "ptychat", err,
	    sizeof err) == -1) {
		fprintf(stderr, "ptychat: %s\n", err);
		exit(1);
	}
}

/* --show-key: our key's fingerprint on stdout, for a --clients list. */
static int
client_show_key(void)
{
	struct identity id;

	client_identity(&id, NULL, 0);
	printf("%s\n", id.fingerprint);
	identity_free(&id);
	return 0;
}

/*
 * Returns a client context presenting our key, whose check of the
 * server's key is tr's; exits with a message when it cannot.
 */
static SSL_CTX *
client_context(struct trust *tr)
{
	static char file[PATH_MAX];
	struct identity id;
	char err[512];
	SSL_CTX *ctx;

	client_identity(&id, file, sizeof file);
	ctx = tls_client_ctx(&id, err, sizeof err);
	identity_free(&id);
	if (ctx == NULL) {
		fprintf(stderr, "ptychat: %s\n", err);
		exit(1);
	}
	tr->file = file;
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_cert_verify_callback(ctx, trust_verify, tr);
	return ctx;
}

/*
 * The TLS handshake on fd, with the server's key checked on the way;
 * returns the SSL, or exits with a message: status 3 for a key that is
 * not the right one, 1 otherwise.  Never falls back to clear text.
 */
static SSL *
client_handshake(SSL_CTX *ctx, int fd, struct trust *tr, int quiet,
    int verbose)
{
	char err[512], why[512];
	long long received;
	SSL *ssl;
	int cancel;

	if ((cancel = client_watch_start(fd)) == -1) {
		fprintf(stderr, "ptychat: thread: %s\n", strerror(errno));
		exit(1);
	}
	ssl = tls_connect(ctx, fd, CLIENT_HANDSHAKE_MS, cancel, err,
	    sizeof err);
	close(cancel);
	if (ssl == NULL && tr->verdict != TRUST_UNSEEN &&
	    tr->verdict != TRUST_NEW && tr->verdict != TRUST_MATCH)
		trust_refuse(tr);
	if (ssl == NULL) {
		/*
		 * Text back, silence, or an end with not a byte before it
		 * (the kernel counts a FIN as one).
		 */
		received = client_bytes_received(fd);
		if (strcmp(err, "not TLS") == 0 ||
		    strcmp(err, "cancelled") == 0 ||
		    (received >= 0 && received <= 1)) {
			fprintf(stderr, "ptychat: %s port %s does not speak "
			    "TLS; use --no-tls for a plain server\n",
			    tr->host, tr->port);
			exit(1);
		}
		fprintf(stderr, "ptychat: TLS with %s port %s: %s\n",
		    tr->host, tr->port, err);
		exit(1);
	}
	if (tr->verdict == TRUST_UNSEEN ||
	    tls_peer_fingerprint(ssl, tr->seen) == -1)
		trust_refuse(tr);
	if (tr->verdict == TRUST_NEW) {
		if (known_hosts_add(tr->file, tr->host, tr->port, tr->seen,
		    why, sizeof why) == -1)
			fprintf(stderr, "ptychat: new server %s port %s, key %s "
			    "(not remembered: %s)\n", tr->host, tr->port,
			    tr->seen, why);
		else if (!quiet)
			fprintf(stderr, "ptychat: new server %s port %s, key %s "
			    "(remembered in %s)\n", tr->host, tr->port,
			    tr->seen, tr->file);
	} else if (verbose && !quiet)
		fprintf(stderr, "ptychat: server %s port %s, key %s, as %s\n",
		    tr->host, tr->port, tr->seen, tr->pin != NULL ?
		    "given with --fingerprint" : "remembered");
	return ssl;
}

int
main(int argc, char *argv[])
{
	enum { OPT_RAW = 256, OPT_PLAIN, OPT_NO_TLS, OPT_FINGERPRINT,
	    OPT_SHOW_KEY };
	static const struct option longopts[] = {
		{ "fingerprint", required_argument, NULL, OPT_FINGERPRINT },
		{ "show-key",	no_argument,	NULL, OPT_SHOW_KEY },
		{ "no-tls",	no_argument,	NULL, OPT_NO_TLS },
		{ "plain",	no_argument,	NULL, OPT_PLAIN },
		{ "ipv4",	no_argument,	NULL, '4' },
		{ "ipv6",	no_argument,	NULL, '6' },
		{ "quiet",	no_argument,	NULL, 'q' },
		{ "verbose",	no_argument,	NULL, 'v' },
		{ "raw",	no_argument,	NULL, OPT_RAW },
		{ "help",	no_argument,	NULL, 'h' },
		{ "version",	no_argument,	NULL, 'V' },
		{ NULL,		0,		NULL, 0 }
	};
	/* Static: kept, and reachable, until any thread calls exit. */
	static struct trust trust;
	static SSL_CTX *ctx;
	struct sanitizer san;
	struct editor *ed = NULL;
	struct pollfd pfd;
	SSL *ssl = NULL;
	char err[512], in[CLIENT_CHUNK], *out, port[8];
	const char *host, *port_arg = PTYCHAT_DEFAULT_PORT, *errstr;
	const char *pin = NULL;
	long long number;
	ssize_t n;
	int ch, quiet = 0, verbose = 0, recv_errno = 0, raw = 0, plain = 0;
	int v4 = 0, v6 = 0, no_tls = 0, show_key = 0, fd, sanitize;

	log_init("ptychat", 0);
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":46qvhV", longopts, NULL)) !=
	    -1) {
		switch (ch) {
		case '4':
			v4 = 1;
			break;
		case '6':
			v6 = 1;
			break;
		case 'q':
			quiet = 1;
			break;
		case 'v':
			verbose = 1;
			break;
		case OPT_FINGERPRINT:
			pin = optarg;
			break;
		case OPT_NO_TLS:
			no_tls = 1;
			break;
		case OPT_SHOW_KEY:
			show_key = 1;
			break;
		case OPT_RAW:
			raw = 1;
			break;
		case OPT_PLAIN:
			plain = 1;
			break;
		case 'h':
			usage(0);
		case 'V':
			printf("ptychat %s\n", PTYCHAT_VERSION);
			return 0;
		default:
			log_bad_option(ch, argv);
			usage(2);
		}
	}
	argc -= optind;
	argv += optind;
	if (show_key) {
		if (argc != 0) {
			fprintf(stderr, "ptychat: --show-key takes no host\n");
			usage(2);
		}
		return client_show_key();
	}
	if (argc < 1 || argc > 2) {
		fprintf(stderr, "ptychat: %s\n", argc < 1 ?
		    "missing host" : "too many arguments");
		usage(2);
	}
	if (v4 && v6) {
		fprintf(stderr, "ptychat: -4 and -6 cannot be used together\n");
		usage(2);
	}
	if (pin != NULL && no_tls) {
		fprintf(stderr, "ptychat: --fingerprint and --no-tls cannot be "
		    "used together\n");
		usage(2);
	}
	if (pin != NULL && !identity_fingerprint_valid(pin, strlen(pin))) {
		fprintf(stderr, "ptychat: invalid fingerprint '%s': use SHA256: "
		    "and 43 base64 characters\n", pin);
		usage(2);
	}
	host = argv[0];
	if (argc == 2)
		port_arg = argv[1];
	number = number_parse(port_arg, 1, 65535, &errstr);
	if (errstr != NULL) {
		fprintf(stderr, "ptychat: invalid port '%s': use a number "
		    "from 1 to 65535\n", port_arg);
		usage(2);
	}
	/* known_hosts has the port as a plain number: 6666, never 06666. */
	snprintf(port, sizeof port, "%lld", number);
	trust.host = host;
	trust.port = port;
	trust.pin = pin;

	signal(SIGPIPE, SIG_IGN);
	/* A bad key file is reported before the server is bothered. */
	if (!no_tls)
		ctx = client_context(&trust);
	fd = net_connect(host, port_arg, v4 ? AF_INET : v6 ? AF_INET6 :
	    AF_UNSPEC, err, sizeof err);
	if (fd == -1) {
		fprintf(stderr, "ptychat: %s\n", err);
		return 1;
	}
	if (ctx != NULL)
		ssl = client_handshake(ctx, fd, &trust, quiet, verbose);
	conn_init(&conn, fd, ssl);

	sanitize = !raw && isatty(STDOUT_FILENO);
	if ((out = malloc(SANITIZE_OUT_MAX(sizeof in))) == NULL) {
		fprintf(stderr, "ptychat: out of memory\n");
		return 1;
	}
	sanitize_init(&san);
	if (sanitize && !plain && isatty(STDIN_FILENO))
		ed = chat_start();
	chatline_init(&chat, ed, STDOUT_FILENO, STDOUT_FILENO, -1);
	chatting = ed != NULL;
	(void)chatline_start(&chat);
	if ((errno = thread_start(client_stdin_to_socket, NULL)) != 0) {
		fprintf(stderr, "ptychat: thread: %s\n", strerror(errno));
		return 1;
	}

	for (;;) {
		n = conn_recv(&conn, in, sizeof in);
		if (n > 0) {
			if (sanitize)
				client_show(out, sanitize_feed(&san, in,
				    (size_t)n, out));
			else
				client_show(in, (size_t)n);
			continue;
		}
		if (n == 0)
			break;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			recv_errno = errno;
			break;
		}
		pfd.fd = conn.fd;
		pfd.events = conn.recv_wants;
		if (poll(&pfd, 1, -1) == -1 && errno != EINTR) {
			recv_errno = errno;
			n = -1;
			break;
		}
	}
	if (sanitize)
		client_show(out, sanitize_finish(&san, out));
	chat_stop();
	free(out);
	if (n == -1 && recv_errno == ECONNRESET) {
		fprintf(stderr, "ptychat: connection reset by server\n");
		return 1;
	}
	if (n == -1) {
		fprintf(stderr, "ptychat: connection: %s\n",
		    strerror(recv_errno));
		return 1;
	}
	if (!quiet)
		fprintf(stderr, "ptychat: connection closed by server\n");
	return 0;
}
