/* pattern.h - lists of PCRE2 patterns matched against whole strings (tags, repository
 * names).  The same code serves the stack's repository filters and modules, via the host
 * API. */
#ifndef RS_PATTERN_H
#define RS_PATTERN_H

#include <stddef.h>

#include "regsweep/module.h"

/* Compile every pattern; with `whole`, anchored at both ends (tags), else a search that
 * may match anywhere (repository filters, which users anchor with ^ themselves).  Returns a
 * list owned by the caller (free with pattern_free), or NULL with a one-line reason in err
 * naming the bad pattern. */
struct rs_pattern *pattern_compile_list(const char *const *patterns, size_t count, int whole,
					char *err, size_t errlen);
/* 1 when any pattern matches subject; 0 otherwise (also for an empty list).  A match that
 * fails (PCRE2's match or depth limit) counts as a failure: see pattern_failures. */
int pattern_match(const struct rs_pattern *p, const char *subject);

/* Match failures since the last reset, with the first one described in why ("pattern
 * \"...\" on \"...\": match limit exceeded").  Whoever asked a question of patterns checks
 * this after and fails closed: an error is never an answer. */
size_t pattern_failures(char *why, size_t whylen);
void pattern_failures_reset(void);
size_t pattern_count(const struct rs_pattern *p);
void pattern_free(struct rs_pattern *p);

#endif
