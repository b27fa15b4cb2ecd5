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

/*
 * Bytes on their way one way through the bridge.  Each direction has its
 * own buffer, and no write ever blocks: a bridge that blocked typing a
 * long paste into the session pty would stop reading what ptychatd
 * echoes back, and ptychatd, blocked writing that echo, would stop
 * reading the paste.  So a direction stops reading only while its own
 * buffer is full, and the other direction goes on.
 */
#define BRIDGE_HUP	(POLLHUP | POLLERR | POLLNVAL)

struct bridge_pipe {
	int		 from, to;
	char		 buf[16384];
	size_t		 off, len;
};

/*
 * Moves what it can through p without blocking.  Returns -1 when either
 * end is gone, 0 otherwise.
 */
static int
bridge_move(struct bridge_pipe *p, short rev_from, short rev_to)
{
	ssize_t n;

	if (p->len == 0 && rev_from != 0) {
		n = read(p->from, p->buf, sizeof p->buf);
		if (n == 0 || (n == -1 && errno != EINTR && errno != EAGAIN))
			return -1;
		if (n > 0) {
			p->off = 0;
			p->len = (size_t)n;
			/* Try at once: the other end usually has room. */
			rev_to = POLLOUT;
		}
	}
	if (p->len > 0 && rev_to != 0) {
		n = write(p->to, p->buf + p->off, p->len);
		if (n == -1 && errno != EINTR && errno != EAGAIN)
			return -1;
		if (n > 0) {
			p->off += (size_t)n;
			p->len -= (size_t)n;
		}
	}
	return 0;
}

/* Copies keys to the session pty and the session to the window. */
static int
bridge_relay(int pty)
{
	enum { KEYS_IN, KEYS_OUT, SCREEN_IN, SCREEN_OUT };
	static struct bridge_pipe keys, screen;
	struct pollfd pfd[4];

	keys.from = STDIN_FILENO;
	keys.to = pty;
	screen.from = pty;
	screen.to = STDOUT_FILENO;
	(void)io_nonblock(pty);
	(void)io_nonblock(STDIN_FILENO);
	(void)io_nonblock(STDOUT_FILENO);
	pfd[KEYS_IN].fd = STDIN_FILENO;
	pfd[KEYS_OUT].fd = pty;
	pfd[SCREEN_IN].fd = pty;
	pfd[SCREEN_OUT].fd = STDOUT_FILENO;
	for (;;) {
		if (resized) {
			resized = 0;
			bridge_copy_size(pty);
		}
		pfd[KEYS_IN].events = keys.len == 0 ? POLLIN : 0;
		pfd[KEYS_OUT].events = keys.len > 0 ? POLLOUT : 0;
		pfd[SCREEN_IN].events = screen.len == 0 ? POLLIN : 0;
		pfd[SCREEN_OUT].events = screen.len > 0 ? POLLOUT : 0;
		if (poll(pfd, 4, -1) == -1) {
			if (errno == EINTR)
				continue;
			return 1;
		}
		/*
		 * A hang-up shows even where nothing is polled for: the
		 * window closed with keys still buffered (they have nowhere
		 * to go), or the session ended with screen bytes left for
		 * the window (it gets them, then the read sees the end).
		 */
		if (keys.len > 0 && (pfd[KEYS_IN].revents & BRIDGE_HUP))
			return 0;
		if (screen.len > 0 && (pfd[SCREEN_IN].revents & BRIDGE_HUP)) {
			(void)io_write_until(STDOUT_FILENO, screen.buf +
			    screen.off, screen.len, -1);
			screen.len = 0;
			continue;
		}
		/* Either end gone: the window closed, or the session ended. */
		if (bridge_move(&keys, pfd[KEYS_IN].revents,
		    pfd[KEYS_OUT].revents) == -1 ||
		    bridge_move(&screen, pfd[SCREEN_IN].revents,
		    pfd[SCREEN_OUT].revents) == -1)
			return 0;
	}
}

int
main(int argc, char *argv[])
{
	struct sigaction sa;
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

	return bridge_relay(pty);
}
