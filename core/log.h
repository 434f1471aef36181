/* log.h - one place for diagnostics on stderr, with a -v/-q ladder. */
#ifndef RS_LOG_H
#define RS_LOG_H

#include "regsweep/module.h"
#include "util.h"

/* Messages above this level are dropped; RS_LOG_INFO by default, -q lowers it, -v raises
 * it. */
void log_set_level(int level);
int log_level(void);

/* One line on stderr, prefixed "regsweep: " (and "error: "/"warning: " by level). */
void log_msg(enum rs_log_level level, const char *fmt, ...) RS_FMT(2, 3);

#endif
