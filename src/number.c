/*
 * Whole numbers typed by people: options, ports, console commands.  The
 * one parser for them, in the manner of OpenBSD's strtonum.
 */
#include <errno.h>
#include <stdlib.h>

#include "ptychat.h"

/*
 * Returns the decimal number text spells, from min to max.  Only digits
 * are taken: no sign, no spaces, no other base.  On failure returns 0 and
 * points *errstr at "invalid" or "out of range"; on success *errstr is
 * NULL.
 */
long long
number_parse(const char *text, long long min, long long max,
    const char **errstr)
{
	long long n;
	char *end;

	*errstr = "invalid";
	if (*text < '0' || *text > '9')
		return 0;
	errno = 0;
	n = strtoll(text, &end, 10);
	if (*end != '\0')
		return 0;
	if (errno == ERANGE || n < min || n > max) {
		*errstr = "out of range";
		return 0;
	}
	*errstr = NULL;
	return n;
}
