/* log.c - diagnostics on stderr. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>

static int current_level = RS_LOG_INFO;

void log_set_level(int level)
{
	current_level = level;
}

int log_level(void)
{
	return current_level;
}

void log_msg(enum rs_log_level level, const char *fmt, ...)
{
	static const char *const prefix[] = {"error: ", "warning: ", "", ""};
	va_list ap;

	if ((int)level > current_level)
		return;
	fprintf(stderr, "regsweep: %s", prefix[level]);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}
