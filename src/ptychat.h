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
#include <openssl/types.h>
#include <pthread.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>		/* utf8_ascii_run */
#endif

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

/* Who may connect, and how many at once. */
struct limits {
	struct access_list access;	/* --allow, --deny */
	struct access_list proxies;	/* --proxy-protocol: trusted */
	unsigned long	 max_clients;
	unsigned long	 max_per_host;	/* 0: no limit */
};

/* log.c */
void	 log_init(const char *, int);
void	 log_error(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_bad_option(int, char *const []);
void	 log_set_sink(void (*)(const char *));

/* console.c */
int	 console_start(void);
void	 console_print(const char *);
int	 console_input(void);
void	 console_stop(void);

/* desk.c */
enum desk_state {
	DESK_HERE,		/* taking new clients */
	DESK_AWAY,		/* turning new clients away */
	DESK_LEAVING		/* away, and exiting after the last session */
};

enum desk_state desk_state(void);
enum desk_state desk_set(enum desk_state);
void		 desk_move(enum desk_state, const char *);
const char	*desk_name(enum desk_state);
void		 desk_agent_line(char *, size_t, unsigned long, unsigned long);

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
/* A window's focus, as its terminal last reported it (DECSET 1004). */
enum focus { FOCUS_UNKNOWN, FOCUS_IN, FOCUS_OUT };
enum focus editor_focus(struct editor *, int *);
void	 editor_finish(struct editor *, struct editor_buf *);
void	 editor_buf_free(struct editor_buf *);

/* chatline.c */
/* Keys that may end the input, for chatline_keys. */
#define CHATLINE_INTR	0x01	/* ^C, wherever it is typed */
#define CHATLINE_EOF	0x02	/* ^D, reached on an empty line */
/* Not a key: the echo waits in the line's buffer for chatline_flush_held. */
#define CHATLINE_HOLD	0x04

/* A chat line on a terminal; the fields are chatline.c's own. */
struct chatline {
	/*
	 * Guards the editor, out, failed and finished, and keeps each
	 * call's bytes whole and in order on out_fd: a drawing cut into by
	 * another would garble the screen.  It is held across the write,
	 * which waits on a stuck terminal until cancel_fd turns readable.
	 */
	pthread_mutex_t	 lock;
	struct editor	*ed;		/* NULL: plain, text as it comes */
	struct editor_buf out;		/* what the editor made, to write */
	int		 out_fd;	/* the terminal written to */
	int		 size_fd;	/* the terminal asked for its size */
	int		 cancel_fd;	/* -1: blocking writes */
	int		 failed;	/* errno of a failed write, or 0 */
	int		 finished;	/* chatline_finish has run */
};

void	 chatline_init(struct chatline *, struct editor *, int, int, int);
void	 chatline_attach(struct chatline *, int, int);
void	 chatline_free(struct chatline *);
int	 chatline_start(struct chatline *);
int	 chatline_print(struct chatline *, const void *, size_t);
int	 chatline_note(struct chatline *, const char *);
int	 chatline_keys(struct chatline *, const void *, size_t, int,
	    struct editor_buf *, int *);
int	 chatline_flush_held(struct chatline *);
size_t	 chatline_pending(struct chatline *);
enum focus chatline_focus(struct chatline *, int *);
int	 chatline_bell(struct chatline *);
int	 chatline_finish(struct chatline *);

/* io.c */
int	 io_cloexec(int);
int	 io_nonblock(int);
int	 io_write_all(int, const void *, size_t);
int	 io_send_all(int, const void *, size_t);
int	 io_write_until(int, const void *, size_t, int);
int	 io_send_until(int, const void *, size_t, int);
/* Makes a directory 0700 unless one is there (left as it is). */
int	 io_mkdir(const char *);
/* CLOCK_MONOTONIC in whole milliseconds, for deadlines and ages. */
long long io_clock_ms(void);

/* outbox.c */
/* Bytes waiting for a client before the console is refused. */
#define OUTBOX_MAX	(64 * 1024)

enum outbox_kind {
	OUTBOX_CONSOLE,		/* a console line: shown in the window once sent */
	OUTBOX_REPLY		/* protocol bytes (telnet): sent, never shown */
};

/* One console command's line on its way to one or more sessions. */
struct outbox_batch {
	atomic_uint	 left;		/* sessions yet to give their verdict */
	atomic_uint	 sent;		/* sessions that sent it */
	atomic_ulong	 failed_number;	/* the first session that did not */
	char		 why[96];	/* and why not */
	atomic_uint	 total;		/* sessions handed it */
	unsigned long	 number;	/* say's session, or 0 for all */
};

struct outbox_msg {
	struct outbox_msg *next;
	enum outbox_kind kind;
	struct outbox_batch *batch;	/* OUTBOX_CONSOLE: whose verdict */
	size_t		 len;
	char		 data[];
};

struct outbox {
	pthread_mutex_t	 lock;		/* guards the rest; never held over I/O */
	pthread_cond_t	 room;		/* signalled as messages leave */
	struct outbox_msg *head, *tail;
	size_t		 bytes;		/* of all messages queued */
	int		 closed;	/* the session ends: take no more */
};

void	 outbox_init(struct outbox *);
int	 outbox_put(struct outbox *, enum outbox_kind, const void *, size_t,
	    struct outbox_batch *, int);
struct outbox_msg *outbox_take(struct outbox *);
struct outbox_msg *outbox_close(struct outbox *);
void	 outbox_free(struct outbox *);
struct outbox_batch *outbox_batch_new(unsigned long);
void	 outbox_batch_add(struct outbox_batch *);
void	 outbox_batch_release(struct outbox_batch *, void (*)(const char *));
void	 outbox_batch_done(struct outbox_batch *, unsigned long, int,
	    const char *, void (*)(const char *));

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
#ifdef __SSE2__
	/* 16 bytes a step; as signed bytes, all of 0x80 and up are < 0x20. */
	while (end - p >= 16) {
		__m128i	v;
		int	bad;

		v = _mm_loadu_si128((const __m128i *)(const void *)p);
		bad = _mm_movemask_epi8(_mm_or_si128(
		    _mm_cmplt_epi8(v, _mm_set1_epi8(0x20)),
		    _mm_cmpeq_epi8(v, _mm_set1_epi8(0x7F))));
		if (bad != 0)
			return (size_t)(p - (const unsigned char *)s) +
			    (size_t)__builtin_ctz((unsigned)bad);
		p += 16;
	}
#endif
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
	KEY_DELETE,
	KEY_FOCUS_IN,	/* the window got the keyboard focus (DECSET 1004) */
	KEY_FOCUS_OUT	/* and lost it */
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
size_t	 sanitize_clean(const struct sanitizer *, const void *, size_t);

/* telnet.c */
/*
 * A telnet parser for what a client sends.  telnet_feed() takes bytes in
 * any chunks and works until the end of the input, the first event, or a
 * reply buffer too full for one more reply, whichever comes first:
 * - it returns how many input bytes it used (at least one when len > 0
 *   and reply is empty), and the caller feeds the rest again;
 * - it writes the data it found to data (which may be the input itself)
 *   and its length to *datalen, never more than it used: commands taken
 *   out, IAC IAC made one 0xFF;
 * - it appends to reply what must go back: WONT x for DO x and DONT x for
 *   WILL x, once per option each way, never anything for DONT or WONT;
 *   WILL TIMING-MARK for every DO TIMING-MARK; a visible line for AYT.
 *   The caller sends reply after the data before it has been shown, then
 *   sets replylen to 0;
 * - it sets *event to what the client's user did (an interrupt, a break,
 *   ...) after the data, or to TELNET_NONE.  Other commands (NOP, DM, GA,
 *   unknown ones) and subnegotiations are dropped; a subnegotiation longer
 *   than TELNET_SUB_MAX bytes is left, with an event, and what follows is
 *   data.  EC and EL only show: the text before them is already shown.
 */
#define TELNET_REPLY_MAX	256
#define TELNET_SUB_MAX		512

enum telnet_event {
	TELNET_NONE,
	TELNET_INTERRUPT,	/* IP, telnet's ^C */
	TELNET_BREAK,		/* BRK */
	TELNET_ABORT_OUTPUT,	/* AO */
	TELNET_ARE_YOU_THERE,	/* AYT, answered in reply */
	TELNET_ERASE_CHAR,	/* EC */
	TELNET_ERASE_LINE,	/* EL */
	TELNET_SUB_TOO_LONG	/* SB without SE for TELNET_SUB_MAX bytes */
};

struct telnet {
	int		 state;		/* where in a command we are */
	unsigned char	 verb;		/* DO, DONT, WILL or WONT seen */
	size_t		 sublen;	/* bytes of subnegotiation skipped */
	unsigned char	 refused[2][32]; /* bits: WONT sent, DONT sent */
	unsigned char	 reply[TELNET_REPLY_MAX];
	size_t		 replylen;
};

void	 telnet_init(struct telnet *);
size_t	 telnet_feed(struct telnet *, const void *, size_t, void *, size_t *,
	    enum telnet_event *);
const char *telnet_event_text(enum telnet_event);

/* proxy.c */
/*
 * A PROXY protocol header, v1 or v2, at the start of a connection.
 * proxy_parse() looks at the first n bytes and reads nothing past them or
 * past the header.  PROXY_MORE: a header may follow but is not whole yet;
 * PROXY_DONE: h is filled and h->len bytes are the header; PROXY_BAD: no
 * header can begin so, with one line in err.
 */
#define PROXY_V1_MAX	107	/* "PROXY ... \r\n", the longest v1 line */

enum proxy_result { PROXY_MORE = 0, PROXY_DONE, PROXY_BAD };

struct proxy_header {
	int		 local;		/* v2 LOCAL or AF_UNSPEC, v1 UNKNOWN */
	struct sockaddr_storage src, dst; /* unless local: client, proxy */
	socklen_t	 srclen, dstlen;
	size_t		 len;		/* bytes the header takes */
};

enum proxy_result proxy_parse(const unsigned char *, size_t,
	    struct proxy_header *, char *, size_t);

/* net.c */
#define PEER_HOST_MAX	INET6_ADDRSTRLEN
#define PEER_LABEL_MAX	(INET6_ADDRSTRLEN + 16)

struct peer {
	char		 host[PEER_HOST_MAX];	/* 192.0.2.1 or 2001:db8::1 */
	char		 port[8];		/* decimal */
	char		 label[PEER_LABEL_MAX];	/* 192.0.2.1:80, [2001:db8::1]:80 */
	char		 name[64];		/* --clients: its name */
};

void	 peer_from_sockaddr(struct peer *, const struct sockaddr *);
int	 net_listen(const char *, const char *, int, struct peer *, char *,
	    size_t);
int	 net_connect(const char *, const char *, int, char *, size_t);
/* At most this many sockets from systemd socket activation. */
#define NET_ACTIVATED_MAX	16
int	 net_activated(int *, struct peer *, size_t, char *, size_t);
void	 net_refuse(int, const char *);

/* identity.c */
#define FINGERPRINT_MAX	52	/* "SHA256:" + 43 base64 + NUL, rounded */

struct identity {
	EVP_PKEY	*key;
	X509		*cert;
	char		 fingerprint[FINGERPRINT_MAX];
};

/* $XDG_CONFIG_HOME/ptychat, or $HOME/.config/ptychat; made 0700 when missing. */
int	 identity_dir(char *path, size_t len, char *err, size_t errlen);
/*
 * Loads keyfile and certfile (certfile NULL: a key alone, for the client,
 * with a self-signed certificate made in memory).  With create, when the
 * key file is missing, makes a P-256 key and (certfile) a self-signed
 * certificate for cn, written atomically (temporary file + link, 0600,
 * never overwriting).  A key file readable by group or others is refused:
 * err says "chmod 600 FILE".  Returns 0, or -1 with one line in err.
 */
int	 identity_load(struct identity *, const char *keyfile,
	    const char *certfile, int create, const char *cn, char *err,
	    size_t errlen);
void	 identity_free(struct identity *);
int	 identity_fingerprint(X509 *, char out[FINGERPRINT_MAX]);
/* Whether the len bytes at s are "SHA256:" and 43 base64 digits. */
int	 identity_fingerprint_valid(const char *s, size_t len);
/* "what: OpenSSL's reason" (its first error) in err; empties the queue. */
void	 identity_ssl_error(char *err, size_t errlen, const char *what);

/* known_hosts: "HOST PORT SHA256:..." a line; '#' comments, blank lines. */
enum known_result { KNOWN_NEW, KNOWN_MATCH, KNOWN_CHANGED };
/* Returns the result, with the recorded fingerprint and its line number
 * when CHANGED (the first line for host and port; any line with fp is a
 * MATCH; hosts compare without case; bad lines are skipped); -1 with err
 * when the file cannot be read (a missing file is KNOWN_NEW). */
int	 known_hosts_check(const char *file, const char *host,
	    const char *port, const char *fp, char *recorded, int *line,
	    char *err, size_t errlen);
int	 known_hosts_add(const char *file, const char *host, const char *port,
	    const char *fp, char *err, size_t errlen);
/* One line's fields, pointing into it (for the fuzzer and the tests). */
struct known_line {
	const char	*host, *port, *fp;
	size_t		 hostlen, portlen, fplen;
};
/* 1: an entry; 0: blank or comment; -1: bad, matching nothing. */
int	 known_hosts_parse_line(const char *line, size_t len,
	    struct known_line *);

/* The --clients file: "SHA256:... NAME" a line; '#' comments. */
struct client_entry {
	char		 fingerprint[FINGERPRINT_MAX];
	char		 name[64];
};
struct client_list {
	struct client_entry *v;
	size_t		 n;
};
/* Parses text (a whole file's bytes); err "FILE:LINE: why", and the list
 * untouched, on a bad line or a key listed twice.  NAME is the rest of
 * the line, 1-63 bytes of printable UTF-8 (inner spaces kept); one name
 * may have several keys.  On success the list is overwritten, not freed. */
int	 clients_parse(const char *text, size_t len, const char *file,
	    struct client_list *, char *err, size_t errlen);
/* The clients file's bytes, with room to spare after them (NULL: err). */
struct stat;
char	*clients_read(const char *file, size_t room, size_t *len,
	    struct stat *, char *err, size_t errlen);
int	 clients_load(const char *file, struct client_list *, char *err,
	    size_t errlen);
const char *clients_find(const struct client_list *, const char *fp);
void	 clients_free(struct client_list *);

/* tls.c */
/* A client that sends nothing for this long is plain (the front door). */
#define FRONT_WAIT_MS	200

SSL_CTX	*tls_server_ctx(const struct identity *, char *err, size_t errlen);
SSL_CTX	*tls_client_ctx(const struct identity *, char *err, size_t errlen);
/* Non-blocking handshakes on fd (left non-blocking or not as found), up
 * to timeout_ms, cut short when cancel (an fd, or -1) polls readable.
 * Return the SSL, or NULL with one line in err ("timed out", "cancelled",
 * "not TLS", OpenSSL's reason). */
SSL	*tls_accept(SSL_CTX *, int fd, int timeout_ms, int cancel, char *err,
	    size_t errlen);
SSL	*tls_connect(SSL_CTX *, int fd, int timeout_ms, int cancel, char *err,
	    size_t errlen);
/* The peer's key: 0 with its fingerprint, or -1 when it sent no certificate. */
int	 tls_peer_fingerprint(SSL *, char out[FINGERPRINT_MAX]);
/* Frees what OpenSSL holds for the calling thread; it may use it again. */
void	 tls_thread_done(void);

/* A client connection, plain (ssl NULL) or TLS.  One thread may receive
 * while another sends; the lock (held only inside these calls, never
 * across a wait) makes that safe for OpenSSL. */
struct conn {
	int		 fd;
	SSL		*ssl;
	pthread_mutex_t	 lock;
	short		 recv_wants;	/* POLLIN or POLLOUT: what recv waits for */
	int		 broken;	/* TLS: no more sends (a fatal error,
					   or a record left half sent) */
};
void	 conn_init(struct conn *, int fd, SSL *);
/* Non-blocking: >0 bytes, 0 at the peer's end (close_notify or EOF),
 * -1 with errno (EAGAIN: poll fd for c->recv_wants, then call again).
 * With TLS, call again until EAGAIN before polling: OpenSSL may hold
 * bytes already read from the socket. */
ssize_t	 conn_recv(struct conn *, void *, size_t);
/* All of buf, waiting with poll as needed, or -1 with errno (ECANCELED
 * when cancel polled readable).  Never raises SIGPIPE. */
int	 conn_send_until(struct conn *, const void *, size_t, int cancel);
/* Non-blocking best effort (for a refusal line or the idle notice). */
ssize_t	 conn_send_now(struct conn *, const void *, size_t);
/* Non-blocking: the bytes that went now (0: none would), or -1 with
 * errno; the rest may follow with conn_send_until. */
ssize_t	 conn_send_some(struct conn *, const void *, size_t);
/* Sends TLS close_notify, best effort (the writer, at a normal end). */
void	 conn_close_notify(struct conn *);
void	 conn_free(struct conn *);	/* SSL_free; the fd stays open */

/* What a new connection opens with (DESIGN.md "The front door"). */
enum front_kind { FRONT_PLAIN, FRONT_TLS, FRONT_GONE };
/* Peeks (consumes nothing): first byte 0x16 is TLS; any other byte, or
 * silence for wait_ms, is plain; the end of the connection (or cancel)
 * before any byte is GONE. */
enum front_kind front_classify(int fd, int wait_ms, int cancel);

/* transcript.c */
struct transcript;

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

/* child.c */
struct child;

struct child *child_spawn(const char *, const char *,
	    const posix_spawn_file_actions_t *, const posix_spawnattr_t *,
	    char *const []);
pid_t	 child_pid(const struct child *);
int	 child_fd(const struct child *);
int	 child_exited(struct child *, int *);
int	 child_wait(struct child *, int, int, int *);
void	 child_release(struct child *);
void	 child_reap(void);
void	 child_unwatch(struct child *);
void	 child_signal(struct child *, int);
void	 child_quiet(struct child *);
void	 child_signal_all(int);
size_t	 child_count(void);
int	 child_log_init(void);
int	 child_output(const char *);

/* notify.c: desktop notifications through notify-send, never blocking. */
/*
 * Shows summary/body (both made safe by the caller) with notify-send, in
 * the background.  actions: NULL, or names and labels ("accept=Accept")
 * ending with NULL; when the user picks one, on_action(session, name)
 * runs on a thread of notify.c's (never the accept loop).  A missing or
 * failing notify-send is one debug log line, never an error.  Returns 0,
 * or -1 when notifications are off (--no-notify) or notify-send is absent.
 */
int	 notify_post(const char *summary, const char *body,
	    const char *const *actions,
	    void (*on_action)(unsigned long session, const char *name),
	    unsigned long session);
void	 notify_init(int enabled);	/* from main, after options */

/* terminal.c */
enum terminal_kind {
	TERMINAL_HANDOFF,	/* -S<pts>/<fd>: master on fd 3, an id line */
	TERMINAL_PTY_FD,	/* urxvt -pty-fd 3: master on fd 3, no line */
	TERMINAL_BRIDGE,	/* -e ptychat-bridge <pts>: "ready" line */
	TERMINAL_TMUX		/* tmux runs the bridge; the launcher exits */
};

/* The terminal program that opens every window, and how to drive it. */
struct terminal {
	char		**words;	/* the program and its -t arguments */
	enum terminal_kind kind;
	const char *const *tail;	/* arguments added after the words */
	const char *const *tail_first;	/* for tmux: one that makes a session */
	const char	*bridge;	/* ptychat-bridge, or NULL */
	int		 xterm;		/* add xterm's hardening resources */
	int		 plain;		/* the bridge leaves editing to the tty */
	const char	*why;		/* how auto chose it, or NULL */
};

/*
 * One session's side of its terminal, from terminal_launch to
 * terminal_close: the pty, and the terminal's process while its window
 * comes up.
 */
struct terminal_link {
	int		 pty;		/* our end: the master when the bridge
					   runs, else the slave */
	int		 held;		/* the bridge's end, kept until it has
					   opened its own; or -1 */
	struct child	*child;		/* the terminal, until its window is up */
};

int	 terminal_program_exists(const char *);
int	 terminal_choose(struct terminal *, char **, const char *, char *,
	    size_t);
const char *terminal_describe(const struct terminal *);
void	 terminal_check(const struct terminal *);
int	 terminal_launch(const struct terminal *, struct terminal_link *,
	    unsigned long, const struct peer *, int, char *, size_t);
int	 terminal_await(const struct terminal *, struct terminal_link *, int,
	    char *, size_t);
void	 terminal_hangup(struct terminal_link *, int);
void	 terminal_close(struct terminal_link *);

/* termcmd.c */
char	**termcmd_split(const char *);
int	 termcmd_check(char *const *, char *, size_t);
char	*termcmd_expand(const char *, unsigned long, const struct peer *);
struct terminal;
char	**termcmd_argv(const struct terminal *, const char *const *,
	    unsigned long, const struct peer *, const char *, int);
void	 termcmd_free(char **);

/* attention.c */
/* What a session knows of its window's focus, and when it last called. */
struct attention {
	atomic_int	 focus;		/* enum focus */
	atomic_ulong	 unread;	/* the client's lines begun since the
					   window last had the focus */
	atomic_llong	 bell_ms;	/* CLOCK_MONOTONIC of the last bell */
	long long	 notice_ms;	/* of the last notification (reader's) */
	int		 mid_line;	/* the client's line has begun (reader's) */
};

struct session;
/* text's first line, cut to max characters, safe as notify-send markup. */
size_t	 attention_excerpt(const char *, size_t, size_t, char *, size_t);
void	 attention_init(struct attention *);
void	 attention_focus(struct session *, enum focus, int);
void	 attention_seen(struct session *);
void	 attention_peer(struct session *, const char *, size_t);
void	 attention_connected(struct session *);

/* session.c */
#define SESSION_NO_WINDOW	"ptychatd: no operator window is available\n"

struct server_config {
	struct terminal	 terminal;	/* what opens the windows */
	unsigned	 idle_timeout;	/* seconds of silence; 0: no limit */
	int		 plain;		/* --plain: no chat line editor */
	int		 timestamps;	/* --timestamps on the client's lines */
	const char	*log_dir;	/* --log-dir, or NULL */
	int		 binary;	/* --binary: no telnet, 0xFF is data */
	SSL_CTX		*tls;		/* NULL: --no-tls */
	int		 require_tls;	/* --require-tls */
	int		 clients;	/* --clients: listed keys only */
	const char	*clients_file;	/* --clients FILE, or NULL */
	int		 ask;		/* --ask: the operator lets clients in */
	unsigned	 ask_timeout;	/* --ask-timeout seconds; 0: none */
	unsigned	 max_waiting;	/* --max-waiting: the lobby's seats */
	unsigned	 max_window_rate; /* windows a second; 0: no limit */
	const struct limits *limits;	/* who may connect, how many */
};

/*
 * A session's life, one state at a time.  The moves allowed are written
 * in session.c's table; the last three are final: the session ends.
 */
enum session_state {
	SESSION_OPENING,	/* waiting for the window to come up */
	SESSION_WAITING,	/* in the lobby (lobby.c), with no window */
	SESSION_OPEN,		/* talking both ways */
	SESSION_CLIENT_DONE,	/* the client sent its end; it still reads */
	SESSION_CLIENT_GONE,	/* the client takes nothing more */
	SESSION_WINDOW_CLOSED,	/* the operator closed the window */
	SESSION_KICKED,		/* the console hung up on it */
	SESSION_STOPPED		/* no window came, or the server stops */
};

struct session {
	const struct server_config *config;
	unsigned long	 number;	/* from 1, in order of arrival */
	struct peer	 peer;		/* written under session_lock
					   (PROXY header, client's name) */
	int		 proxied;	/* a PROXY header comes first */
	int		 sock;		/* the client's connection */
	struct conn	 conn;		/* its I/O, plain or TLS */
	char		 key[FINGERPRINT_MAX]; /* its fingerprint, "no key",
					   "plain", or "" until known;
					   under session_lock */
	struct terminal_link term;	/* the pty and the terminal on it */
	atomic_int	 state;		/* enum session_state */
	int		 wake;		/* eventfd: the writer's doorbell */
	int		 hangup;	/* eventfd: readable once ending */
	struct outbox	 outbox;	/* for the client, from other threads */
	struct chatline	 chat;		/* all the window shows goes here */
	atomic_int	 threads;	/* session threads still running */
	atomic_bool	 reader_stopped; /* nobody reads the socket any more */
	atomic_llong	 last_active_ms; /* CLOCK_MONOTONIC of the last byte */
	long long	 started_ms;	/* CLOCK_MONOTONIC of the connection */
	atomic_ullong	 bytes_in;	/* from the client */
	atomic_ullong	 bytes_out;	/* to the client */
	struct transcript *transcript;	/* --log-dir's file, or NULL */
	char		*kept;		/* what it sent in the lobby, shown */
	size_t		 kept_len;	/* first when the window opens */
	struct attention attention;	/* focus, unread lines, alerts */
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
	char		 key[FINGERPRINT_MAX];
	char		 name[64];
	unsigned long	 unread;	/* lines since the window had the focus */
	int		 focused;	/* the window has the keyboard focus */
};

int	 session_open(const struct server_config *, int, const struct peer *,
	    int);
/* What session_refusal judges: the client's address, the server's load. */
#define REFUSE_ADDRESS	0x1	/* --allow, --deny, --max-per-host */
#define REFUSE_LOAD	0x2	/* away, --max-clients */
const char *session_refusal(const struct limits *, const struct sockaddr *,
	    const char *, int, int);
void	 session_release(struct session *);
int	 session_wait_all(int);
unsigned long session_count(void);
unsigned long session_running(void);
unsigned long session_count_host(const char *);
int	 session_move(struct session *, enum session_state);
enum session_state session_state(struct session *);
int	 session_ending(struct session *);
void	 session_hangup_all(void);
int	 session_reply(struct session *, const void *, size_t);
void	 session_report(struct session *, struct outbox_msg *, int,
	    const char *);
size_t	 session_snapshot(struct session_view **);
int	 session_post(unsigned long, const char *, size_t);
int	 session_kick(unsigned long);
void	 session_set_clients(struct client_list *);
const char *session_who(const struct session *, char *, size_t);
void	 session_set_name(struct session *, const char *);

/* lobby.c */
#define LOBBY_KEEP_MAX	(64 * 1024)	/* kept from a waiting client */

int	 lobby_wait(struct session *, char *, size_t);
void	 lobby_window_done(struct session *);
int	 lobby_console(const char *, const char *);

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
