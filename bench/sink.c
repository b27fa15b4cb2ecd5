/*
 * sink: a plain TCP server for timing clients.  It listens on
 * 127.0.0.1, prints "port=N", and serves one connection after another:
 * it reads until end of file (and with --echo sends every byte back),
 * then closes.  It stops when its standard input closes.
 *
 * usage: sink [--echo]
 */
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

static void __attribute__((noreturn))
die(const char *what)
{
	fprintf(stderr, "sink: %s: %s\n", what, strerror(errno));
	exit(1);
}

int
main(int argc, char *argv[])
{
	struct sockaddr_in sin;
	socklen_t len = sizeof sin;
	struct pollfd pfd[2];
	int lfd, fd, echo = argc > 1 && strcmp(argv[1], "--echo") == 0;
	char *buf;
	ssize_t n;

	signal(SIGPIPE, SIG_IGN);
	if ((buf = malloc(1 << 17)) == NULL)
		die("malloc");
	if ((lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		die("socket");
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(lfd, (struct sockaddr *)&sin, sizeof sin) == -1 ||
	    listen(lfd, 64) == -1 ||
	    getsockname(lfd, (struct sockaddr *)&sin, &len) == -1)
		die("listen");
	printf("port=%d\n", ntohs(sin.sin_port));
	fflush(stdout);
	pfd[0].fd = lfd;
	pfd[0].events = POLLIN;
	pfd[1].fd = STDIN_FILENO;
	pfd[1].events = POLLIN;
	for (;;) {
		if (poll(pfd, 2, -1) == -1 && errno != EINTR)
			die("poll");
		if (pfd[1].revents != 0)
			return 0;
		if (!(pfd[0].revents & POLLIN))
			continue;
		if ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) == -1)
			continue;
		while ((n = recv(fd, buf, 1 << 17, 0)) > 0 || (n == -1 &&
		    errno == EINTR))
			if (n > 0 && echo &&
			    bench_write_all(fd, buf, (size_t)n) == -1)
				break;
		close(fd);
	}
}
