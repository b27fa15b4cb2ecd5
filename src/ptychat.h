/*
 * ptychat: one terminal window per TCP client.
 *
 * The internal header.  Prototypes are grouped by the file that defines
 * them; everything not listed here is static to its file.
 */
#ifndef PTYCHAT_H
#define PTYCHAT_H

#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define PTYCHAT_VERSION		"0.1.0"
#define PTYCHAT_DEFAULT_PORT	"6666"

/* access.c */
struct access_rule {
	int		 family;	/* AF_INET or AF_INET6 */
	unsigned char	 addr[16];
	int		 prefix;	/* leading bits that must match */
	int		 deny;		/* --deny rather than --allow */
};

struct access_list {
	struct access_rule *rules;
	size_t		 n;
};

int	 access_parse(const char *, struct access_rule *, char *, size_t);
int	 access_add(struct access_list *, const char *, int, char *, size_t);
int	 access_allowed(const struct access_list *, const struct sockaddr *);

/* log.c */
void	 log_init(const char *, int);
void	 log_error(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_bad_option(int, char *const []);
void	 log_set_sink(void (*)(const char *));

/* console.c */
int	 console_start(void);
int	 console_input(void);
void	 console_stop(void);

/* editor.c */
/* Bytes for a terminal, or lines for the wire; grown as needed. */
struct editor_buf {
	char		*data;
	size_t		 len;
	size_t		 cap;
};

struct editor;

struct editor *editor_new(const char *, const char *, int);
void	 editor_free(struct editor *);
void	 editor_set_size(struct editor *, int, int);
void	 editor_start(struct editor *, struct editor_buf *);
int	 editor_keys(struct editor *, const void *, size_t,
	    struct editor_buf *, struct editor_buf *);
void	 editor_print(struct editor *, const void *, size_t,
	    struct editor_buf *);
void	 editor_note(struct editor *, const char *, struct editor_buf *);
size_t	 editor_pending(const struct editor *);
void	 editor_finish(struct editor *, struct editor_buf *);
void	 editor_buf_free(struct editor_buf *);

/* io.c */
int	 io_cloexec(int);
int	 io_nonblock(int);
int	 io_write_all(int, const void *, size_t);
int	 io_send_all(int, const void *, size_t);
int	 io_write_until(int, const void *, size_t, int);
int	 io_send_until(int, const void *, size_t, int);

/* utf8.c */
#define UTF8_REPLACEMENT	0xFFFD	/* shown for what is not UTF-8 */

/* What utf8_feed made of a byte. */
enum utf8_result {
	UTF8_MORE,	/* held: the sequence needs more bytes */
	UTF8_DONE,	/* a code point, its bytes in seq[0..need) */
	UTF8_BAD,	/* the byte can start no sequence */
	UTF8_AGAIN	/* it does not go on with the bytes held, which are
			   dropped (left in seq); feed it again */
};

/* A decoder's state; all zero is a fresh one. */
struct utf8 {
	unsigned char	 seq[4];	/* the sequence being decoded */
	size_t		 len;		/* bytes of it held; 0: none */
	size_t		 need;		/* bytes it has in all */
};

/*
 * Decodes the sequence at the start of the n bytes at s.  Returns its
 * length (1 to 4) with the code point in *cp; 0 if the n bytes begin one
 * but end too soon; or -k if the first k bytes are not UTF-8, in which case
 * the byte after them may start a sequence of its own.
 *
 * Only well-formed sequences decode, as in the Unicode standard's table of
 * them: the lead byte fixes the length, and the second byte's range
 * excludes overlongs (after E0, F0), surrogates (after ED) and values above
 * U+10FFFF (after F4), so a bad sequence is caught at its first bad byte.
 * It is inline because the sanitiser and the editor run it for every
 * character that is not ASCII: as a call it cost the sanitiser 7 to 11 %.
 */
static inline int
utf8_decode(const void *s, size_t n, uint32_t *cp)
{
	const unsigned char	*p = s;
	unsigned char		 lo = 0x80, hi = 0xBF;
	size_t			 need, i;
	uint32_t		 c;

	if (n == 0)
		return 0;
	c = p[0];
	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	/* C0 and C1 could only start overlongs, F5 and up too much. */
	if (c - 0xC2 > 0xF4 - 0xC2)
		return -1;
	need = c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
	switch (c) {
	case 0xE0:
		lo = 0xA0;
		break;
	case 0xED:
		hi = 0x9F;
		break;
	case 0xF0:
		lo = 0x90;
		break;
	case 0xF4:
		hi = 0x8F;
		break;
	}
	c &= 0xFF >> (need + 1);
	if (n < 2)
		return 0;
	if (p[1] < lo || p[1] > hi)
		return -1;
	for (i = 1; i < need; i++) {
		if (i == n)
			return 0;
		if ((p[i] & 0xC0) != 0x80)
			return -(int)i;
		c = c << 6 | (p[i] & 0x3F);
	}
	*cp = c;
	return (int)need;
}

#define UTF8_ONES	UINT64_C(0x0101010101010101)
#define UTF8_HIGHS	UINT64_C(0x8080808080808080)

/*
 * Returns the high bit of each of the 8 bytes in w that is outside
 * 0x20-0x7E: below 0x20, 0x7F, or with its top bit set.  A borrow may
 * flag a byte after a bad one too, but never one before it: read as a
 * little-endian word, the lowest bit set is the first bad byte's.
 */
static inline uint64_t
utf8_word_unprintable(uint64_t w)
{
	uint64_t	below, del;

	below = (w - UTF8_ONES * 0x20) & ~w;
	del = w ^ (UTF8_ONES * 0x7F);
	del = (del - UTF8_ONES) & ~del;
	return (below | del | w) & UTF8_HIGHS;
}

/*
 * Returns how many of the n bytes at s, from the first, are printable
 * ASCII: the runs of plain text that the sanitiser, the key parser and
 * the editor pass on whole, read a word at a time.  Inline, as
 * utf8_decode is.
 */
static inline size_t
utf8_ascii_run(const void *s, size_t n)
{
	const unsigned char	*p = s, *end = p + n;
	uint64_t		 w;

	/* Hostile input is mostly runs of none: no word for those. */
	if (n == 0 || *p < 0x20 || *p > 0x7E)
		return 0;
	while (end - p >= 8) {
		memcpy(&w, p, sizeof(w));
		if ((w = utf8_word_unprintable(w)) != 0) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
			return (size_t)(p - (const unsigned char *)s) +
			    (size_t)__builtin_ctzll(w) / 8;
#else
			break;
#endif
		}
		p += 8;
	}
	while (p < end && *p >= 0x20 && *p <= 0x7E)
		p++;
	return (size_t)(p - (const unsigned char *)s);
}

