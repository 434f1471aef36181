/* json_agree.h - checks core/json.c's scanner against cJSON. */
#ifndef RS_JSON_AGREE_H
#define RS_JSON_AGREE_H

#include <stddef.h>

/* Whether json_value_span and json_members read the n bytes at text as cJSON does: the
 * same verdict, the same end of the value, and the same first members named "created",
 * "config", "a" and "".  0, or -1 after printing text to standard error. */
int json_agree(const char *text, size_t n);

#endif
