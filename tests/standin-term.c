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
 *            [--max-rate BYTES_PER_SEC] [--sum | --sum-after TEXT]
 *            [--when TEXT (--type KEYS | --close)]...
 *            [--whenever TEXT --type KEYS]...
 *            [-T title] [-n name] -S<ptsname>/<fd>
 *
 * For the load and fault tests:
 *
 * --max-rate N reads the screen at no more than N bytes a second (a slow
 * window), with at most 50 ms worth of bytes in one burst.
 *
 * --sum-after TEXT logs the screen to NAME.out up to and including the
 * first TEXT, and from then on keeps only a byte count and a CRC-32
 * (zlib's, as Python's zlib.crc32 computes it) of what follows.  "COUNT
 * CRC32HEX\n" is written to DIR/NAME.sum every 100 ms while it changes, on
 * SIGUSR1, and at exit.  --sum is the same from the first byte: nothing
 * goes to NAME.out.  Hundreds of MiB thus never reach the disk.
 *
 * --when TEXT --type KEYS types KEYS once, as soon as TEXT has appeared
 * on the screen; --when TEXT --close then closes the window instead;
 * --whenever TEXT --type KEYS types KEYS each time TEXT appears.  TEXT
 * and KEYS take the escapes \r \n \t \\ and \s (a space: ptychatd splits
 * its -t command on blanks, with no quoting).  TEXT is at most 255 bytes.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_TRIGGERS	16
#define TRIGGER_MAX	255

struct trigger {
	char		 text[TRIGGER_MAX + 1];
	size_t		 len;
	const char	*keys;		/* NULL: close the window */
	size_t		 keylen;
	int		 repeat;	/* --whenever: fire at each match */
	int		 fired;
};

static volatile sig_atomic_t closing, sum_wanted;

static struct trigger triggers[MAX_TRIGGERS];
static size_t ntriggers;

/* The last bytes of the screen, so a TEXT split between reads is seen. */
static char tail[TRIGGER_MAX];
static size_t taillen;

/* --sum-after: the mark, whether it has been seen, and the sums. */
static const char *sum_mark;
static size_t sum_marklen;
static int summing;
static unsigned long long sum_count;
static uint32_t sum_crc, crc_table[256];
static char sum_path[4096];

static void
on_term(int sig)
{
	(void)sig;
	closing = 1;
}

