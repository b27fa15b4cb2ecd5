/*
 * Log lines on standard error, one line per call, safe from any thread.
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ptychat.h"

/* The program name that starts every line. */
static const char *log_prog = "ptychat";

/* -1 for --quiet, 0 by default, 1 for --verbose. */
static int log_level;

/* Where lines go instead of stderr (the console), or NULL. */
static void (*_Atomic log_sink)(const char *);

/* Sends log lines to sink (without their newline), or back to stderr. */
void
log_set_sink(void (*sink)(const char *))
{
	log_sink = sink;
}

void
log_init(const char *prog, int level)
{
	log_prog = prog;
	log_level = level;
}

static void __attribute__((format(printf, 1, 0)))
log_line(const char *fmt, va_list ap)
{
	char line[1024];
	int n;

	void (*sink)(const char *) = log_sink;

	/* One fputs of a whole line keeps lines from threads apart. */
	n = snprintf(line, sizeof line, "%s: ", log_prog);
	vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
	if (sink != NULL) {
		sink(line);
		return;
	}
	strcat(line, "\n");
	fputs(line, stderr);
}

void
log_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_line(fmt, ap);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list ap;

	if (log_level < 0)
		return;
	va_start(ap, fmt);
	log_line(fmt, ap);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list ap;

	if (log_level < 1)
		return;
	va_start(ap, fmt);
	log_line(fmt, ap);
	va_end(ap);
}

/*
 * Says what getopt_long disliked, under our own name: the caller sets
 * opterr to 0 and starts its option string with ':'.
 */
void
log_bad_option(int ch, char *const argv[])
{
	if (ch == ':')
		log_error("option '%s' requires an argument", argv[optind - 1]);
	else if (optopt != 0)
		log_error("invalid option -- '%c'", optopt);
	else
		log_error("unrecognized option '%s'", argv[optind - 1]);
}
