/*
 * ptychatd: listens on a TCP port and gives every client a terminal
 * window of its own, so one operator can talk to many clients at once.
 *
 * This file holds main: options, the server's key, the listening
 * socket, signals, the accept loop, reaping of terminals (child.c keeps
 * them), and shutdown.
 */
#include <sys/types.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "ptychat.h"

/* At most this many sessions (windows) at once, unless --max-clients. */
#define DEFAULT_MAX_CLIENTS	64

/* The lobby's defaults: --ask-timeout, --max-waiting, --max-window-rate. */
#define DEFAULT_ASK_TIMEOUT	120
#define DEFAULT_MAX_WAITING	16
#define DEFAULT_MAX_WINDOW_RATE	5

/*
 * How many more than --max-clients of a proxy's connections may wait for
 * their PROXY header at once: room for its health checks.
 */
#define PROXY_SPARE	16

/* How long shutdown waits for sessions, then for terminals, in ms. */
#define STOP_SESSIONS_MS	600
#define STOP_TERMINALS_MS	400

/* The settings from the command line, for the life of the program. */
static struct server_config config;
static struct limits limits;	/* config.limits */

/* TLS: the key and certificate files, or NULL for the default ones. */
struct trust {
	const char	*key_file;
	const char	*cert_file;
	const char	*clients_file;	/* --clients, or NULL */
	int		 off;		/* --no-tls */
	struct identity	 id;
};
static struct trust trust;

static void __attribute__((noreturn))
usage(int status)
{
	FILE *f = status == 0 ? stdout : stderr;

	fprintf(f,
"usage: ptychatd [-46hqVv] [-b address] [-p port] [-t command]\n");
	if (status != 0) {
		fprintf(f, "Try 'ptychatd --help' for more information.\n");
		exit(status);
	}
	fprintf(f,
"                [--key file --cert file] [--clients file]\n"
"                [--no-tls | --require-tls] [--no-notify]\n"
"                [--ask] [--ask-timeout S] [--max-waiting N]\n"
"                [--max-window-rate N] [--agent [address:]port]\n"
"                [--proxy-protocol cidr]\n"
"       ptychatd --fingerprint [--key file --cert file]\n"
"\n"
"Listen for TCP clients and open a terminal window for each one.\n"
"Type in a client's window to answer that client only.\n"
"\n"
"  -4, --ipv4             listen on IPv4 only\n"
"  -6, --ipv6             listen on IPv6 only\n"
"  -b, --bind ADDRESS     address to listen on (default: all interfaces)\n"
"  -p, --port N           TCP port (default: " PTYCHAT_DEFAULT_PORT
"; 0 picks a free one)\n"
"  -t, --terminal CMD     terminal program and arguments, or auto (default);\n"
"                         %%n session number, %%a client address,\n"
"                         %%p client port, %%%% a percent sign\n"
"      --allow CIDR       accept only clients in CIDR (repeatable)\n"
"      --deny CIDR        refuse clients in CIDR (repeatable; wins over\n"
"                         --allow)\n"
"      --proxy-protocol CIDR  clients from CIDR are proxies such as\n"
"                         HAProxy: each connection begins with a PROXY\n"
"                         header (v1 or v2) giving the real client's\n"
"                         address (repeatable)\n"
"      --max-clients N    at most N sessions at once (default: %d)\n"
"      --max-per-host N   at most N sessions per client address\n"
"                         (default: no limit)\n"
"      --ask              hold each new client in a lobby, without a\n"
"                         window, until accepted at the console\n"
"      --ask-timeout S    turn away a client not accepted in S seconds\n"
"                         (default: 120; 0: never)\n"
"      --max-waiting N    at most N clients in the lobby (default: 16)\n"
"      --max-window-rate N  open at most N windows a second; others wait\n"
"                         in the lobby (default: 5; 0: no limit)\n"
"      --agent PORT       answer HAProxy's agent-check on [ADDRESS:]PORT\n"
"                         (default address: the -b one)\n"
"      --idle-timeout S   disconnect a client after S seconds of silence\n"
"                         both ways (default: never)\n"
"      --log-dir DIR      write a transcript of each session into DIR\n"
"      --plain            no chat line: windows edit lines themselves\n"
"      --timestamps       stamp each of the client's lines with the time\n"
"      --binary           no telnet: show 0xFF bytes as they come\n"
"      --no-notify        no desktop notifications (notify-send)\n"
"      --no-tls           no TLS: every client is plain, as it comes\n"
"      --require-tls      turn away clients that do not speak TLS\n"
"      --key FILE         the server's private key (with --cert; default:\n"
"                         ptychatd.key in ~/.config/ptychat, made if missing)\n"
"      --cert FILE        the server's certificate (with --key)\n"
"      --fingerprint      print the server key's fingerprint and exit\n"
"      --clients FILE     let in only the keys listed in FILE\n"
"                         (SHA256:... NAME a line); SIGHUP re-reads it\n"
"  -q, --quiet            log errors (and the listening line) only\n"
"  -v, --verbose          log more detail\n"
"  -h, --help             show this help and exit\n"
"  -V, --version          show the version and exit\n"
"\n"
"A client that sends nothing for 200 ms is taken as plain; one that\n"
"opens with a TLS hello gets TLS. Close a client's window to hang up on\n"
"it. SIGINT or SIGTERM stops the server and closes every session; so does\n"
"SIGHUP, unless --clients is given (then it re-reads the file). SIGUSR1\n"
"sends the operator away (new clients are turned away), SIGUSR2 brings\n"
"them back; SIGQUIT turns new clients away and exits once the last\n"
"session ends. On a terminal, ptychatd takes commands: list, say N TEXT,\n"
"all TEXT, kick N, accept N, accept all, reject N [REASON], away, back,\n"
"help, quit, quit when done.\n", DEFAULT_MAX_CLIENTS);
	exit(0);
}

