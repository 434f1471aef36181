/* log.c - diagnostics on stderr. */
#include "log.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "json.h"

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

/* Length of the UTF-8 sequence at s that is safe to show as it is, or 0: a valid,
 * shortest-form sequence that is not a C1 control (U+0080..U+009F). */
static size_t utf8_len(const unsigned char *s)
{
	size_t n = s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 ? 2 : 0;

	if (!n || (n == 2 && s[0] == 0xc2 && s[1] < 0xa0))
		return 0;
	for (size_t i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	if ((n == 3 && s[0] == 0xe0 && s[1] < 0xa0) || (n == 4 && s[0] == 0xf0 && s[1] < 0x90) ||
	    (n == 4 && s[0] == 0xf4 && s[1] > 0x8f) || (n == 3 && s[0] == 0xed && s[1] > 0x9f))
		return 0;
	return n;
}

void out_escape(struct buf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		size_t n = *p >= 0x20 && *p < 0x7f ? 1 : *p >= 0x80 ? utf8_len(p) : 0;

		if (n) {
			buf_append(b, (const char *)p, n);
			p += n;
		} else {
			buf_printf(b, "\\x%02x", *p++);
		}
	}
}

void out_line(FILE *f, const char *fmt, ...)
{
	struct buf raw = {0}, safe = {0};
	va_list ap;

	va_start(ap, fmt);
	buf_vprintf(&raw, fmt, ap);
	va_end(ap);
	out_escape(&safe, raw.data ? raw.data : "");
	buf_append(&safe, "\n", 1);
	fwrite(safe.data, 1, safe.len, f);
	buf_free(&raw);
	buf_free(&safe);
}

/* How diagnostics look on stderr: for a person at a terminal, with a time for a log file,
 * with a syslog priority for journald (which stamps lines itself), or as JSON lines. */
enum style { STYLE_UNSET, STYLE_TERMINAL, STYLE_STAMPED, STYLE_JOURNAL, STYLE_JSON };

static enum style style;

void log_set_json(int json)
{
	style = json ? STYLE_JSON : STYLE_UNSET;
}

/* Whether stderr is the stream systemd connected to the journal (JOURNAL_STREAM names its
 * device and inode, and a child that redirected stderr must not think so). */
static int stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	return js && sscanf(js, "%llu:%llu", &dev, &ino) == 2 && fstat(STDERR_FILENO, &st) == 0 &&
	       (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

static enum style current_style(void)
{
	if (style == STYLE_UNSET)
		style = stderr_is_journal()	    ? STYLE_JOURNAL
			: isatty(STDERR_FILENO) ? STYLE_TERMINAL
						: STYLE_STAMPED;
	return style;
}

void log_msg(enum rs_log_level level, const char *fmt, ...)
{
	static const char *const prefix[] = {"error: ", "warning: ", "", "", ""};
	static const char *const names[] = {"error", "warning", "info", "debug", "result"};
	/* sd-daemon(3) priorities: err, warning, info, debug; a result is a notice. */
	static const char priority[] = {'3', '4', '6', '7', '5'};
	struct buf raw = {0}, line = {0};
	char when[32];
	va_list ap;

	if ((unsigned)level > RS_LOG_RESULT)
		level = RS_LOG_DEBUG;
	if (level != RS_LOG_RESULT && (int)level > current_level)
		return;
	progress_clear();
	va_start(ap, fmt);
	buf_vprintf(&raw, fmt, ap);
	va_end(ap);
	util_format_rfc3339((int64_t)time(NULL), when, sizeof(when));
	switch (current_style()) {
	case STYLE_JSON: {
		cJSON *o = cJSON_CreateObject();
		char *text;

		cJSON_AddStringToObject(o, "time", when);
		cJSON_AddStringToObject(o, "level", names[level]);
		cJSON_AddStringToObject(o, "message", raw.data ? raw.data : "");
		text = json_text(o, 0);
		buf_printf(&line, "%s\n", text);
		free(text);
		cJSON_Delete(o);
		break;
	}
	case STYLE_JOURNAL:
		buf_printf(&line, "<%c>", priority[level]);
		break;
	case STYLE_STAMPED:
		buf_printf(&line, "%s ", when);
		break;
	default:
		break;
	}
	if (current_style() != STYLE_JSON) {
		buf_printf(&line, "regsweep: %s", prefix[level]);
		out_escape(&line, raw.data ? raw.data : "");
		buf_append(&line, "\n", 1);
	}
	fwrite(line.data, 1, line.len, stderr);
	buf_free(&raw);
	buf_free(&line);
}
