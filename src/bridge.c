/*
 * ptychat-bridge: runs inside a terminal window that ptychatd opened with
 * -e, and joins that window to the session's pty, /dev/pts/N.
 *
 * Why not xterm's -S hand-off?  With -S, xterm has no child process, so
 * the window manager's close button (WM_DELETE_WINDOW, which xterm turns
 * into SIGHUP for its child) does nothing at all.  With the bridge as its
 * child, closing the window hangs the bridge up, the bridge exits, its end
 * of the session pty closes, and ptychatd sees the window is gone.
 *
 * The window's own terminal does the line editing (canonical mode with
 * echo, and Backspace as that terminal sends it); the session pty is raw.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "ptychat.h"

int
main(int argc, char *argv[])
{
	struct pollfd pfd[2];
	struct termios raw;
	char buf[16384];
	ssize_t n;
	int pty;

	if (argc != 2 || argv[1][0] != '/') {
		fprintf(stderr, "usage: ptychat-bridge /dev/pts/N\n"
		    "ptychatd runs this inside each window it opens.\n");
		return 2;
	}
	if ((pty = open(argv[1], O_RDWR | O_NOCTTY | O_CLOEXEC)) == -1) {
		fprintf(stderr, "ptychat-bridge: %s: %s\n", argv[1],
		    strerror(errno));
		return 1;
	}
	if (tcgetattr(pty, &raw) == 0) {
		cfmakeraw(&raw);
		(void)tcsetattr(pty, TCSANOW, &raw);
	}
	/* The window's terminal knows what its Backspace key sends. */
	(void)tty_typing_mode(STDIN_FILENO, -1);
	/* Tells ptychatd the window is up; it then lets go of the slave. */
	if (io_write_all(pty, "ready\n", 6) == -1)
		return 1;

	pfd[0].fd = STDIN_FILENO;
	pfd[0].events = POLLIN;
	pfd[1].fd = pty;
	pfd[1].events = POLLIN;
	for (;;) {
		if (poll(pfd, 2, -1) == -1) {
			if (errno == EINTR)
				continue;
			return 1;
		}
		if (pfd[0].revents != 0) {
			n = read(STDIN_FILENO, buf, sizeof buf);
			if (n == -1 && errno == EINTR)
				continue;
			if (n <= 0 || io_write_all(pty, buf, (size_t)n) == -1)
				return 0;	/* the window is gone */
		}
		if (pfd[1].revents != 0) {
			n = read(pty, buf, sizeof buf);
			if (n == -1 && errno == EINTR)
				continue;
			if (n <= 0 || io_write_all(STDOUT_FILENO, buf,
			    (size_t)n) == -1)
				return 0;	/* the session has ended */
		}
	}
}