static void __attribute__((noreturn, format(printf, 1, 2)))
usage_error(const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	fprintf(stderr, "ptychatd: %s\n", line);
	usage(2);
}

/* Parses a whole number from min to max for option, or exits with usage. */
static unsigned long
option_number(const char *text, long long min, long long max,
    const char *option)
{
	const char *errstr;
	long long n;

	n = number_parse(text, min, max, &errstr);
	if (errstr != NULL)
		usage_error("invalid %s '%s': use a number from %lld to %lld",
		    option, text, min, max);
	return (unsigned long)n;
}

/* Reaps children for up to ms milliseconds; returns when none is left. */
static void
children_wait(int sigfd, int ms)
{
	struct signalfd_siginfo si;
	struct timespec start, now;
	struct pollfd pfd;
	int elapsed = 0;

	clock_gettime(CLOCK_MONOTONIC, &start);
	pfd.fd = sigfd;
	pfd.events = POLLIN;
	for (child_reap(); child_count() > 0 && elapsed < ms; child_reap()) {
		if (poll(&pfd, 1, ms - elapsed) > 0)
			(void)read(sigfd, &si, sizeof si);
		clock_gettime(CLOCK_MONOTONIC, &now);
		elapsed = (int)((now.tv_sec - start.tv_sec) * 1000 +
		    (now.tv_nsec - start.tv_nsec) / 1000000);
	}
}

/*
 * Finds ptychat-bridge beside our own executable, where make and make
 * install put it.  Returns its path, or NULL (xterm then gets -S).
 */
static const char *
find_bridge(void)
{
	static char path[PATH_MAX];
	char *slash;
	ssize_t n;

	n = readlink("/proc/self/exe", path, sizeof path - 32);
	if (n <= 0 || (slash = memrchr(path, '/', (size_t)n)) == NULL)
		return NULL;
	strcpy(slash + 1, "ptychat-bridge");
	return access(path, X_OK) == 0 ? path : NULL;
}

/*
 * Loads the server's key and certificate (--key and --cert, or the ones
 * in the configuration directory, made on first use) into trust.id.
 * Returns 0, or -1 after saying why.
 */
static int
trust_load(void)
{
	char dir[PATH_MAX], key[PATH_MAX + 16], cert[PATH_MAX + 16];
	char host[256], err[PATH_MAX + 256];
	const char *key_file = trust.key_file, *cert_file = trust.cert_file;

	if (key_file == NULL) {
		if (identity_dir(dir, sizeof dir, err, sizeof err) == -1) {
			log_error("%s", err);
			return -1;
		}
		snprintf(key, sizeof key, "%s/ptychatd.key", dir);
		snprintf(cert, sizeof cert, "%s/ptychatd.crt", dir);
		key_file = key;
		cert_file = cert;
	}
	if (gethostname(host, sizeof host) == -1)
		strcpy(host, "ptychatd");
	host[sizeof host - 1] = '\0';
	if (identity_load(&trust.id, key_file, cert_file,
	    trust.key_file == NULL, host, err, sizeof err) == -1) {
		log_error("%s", err);
		return -1;
	}
	return 0;
}

