/* pattern.c - anchored PCRE2 pattern lists. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "pattern.h"

#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* Bounds on one match: a pattern that backtracks without end (`(a|a)*b` on a long tag) is
 * an error, never a silent "no match". */
#define MATCH_LIMIT 1000000
#define DEPTH_LIMIT 10000

struct rs_pattern {
	pcre2_code **codes;
	char **sources; /* as written, for messages */
	size_t count;
	pcre2_match_data *match; /* shared: patterns are only used from the main thread */
	pcre2_match_context *limits;
};

/* Match errors since pattern_failures_reset: patterns are only used from the main thread. */
static size_t failures;
static char first_failure[300];

struct rs_pattern *pattern_compile_list(const char *const *patterns, size_t count, int whole,
					char *err, size_t errlen)
{
	struct rs_pattern *p = xcalloc(1, sizeof(*p));

	p->codes = xcalloc(count, sizeof(*p->codes));
	p->sources = xcalloc(count, sizeof(*p->sources));
	for (size_t i = 0; i < count; i++) {
		int code;
		PCRE2_SIZE offset;
		PCRE2_UCHAR msg[160];

		/* Whole-tag matching: "v1" must never delete "v1.2-hotfix" by accident. */
		p->codes[i] = pcre2_compile((PCRE2_SPTR)patterns[i], PCRE2_ZERO_TERMINATED,
					    whole ? PCRE2_ANCHORED | PCRE2_ENDANCHORED : 0, &code,
					    &offset, NULL);
		if (!p->codes[i]) {
			pcre2_get_error_message(code, msg, sizeof(msg));
			snprintf(err, errlen, "bad pattern \"%s\" at offset %zu: %s", patterns[i],
				 (size_t)offset, (const char *)msg);
			p->count = i;
			pattern_free(p);
			return NULL;
		}
		p->sources[i] = xstrdup(patterns[i]);
		p->count = i + 1;
	}
	p->match = pcre2_match_data_create(1, NULL);
	p->limits = pcre2_match_context_create(NULL);
	if (!p->match || !p->limits ||
	    pcre2_set_match_limit(p->limits, MATCH_LIMIT) || pcre2_set_depth_limit(p->limits, DEPTH_LIMIT)) {
		fputs("regsweep: out of memory\n", stderr);
		abort();
	}
	return p;
}

int pattern_match(const struct rs_pattern *p, const char *subject)
{
	for (size_t i = 0; p && i < p->count; i++) {
		int rc = pcre2_match(p->codes[i], (PCRE2_SPTR)subject, strlen(subject), 0, 0,
				     p->match, p->limits);
		PCRE2_UCHAR msg[120];

		if (rc >= 0)
			return 1;
		if (rc == PCRE2_ERROR_NOMATCH)
			continue;
		if (!failures++) {
			pcre2_get_error_message(rc, msg, sizeof(msg));
			snprintf(first_failure, sizeof(first_failure), "pattern \"%s\" on \"%.64s\": %s",
				 p->sources[i], subject, (const char *)msg);
		}
	}
	return 0;
}

void pattern_failures_reset(void)
{
	failures = 0;
	first_failure[0] = '\0';
}

size_t pattern_failures(char *why, size_t whylen)
{
	if (failures)
		snprintf(why, whylen, "%s", first_failure);
	return failures;
}

size_t pattern_count(const struct rs_pattern *p)
{
	return p ? p->count : 0;
}

void pattern_free(struct rs_pattern *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->count; i++) {
		pcre2_code_free(p->codes[i]);
		free(p->sources[i]);
	}
	pcre2_match_data_free(p->match);
	pcre2_match_context_free(p->limits);
	free(p->sources);
	free(p->codes);
	free(p);
}
