/*
 * Whole-buffer reads and writes, written once: EINTR, short writes and
 * non-blocking descriptors are handled here and nowhere else.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

#include "ptychat.h"

/* Sets FD_CLOEXEC; returns -1 with errno set on failure. */
int
io_cloexec(int fd)
{
	int flags;

	if ((flags = fcntl(fd, F_GETFD)) == -1)
		return -1;
	return fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
}

/* Sets O_NONBLOCK; returns -1 with errno set on failure. */
int
io_nonblock(int fd)
{
	int flags;

	if ((flags = fcntl(fd, F_GETFL)) == -1)
		return -1;
	return fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

/*
 * Writes all of buf to a blocking fd; sockets get MSG_NOSIGNAL so a
 * vanished peer is an EPIPE, never a signal.  Returns -1 with errno set.
 */
static int
io_put_all(int fd, const void *buf, size_t len, int is_socket)
{
	const char *p = buf;
	ssize_t n;

	while (len > 0) {
		if (is_socket)
			n = send(fd, p, len, MSG_NOSIGNAL);
		else
			n = write(fd, p, len);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Writes all of buf to fd; returns -1 with errno set on failure. */
int
io_write_all(int fd, const void *buf, size_t len)
{
	return io_put_all(fd, buf, len, 0);
}

/* Sends all of buf on a socket; returns -1 with errno set on failure. */
int
io_send_all(int fd, const void *buf, size_t len)
{
	return io_put_all(fd, buf, len, 1);
}

/*
 * Writes all of buf to a non-blocking fd (a pty or a socket), waiting for
 * room with poll, and gives up as soon as cancel turns readable.  A slow
 * reader thus holds the writer back without anything queued here.
 * Returns 0, or -1 with errno set (ECANCELED when stopped).
 */
static int
io_put_until(int fd, const void *buf, size_t len, int cancel, int is_socket)
{
	struct pollfd pfd[2];
	const char *p = buf;
	ssize_t n;

	while (len > 0) {
		if (is_socket)
			n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		else
			n = write(fd, p, len);
		if (n >= 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -1;
		pfd[0].fd = fd;
		pfd[0].events = POLLOUT;
		pfd[1].fd = cancel;
		pfd[1].events = POLLIN;
		if (poll(pfd, 2, -1) == -1 && errno != EINTR)
			return -1;
		if (pfd[1].revents != 0) {
			errno = ECANCELED;
			return -1;
		}
	}
	return 0;
}

/* io_put_until for a non-blocking pty or pipe. */
int
io_write_until(int fd, const void *buf, size_t len, int cancel)
{
	return io_put_until(fd, buf, len, cancel, 0);
}

/* io_put_until for a socket; never raises SIGPIPE. */
int
io_send_until(int fd, const void *buf, size_t len, int cancel)
{
	return io_put_until(fd, buf, len, cancel, 1);
}

/*
 * Makes dir, mode 0700, unless a directory of that name exists (its mode
 * is left as it is).  Returns 0, or -1 with errno (ENOTDIR: not one).
 */
int
io_mkdir(const char *dir)
{
	struct stat st;

	if (mkdir(dir, 0700) == 0)
		return 0;
	if (errno != EEXIST || stat(dir, &st) == -1)
		return -1;
	if (!S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		return -1;
	}
	return 0;
}

long long
io_clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