/*
 * Reads the --clients file and puts it in force.  Returns 0, or -1 with
 * the old list kept and the reason said.
 */
static int
trust_clients(void)
{
	struct client_list list = { NULL, 0 };
	char err[PATH_MAX + 256];

	if (clients_load(trust.clients_file, &list, err, sizeof err) == -1) {
		log_error("%s", err);
		return -1;
	}
	log_info("%zu key%s on the clients list (%s)", list.n,
	    list.n == 1 ? "" : "s", trust.clients_file);
	session_set_clients(&list);
	return 0;
}

/* Accepts one client and opens its session, or turns it away. */
static void
accept_client(int lfd)
{
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof ss;
	struct peer peer;
	const char *why;
	int fd, proxied;

	fd = accept4(lfd, (struct sockaddr *)&ss, &sslen, SOCK_CLOEXEC);
	if (fd == -1) {
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
		    errno == ENOMEM) {
			log_error("accept: %s", strerror(errno));
			/* The backlog keeps the client; try again soon. */
			poll(NULL, 0, 100);
		} else if (errno != EINTR && errno != EAGAIN &&
		    errno != ECONNABORTED)
			log_error("accept: %s", strerror(errno));
		return;
	}
	peer_from_sockaddr(&peer, (struct sockaddr *)&ss);
	/*
	 * A proxy's connection is judged after its header, by the client's
	 * address, so that its health checks stay quiet while the desk is
	 * away or full; here only its headers in flight are bounded: at
	 * --max-clients and some spare, for its checks.
	 */
	proxied = limits.proxies.n > 0 &&
	    access_allowed(&limits.proxies, (struct sockaddr *)&ss);
	if (proxied && session_running() - session_count() >=
	    limits.max_clients + PROXY_SPARE)
		why = "ptychatd: too many clients; try again later\n";
	else if (!proxied)
		why = session_refusal(&limits, (struct sockaddr *)&ss,
		    peer.host, REFUSE_ADDRESS | REFUSE_LOAD, 0);
	else
		why = NULL;
	if (why != NULL) {
		/* The line without its "ptychatd: " and newline. */
		log_info("refused %s: %.*s", peer.label,
		    (int)strlen(why) - 11, why + 10);
		net_refuse(fd, why);
		return;
	}
	if (config.terminal.words == NULL) {
		log_info("refused %s: no terminal to open a window with",
		    peer.label);
		net_refuse(fd, SESSION_NO_WINDOW);
		return;
	}
	/* Numbered and logged once the front door knows who it is. */
	session_open(&config, fd, &peer, proxied);
}

/*
 * Splits --agent's [ADDRESS:]PORT (an IPv6 address in brackets) into
 * *host (NULL when only a port is given) and *port, in place.
 */
static void
agent_split(char *arg, char **host, char **port)
{
	char *colon;

	*host = NULL;
	*port = arg;
	if (*arg == '[') {
		if ((colon = strstr(arg, "]:")) == NULL)
			usage_error("--agent '%s': write [ADDRESS]:PORT", arg);
		*colon = '\0';
		*host = arg + 1;
		*port = colon + 2;
	} else if ((colon = strrchr(arg, ':')) != NULL) {
		if (strchr(arg, ':') != colon)
			usage_error("--agent '%s': put an IPv6 address in "
			    "brackets, [ADDRESS]:PORT", arg);
		*colon = '\0';
		*host = arg;
		*port = colon + 1;
	}
	if (*host != NULL && **host == '\0')
		usage_error("the --agent address is empty");
	option_number(*port, 0, 65535, "--agent port");
}

/*
 * Answers one agent-check connection with the desk's line and closes
 * it.  The line fits any socket buffer, so the write never waits.
 */
static void
agent_answer(int afd)
{
	char line[32];
	int fd;

	fd = accept4(afd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd == -1) {
		if (errno != EINTR && errno != EAGAIN &&
		    errno != ECONNABORTED)
			log_error("agent: accept: %s", strerror(errno));
		return;
	}
	desk_agent_line(line, sizeof line, session_count(),
	    limits.max_clients);
	log_debug("agent: %.*s", (int)strlen(line) - 1, line);
	net_refuse(fd, line);
}

