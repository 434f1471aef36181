/* json_agree.h - checks core/json.c's scanner and the scan's manifest reading against cJSON. */
#ifndef RS_JSON_AGREE_H
#define RS_JSON_AGREE_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

/* Whether core/json.c reads the n bytes at text as cJSON does: json_value_span gives the
 * same verdict and the same end of the value; json_next, json_count, json_string_value and
 * json_number_value give every value inside as cJSON's tree holds it; json_members finds
 * the same first members named "created", "config", "a" and "".  0, or -1 after printing
 * text to standard error. */
int json_agree(const char *text, size_t n);

/* Whether registry_manifest_from_body reads the manifest body (len bytes, as served with
 * content_type, which may be NULL) as the scan read it through a cJSON tree: the same
 * verdict and, when taken, the same media type, subject, children and blobs with their
 * sizes.  0, or -1 after printing body to standard error. */
int manifest_agree(const char *body, size_t len, const char *content_type);

/* Calls check on rounds texts, each seeds[round % nseeds] after round % (max_edits + 1)
 * random edits, JSON-minded (bytes such as braces, quotes and escapes) and drawn from the
 * xorshift state rng: a byte replaced or removed, the text cut, a piece of it appended.
 * Returns how many texts check failed, stopping after 5. */
int json_mutations(const char *const *seeds, size_t nseeds, int rounds, int max_edits,
		   uint64_t rng, int (*check)(const char *text, size_t n, int round));

#endif
