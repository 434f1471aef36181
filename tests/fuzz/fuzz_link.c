/* fuzz_link.c - Link headers (RFC 8288), as the catalog and tag list pagers follow them:
 * http_link_next.  The input is the header value; a first line that starts with "http"
 * is the effective URL relative references resolve against. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char page[] = "http://127.0.0.1:5000/v2/library/app/tags/list?n=1000";
	char *text = fuzz_string(data, size), *nl = strchr(text, '\n'), *next;
	struct http_response resp = {
		.method = HTTP_GET,
		.url = page,
		.effective_url = page,
		.status = 200,
		.body = "",
		.content_length = -1,
		.link = text,
	};

	if (nl && strncmp(text, "http", 4) == 0) {
		*nl = '\0';
		resp.effective_url = text;
		resp.link = nl + 1;
	}
	next = http_link_next(&resp);
	free(next);
	free(text);
	return 0;
}