/*
 * Answers the agent while the server stops, for as long as the process
 * lives: the desk is leaving, so every answer is maint, and HAProxy
 * takes the desk out at once rather than after failed checks.
 */
static void *
agent_stopping(void *arg)
{
	struct pollfd pfd;

	pfd.fd = (int)(intptr_t)arg;
	pfd.events = POLLIN;
	for (;;)
		if (poll(&pfd, 1, -1) == 1)
			agent_answer(pfd.fd);
	return NULL;
}

/* Closes every session, reaps every terminal, and returns. */
static void
stop_server(const int *lfd, int nlisten, int sigfd)
{
	unsigned long left;
	int i;

	for (i = 0; i < nlisten; i++)
		close(lfd[i]);
	if ((left = session_count()) > 0)
		log_info("stopping: closing %lu session%s", left,
		    left == 1 ? "" : "s");
	/* Every session's threads stop waiting, on anything. */
	session_hangup_all();
	if (session_wait_all(STOP_SESSIONS_MS) == -1)
		log_error("stopping: %lu sessions did not end in time",
		    session_running());
	/* Without their ptys, terminals exit; hurry up those that don't. */
	children_wait(sigfd, STOP_TERMINALS_MS);
	if (child_count() > 0) {
		child_signal_all(SIGTERM);
		children_wait(sigfd, STOP_TERMINALS_MS);
	}
	if (child_count() > 0) {
		child_signal_all(SIGKILL);
		children_wait(sigfd, STOP_TERMINALS_MS);
	}
	log_info("stopped");
}

