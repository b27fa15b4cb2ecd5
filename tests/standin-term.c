/*
 * standin-term: a stand-in for xterm in the fast tests.
 *
 * It follows xterm's -S<ptsname>/<fd> convention: it takes the pty master
 * on fd, writes a hex "window id" line into it, then shows what it reads
 * by appending it to DIR/NAME.out, and types whatever is written to the
 * FIFO DIR/NAME.in.  DIR/NAME.pid appears once it is ready, and
 * DIR/NAME.title holds the -T title.  Closing the window is SIGTERM.
 *
 * usage: standin-term --dir DIR --name NAME [--exit-early] [--no-id]
 *            [-T title] [-n name] -S<ptsname>/<fd>
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t closing;

static void
on_term(int sig)
{
	(void)sig;
	closing = 1;
}

static void __attribute__((noreturn))
die(const char *what)
{
	fprintf(stderr, "standin-term: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void
write_file(const char *path, const char *text)
{
	char tmp[4096];
	FILE *f;

	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	if ((f = fopen(tmp, "w")) == NULL)
		die(tmp);
	fputs(text, f);
	if (fclose(f) != 0 || rename(tmp, path) == -1)
		die(path);
}

int
main(int argc, char *argv[])
{
	const char *dir = NULL, *name = NULL, *title = "";
	char path[4096], pidtext[32], buf[65536], *slash;
	struct sigaction sa;
	struct pollfd pfd[2];
	int i, fd = -1, out, in, early = 0, noid = 0;
	ssize_t n;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
			dir = argv[++i];
		else if (strcmp(argv[i], "--name") == 0 && i + 1 < argc)
			name = argv[++i];
		else if (strcmp(argv[i], "--exit-early") == 0)
			early = 1;
		else if (strcmp(argv[i], "--no-id") == 0)
			noid = 1;
		else if (strcmp(argv[i], "-T") == 0 && i + 1 < argc)
			title = argv[++i];
		else if (strcmp(argv[i], "-n") == 0 && i + 1 < argc)
			i++;
		else if (strncmp(argv[i], "-S", 2) == 0 &&
		    (slash = strrchr(argv[i], '/')) != NULL)
			fd = atoi(slash + 1);
		else {
			fprintf(stderr, "standin-term: unknown argument '%s'\n",
			    argv[i]);
			return 2;
		}
	}
	if (dir == NULL || name == NULL || fd < 0) {
		fprintf(stderr, "standin-term: need --dir, --name and -S\n");
		return 2;
	}
	if (early)
		return 1;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);

	snprintf(path, sizeof path, "%s/%s.title", dir, name);
	write_file(path, title);
	snprintf(path, sizeof path, "%s/%s.out", dir, name);
	if ((out = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
	    0644)) == -1)
		die(path);
	snprintf(path, sizeof path, "%s/%s.in", dir, name);
	if (mkfifo(path, 0600) == -1 && errno != EEXIST)
		die(path);
	/* Read-write, so the FIFO never reports end of file. */
	if ((in = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC)) == -1)
		die(path);
	if (!noid) {
		n = snprintf(buf, sizeof buf, "%lx\n", (unsigned long)getpid());
		if (write(fd, buf, (size_t)n) != n)
			die("writing the id line");
	}
	snprintf(path, sizeof path, "%s/%s.pid", dir, name);
	snprintf(pidtext, sizeof pidtext, "%ld\n", (long)getpid());
	write_file(path, pidtext);

	pfd[0].fd = fd;
	pfd[0].events = POLLIN;
	pfd[1].fd = in;
	pfd[1].events = POLLIN;
	while (!closing) {
		if (poll(pfd, 2, -1) == -1) {
			if (errno == EINTR)
				continue;
			die("poll");
		}
		if (pfd[0].revents != 0) {
			n = read(fd, buf, sizeof buf);
			if (n <= 0 && !(n == -1 && errno == EINTR))
				break;	/* the server closed the slave */
			if (n > 0 && write(out, buf, (size_t)n) != n)
				die("writing the screen log");
		}
		if (pfd[1].revents != 0) {
			n = read(in, buf, sizeof buf);
			if (n > 0 && write(fd, buf, (size_t)n) != n)
				die("typing");
		}
	}
	return 0;
}
