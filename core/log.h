/* log.h - one place for diagnostics on stderr, with a -v/-q ladder. */
#ifndef RS_LOG_H
#define RS_LOG_H

#include <stdio.h>

#include "regsweep/module.h"
#include "util.h"

/* Messages above this level are dropped; RS_LOG_INFO by default, -q lowers it, -v raises
 * it. */
void log_set_level(int level);
int log_level(void);

/* One line on stderr, prefixed "regsweep: " (and "error: "/"warning: " by level), escaped
 * as out_line escapes.  RS_LOG_RESULT lines are shown at every level.  On a terminal that
 * is all; otherwise the line starts with the time (RFC 3339), or, when stderr is the
 * journal systemd gave (JOURNAL_STREAM), with a syslog priority "<3>".  With log_set_json
 * each line is a JSON object {"time", "level", "message"}. */
void log_msg(enum rs_log_level level, const char *fmt, ...) RS_FMT(2, 3);

/* --log-format json (1) or text (0, the default). */
void log_set_json(int json);

/* One line of output on f: fmt without its newline.  Registry names, tags and reasons come
 * from a server that may be hostile, so every control character (newline, ESC, BEL...),
 * C1 control and byte that is not UTF-8 is written as \xNN: nothing read from a registry
 * can move the cursor, retitle the terminal or forge a line. */
void out_line(FILE *f, const char *fmt, ...) RS_FMT(2, 3);

/* The escaping out_line applies, of s, appended to b. */
void out_escape(struct buf *b, const char *s);

/* A progress line on stderr, redrawn in place at most ten times a second: phase, done of
 * total, rate and time left.  Only when stderr is a terminal and the level is at least
 * RS_LOG_INFO; log_msg clears it before a message.  One phase at a time. */
void progress_begin(const char *phase, size_t total); /* phase is static; total may grow */
void progress_grow(size_t more);
void progress_step(void);
void progress_end(void); /* clears the line */

#endif
