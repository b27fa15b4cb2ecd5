/*
 * The terminal mode a person types chat lines in, shared by the -S
 * windows (set on the session pty) and ptychat-bridge (set on the
 * window's own terminal).
 */
#include <termios.h>
#include <unistd.h>

#include "ptychat.h"

/*
 * Whole lines with echo and editing (Backspace, ^U, ^W); no ^D end of
 * file (it would look like a closed window), no signals, no ^S freeze.
 * erase is the Backspace character, or -1 to keep the terminal's own.
 * Returns -1 with errno set on failure.
 */
int
tty_typing_mode(int fd, int erase)
{
	struct termios t;

	if (tcgetattr(fd, &t) == -1)
		return -1;
	t.c_iflag |= ICRNL | IUTF8;
	t.c_iflag &= ~(tcflag_t)(INLCR | IGNCR | IXON | IXOFF);
	t.c_oflag |= OPOST | ONLCR;
	t.c_lflag |= ICANON | ECHO | ECHOE | ECHOK | ECHOCTL | ECHOKE | IEXTEN;
	t.c_lflag &= ~(tcflag_t)(ISIG | ECHONL);
	if (erase != -1)
		t.c_cc[VERASE] = (cc_t)erase;
	t.c_cc[VKILL] = 025;
	t.c_cc[VWERASE] = 027;
	t.c_cc[VEOF] = _POSIX_VDISABLE;
	return tcsetattr(fd, TCSANOW, &t);
}

/*
 * Returns 1 when fd is our controlling terminal and we run in the
 * background of it ("ptychatd &"): there, tcsetattr would stop us with
 * SIGTTOU.  A terminal that is not our controlling one is never that.
 */
int
tty_background(int fd)
{
	pid_t fg = tcgetpgrp(fd);

	return fg != -1 && fg != getpgrp();
}

/*
 * Puts fd in raw mode: bytes as they are typed, no echo, no signals, no
 * output processing.  The mode before is stored in *saved unless saved is
 * NULL.  The one place that sets a terminal raw.  Returns -1 with errno
 * set on failure, leaving the terminal as it was.
 */
int
tty_raw(int fd, struct termios *saved)
{
	struct termios t;

	if (tcgetattr(fd, &t) == -1)
		return -1;
	if (saved != NULL)
		*saved = t;
	cfmakeraw(&t);
	return tcsetattr(fd, TCSANOW, &t);
}
