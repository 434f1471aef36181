/* log.c - diagnostics on stderr. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static int current_level = RS_LOG_INFO;

void log_set_level(int level)
{
	current_level = level;
}

int log_level(void)
{
	return current_level;
}

static struct {
	const char *phase; /* NULL: no progress line */
	size_t done, total;
	double start, drawn; /* monotonic seconds */
	int shown;           /* the line is on the terminal now */
} progress;

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void progress_clear(void)
{
	if (progress.shown)
		fputs("\r\033[K", stderr);
	progress.shown = 0;
}

static void progress_draw(void)
{
	double t = now_seconds(), elapsed = t - progress.start;
	double rate = elapsed > 0 ? (double)progress.done / elapsed : 0;

	progress.drawn = t;
	fprintf(stderr, "\r\033[K%s: %zu/%zu", progress.phase, progress.done, progress.total);
	if (rate > 0)
		fprintf(stderr, ", %.0f/s, %.0f s left", rate,
			(double)(progress.total - progress.done) / rate);
	fflush(stderr);
	progress.shown = 1;
}

void progress_begin(const char *phase, size_t total)
{
	progress_end();
	if (current_level < RS_LOG_INFO || !isatty(STDERR_FILENO))
		return;
	progress.phase = phase;
	progress.done = 0;
	progress.total = total;
	progress.start = now_seconds();
	progress.drawn = 0;
}

void progress_grow(size_t more)
{
	progress.total += more;
}

void progress_step(void)
{
	if (!progress.phase)
		return;
	progress.done++;
	if (now_seconds() - progress.drawn >= 0.1 || progress.done == progress.total)
		progress_draw();
}

void progress_end(void)
{
	progress_clear();
	progress.phase = NULL;
}

void log_msg(enum rs_log_level level, const char *fmt, ...)
{
	static const char *const prefix[] = {"error: ", "warning: ", "", ""};
	va_list ap;

	if ((int)level > current_level)
		return;
	progress_clear();
	fprintf(stderr, "regsweep: %s", prefix[level]);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}
