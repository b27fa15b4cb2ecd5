/*
 * Unit tests for net.c: how peers are written, the listening socket, the
 * client's connection and the polite refusal.  Everything runs on the
 * loopback interface; the one name lookup is under the reserved .invalid
 * top-level domain, which can never resolve.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../src/ptychat.h"
#include "tap.h"

#define UNRESOLVABLE	"nonexistent.invalid"

struct peer_case {
	const char	*name;
	int		 family;
	const char	*addr;		/* as inet_pton reads it */
	unsigned	 port;
	const char	*host;
	const char	*portstr;
	const char	*label;
};

static const struct peer_case peer_cases[] = {
	{ "IPv4", AF_INET, "192.0.2.1", 80, "192.0.2.1", "80",
	    "192.0.2.1:80" },
	{ "IPv4 loopback, high port", AF_INET, "127.0.0.1", 54321,
	    "127.0.0.1", "54321", "127.0.0.1:54321" },
	{ "IPv4 port 0", AF_INET, "198.51.100.200", 0, "198.51.100.200", "0",
	    "198.51.100.200:0" },
	{ "IPv4 port 65535", AF_INET, "203.0.113.255", 65535, "203.0.113.255",
	    "65535", "203.0.113.255:65535" },
	{ "IPv4 longest address", AF_INET, "255.255.255.255", 65535,
	    "255.255.255.255", "65535", "255.255.255.255:65535" },
	{ "IPv6", AF_INET6, "2001:db8::1", 80, "2001:db8::1", "80",
	    "[2001:db8::1]:80" },
	{ "IPv6 loopback", AF_INET6, "::1", 22, "::1", "22", "[::1]:22" },
	{ "IPv6 unspecified, port 0", AF_INET6, "::", 0, "::", "0", "[::]:0" },
	{ "IPv6 port 65535", AF_INET6, "2001:db8::2", 65535, "2001:db8::2",
	    "65535", "[2001:db8::2]:65535" },
	{ "IPv6 longest address", AF_INET6,
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", 65535,
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", "65535",
	    "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe]:65535" },
	{ "IPv4-mapped IPv6 is shown as IPv4", AF_INET6, "::ffff:192.0.2.1",
	    443, "192.0.2.1", "443", "192.0.2.1:443" },
	{ "IPv4-mapped loopback", AF_INET6, "::ffff:127.0.0.1", 6666,
	    "127.0.0.1", "6666", "127.0.0.1:6666" },
	{ "IPv4-mapped, port 0", AF_INET6, "::ffff:10.0.0.1", 0, "10.0.0.1",
	    "0", "10.0.0.1:0" },
	{ "IPv4-mapped, port 65535", AF_INET6, "::ffff:10.0.0.1", 65535,
	    "10.0.0.1", "65535", "10.0.0.1:65535" },
	{ "NAT64 (not mapped) stays IPv6", AF_INET6,
	    "64:ff9b::c000:201", 80, "64:ff9b::c000:201", "80",
	    "[64:ff9b::c000:201]:80" },
};

static int
peer_is(const struct peer *p, const char *host, const char *port,
    const char *label)
{
	return strcmp(p->host, host) == 0 && strcmp(p->port, port) == 0 &&
	    strcmp(p->label, label) == 0;
}

static void
check_peer_from_sockaddr(void)
{
	const struct peer_case *c;
	struct sockaddr_storage ss;
	struct sockaddr_in *sin;
	struct sockaddr_in6 *sin6;
	struct peer p;
	size_t i;
	int parsed;

	for (i = 0; i < sizeof peer_cases / sizeof peer_cases[0]; i++) {
		c = &peer_cases[i];
		memset(&ss, 0, sizeof ss);
		/* Leftovers must not show through. */
		memset(&p, 'X', sizeof p);
		if (c->family == AF_INET) {
			sin = (struct sockaddr_in *)&ss;
			sin->sin_family = AF_INET;
			sin->sin_port = htons((uint16_t)c->port);
			parsed = inet_pton(AF_INET, c->addr, &sin->sin_addr);
		} else {
			sin6 = (struct sockaddr_in6 *)&ss;
			sin6->sin6_family = AF_INET6;
			sin6->sin6_port = htons((uint16_t)c->port);
			parsed = inet_pton(AF_INET6, c->addr, &sin6->sin6_addr);
		}
		if (parsed != 1) {
			tap_ok(0, "peer: %s: bad test address %s", c->name,
			    c->addr);
			continue;
		}
		peer_from_sockaddr(&p, (struct sockaddr *)&ss);
		if (!tap_ok(peer_is(&p, c->host, c->portstr, c->label),
		    "peer: %s: %s", c->name, c->label))
			tap_diag("got host \"%.*s\" port \"%.*s\" "
			    "label \"%.*s\"", (int)sizeof p.host, p.host,
			    (int)sizeof p.port, p.port, (int)sizeof p.label,
			    p.label);
	}

	/* A family it does not know is written plainly, not left unset. */
	memset(&ss, 0, sizeof ss);
	ss.ss_family = AF_UNIX;
	memset(&p, 'X', sizeof p);
	peer_from_sockaddr(&p, (struct sockaddr *)&ss);
	tap_ok(peer_is(&p, "?", "0", "?:0"),
	    "peer: an unknown family gives ?:0");
}

