/*
 * ptychat: the plain client.  One thread copies standard input to the
 * server while the main thread copies the server to standard output, so
 * neither side ever waits for the other.
 *
 * On a terminal (standard input and output both), the user types on a
 * chat line at the bottom, which what the server sends never breaks: the
 * same line editor as ptychatd's windows.  Into a pipe, bytes pass as
 * they are.
 */
#include <sys/types.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "ptychat.h"

#define CLIENT_CHUNK	16384

/* Writes to standard output or exits with a message. */
static void
client_output(const void *buf, size_t len)
{
	if (io_write_all(STDOUT_FILENO, buf, len) == -1) {
		fprintf(stderr, "ptychat: standard output: %s\n",
		    strerror(errno));
		exit(1);
	}
}

/* The chat line, when standard input and output are a terminal. */
static struct editor *chat;
static pthread_mutex_t chat_lock = PTHREAD_MUTEX_INITIALIZER;
static struct termios chat_saved;
static volatile sig_atomic_t chat_raw;

/* Puts the terminal back as it was; safe in a signal handler too. */
static void
chat_restore(void)
{
	if (chat_raw) {
		(void)tcsetattr(STDIN_FILENO, TCSANOW, &chat_saved);
		chat_raw = 0;
	}
}

static void
chat_on_signal(int sig)
{
	chat_restore();
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Tells the editor how wide the terminal is now. */
static void
chat_width(void)
{
	struct winsize ws;

	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0)
		editor_set_size(chat, ws.ws_col, ws.ws_row);
}

/*
 * Starts the chat line: raw keys, the prompt at the bottom.  Returns -1
 * (and leaves the terminal alone) when it cannot.
 */
static int
chat_start(void)
{
	struct editor_buf buf = { NULL, 0, 0 };
	struct sigaction sa;
	struct termios t;

	if (tty_background(STDIN_FILENO) ||
	    tcgetattr(STDIN_FILENO, &chat_saved) == -1 ||
	    (chat = editor_new("> ", "you: ", 0)) == NULL)
		return -1;
	t = chat_saved;
	cfmakeraw(&t);
	if (tcsetattr(STDIN_FILENO, TCSANOW, &t) == -1) {
		editor_free(chat);
		chat = NULL;
		return -1;
	}
	chat_raw = 1;
	atexit(chat_restore);
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = chat_on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	chat_width();
	editor_start(chat, &buf);
	client_output(buf.data, buf.len);
	editor_buf_free(&buf);
	return 0;
}

/*
 * Ends the chat line, leaving what was shown and the cursor on a fresh
 * line, and gives the terminal back.  The lock is held.
 */
static void
chat_stop(void)
{
	struct editor_buf buf = { NULL, 0, 0 };

	if (chat == NULL)
		return;
	editor_finish(chat, &buf);
	client_output(buf.data, buf.len);
	editor_buf_free(&buf);
	editor_free(chat);
	chat = NULL;
	chat_restore();
}

static void __attribute__((noreturn))
usage(int status)
{
	FILE *f = status == 0 ? stdout : stderr;

	fprintf(f, "usage: ptychat [-46hqV] [--plain] [--raw] host [port]\n");
	if (status != 0) {
		fprintf(f, "Try 'ptychat --help' for more information.\n");
		exit(status);
	}
	fprintf(f,
"\n"
"Connect to a ptychatd server (or any TCP service) and chat: standard\n"
"input goes to the server while what it sends is printed.\n"
"\n"
"  -4, --ipv4     use IPv4 only\n"
"  -6, --ipv6     use IPv6 only\n"
"  -q, --quiet    print errors only\n"
"      --plain    no chat line: the terminal edits and echoes lines\n"
"      --raw      pass the server's bytes to a terminal unchanged\n"
"  -h, --help     show this help and exit\n"
"  -V, --version  show the version and exit\n"
"\n"
"The port defaults to " PTYCHAT_DEFAULT_PORT ". On a terminal you type on a "
"chat line that\nwhat the server sends never breaks. End of input (^D on an "
"empty line) stops\nsending; ptychat exits when the server closes the "
"connection.\n");
	exit(0);
}

/*
 * Feeds keys to the chat line and sends the lines finished.  Returns 1
 * at the end of input (^D on an empty line), -1 when sending failed.
 */
static int
chat_keys(int fd, const char *keys, size_t n)
{
	struct editor_buf out = { NULL, 0, 0 }, lines = { NULL, 0, 0 };
	int r = 0;

	/* ^C leaves, as it would have without the chat line. */
	if (memchr(keys, 003, n) != NULL) {
		pthread_mutex_lock(&chat_lock);
		chat_stop();
		pthread_mutex_unlock(&chat_lock);
		exit(130);
	}
	pthread_mutex_lock(&chat_lock);
	if (memchr(keys, 004, n) != NULL && editor_pending(chat) == 0) {
		chat_stop();
		pthread_mutex_unlock(&chat_lock);
		return 1;
	}
	chat_width();
	if (editor_keys(chat, keys, n, &out, &lines) > 0 &&
	    io_send_all(fd, lines.data, lines.len) == -1)
		r = -1;
	client_output(out.data, out.len);
	pthread_mutex_unlock(&chat_lock);
	editor_buf_free(&out);
	editor_buf_free(&lines);
	return r;
}

