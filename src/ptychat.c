/*
 * ptychat: the plain client.  One thread copies standard input to the
 * server while the main thread copies the server to standard output, so
 * neither side ever waits for the other.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ptychat.h"

#define CLIENT_CHUNK	16384

static void __attribute__((noreturn))
usage(int status)
{
	FILE *f = status == 0 ? stdout : stderr;

	fprintf(f, "usage: ptychat [-46hqV] [--raw] host [port]\n");
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
"      --raw      pass the server's bytes to a terminal unchanged\n"
"  -h, --help     show this help and exit\n"
"  -V, --version  show the version and exit\n"
"\n"
"The port defaults to " PTYCHAT_DEFAULT_PORT ". End of input (^D) stops "
"sending;\nptychat exits when the server closes the connection.\n");
	exit(0);
}

/* Copies standard input to the socket; at its end, stops sending. */
static void *
client_stdin_to_socket(void *arg)
{
	int fd = *(int *)arg;
	char buf[CLIENT_CHUNK];
	ssize_t n;

	for (;;) {
		n = read(STDIN_FILENO, buf, sizeof buf);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		/* A failed send shows up as a reset on the reading side. */
		if (io_send_all(fd, buf, (size_t)n) == -1)
			return NULL;
	}
	if (n == -1)
		fprintf(stderr, "ptychat: standard input: %s\n",
		    strerror(errno));
	(void)shutdown(fd, SHUT_WR);
	return NULL;
}

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

int
main(int argc, char *argv[])
{
	enum { OPT_RAW = 256 };
	static const struct option longopts[] = {
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
	int ch, quiet = 0, recv_errno = 0, raw = 0, v4 = 0, v6 = 0, sanitize;

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
			client_output(out, sanitize_feed(&san, in, (size_t)n,
			    out));
		else
			client_output(in, (size_t)n);
	}
	if (sanitize)
		client_output(out, sanitize_finish(&san, out));
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
