/*
 * Sockets: the listening socket, the client's connection, and the way
 * peers are written in titles and log lines.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ptychat.h"

/*
 * Fills p with the address and port of sa.  An IPv4 client of a
 * dual-stack socket arrives as ::ffff:a.b.c.d; it is written as a.b.c.d.
 */
void
peer_from_sockaddr(struct peer *p, const struct sockaddr *sa)
{
	const struct sockaddr_in6 *sin6;
	const struct sockaddr_in *sin;
	struct in_addr v4;
	unsigned port = 0;

	strcpy(p->host, "?");
	p->name[0] = '\0';
	if (sa->sa_family == AF_INET) {
		sin = (const struct sockaddr_in *)(const void *)sa;
		inet_ntop(AF_INET, &sin->sin_addr, p->host, sizeof p->host);
		port = ntohs(sin->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		sin6 = (const struct sockaddr_in6 *)(const void *)sa;
		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
			memcpy(&v4, &sin6->sin6_addr.s6_addr[12], sizeof v4);
			inet_ntop(AF_INET, &v4, p->host, sizeof p->host);
		} else
			inet_ntop(AF_INET6, &sin6->sin6_addr, p->host,
			    sizeof p->host);
		port = ntohs(sin6->sin6_port);
	}
	snprintf(p->port, sizeof p->port, "%u", port);
	if (strchr(p->host, ':') != NULL)
		snprintf(p->label, sizeof p->label, "[%s]:%s", p->host, p->port);
	else
		snprintf(p->label, sizeof p->label, "%s:%s", p->host, p->port);
}

/* Opens, binds and listens on one address; returns the fd or -1 (errno). */
static int
net_listen_one(const struct addrinfo *ai, int v6only)
{
	int fd, on = 1, saved;

	/* Non-blocking like systemd's sockets: accept never waits. */
	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC |
	    SOCK_NONBLOCK, ai->ai_protocol);
	if (fd == -1)
		return -1;
	/* Lets a restarted server bind again at once. */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) == -1)
		goto fail;
	if (ai->ai_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6,
	    IPV6_V6ONLY, &v6only, sizeof v6only) == -1)
		goto fail;
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) == -1 ||
	    listen(fd, SOMAXCONN) == -1)
		goto fail;
	return fd;
fail:
	saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

/*
 * Listens on host (NULL: every interface) and port.  With no host and no
 * family, one IPv6 socket serves IPv4 too, where the host has IPv6.
 * Fills bound with the address really bound (the real port for port 0).
 * Returns the fd, or -1 with a message in err.
 */
int
net_listen(const char *host, const char *port, int family, struct peer *bound,
    char *err, size_t errlen)
{
	struct addrinfo hints, *res, *ai;
	struct sockaddr_storage ss;
	struct peer tried;
	socklen_t sslen = sizeof ss;
	int fd = -1, gai;

	memset(&hints, 0, sizeof hints);
	hints.ai_family = family;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if (host == NULL && family == AF_UNSPEC)
		hints.ai_family = AF_INET6;
	if ((gai = getaddrinfo(host, port, &hints, &res)) != 0 &&
	    host == NULL && family == AF_UNSPEC) {
		hints.ai_family = AF_INET;
		gai = getaddrinfo(host, port, &hints, &res);
	}
	if (gai != 0) {
		snprintf(err, errlen, "%s: %s", host ? host : "any address",
		    gai_strerror(gai));
		return -1;
	}
	snprintf(err, errlen, "no address to listen on");
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = net_listen_one(ai, family == AF_INET6);
		if (fd == -1 && errno == EAFNOSUPPORT && host == NULL &&
		    family == AF_UNSPEC && ai->ai_family == AF_INET6) {
			/* No IPv6 on this host: fall back to IPv4. */
			freeaddrinfo(res);
			return net_listen(host, port, AF_INET, bound, err,
			    errlen);
		}
		if (fd != -1)
			break;
		peer_from_sockaddr(&tried, ai->ai_addr);
		snprintf(err, errlen, "bind %s port %s: %s", tried.host,
		    tried.port, strerror(errno));
	}
	freeaddrinfo(res);
	if (fd == -1)
		return -1;
	if (getsockname(fd, (struct sockaddr *)&ss, &sslen) == -1) {
		snprintf(err, errlen, "getsockname: %s", strerror(errno));
		close(fd);
		return -1;
	}
	peer_from_sockaddr(bound, (struct sockaddr *)&ss);
	return fd;
}

