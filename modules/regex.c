/* regex.c - keep or delete images by their tags' whole names matching lists of patterns. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "regsweep/module.h"

static const struct {
	const char *name;
	enum rs_verdict verdict;
} others_names[] = {{"pass", RS_PASS}, {"keep", RS_KEEP}, {"delete", RS_DELETE}};

#define OTHERS_COUNT (sizeof(others_names) / sizeof(others_names[0]))

struct regex {
	const struct rs_host_api *host;
	struct rs_pattern *keep; /* empty when not given */
	struct rs_pattern *del;
	size_t others; /* index into others_names */
};

static void regex_fini(void *state)
{
	struct regex *r = state;

	if (!r)
		return;
	/* Only NULL after a failed init; the SDK does not promise pattern_free(NULL). */
	if (r->keep)
		r->host->pattern_free(r->keep);
	if (r->del)
		r->host->pattern_free(r->del);
	free(r);
}

static enum rs_status regex_init(const struct rs_ctx *ctx, const struct rs_host_api *host,
				 void **state, char *err, size_t errlen)
{
	const char *others = "pass";
	struct regex *r;
	size_t o = 0;

	host->arg_string(ctx, "others", &others);
	while (o < OTHERS_COUNT && strcmp(others, others_names[o].name) != 0)
		o++;
	if (o == OTHERS_COUNT) {
		snprintf(err, errlen, "others must be one of pass, keep, delete, got \"%s\"",
			 others);
		return RS_ERR_ARGS;
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		snprintf(err, errlen, "out of memory");
		return RS_ERR_NOMEM;
	}
	r->host = host;
	r->others = o;
	r->keep = host->pattern_compile(ctx, "keep", err, errlen);
	if (r->keep)
		r->del = host->pattern_compile(ctx, "delete", err, errlen);
	if (!r->keep || !r->del) {
		regex_fini(r);
		return RS_ERR_ARGS;
	}
	if (host->pattern_count(r->keep) + host->pattern_count(r->del) == 0) {
		snprintf(err, errlen, "give at least one pattern in keep or delete");
		regex_fini(r);
		return RS_ERR_ARGS;
	}
	*state = r;
	return RS_OK;
}

/* One tag's verdict: keep is tried first, so a tag both lists claim is kept. */
static enum rs_verdict tag_verdict(const struct regex *r, const char *tag)
{
	if (r->host->pattern_match(r->keep, tag))
		return RS_KEEP;
	if (r->host->pattern_match(r->del, tag))
		return RS_DELETE;
	return others_names[r->others].verdict;
}

/* An image is deleted with all its tags: it is kept when any tag is, passes when any tag
 * passes, and is deleted only when every tag is. */
static const int caution[RS_VERDICT_MAX] = {[RS_DELETE] = 0, [RS_PASS] = 1,
							[RS_KEEP] = 2};

static enum rs_status regex_decide(const struct rs_ctx *ctx, void *state,
				   const struct rs_repo_view *repo, struct rs_decision *const *out)
{
	const struct regex *r = state;

	(void)ctx;
	for (size_t i = 0; i < repo->count; i++) {
		const struct rs_image *img = repo->images[i];
		const char *why = NULL;

		out[i]->verdict = RS_DELETE;
		for (size_t t = 0; t < img->tag_count; t++) {
			enum rs_verdict v = tag_verdict(r, img->tags[t]->name);

			if (!why || caution[v] > caution[out[i]->verdict]) {
				out[i]->verdict = v;
				why = img->tags[t]->name;
			}
		}
		if (!why) {
			out[i]->verdict = RS_PASS; /* untagged: not for a tag-name rule */
			continue;
		}
		if (r->host->pattern_match(r->keep, why))
			snprintf(out[i]->reason, RS_REASON_MAX, "%s matches keep pattern", why);
		else if (r->host->pattern_match(r->del, why))
			snprintf(out[i]->reason, RS_REASON_MAX, "%s matches delete pattern", why);
		else
			snprintf(out[i]->reason, RS_REASON_MAX, "%s matches no pattern; others = %s",
				 why, others_names[r->others].name);
	}
	return RS_OK;
}

static const struct rs_arg_spec regex_args[] = {
	{"keep", RS_ARG_STRING_LIST, 0, "keep tags matching one of these patterns (whole tag)"},
	{"delete", RS_ARG_STRING_LIST, 0, "delete tags matching one of these patterns (whole tag)"},
	{"others", RS_ARG_STRING, 0, "verdict for tags matching neither: pass (default), keep, "
				     "delete"},
	{NULL, 0, 0, NULL},
};

RS_MODULE_EXPORT const struct rs_module regsweep_module = {
	RS_MODULE_HEADER,
	.name = "regex",
	.summary = "keep or delete images by anchored PCRE2 patterns on their tag names",
	.kind = RS_KIND_POLICY,
	.args = regex_args,
	.needs = RS_NEED_DIGEST,
	.init = regex_init,
	.decide = regex_decide,
	.fini = regex_fini,
};
