/* report.h - what each repository holds, before any cleaning: tags, manifests, the bytes
 * its images reference and the bytes no other repository references (what deleting the
 * whole repository would free), oldest and newest image.  Built from a scan made with
 * REG_NEED_GRAPH; rendered as a text table or as JSON. */
#ifndef RS_REPORT_H
#define RS_REPORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "registry.h"

#define REPORT_VERSION 1 /* the JSON report's "version" */

struct report_repo {
	char *name;
	size_t tags;
	size_t manifests; /* distinct: the tagged ones and the children of tagged indexes */
	/* Blob and manifest bytes count once per digest however many manifests name them. */
	uint64_t total_bytes;  /* every blob its manifests reference, plus those manifests */
	uint64_t unique_bytes; /* the part of total_bytes no other scanned repository holds */
	int64_t oldest, newest; /* over its tags; RS_CREATED_UNKNOWN when no time is known */
	char *error; /* non-NULL: not scanned; every figure above is 0 and counts nowhere */
};

struct report {
	char *registry;
	/* The scanned repositories by unique_bytes descending (ties by name), then the
	 * failed ones by name. */
	struct report_repo *repos;
	size_t count;
	size_t failed; /* repositories with an error: the last `failed` of repos */
	size_t tags, manifests; /* over the scanned repositories */
	uint64_t total_bytes;   /* every distinct blob and manifest of the scanned ones */
};

/* Builds the report on scan (borrowed; every string is copied) into *out, owned by the
 * caller and released with report_free.  registry is the URL to name in the output.
 * Runs in O(n log n) over the blob references, however they are shared. */
void report_build(const struct reg_scan *scan, const char *registry, struct report *out);

/* The table, the first `top` scanned repositories only (0: all) and every failed one with
 * its error, then a total line over all of them. */
void report_print_text(const struct report *r, size_t top, FILE *out);

/* The same as a JSON object (caller frees): exact byte counts, RFC 3339 times or null. */
char *report_to_json(const struct report *r, size_t top);

void report_free(struct report *r);

#endif