enum utf8_result utf8_feed(struct utf8 *, unsigned char, uint32_t *);
uint32_t utf8_next(const char *, size_t, size_t *);
size_t	 utf8_encode(uint32_t, char *);
int	 utf8_printable(uint32_t);
size_t	 utf8_prev(const char *, size_t);
size_t	 utf8_forward(const char *, size_t, size_t);

/* keys.c */
/* What keys_parse read. */
enum key_kind {
	KEY_NONE,	/* nothing complete: bytes held, or dropped */
	KEY_TEXT,	/* printable ASCII, text[0..len) of the input */
	KEY_CHAR,	/* one printable character, cp, whose UTF-8 is
			   text[0..len) */
	KEY_CONTROL,	/* a C0 control or DEL, cp, but CR, LF, ESC, CAN, SUB */
	KEY_ENTER,	/* CR, LF, or CR LF */
	KEY_UP,
	KEY_DOWN,
	KEY_RIGHT,
	KEY_LEFT,
	KEY_HOME,
	KEY_END,
	KEY_DELETE
};

/* A key; text points into the bytes given or the parser's state. */
struct key {
	enum key_kind	 kind;
	uint32_t	 cp;		/* KEY_CHAR, KEY_CONTROL */
	const char	*text;		/* KEY_TEXT, KEY_CHAR */
	size_t		 len;
};

enum keys_state {
	KEYS_TEXT,
	KEYS_ESC,		/* after ESC */
	KEYS_CSI,		/* after ESC [ */
	KEYS_SS3		/* after ESC O */
};

/* The parser's state between reads; all zero is a fresh one. */
struct keys {
	enum keys_state	 state;
	struct utf8	 utf8;		/* a character's first bytes */
	char		 params[16];	/* of a CSI or SS3 sequence */
	size_t		 nparams;
	int		 params_odd;	/* not digits and ';', or too long */
	int		 held_cr;	/* \r was Enter: a \n next is not */
};

size_t	 keys_parse(struct keys *, const void *, size_t, struct key *);

/* sanitize.c */
/*
 * Worst case: every input byte becomes "\xNN", plus what was held back
 * from the previous call (an unfinished UTF-8 sequence or a \r).
 */
#define SANITIZE_OUT_MAX(n)	((n) * 4 + 16)

struct sanitizer {
	struct utf8	 utf8;		/* an unfinished UTF-8 sequence */
	int		 held_cr;	/* a \r waits to see if \n follows */
};

void	 sanitize_init(struct sanitizer *);
size_t	 sanitize_feed(struct sanitizer *, const void *, size_t, char *);
size_t	 sanitize_finish(struct sanitizer *, char *);

/* net.c */
#define PEER_HOST_MAX	INET6_ADDRSTRLEN
#define PEER_LABEL_MAX	(INET6_ADDRSTRLEN + 16)

struct peer {
	char		 host[PEER_HOST_MAX];	/* 192.0.2.1 or 2001:db8::1 */
	char		 port[8];		/* decimal */
	char		 label[PEER_LABEL_MAX];	/* 192.0.2.1:80, [2001:db8::1]:80 */
};

void	 peer_from_sockaddr(struct peer *, const struct sockaddr *);
int	 net_listen(const char *, const char *, int, struct peer *, char *,
	    size_t);
int	 net_connect(const char *, const char *, int, char *, size_t);
void	 net_refuse(int, const char *);

/* transcript.c */
struct transcript;

