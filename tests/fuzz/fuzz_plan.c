/* fuzz_plan.c - plan files: plan_read_file on the input as it is, then on the input
 * sealed again (its plan_sha256 recomputed) so that the fuzzer gets past the seal into the
 * plan's own fields, and what review and apply do with a plan that was read. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "fuzz.h"
#include "json.h"
#include "plan.h"

static FILE *devnull;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet();
	devnull = fopen("/dev/null", "w");
	return devnull ? 0 : 1;
}

static void read_plan(const char *text, size_t len)
{
	struct rs_err e = {{0}};
	struct plan p;

	if (plan_read_file(fuzz_file(text, len), &p, &e) == 0) {
		struct plan_totals t;
		char *json;

		plan_check_guards(&p);
		plan_totals(&p, &t);
		plan_print_text(&p, devnull, 1, 1);
		json = plan_to_json(&p, 1);
		free(json);
	}
	plan_free(&p);
	fuzz_file_done();
}

/* The input with a plan_sha256 that matches it (as plan.c's seal: SHA-256 of the compact
 * text of everything else), or NULL when it is not a JSON object. */
static char *resealed(const char *text)
{
	cJSON *root = cJSON_Parse(text), *old;
	char hash[UTIL_SHA256_LEN], *compact, *out;

	if (!cJSON_IsObject(root)) {
		cJSON_Delete(root);
		return NULL;
	}
	while ((old = cJSON_DetachItemFromObjectCaseSensitive(root, "plan_sha256")))
		cJSON_Delete(old);
	compact = json_text(root, 0);
	util_sha256(compact, strlen(compact), hash);
	free(compact);
	cJSON_AddStringToObject(root, "plan_sha256", hash);
	out = json_text(root, 1);
	cJSON_Delete(root);
	return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_string(data, size), *sealed;

	read_plan(text, size);
	if ((sealed = resealed(text))) {
		read_plan(sealed, strlen(sealed));
		free(sealed);
	}
	free(text);
	return 0;
}
