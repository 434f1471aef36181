/* json_agree.c - json_value_span and json_members against cJSON, for the unit tests and
 * the json fuzz harness. */
#include "json_agree.h"

#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "json.h"

int json_agree(const char *text, size_t n)
{
	static const char *const keys[] = {"created", "config", "a", ""};
	const char *stop = NULL;
	cJSON *doc = cJSON_ParseWithLengthOpts(text, n, &stop, 0);
	struct json_span span, found[4];
	int ok = json_value_span(text, n, &span) == 0, agree = ok == (doc != NULL);

	if (agree && ok)
		agree = span.text + span.len == stop;
	if (agree && ok) {
		json_members(span, keys, 4, found);
		for (size_t i = 0; i < 4 && agree; i++) {
			cJSON *want = cJSON_IsObject(doc)
					  ? cJSON_GetObjectItemCaseSensitive(doc, keys[i])
					  : NULL;
			cJSON *got = found[i].text
					 ? cJSON_ParseWithLength(found[i].text, found[i].len)
					 : NULL;

			/* Compared as printed: cJSON_Compare pairs members by name, so it
			 * finds two trees with a repeated name unequal even to themselves. */
			char *w = want ? cJSON_PrintUnformatted(want) : NULL;
			char *g = got ? cJSON_PrintUnformatted(got) : NULL;

			agree = w ? g && strcmp(w, g) == 0 : !found[i].text;
			cJSON_free(w);
			cJSON_free(g);
			cJSON_Delete(got);
		}
	}
	cJSON_Delete(doc);
	if (!agree) {
		fputs("json scan and cJSON differ on: ", stderr);
		fwrite(text, 1, n, stderr);
		fputc('\n', stderr);
	}
	return agree ? 0 : -1;
}