/* The first fd systemd passes (SD_LISTEN_FDS_START). */
#define NET_ACTIVATED_FIRST	3

/*
 * Checks that fd is a listening TCP socket and makes it close-on-exec and
 * non-blocking; fills bound with its address.  Returns 0, or -1 with a
 * message in err.
 */
static int
net_activated_one(int fd, struct peer *bound, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	int type, listening, flags;
	socklen_t optlen = sizeof type;

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &optlen) == -1) {
		snprintf(err, errlen, "systemd's fd %d: %s", fd,
		    errno == ENOTSOCK ? "not a socket" : strerror(errno));
		return -1;
	}
	optlen = sizeof listening;
	if (type != SOCK_STREAM || getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN,
	    &listening, &optlen) == -1 || !listening) {
		snprintf(err, errlen, "systemd's fd %d: not a listening "
		    "stream socket", fd);
		return -1;
	}
	if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1 ||
	    (ss.ss_family != AF_INET && ss.ss_family != AF_INET6)) {
		snprintf(err, errlen, "systemd's fd %d: not a TCP socket", fd);
		return -1;
	}
	/* systemd hands them over inheritable and blocking. */
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) == -1 ||
	    (flags = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1) {
		snprintf(err, errlen, "systemd's fd %d: %s", fd,
		    strerror(errno));
		return -1;
	}
	peer_from_sockaddr(bound, (struct sockaddr *)&ss);
	return 0;
}

/*
 * Takes the listening sockets of systemd socket activation: when
 * LISTEN_PID is our pid, LISTEN_FDS sockets from fd 3 on, at most max,
 * into fds, with their addresses in bound.  LISTEN_PID, LISTEN_FDS and
 * LISTEN_FDNAMES are removed from the environment in every case, so no
 * child sees them; this must run before any thread starts.  Returns the
 * number of sockets taken (0: not activated), or -1 with a message in err.
 */
int
net_activated(int *fds, struct peer *bound, size_t max, char *err,
    size_t errlen)
{
	const char *pid_text, *fds_text, *errstr;
	long long pid, n = 0, i;

	pid_text = getenv("LISTEN_PID");
	fds_text = getenv("LISTEN_FDS");
	if (pid_text != NULL && fds_text != NULL) {
		pid = number_parse(pid_text, 1, INT_MAX, &errstr);
		if (errstr == NULL && pid == (long long)getpid()) {
			n = number_parse(fds_text, 0, (long long)max, &errstr);
			if (errstr != NULL) {
				snprintf(err, errlen, "LISTEN_FDS '%s' from "
				    "systemd is %s (at most %zu sockets)",
				    fds_text, errstr, max);
				n = -1;
			}
		}
	}
	/* The texts above are not read after this. */
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	for (i = 0; i < n; i++) {
		fds[i] = NET_ACTIVATED_FIRST + (int)i;
		if (net_activated_one(fds[i], &bound[i], err, errlen) == -1)
			return -1;
	}
	return (int)n;
}

/*
 * Connects to host and port, trying each address the name resolves to.
 * Returns the fd, or -1 with a message in err.
 */
int
net_connect(const char *host, const char *port, int family, char *err,
    size_t errlen)
{
	struct addrinfo hints, *res, *ai;
	int fd = -1, gai;

	memset(&hints, 0, sizeof hints);
	hints.ai_family = family;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if ((gai = getaddrinfo(host, port, &hints, &res)) != 0) {
		snprintf(err, errlen, "%s: %s", host,
		    gai == EAI_SYSTEM ? strerror(errno) : gai_strerror(gai));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
		    ai->ai_protocol);
		if (fd == -1) {
			snprintf(err, errlen, "socket: %s", strerror(errno));
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		snprintf(err, errlen, "connect to %s port %s: %s", host, port,
		    strerror(errno));
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

/*
 * Turns a client away with one line and closes the socket.  What the
 * client already sent is drained first, so that the close is a FIN and
 * not a reset that could destroy the line on its way.
 */
void
net_refuse(int fd, const char *line)
{
	char sink[4096];

	(void)send(fd, line, strlen(line), MSG_NOSIGNAL | MSG_DONTWAIT);
	(void)shutdown(fd, SHUT_WR);
	while (recv(fd, sink, sizeof sink, MSG_DONTWAIT) > 0)
		;
	close(fd);
}
