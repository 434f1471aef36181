/* fuzz_journal.c - journal files (JSON lines): journal_read, strict and lenient, on the
 * input as it is, then on the input with each line's "digest" set to its manifest's SHA-256
 * so that the fuzzer gets past the hash check into the records. */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "fuzz.h"
#include "journal.h"
#include "json.h"

static void read_journal(const char *text, size_t len)
{
	const char *path = fuzz_file(text, len);

	for (int lenient = 0; lenient <= 1; lenient++) {
		struct rs_err e = {{0}};
		struct journal_log log;

		if (journal_read(path, lenient, &log, &e) == 0)
			journal_registry(&log);
		journal_log_free(&log);
	}
	fuzz_file_done();
}

/* Each line that is a JSON object with a string "manifest", its digest made to match (and
 * printed compact again); other lines as they are.  A last line without a newline keeps
 * going without one: journal_read treats it differently. */
static void fix_digests(const char *text, size_t len, struct buf *out)
{
	for (const char *p = text, *end = text + len; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		cJSON *o = cJSON_ParseWithLength(p, n);
		const char *body = json_string(o, "manifest");

		if (cJSON_IsObject(o) && body) {
			char hash[UTIL_SHA256_LEN], *line;

			util_sha256(body, strlen(body), hash);
			cJSON_DeleteItemFromObjectCaseSensitive(o, "digest");
			cJSON_AddStringToObject(o, "digest", hash);
			line = json_text(o, 0);
			buf_append(out, line, strlen(line));
			free(line);
		} else {
			buf_append(out, p, n);
		}
		cJSON_Delete(o);
		if (nl)
			buf_append(out, "\n", 1);
		p = nl ? nl + 1 : end;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_string(data, size);
	struct buf fixed = {0};

	read_journal(text, size);
	fix_digests(text, size, &fixed);
	if (fixed.len)
		read_journal(fixed.data, fixed.len);
	buf_free(&fixed);
	free(text);
	return 0;
}
