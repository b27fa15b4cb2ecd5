/*
 * ptychat-bridge: runs inside a terminal window that ptychatd opened with
 * -e, and joins that window to the session's pty, /dev/pts/N.
 *
 * Why not xterm's -S hand-off?  With -S, xterm has no child process, so
 * the window manager's close button (WM_DELETE_WINDOW, which xterm turns
 * into SIGHUP for its child) does nothing at all.  With the bridge as its
 * child, closing the window hangs the bridge up, the bridge exits, its end
 * of the session pty closes, and ptychatd sees the window is gone.  Most
 * other emulators cannot adopt a pty at all, and tmux windows need a
 * command to run; the bridge serves them the same way.
 *
 * --raw (the chat line): the window's terminal is raw, keys go to
 * ptychatd's editor as they are typed, and the window's size is passed
 * on.  --lines (ptychatd --plain): the window's terminal edits whole
 * lines itself.  The session pty is raw either way.
 */
#include <sys/ioctl.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ptychat.h"

/* Set by SIGWINCH: the window's size has changed. */
static volatile sig_atomic_t resized;

static void
on_winch(int sig)
{
	(void)sig;
	resized = 1;
}

/* Gives the session pty the window's size, for the editor's wrapping. */
static void
bridge_copy_size(int pty)
{
	struct winsize ws;

	if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0)
		(void)ioctl(pty, TIOCSWINSZ, &ws);
}

int
main(int argc, char *argv[])
{
	struct sigaction sa;
	struct pollfd pfd[2];
	char buf[16384];
	ssize_t n;
	int pty, raw;

	if (argc != 3 || (strcmp(argv[1], "--raw") != 0 &&
	    strcmp(argv[1], "--lines") != 0) || argv[2][0] != '/') {
		fprintf(stderr, "usage: ptychat-bridge --raw|--lines "
		    "/dev/pts/N\nptychatd runs this inside each window it "
		    "opens.\n");
		return 2;
	}
	raw = strcmp(argv[1], "--raw") == 0;
	if ((pty = open(argv[2], O_RDWR | O_NOCTTY | O_CLOEXEC)) == -1) {
		fprintf(stderr, "ptychat-bridge: %s: %s\n", argv[2],
		    strerror(errno));
		return 1;
	}
	(void)tty_raw(pty, NULL);
	if (raw) {
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = on_winch;
		sigaction(SIGWINCH, &sa, NULL);
		(void)tty_raw(STDIN_FILENO, NULL);
		bridge_copy_size(pty);
	} else
		/* The window's terminal knows what its Backspace sends. */
		(void)tty_typing_mode(STDIN_FILENO, -1);
	/* Tells ptychatd the window is up; it then lets go of the slave. */
	if (io_write_all(pty, "ready\n", 6) == -1)
		return 1;

	pfd[0].fd = STDIN_FILENO;
	pfd[0].events = POLLIN;
	pfd[1].fd = pty;
	pfd[1].events = POLLIN;
	for (;;) {
		if (resized) {
			resized = 0;
			bridge_copy_size(pty);
		}
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
