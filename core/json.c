/* json.c - shared cJSON readers and writers. */
#include "json.h"

#include <stdio.h>
#include <stdlib.h>

#include "regsweep/module.h"
#include "util.h"

cJSON *json_time(int64_t t)
{
	char buf[32];

	if (t == RS_CREATED_UNKNOWN)
		return cJSON_CreateNull();
	util_format_rfc3339(t, buf, sizeof(buf));
	return cJSON_CreateString(buf);
}

char *json_text(const cJSON *doc, int indented)
{
	char *text = indented ? cJSON_Print(doc) : cJSON_PrintUnformatted(doc);

	if (!text) {
		fputs("regsweep: out of memory\n", stderr);
		abort();
	}
	return text;
}

const char *json_string(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

int64_t json_bytes(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0) || v->valuedouble > 9007199254740992.0 ||
	    v->valuedouble != (double)(int64_t)v->valuedouble)
		return -1;
	return (int64_t)v->valuedouble;
}