static int
is_cloexec(int fd)
{
	int flags = fcntl(fd, F_GETFD);

	return flags != -1 && (flags & FD_CLOEXEC);
}

static int
is_listening(int fd)
{
	int on = 0;
	socklen_t len = sizeof on;

	return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &len) == 0 &&
	    on;
}

/* The port fd is bound to, or 0. */
static unsigned
bound_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;

	if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1)
		return 0;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return 0;
}

/* Accepts on lfd within a deadline; returns the fd or -1. */
static int
accept_within(int lfd, int ms)
{
	struct pollfd pfd;

	pfd.fd = lfd;
	pfd.events = POLLIN;
	if (poll(&pfd, 1, ms) != 1)
		return -1;
	return accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
}

/* Receives into buf within a deadline; returns recv's answer or -2. */
static ssize_t
recv_within(int fd, char *buf, size_t len, int ms)
{
	struct pollfd pfd;

	pfd.fd = fd;
	pfd.events = POLLIN;
	if (poll(&pfd, 1, ms) != 1)
		return -2;
	return recv(fd, buf, len, 0);
}

static void
check_listen(void)
{
	struct peer bound, again;
	char err[512], want[512];
	int fd, fd2;

	strcpy(err, "(untouched)");
	fd = net_listen("127.0.0.1", "0", AF_UNSPEC, &bound, err, sizeof err);
	if (!tap_ok(fd >= 0, "listen: 127.0.0.1 port 0 succeeds"))
		tap_diag("err \"%s\"", err);
	if (fd < 0)
		return;
	tap_ok(strcmp(bound.port, "0") != 0 && atoi(bound.port) > 0 &&
	    atoi(bound.port) <= 65535,
	    "listen: the bound port is the real one, not 0 (%s)", bound.port);
	tap_ok((unsigned)atoi(bound.port) == bound_port(fd),
	    "listen: the bound port is the socket's port");
	tap_ok(strcmp(bound.host, "127.0.0.1") == 0,
	    "listen: the bound host is 127.0.0.1 (%s)", bound.host);
	snprintf(want, sizeof want, "127.0.0.1:%s", bound.port);
	tap_ok(strcmp(bound.label, want) == 0, "listen: the bound label is %s",
	    want);
	tap_ok(is_cloexec(fd), "listen: the socket is close-on-exec");
	tap_ok(is_listening(fd), "listen: the socket is listening");

	/* The same port again, while the first socket listens. */
	strcpy(err, "(untouched)");
	fd2 = net_listen("127.0.0.1", bound.port, AF_UNSPEC, &again, err,
	    sizeof err);
	tap_ok(fd2 == -1, "listen: a port in use fails");
	snprintf(want, sizeof want, "bind 127.0.0.1 port %s: "
	    "Address already in use", bound.port);
	if (!tap_ok(strcmp(err, want) == 0, "listen: the message is '%s'",
	    want))
		tap_diag("got \"%s\"", err);
	if (fd2 >= 0)
		close(fd2);
	close(fd);

	/* IPv6 only, on the IPv6 loopback, where the host has one. */
	fd = net_listen("::1", "0", AF_INET6, &bound, err, sizeof err);
	if (fd == -1 && strstr(err, "Cannot assign") == NULL &&
	    strstr(err, "not supported") == NULL)
		tap_ok(0, "listen: ::1 port 0 fails: %s", err);
	else if (fd == -1)
		printf("ok %d - # SKIP no IPv6 loopback: %s\n", ++tap_count,
		    err);
	else {
		snprintf(want, sizeof want, "[::1]:%s", bound.port);
		tap_ok(strcmp(bound.label, want) == 0 && bound_port(fd) > 0,
		    "listen: ::1 port 0 gives the label %s", want);
		close(fd);
	}
}

