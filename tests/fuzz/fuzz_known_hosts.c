/*
 * libFuzzer target for known_hosts: each line through
 * known_hosts_parse_line, and the whole input as a file through
 * known_hosts_check.  The oracle, checked on every input:
 * - an entry's three fields lie inside its line, in order, are printable
 *   ASCII without blanks, the host does not start with '#', and the key
 *   is a well-formed fingerprint; written out again as "HOST PORT FP" the
 *   entry parses to the same fields;
 * - a line that is not an entry is blank or a comment exactly when the
 *   parser says so;
 * - known_hosts_check agrees with the lines: the first entry's host and
 *   port with its key match, and with a key no line holds are a change
 *   reported at that entry's line with its key; a host no line holds is
 *   new.
 */
#include <sys/mman.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../src/ptychat.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* A key and a host no entry can hold: the key's last digit has its low
 * bits set, and no field has a space. */
#define STRANGER	"SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB"
#define NOBODY		"no such host"

static int
blank(char c)
{
	return c == ' ' || c == '\t';
}

static void
check_field(const char *line, size_t len, const char *f, size_t flen)
{
	size_t i;

	if (flen == 0 || f < line || f + flen > line + len)
		abort();
	for (i = 0; i < flen; i++)
		if (f[i] <= ' ' || f[i] > '~')
			abort();
}

/* Checks one line; returns what the parser made of it. */
static int
check_line(const char *line, size_t len, struct known_line *kl)
{
	struct known_line	 again;
	char			 buf[4096];
	size_t			 i, end;
	int			 r, n;

	r = known_hosts_parse_line(line, len, kl);
	end = len > 0 && line[len - 1] == '\r' ? len - 1 : len;
	for (i = 0; i < end && blank(line[i]); i++)
		;
	if ((r == 0) != (i == end || line[i] == '#'))
		abort();
	if (r != 1)
		return r;
	check_field(line, len, kl->host, kl->hostlen);
	check_field(line, len, kl->port, kl->portlen);
	check_field(line, len, kl->fp, kl->fplen);
	if (kl->host[0] == '#' || kl->port <= kl->host + kl->hostlen ||
	    kl->fp <= kl->port + kl->portlen ||
	    !identity_fingerprint_valid(kl->fp, kl->fplen))
		abort();
	n = snprintf(buf, sizeof(buf), "%.*s %.*s %.*s", (int)kl->hostlen,
	    kl->host, (int)kl->portlen, kl->port, (int)kl->fplen, kl->fp);
	if (n > 0 && (size_t)n < sizeof(buf)) {
		if (known_hosts_parse_line(buf, (size_t)n, &again) != 1 ||
		    again.hostlen != kl->hostlen ||
		    memcmp(again.host, kl->host, kl->hostlen) != 0 ||
		    again.portlen != kl->portlen ||
		    memcmp(again.port, kl->port, kl->portlen) != 0 ||
		    again.fplen != kl->fplen ||
		    memcmp(again.fp, kl->fp, kl->fplen) != 0)
			abort();
	}
	return r;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char		*text = (const char *)data, *p, *nl;
	struct known_line	 kl, first;
	char			 file[64], host[4096], port[4096];
	char			 fp[FINGERPRINT_MAX], rec[FINGERPRINT_MAX];
	char			 err[256];
	int			 fd, lineno = 0, first_line = 0, line, r;

	for (p = text; p < text + size; p = nl + 1) {
		lineno++;
		if ((nl = memchr(p, '\n', (size_t)(text + size - p))) == NULL)
			nl = text + size;
		if (check_line(p, (size_t)(nl - p), &kl) == 1 &&
		    first_line == 0) {
			first = kl;
			first_line = lineno;
		}
	}

	if ((fd = memfd_create("known_hosts", MFD_CLOEXEC)) == -1)
		abort();
	if (io_write_all(fd, data, size) == -1)
		abort();
	snprintf(file, sizeof(file), "/proc/self/fd/%d", fd);
	r = known_hosts_check(file, NOBODY, "1", STRANGER, rec, &line, err,
	    sizeof(err));
	if (r != KNOWN_NEW)
		abort();
	if (first_line != 0 && first.hostlen < sizeof(host) &&
	    first.portlen < sizeof(port)) {
		snprintf(host, sizeof(host), "%.*s", (int)first.hostlen,
		    first.host);
		snprintf(port, sizeof(port), "%.*s", (int)first.portlen,
		    first.port);
		snprintf(fp, sizeof(fp), "%.*s", (int)first.fplen, first.fp);
		if (known_hosts_check(file, host, port, fp, rec, &line, err,
		    sizeof(err)) != KNOWN_MATCH)
			abort();
		r = known_hosts_check(file, host, port, STRANGER, rec, &line,
		    err, sizeof(err));
		if (r != KNOWN_CHANGED || line != first_line ||
		    strcmp(rec, fp) != 0)
			abort();
	}
	close(fd);
	return 0;
}