/* Copies standard input to the socket; at its end, stops sending. */
static void *
client_stdin_to_socket(void *arg)
{
	int fd = *(int *)arg, r;
	char buf[CLIENT_CHUNK];
	ssize_t n;

	for (;;) {
		n = read(STDIN_FILENO, buf, sizeof buf);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		/* A failed send shows up as a reset on the reading side. */
		if (chat != NULL) {
			if ((r = chat_keys(fd, buf, (size_t)n)) == -1)
				return NULL;
			if (r == 1)
				break;
		} else if (io_send_all(fd, buf, (size_t)n) == -1)
			return NULL;
	}
	if (n == -1)
		fprintf(stderr, "ptychat: standard input: %s\n",
		    strerror(errno));
	(void)shutdown(fd, SHUT_WR);
	return NULL;
}

/* Shows sanitised text from the server, above the chat line if any. */
static void
client_show(const char *text, size_t len)
{
	struct editor_buf buf = { NULL, 0, 0 };

	pthread_mutex_lock(&chat_lock);
	if (chat != NULL) {
		chat_width();
		editor_print(chat, text, len, &buf);
		client_output(buf.data, buf.len);
	} else
		client_output(text, len);
	pthread_mutex_unlock(&chat_lock);
	editor_buf_free(&buf);
}

int
main(int argc, char *argv[])
{
	enum { OPT_RAW = 256, OPT_PLAIN };
	static const struct option longopts[] = {
		{ "plain",	no_argument,	NULL, OPT_PLAIN },
		{ "ipv4",	no_argument,	NULL, '4' },
		{ "ipv6",	no_argument,	NULL, '6' },
		{ "quiet",	no_argument,	NULL, 'q' },
		{ "raw",	no_argument,	NULL, OPT_RAW },
		{ "help",	no_argument,	NULL, 'h' },
		{ "version",	no_argument,	NULL, 'V' },
		{ NULL,		0,		NULL, 0 }
	};
	static int fd;
	struct sanitizer san;
	pthread_attr_t attr;
	pthread_t tid;
	char err[512], in[CLIENT_CHUNK], *out, *end;
	const char *host, *port = PTYCHAT_DEFAULT_PORT;
	long portnum;
	ssize_t n;
	int ch, quiet = 0, recv_errno = 0, raw = 0, plain = 0, v4 = 0, v6 = 0;
	int sanitize;

	log_init("ptychat", 0);
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":46qhV", longopts, NULL)) != -1) {
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
	if (argc < 1 || argc > 2) {
		fprintf(stderr, "ptychat: %s\n", argc < 1 ?
		    "missing host" : "too many arguments");
		usage(2);
	}
	if (v4 && v6) {
		fprintf(stderr, "ptychat: -4 and -6 cannot be used together\n");
		usage(2);
	}
	host = argv[0];
	if (argc == 2)
		port = argv[1];
	errno = 0;
	portnum = strtol(port, &end, 10);
	if (!isdigit((unsigned char)*port) || *end != '\0' || errno != 0 ||
	    portnum < 1 || portnum > 65535) {
		fprintf(stderr, "ptychat: invalid port '%s': use a number "
		    "from 1 to 65535\n", port);
		usage(2);
	}

	signal(SIGPIPE, SIG_IGN);
	fd = net_connect(host, port, v4 ? AF_INET : v6 ? AF_INET6 : AF_UNSPEC,
	    err, sizeof err);
	if (fd == -1) {
		fprintf(stderr, "ptychat: %s\n", err);
		return 1;
	}

	sanitize = !raw && isatty(STDOUT_FILENO);
	if ((out = malloc(SANITIZE_OUT_MAX(sizeof in))) == NULL) {
		fprintf(stderr, "ptychat: out of memory\n");
		return 1;
	}
	sanitize_init(&san);
	if (sanitize && !plain && isatty(STDIN_FILENO))
		(void)chat_start();
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if ((errno = pthread_create(&tid, &attr, client_stdin_to_socket,
	    &fd)) != 0) {
		fprintf(stderr, "ptychat: thread: %s\n", strerror(errno));
		return 1;
	}
	pthread_attr_destroy(&attr);

	for (;;) {
		n = recv(fd, in, sizeof in, 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			recv_errno = errno;
			break;
		}
		if (sanitize)
			client_show(out, sanitize_feed(&san, in, (size_t)n,
			    out));
		else
			client_output(in, (size_t)n);
	}
	if (sanitize)
		client_show(out, sanitize_finish(&san, out));
	pthread_mutex_lock(&chat_lock);
	chat_stop();
	pthread_mutex_unlock(&chat_lock);
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
