/*
 * libFuzzer target for the --clients file parser.  The oracle, checked on
 * every input:
 * - on success, every entry has a well-formed fingerprint and a name of 1
 *   to 63 bytes of printable UTF-8 with no blank at either end; no key is
 *   listed twice; clients_find gives each key its name; there are no more
 *   entries than lines;
 * - on failure, err is "F:LINE: why" with LINE one of the input's lines,
 *   and the list is untouched;
 * - the input with a comment line put first gives the same entries, or
 *   the same error one line further down;
 * - an input with no CR gives the same result with every LF made CRLF.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/ptychat.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define COMMENT	"# put first\n"

static size_t
count_lines(const uint8_t *data, size_t size)
{
	size_t i, n = 0;

	for (i = 0; i < size; i++)
		if (data[i] == '\n')
			n++;
	/* A last line without its newline counts too. */
	return n + (size > 0 && data[size - 1] != '\n');
}

static void
check_entry(const struct client_list *list, size_t i)
{
	const struct client_entry	*ce = &list->v[i];
	size_t				 len, j;
	uint32_t			 cp;
	int				 n;

	if (!identity_fingerprint_valid(ce->fingerprint,
	    strlen(ce->fingerprint)))
		abort();
	len = strlen(ce->name);
	if (len == 0 || len > 63 || ce->name[0] == ' ' ||
	    ce->name[len - 1] == ' ')
		abort();
	for (j = 0; j < len; j += (size_t)n)
		if ((n = utf8_decode(ce->name + j, len - j, &cp)) <= 0 ||
		    (cp != ' ' && !utf8_printable(cp)))
			abort();
	for (j = 0; j < i; j++)
		if (strcmp(list->v[j].fingerprint, ce->fingerprint) == 0)
			abort();
	if (clients_find(list, ce->fingerprint) != ce->name)
		abort();
}

/* The line number in "F:LINE: why", or 0 when err is not like that. */
static unsigned long
error_line(const char *err)
{
	char		*end;
	unsigned long	 line;

	if (strncmp(err, "F:", 2) != 0 || err[2] < '1' || err[2] > '9')
		return 0;
	line = strtoul(err + 2, &end, 10);
	return strncmp(end, ": ", 2) == 0 && end[2] != '\0' ? line : 0;
}

/*
 * Whether two errors give the same reason, and a line named in it (a key
 * listed already, on line M) one further down in the second.
 */
static int
same_why(const char *err, const char *err2)
{
	const char	*why = strchr(err + 2, ':'), *why2 = strchr(err2 + 2, ':');
	const char	*on, *on2;
	size_t		 len;

	on = strstr(why, ", on line ");
	on2 = strstr(why2, ", on line ");
	if ((on == NULL) != (on2 == NULL))
		return 0;
	if (on == NULL)
		return strcmp(why, why2) == 0;
	len = (size_t)(on - why);
	return len == (size_t)(on2 - why2) && memcmp(why, why2, len) == 0 &&
	    strtoul(on2 + 10, NULL, 10) == strtoul(on + 10, NULL, 10) + 1;
}

static int
same_lists(const struct client_list *a, const struct client_list *b)
{
	return a->n == b->n && (a->n == 0 ||
	    memcmp(a->v, b->v, a->n * sizeof(*a->v)) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct client_entry	 sentinel;
	struct client_list	 list, other;
	char			 err[256], err2[256], *text;
	size_t			 lines, i, n;
	unsigned long		 line;
	int			 r, r2;

	memset(&sentinel, 0, sizeof(sentinel));
	list.v = &sentinel;
	list.n = 7;
	lines = count_lines(data, size);
	r = clients_parse((const char *)data, size, "F", &list, err,
	    sizeof(err));
	if (r == 0) {
		if (list.n > lines || (list.n == 0) != (list.v == NULL))
			abort();
		for (i = 0; i < list.n; i++)
			check_entry(&list, i);
	} else {
		line = error_line(err);
		if (r != -1 || line == 0 || line > lines ||
		    list.v != &sentinel || list.n != 7)
			abort();
	}

	/* A comment first moves everything one line down. */
	n = sizeof(COMMENT) - 1;
	if ((text = malloc(2 * size + n)) == NULL)
		abort();
	memcpy(text, COMMENT, n);
	memcpy(text + n, data, size);
	r2 = clients_parse(text, size + n, "F", &other, err2, sizeof(err2));
	if (r2 != r || (r == 0 && !same_lists(&list, &other)) ||
	    (r == -1 && (error_line(err2) != error_line(err) + 1 ||
	    !same_why(err, err2))))
		abort();
	if (r2 == 0)
		clients_free(&other);

	/* CRLF is the same as LF. */
	if (memchr(data, '\r', size) == NULL) {
		for (i = n = 0; i < size; i++) {
			if (data[i] == '\n')
				text[n++] = '\r';
			text[n++] = (char)data[i];
		}
		r2 = clients_parse(text, n, "F", &other, err2, sizeof(err2));
		if (r2 != r || (r == 0 && !same_lists(&list, &other)) ||
		    (r == -1 && strcmp(err, err2) != 0))
			abort();
		if (r2 == 0)
			clients_free(&other);
	}
	free(text);
	if (r == 0)
		clients_free(&list);
	return 0;
}