static void
on_usr1(int sig)
{
	(void)sig;
	sum_wanted = 1;
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

/* Decodes \r \n \t \s \\ in place; returns the new length. */
static size_t
unescape(char *s)
{
	char *in, *out;

	for (in = out = s; *in != '\0'; in++) {
		if (*in != '\\' || in[1] == '\0') {
			*out++ = *in;
			continue;
		}
		switch (*++in) {
		case 'r':
			*out++ = '\r';
			break;
		case 'n':
			*out++ = '\n';
			break;
		case 't':
			*out++ = '\t';
			break;
		case 's':
			*out++ = ' ';
			break;
		default:
			*out++ = *in;
			break;
		}
	}
	*out = '\0';
	return (size_t)(out - s);
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
crc_init(void)
{
	uint32_t c;
	unsigned i, k;

	for (i = 0; i < 256; i++) {
		c = i;
		for (k = 0; k < 8; k++)
			c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
		crc_table[i] = c;
	}
}

static void
sum_add(const char *buf, size_t len)
{
	uint32_t c = sum_crc ^ 0xFFFFFFFFu;
	size_t i;

	for (i = 0; i < len; i++)
		c = crc_table[(c ^ (unsigned char)buf[i]) & 0xFF] ^ (c >> 8);
	sum_crc = c ^ 0xFFFFFFFFu;
	sum_count += len;
}

static void
sum_write(void)
{
	char line[64];

	if (sum_mark == NULL)
		return;
	snprintf(line, sizeof line, "%llu %08x\n", sum_count,
	    (unsigned)sum_crc);
	write_file(sum_path, line);
}

/*
 * Shows n bytes of screen: logs them until the --sum-after mark, and
 * counts them after it.
 */
static void
screen_show(int out, const char *buf, size_t n)
{
	/* The last bytes before, so a mark split between reads is seen. */
	static char scan[TRIGGER_MAX + 65536];
	static size_t carry;
	const char *hit;
	size_t logged = summing ? 0 : n, keep;

	if (sum_mark != NULL && !summing) {
		memcpy(scan + carry, buf, n);
		if ((hit = memmem(scan, carry + n, sum_mark, sum_marklen))) {
			summing = 1;
			logged = (size_t)(hit - scan) + sum_marklen - carry;
		} else {
			keep = carry + n < sum_marklen ? carry + n :
			    sum_marklen - 1;
			memmove(scan, scan + carry + n - keep, keep);
			carry = keep;
		}
	}
	if (logged > 0 && write(out, buf, logged) != (ssize_t)logged)
		die("writing the screen log");
	if (summing && logged < n)
		sum_add(buf + logged, n - logged);
}

/* Types keys into the pty, as the operator would. */
static void
type_keys(int fd, const char *keys, size_t len)
{
	ssize_t n;

	struct pollfd pfd;

	while (len > 0) {
		n = write(fd, keys, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN) {
			pfd.fd = fd;
			pfd.events = POLLOUT;
			(void)poll(&pfd, 1, -1);
			continue;
		}
		if (n <= 0)
			die("typing");
		keys += n;
		len -= (size_t)n;
	}
}

/*
 * Runs the triggers over n new bytes of screen.  Returns 1 when one of
 * them closes the window.
 */
static int
triggers_run(int fd, const char *buf, size_t n)
{
	static char scan[TRIGGER_MAX + 65536];
	struct trigger *t;
	const char *p, *hit;
	size_t i, keep;

	if (ntriggers == 0)
		return 0;
	memcpy(scan, tail, taillen);
	memcpy(scan + taillen, buf, n);
	for (i = 0; i < ntriggers; i++) {
		t = &triggers[i];
		if (t->fired && !t->repeat)
			continue;
		/* Only a match that ends in the new bytes is new. */
		p = taillen >= t->len ? scan + taillen - t->len + 1 : scan;
		while ((hit = memmem(p, (size_t)(scan + taillen + n - p),
		    t->text, t->len)) != NULL) {
			t->fired = 1;
			if (t->keys == NULL)
				return 1;
			type_keys(fd, t->keys, t->keylen);
			if (!t->repeat)
				break;
			p = hit + 1;
		}
	}
	keep = taillen + n < TRIGGER_MAX ? taillen + n : TRIGGER_MAX;
	memmove(tail, scan + taillen + n - keep, keep);
	taillen = keep;
	return 0;
}

/* Sleeps until n more bytes are allowed at rate bytes a second. */
static void
throttle(double rate, size_t n)
{
	static double next;
	struct timespec ts;
	double now, wait;

	now = now_s();
	/* At most 50 ms of saved-up credit: a burst stays short. */
	if (next < now - 0.05)
		next = now - 0.05;
	next += (double)n / rate;
	while (!closing && (wait = next - now_s()) > 0) {
		ts.tv_sec = (time_t)wait;
		ts.tv_nsec = (long)((wait - (double)ts.tv_sec) * 1e9);
		(void)nanosleep(&ts, NULL);
	}
}

static void __attribute__((noreturn))
usage_error(const char *what, const char *arg)
{
	fprintf(stderr, "standin-term: %s '%s'\n", what, arg);
	exit(2);
}

int
main(int argc, char *argv[])
{
	const char *dir = NULL, *name = NULL, *title = "";
	char path[4096], pidtext[32], buf[65536], *slash, *end;
	static char typed[65536];
	size_t typed_off = 0, typed_len = 0;
	struct sigaction sa;
	struct pollfd pfd[2];
	struct trigger *t;
	double rate = 0, last_sum = 0;
	unsigned long long last_count = ~0ULL;
	size_t chunk = sizeof buf;
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
		else if (strcmp(argv[i], "--max-rate") == 0 && i + 1 < argc) {
			rate = strtod(argv[++i], &end);
			if (*end != '\0' || !(rate > 0))
				usage_error("bad --max-rate", argv[i]);
		} else if (strcmp(argv[i], "--sum") == 0)
			sum_mark = "";
		else if (strcmp(argv[i], "--sum-after") == 0 && i + 1 < argc) {
			sum_mark = argv[++i];
			if (unescape(argv[i]) > TRIGGER_MAX)
				usage_error("--sum-after text too long", argv[i]);
		} else if ((strcmp(argv[i], "--when") == 0 ||
		    strcmp(argv[i], "--whenever") == 0) && i + 2 < argc) {
			if (ntriggers == MAX_TRIGGERS)
				usage_error("too many triggers at", argv[i]);
			t = &triggers[ntriggers++];
			t->repeat = strcmp(argv[i], "--whenever") == 0;
			if (strlen(argv[++i]) > TRIGGER_MAX)
				usage_error("trigger text too long", argv[i]);
			strcpy(t->text, argv[i]);
			if ((t->len = unescape(t->text)) == 0)
				usage_error("empty trigger text", argv[i]);
			if (strcmp(argv[i + 1], "--close") == 0 &&
			    !t->repeat)
				i++;
			else if (strcmp(argv[i + 1], "--type") == 0 &&
			    i + 2 < argc) {
				i += 2;
				t->keys = argv[i];
				t->keylen = unescape(argv[i]);
			} else
				usage_error("--when TEXT needs --type KEYS or "
				    "--close, not", argv[i + 1]);
		} else if (strcmp(argv[i], "-T") == 0 && i + 1 < argc)
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
	if (sum_mark != NULL) {
		sum_marklen = strlen(sum_mark);
		summing = sum_marklen == 0;
		crc_init();
		snprintf(sum_path, sizeof sum_path, "%s/%s.sum", dir, name);
	}
	/* Reads of 20 ms' worth at most keep a throttled stream smooth. */
	if (rate > 0 && rate / 50 < (double)chunk)
		chunk = rate / 50 < 1 ? 1 : (size_t)(rate / 50);

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);

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
	sum_write();
	snprintf(path, sizeof path, "%s/%s.pid", dir, name);
	snprintf(pidtext, sizeof pidtext, "%ld\n", (long)getpid());
	write_file(path, pidtext);

	/*
	 * Like xterm, typing never blocks the screen: keys from the FIFO
	 * wait in typed[] while the pty has no room, and the screen is read
	 * meanwhile.
	 */
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	pfd[0].fd = fd;
	pfd[1].fd = in;
	while (!closing) {
		pfd[0].events = POLLIN | (typed_len > 0 ? POLLOUT : 0);
		pfd[1].events = typed_len > 0 ? 0 : POLLIN;
		if (sum_wanted) {
			sum_wanted = 0;
			sum_write();
		}
		if (poll(pfd, 2, sum_mark != NULL ? 100 : -1) == -1) {
			if (errno == EINTR)
				continue;
			die("poll");
		}
		if (typed_len > 0 && (pfd[0].revents & POLLOUT)) {
			n = write(fd, typed + typed_off, typed_len);
			if (n > 0) {
				typed_off += (size_t)n;
				typed_len -= (size_t)n;
			}
		}
		if (pfd[0].revents & ~POLLOUT) {
			n = read(fd, buf, chunk);
			if (n <= 0 && !(n == -1 &&
			    (errno == EINTR || errno == EAGAIN)))
				break;	/* the server closed the slave */
			if (n > 0) {
				screen_show(out, buf, (size_t)n);
				if (triggers_run(fd, buf, (size_t)n))
					break;
				if (rate > 0)
					throttle(rate, (size_t)n);
			}
		}
		if (pfd[1].revents != 0) {
			n = read(in, typed, sizeof typed);
			if (n > 0) {
				typed_off = 0;
				typed_len = (size_t)n;
			}
		}
		if (sum_mark != NULL && sum_count != last_count &&
		    now_s() - last_sum >= 0.1) {
			sum_write();
			last_sum = now_s();
			last_count = sum_count;
		}
	}
	sum_write();
	return 0;
}