static void
check_connect(void)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof sin;
	struct peer bound;
	char err[512], want[512], port[8], buf[16];
	int fd, lfd, sfd, holder;
	ssize_t n;

	/*
	 * A port bound but not listening refuses connections, and stays
	 * ours, so no other program can start listening there meanwhile.
	 */
	holder = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (holder == -1 || bind(holder, (struct sockaddr *)&sin,
	    sizeof sin) == -1 || getsockname(holder,
	    (struct sockaddr *)&sin, &len) == -1) {
		tap_ok(0, "connect: cannot hold a closed port: %s",
		    strerror(errno));
		return;
	}
	snprintf(port, sizeof port, "%u", ntohs(sin.sin_port));
	strcpy(err, "(untouched)");
	fd = net_connect("127.0.0.1", port, AF_UNSPEC, err, sizeof err);
	tap_ok(fd == -1, "connect: a closed port fails");
	snprintf(want, sizeof want, "connect to 127.0.0.1 port %s: "
	    "Connection refused", port);
	if (!tap_ok(strcmp(err, want) == 0, "connect: the message is '%s'",
	    want))
		tap_diag("got \"%s\"", err);
	if (fd >= 0)
		close(fd);
	close(holder);

	strcpy(err, "(untouched)");
	fd = net_connect(UNRESOLVABLE, "80", AF_UNSPEC, err, sizeof err);
	tap_ok(fd == -1, "connect: an unresolvable name fails");
	if (!tap_ok(strncmp(err, UNRESOLVABLE ": ",
	    strlen(UNRESOLVABLE ": ")) == 0 &&
	    strlen(err) > strlen(UNRESOLVABLE ": "),
	    "connect: the message starts with the name and says why"))
		tap_diag("got \"%s\"", err);
	if (fd >= 0)
		close(fd);

	/* IPv6 only, to an IPv4 address: nothing to try. */
	strcpy(err, "(untouched)");
	fd = net_connect("127.0.0.1", port, AF_INET6, err, sizeof err);
	tap_ok(fd == -1 && strncmp(err, "127.0.0.1: ", 11) == 0,
	    "connect: -6 to an IPv4 address fails, naming the address");
	if (fd >= 0)
		close(fd);

	lfd = net_listen("127.0.0.1", "0", AF_INET, &bound, err, sizeof err);
	if (lfd == -1) {
		tap_ok(0, "connect: cannot listen: %s", err);
		return;
	}
	strcpy(err, "(untouched)");
	fd = net_connect("127.0.0.1", bound.port, AF_UNSPEC, err, sizeof err);
	if (!tap_ok(fd >= 0, "connect: to a listener succeeds"))
		tap_diag("err \"%s\"", err);
	sfd = accept_within(lfd, 5000);
	tap_ok(sfd >= 0, "connect: the listener accepts the connection");
	if (fd >= 0 && sfd >= 0) {
		tap_ok(is_cloexec(fd), "connect: the socket is close-on-exec");
		n = send(fd, "ping", 4, MSG_NOSIGNAL);
		memset(buf, 0, sizeof buf);
		n = n == 4 ? recv_within(sfd, buf, sizeof buf, 5000) : -1;
		tap_ok(n == 4 && memcmp(buf, "ping", 4) == 0,
		    "connect: bytes reach the accepted socket");

		/*
		 * net_refuse after the client has spoken: the unread bytes
		 * are drained so the client sees the line and then a clean
		 * end, not a reset.
		 */
		n = send(fd, "unread bytes\n", 13, MSG_NOSIGNAL);
		net_refuse(sfd, "go away\n");
		sfd = -1;
		memset(buf, 0, sizeof buf);
		n = recv_within(fd, buf, sizeof buf - 1, 5000);
		tap_ok(n == 8 && strcmp(buf, "go away\n") == 0,
		    "refuse: the client reads the line");
		n = recv_within(fd, buf, sizeof buf, 5000);
		if (!tap_ok(n == 0, "refuse: then a clean end of stream"))
			tap_diag("recv gave %zd (%s)", n,
			    n == -1 ? strerror(errno) : "");
	}
	if (sfd >= 0)
		close(sfd);
	if (fd >= 0)
		close(fd);
	close(lfd);
}

int
main(void)
{
	check_peer_from_sockaddr();
	check_listen();
	check_connect();
	return tap_done();
}