int
main(int argc, char *argv[])
{
	enum { OPT_ALLOW = 256, OPT_DENY, OPT_MAX_CLIENTS, OPT_MAX_PER_HOST,
	    OPT_IDLE_TIMEOUT, OPT_LOG_DIR, OPT_PLAIN, OPT_TIMESTAMPS,
	    OPT_BINARY, OPT_NO_TLS, OPT_REQUIRE_TLS, OPT_KEY, OPT_CERT,
	    OPT_FINGERPRINT, OPT_CLIENTS, OPT_ASK, OPT_ASK_TIMEOUT,
	    OPT_MAX_WAITING, OPT_MAX_WINDOW_RATE,
	    OPT_NO_NOTIFY, OPT_AGENT, OPT_PROXY_PROTOCOL };
	static const struct option longopts[] = {
		{ "no-tls",	no_argument,		NULL, OPT_NO_TLS },
		{ "require-tls", no_argument,		NULL, OPT_REQUIRE_TLS },
		{ "key",	required_argument,	NULL, OPT_KEY },
		{ "cert",	required_argument,	NULL, OPT_CERT },
		{ "fingerprint", no_argument,		NULL, OPT_FINGERPRINT },
		{ "clients",	required_argument,	NULL, OPT_CLIENTS },
		{ "ask",	no_argument,		NULL, OPT_ASK },
		{ "ask-timeout", required_argument,	NULL, OPT_ASK_TIMEOUT },
		{ "max-waiting", required_argument,	NULL, OPT_MAX_WAITING },
		{ "max-window-rate", required_argument,	NULL,
		    OPT_MAX_WINDOW_RATE },
		{ "no-notify",	no_argument,		NULL, OPT_NO_NOTIFY },
		{ "agent",	required_argument,	NULL, OPT_AGENT },
		{ "plain",	no_argument,		NULL, OPT_PLAIN },
		{ "binary",	no_argument,		NULL, OPT_BINARY },
		{ "timestamps",	no_argument,		NULL, OPT_TIMESTAMPS },
		{ "log-dir",	required_argument,	NULL, OPT_LOG_DIR },
		{ "allow",	required_argument,	NULL, OPT_ALLOW },
		{ "deny",	required_argument,	NULL, OPT_DENY },
		{ "proxy-protocol", required_argument,	NULL,
		    OPT_PROXY_PROTOCOL },
		{ "max-clients", required_argument,	NULL, OPT_MAX_CLIENTS },
		{ "max-per-host", required_argument,	NULL, OPT_MAX_PER_HOST },
		{ "idle-timeout", required_argument,	NULL, OPT_IDLE_TIMEOUT },
		{ "ipv4",	no_argument,		NULL, '4' },
		{ "ipv6",	no_argument,		NULL, '6' },
		{ "bind",	required_argument,	NULL, 'b' },
		{ "port",	required_argument,	NULL, 'p' },
		{ "terminal",	required_argument,	NULL, 't' },
		{ "quiet",	no_argument,		NULL, 'q' },
		{ "verbose",	no_argument,		NULL, 'v' },
		{ "help",	no_argument,		NULL, 'h' },
		{ "version",	no_argument,		NULL, 'V' },
		{ NULL,		0,			NULL, 0 }
	};
	struct signalfd_siginfo si;
	struct rlimit nofile;
	struct pollfd pfd[3 + NET_ACTIVATED_MAX];
	struct peer bound[NET_ACTIVATED_MAX], agent_bound;
	sigset_t sigs;
	char err[512];
	const char *bind_host = NULL, *port = PTYCHAT_DEFAULT_PORT;
	const char *terminal_cmd = "auto";
	char *agent_host = NULL, *agent_port = NULL;
	int ch, family = AF_UNSPEC, level = 0, sigfd, i, afd = -1;
	int lfd[NET_ACTIVATED_MAX], nlisten;
	int v4 = 0, v6 = 0, fingerprint = 0, port_given = 0;
	int notify = 1;

	limits.max_clients = DEFAULT_MAX_CLIENTS;
	config.limits = &limits;
	config.ask_timeout = DEFAULT_ASK_TIMEOUT;
	config.max_waiting = DEFAULT_MAX_WAITING;
	config.max_window_rate = DEFAULT_MAX_WINDOW_RATE;
	log_init("ptychatd", 0);
	/*
	 * No clean-up at exit: a session thread that outlived the stop's
	 * wait may still be inside OpenSSL.
	 */
	OPENSSL_init_ssl(OPENSSL_INIT_NO_ATEXIT, NULL);
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":46b:p:t:qvhV", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case OPT_ALLOW:
		case OPT_DENY:
			if (access_add(&limits.access, optarg, ch == OPT_DENY,
			    err, sizeof err) == -1)
				usage_error("--%s: %s", ch == OPT_DENY ?
				    "deny" : "allow", err);
			break;
		case OPT_PROXY_PROTOCOL:
			if (access_add(&limits.proxies, optarg, 0, err,
			    sizeof err) == -1)
				usage_error("--proxy-protocol: %s", err);
			break;
		case OPT_MAX_CLIENTS:
			limits.max_clients = option_number(optarg, 1, 100000,
			    "--max-clients");
			break;
		case OPT_MAX_PER_HOST:
			limits.max_per_host = option_number(optarg, 0, 100000,
			    "--max-per-host");
			break;
		case OPT_ASK:
			config.ask = 1;
			break;
		case OPT_ASK_TIMEOUT:
			config.ask_timeout = (unsigned)option_number(optarg,
			    0, 7 * 24 * 3600, "--ask-timeout");
			break;
		case OPT_MAX_WAITING:
			config.max_waiting = (unsigned)option_number(optarg,
			    1, 100000, "--max-waiting");
			break;
		case OPT_MAX_WINDOW_RATE:
			config.max_window_rate = (unsigned)option_number(
			    optarg, 0, 1000, "--max-window-rate");
			break;
		case OPT_PLAIN:
			config.plain = 1;
			break;
		case OPT_TIMESTAMPS:
			config.timestamps = 1;
			break;
		case OPT_BINARY:
			config.binary = 1;
			break;
		case OPT_NO_TLS:
			trust.off = 1;
			break;
		case OPT_REQUIRE_TLS:
			config.require_tls = 1;
			break;
		case OPT_NO_NOTIFY:
			notify = 0;
			break;
		case OPT_AGENT:
			agent_split(optarg, &agent_host, &agent_port);
			break;
		case OPT_KEY:
		case OPT_CERT:
			if (*optarg == '\0')
				usage_error("the --%s file name is empty",
				    ch == OPT_KEY ? "key" : "cert");
			*(ch == OPT_KEY ? &trust.key_file :
			    &trust.cert_file) = optarg;
			break;
		case OPT_FINGERPRINT:
			fingerprint = 1;
			break;
		case OPT_CLIENTS:
			if (*optarg == '\0')
				usage_error("the --clients file name is empty");
			trust.clients_file = optarg;
			break;
		case OPT_LOG_DIR:
			if (*optarg == '\0')
				usage_error("the --log-dir directory is empty");
			config.log_dir = optarg;
			break;
		case OPT_IDLE_TIMEOUT:
			config.idle_timeout = (unsigned)option_number(optarg,
			    0, 7 * 24 * 3600, "--idle-timeout");
			break;
		case '4':
			v4 = 1;
			break;
		case '6':
			v6 = 1;
			break;
		case 'b':
			bind_host = optarg;
			break;
		case 'p':
			port = optarg;
			port_given = 1;
			break;
		case 't':
			terminal_cmd = optarg;
			break;
		case 'q':
			level = -1;
			break;
		case 'v':
			level = 1;
			break;
		case 'h':
			usage(0);
		case 'V':
			printf("ptychatd %s\n", PTYCHAT_VERSION);
			return 0;
		default:
			log_bad_option(ch, argv);
			usage(2);
		}
	}
	if (optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);
	if (v4 && v6)
		usage_error("-4 and -6 cannot be used together");
	if (config.plain && config.timestamps)
		usage_error("--timestamps needs the chat line; drop --plain");
	if ((trust.key_file == NULL) != (trust.cert_file == NULL))
		usage_error("--key and --cert go together");
	if (trust.off && (config.require_tls || trust.clients_file != NULL ||
	    trust.key_file != NULL || fingerprint))
		usage_error("--no-tls cannot be used with %s",
		    config.require_tls ? "--require-tls" :
		    trust.clients_file != NULL ? "--clients" :
		    trust.key_file != NULL ? "--key and --cert" :
		    "--fingerprint");
	family = v4 ? AF_INET : v6 ? AF_INET6 : AF_UNSPEC;
	option_number(port, 0, 65535, "port");
	if (bind_host != NULL && *bind_host == '\0')
		usage_error("the bind address is empty");
	/* Kept in config from the start, so no exit path leaks it. */
	if ((config.terminal.words = termcmd_split(terminal_cmd)) == NULL) {
		fprintf(stderr, "ptychatd: out of memory\n");
		return 1;
	}
	if (termcmd_check(config.terminal.words, err, sizeof err) == -1)
		usage_error("%s", err);
	log_init("ptychatd", level);
	/* Before any thread: it changes the environment. */
	if ((nlisten = net_activated(lfd, bound, NET_ACTIVATED_MAX, err,
	    sizeof err)) == -1) {
		log_error("%s", err);
		return 1;
	}
	if (nlisten > 0 && (bind_host != NULL || port_given || v4 || v6))
		log_error("warning: -b, -p, -4 and -6 are ignored: the "
		    "sockets come from systemd");

	/*
	 * The key before the port: a bad one stops us before any client.
	 * Like the words above, the key and the context are kept in
	 * statics from the start, so no exit path leaks them.
	 */
	if (!trust.off && trust_load() == -1)
		return 1;
	if (fingerprint) {
		printf("%s\n", trust.id.fingerprint);
		return fflush(stdout) == 0 ? 0 : 1;
	}
	if (!trust.off && (config.tls = tls_server_ctx(&trust.id, err,
	    sizeof err)) == NULL) {
		log_error("TLS: %s", err);
		return 1;
	}
	config.clients = trust.clients_file != NULL;
	config.clients_file = trust.clients_file;
	if (config.clients && trust_clients() == -1)
		return 1;

	/* Five fds a session: take all the fds the system lets us have. */
	if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 &&
	    nofile.rlim_cur < nofile.rlim_max) {
		nofile.rlim_cur = nofile.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &nofile);
	}
	/*
	 * Signals arrive through a signalfd read by this thread only, so
	 * they are blocked before any other thread exists.  A vanished
	 * client must never kill us: SIGPIPE is ignored.
	 */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	sigaddset(&sigs, SIGCHLD);
	sigaddset(&sigs, SIGUSR1);
	sigaddset(&sigs, SIGUSR2);
	sigaddset(&sigs, SIGQUIT);
	if (pthread_sigmask(SIG_BLOCK, &sigs, NULL) != 0 ||
	    (sigfd = signalfd(-1, &sigs, SFD_CLOEXEC)) == -1) {
		log_error("signalfd: %s", strerror(errno));
		return 1;
	}
	/* After the signal mask: every thread inherits it. */
	if (child_log_init() == -1) {
		log_error("cannot start the terminal output reader: %s",
		    strerror(errno));
		return 1;
	}
	notify_init(notify);

	if (config.log_dir != NULL && io_mkdir(config.log_dir) == -1) {
		log_error("--log-dir %s: %s", config.log_dir, strerror(errno));
		return 1;
	}
	if (nlisten == 0) {
		if ((lfd[0] = net_listen(bind_host, port, family, &bound[0],
		    err, sizeof err)) == -1) {
			log_error("%s", err);
			return 1;
		}
		/* Always shown, even with -q: it tells scripts the real port. */
		log_error("listening on %s port %s", bound[0].host,
		    bound[0].port);
		nlisten = 1;
	} else
		for (i = 0; i < nlisten; i++)
			log_error("listening on %s port %s (from systemd)",
			    bound[i].host, bound[i].port);
	if (agent_port != NULL) {
		if ((afd = net_listen(agent_host != NULL ? agent_host :
		    bind_host, agent_port, family, &agent_bound, err,
		    sizeof err)) == -1) {
			log_error("--agent: %s", err);
			for (i = 0; i < nlisten; i++)
				close(lfd[i]);
			return 1;
		}
		/* Shown even with -q, as the listening line is. */
		log_error("agent listening on %s port %s", agent_bound.host,
		    agent_bound.port);
	}
	if (config.tls != NULL)
		log_info("TLS key %s", trust.id.fingerprint);
	if (terminal_choose(&config.terminal, config.terminal.words,
	    find_bridge(), err, sizeof err) == -1)
		log_error("warning: %s; clients will be turned away", err);
	else {
		config.terminal.plain = config.plain;
		terminal_check(&config.terminal);
	}

	pfd[0].fd = sigfd;
	pfd[0].events = POLLIN;
	/* A negative fd is left out by poll: no console, no keys. */
	pfd[1].fd = console_start();
	pfd[1].events = POLLIN;
	pfd[2].fd = afd;
	pfd[2].events = POLLIN;
	for (i = 0; i < nlisten; i++) {
		pfd[3 + i].fd = lfd[i];
		pfd[3 + i].events = POLLIN;
	}
	for (;;) {
		/* Leaving: no wake-up when a session ends, so look often. */
		if (desk_state() == DESK_LEAVING && session_count() == 0) {
			log_info("the last session has ended; stopping");
			break;
		}
		if (poll(pfd, 3 + (nfds_t)nlisten,
		    desk_state() == DESK_LEAVING ? 100 : -1) == -1) {
			if (errno == EINTR)
				continue;
			log_error("poll: %s", strerror(errno));
			break;
		}
		if (pfd[0].revents & POLLIN) {
			if (read(sigfd, &si, sizeof si) != sizeof si)
				continue;
			if (si.ssi_signo == SIGCHLD) {
				child_reap();
				continue;
			}
			if (si.ssi_signo == SIGUSR1 ||
			    si.ssi_signo == SIGUSR2 ||
			    si.ssi_signo == SIGQUIT) {
				desk_move(si.ssi_signo == SIGUSR1 ? DESK_AWAY :
				    si.ssi_signo == SIGUSR2 ? DESK_HERE :
				    DESK_LEAVING, strsignal((int)
				    si.ssi_signo));
				continue;
			}
			if (si.ssi_signo == SIGHUP && config.clients) {
				if (trust_clients() == -1)
					log_error("the old clients list stays "
					    "in force");
				continue;
			}
			log_info("caught %s; stopping",
			    strsignal((int)si.ssi_signo));
			break;
		}
		if (pfd[1].revents != 0 && console_input() == 1) {
			log_info("stopping at the console's word");
			break;
		}
		if (pfd[2].revents & POLLIN)
			agent_answer(afd);
		for (i = 0; i < nlisten; i++)
			if (pfd[3 + i].revents & POLLIN)
				accept_client(lfd[i]);
	}
	(void)desk_set(DESK_LEAVING);
	if (afd != -1 && (errno = thread_start(agent_stopping,
	    (void *)(intptr_t)afd)) != 0) {
		log_error("agent: %s; it stops answering", strerror(errno));
		close(afd);
	}
	stop_server(lfd, nlisten, sigfd);
	console_stop();
	termcmd_free(config.terminal.words);
	session_set_clients(&(struct client_list){ NULL, 0 });
	/* A session that did not end in time may still use them. */
	if (session_running() == 0) {
		free(limits.access.rules);
		free(limits.proxies.rules);
		SSL_CTX_free(config.tls);
		identity_free(&trust.id);
	}
	return 0;
}
