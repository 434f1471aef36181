/* json.h - the few cJSON readers and writers the plan, report and journal files share. */
#ifndef RS_JSON_H
#define RS_JSON_H

#include <stdint.h>

#include <cjson/cJSON.h>

/* RFC 3339 text for Unix seconds, or JSON null for RS_CREATED_UNKNOWN; a new item the
 * caller adds to a document. */
cJSON *json_time(int64_t t);

/* doc as text, indented or compact; caller-owned (free).  Aborts when memory runs out,
 * as xmalloc does. */
char *json_text(const cJSON *doc, int indented);

/* o's member key when it is a string (borrowed from o), else NULL. */
const char *json_string(const cJSON *o, const char *key);

/* o's member key when it is a whole number of bytes (0 to 2^53), else -1. */
int64_t json_bytes(const cJSON *o, const char *key);

#endif
