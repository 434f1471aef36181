/* pattern.c - anchored PCRE2 pattern lists. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "pattern.h"

#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

struct rs_pattern {
	pcre2_code **codes;
	size_t count;
	pcre2_match_data *match; /* shared: patterns are only used from the main thread */
};

struct rs_pattern *pattern_compile_list(const char *const *patterns, size_t count, int whole,
					char *err, size_t errlen)
{
	struct rs_pattern *p = xcalloc(1, sizeof(*p));

	p->codes = xcalloc(count, sizeof(*p->codes));
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
		p->count = i + 1;
	}
	p->match = pcre2_match_data_create(1, NULL);
	if (!p->match) {
		fputs("regsweep: out of memory\n", stderr);
		abort();
	}
	return p;
}

int pattern_match(const struct rs_pattern *p, const char *subject)
{
	for (size_t i = 0; p && i < p->count; i++) {
		if (pcre2_match(p->codes[i], (PCRE2_SPTR)subject, strlen(subject), 0, 0, p->match,
				NULL) >= 0)
			return 1;
	}
	return 0;
}

size_t pattern_count(const struct rs_pattern *p)
{
	return p ? p->count : 0;
}

void pattern_free(struct rs_pattern *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->count; i++)
		pcre2_code_free(p->codes[i]);
	pcre2_match_data_free(p->match);
	free(p->codes);
	free(p);
}