int	 transcript_dir(const char *);
struct transcript *transcript_open(const char *, unsigned long,
	    const struct peer *);
void	 transcript_write(struct transcript *, int, const char *, size_t);
void	 transcript_event(struct transcript *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
void	 transcript_close(struct transcript *);

/* number.c */
long long number_parse(const char *, long long, long long, const char **);

/* thread.c */
int	 thread_start(void *(*)(void *), void *);

/* tty.c */
struct termios;
int	 tty_typing_mode(int, int);
int	 tty_background(int);
int	 tty_raw(int, struct termios *);

/* terminal.c */
enum window_kind {
	WINDOW_HANDOFF,		/* -S<pts>/<fd>: master on fd 3, an id line */
	WINDOW_PTY_FD,		/* urxvt -pty-fd 3: master on fd 3, no line */
	WINDOW_BRIDGE,		/* -e ptychat-bridge <pts>: "ready" line */
	WINDOW_TMUX		/* tmux runs the bridge; the launcher exits */
};

struct terminal {
	char		**words;	/* the program and its -t arguments */
	enum window_kind kind;
	const char *const *tail;	/* arguments added after the words */
	const char *const *tail_first;	/* for tmux: one that makes a session */
	const char	*bridge;	/* ptychat-bridge, or NULL */
	int		 xterm;		/* add xterm's hardening resources */
	int		 plain;		/* the bridge leaves editing to the tty */
};

int	 terminal_program_exists(const char *);
int	 terminal_choose(struct terminal *, char **, const char *, char *,
	    size_t);
const char *terminal_describe(const struct terminal *);
const char *const *terminal_tail(const struct terminal *);

/* termcmd.c */
char	**termcmd_split(const char *);
int	 termcmd_check(char *const *, char *, size_t);
char	*termcmd_expand(const char *, unsigned long, const struct peer *);
struct terminal;
char	**termcmd_argv(const struct terminal *, const char *const *,
	    unsigned long, const struct peer *, const char *, int);
void	 termcmd_free(char **);

/* session.c */
#define SESSION_NO_WINDOW	"ptychatd: no operator window is available\n"

struct server_config {
	struct terminal	 terminal;	/* what opens the windows */
	int		 stopfd;	/* readable once the server stops */
	unsigned	 idle_timeout;	/* seconds of silence; 0: no limit */
	int		 plain;		/* --plain: no chat line editor */
	int		 timestamps;	/* --timestamps on the client's lines */
	const char	*log_dir;	/* --log-dir, or NULL */
};

struct session {
	const struct server_config *config;
	unsigned long	 number;	/* from 1, in order of arrival */
	struct peer	 peer;
	int		 sock;		/* the client's connection */
	int		 tty;		/* our end of the session pty */
	int		 held;		/* the window's end, until it opens it */
	int		 wake;		/* eventfd: look at the session's state */
	struct editor	*ed;		/* the chat line, or NULL (--plain) */
	pthread_mutex_t	 out_lock;	/* one writer to the window at a time */
	pid_t		 pid;		/* the window's process */
	enum window_kind kind;
	atomic_int	 terminal_exited; /* reaped: 1 failed, 2 exited 0 */
	atomic_int	 refs;		/* relay threads still running */
	atomic_int	 window_closed;	/* the operator closed the window */
	atomic_int	 client_eof;	/* the client will send no more */
	atomic_int	 client_gone;	/* the client takes no more either */
	atomic_llong	 last_active;	/* CLOCK_MONOTONIC s of the last byte */
	long long	 started;	/* CLOCK_MONOTONIC s of the connection */
	atomic_ullong	 bytes_in;	/* from the client */
	atomic_ullong	 bytes_out;	/* to the client */
	atomic_int	 window_ready;	/* the window has said it is up */
	atomic_int	 kicked;	/* the console hung up on it */
	struct transcript *transcript;	/* --log-dir's file, or NULL */
	struct session	*prev, *next;	/* live sessions, under session_lock */
};

/* What the console's list shows of a session. */
struct session_view {
	unsigned long	 number;
	char		 label[PEER_LABEL_MAX];
	long long	 age;		/* seconds */
	unsigned long long bytes_in;
	unsigned long long bytes_out;
	const char	*state;
};

int	 session_open(const struct server_config *, int, const struct peer *,
	    unsigned long, pid_t *);
void	 session_release(struct session *);
int	 session_wait_all(int);
unsigned long session_count(void);
unsigned long session_count_host(const char *);
void	 session_terminal_exited(pid_t, int);
long long session_now(void);
size_t	 session_snapshot(struct session_view **);
int	 session_post(unsigned long, const char *, size_t);
int	 session_kick(unsigned long);

/* window.c */
int	 window_init(struct session *);
void	 window_free(struct session *);
void	 window_start(struct session *);
int	 window_peer(struct session *, const char *, size_t);
void	 window_note(struct session *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
int	 window_keys(struct session *, const char *, size_t,
	    struct editor_buf *);

/* relay.c */
void	 relay_wake(struct session *);
void	*relay_socket_to_window(void *);
void	 relay_window_to_socket(struct session *);

#endif
