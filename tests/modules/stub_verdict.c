/* stub_verdict.c - test module giving one fixed verdict, to drive the control-flag engine. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "regsweep/module.h"

struct stub {
	const struct rs_host_api *host;
	const struct rs_ctx *ctx; /* to read `tags` again in decide; lives until fini */
	enum rs_verdict verdict;
	size_t tag_count; /* 0: every tag gets the verdict */
	int fail;         /* decide reports an error, to show the core fails closed */
};

/* Whether one of img's tags is listed. */
static int listed(const struct stub *s, const struct rs_image *img)
{
	for (size_t i = 0; i < s->tag_count; i++)
		for (size_t t = 0; t < img->tag_count; t++)
			if (strcmp(s->host->arg_list_item(s->ctx, "tags", i), img->tags[t]->name) == 0)
				return 1;
	return 0;
}

static enum rs_status stub_init(const struct rs_ctx *ctx, const struct rs_host_api *host,
				void **state, char *err, size_t errlen)
{
	static const char *const names[RS_VERDICT_MAX] = {"pass", "keep", "delete"};
	const char *verdict = NULL;
	struct stub *s;
	int v = 0;

	if (!host->arg_string(ctx, "verdict", &verdict)) {
		snprintf(err, errlen, "verdict is required");
		return RS_ERR_ARGS;
	}
	while (v < RS_VERDICT_MAX && strcmp(verdict, names[v]) != 0)
		v++;
	if (v == RS_VERDICT_MAX) {
		snprintf(err, errlen, "verdict must be one of keep, delete, pass, got \"%s\"",
			 verdict);
		return RS_ERR_ARGS;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return RS_ERR_NOMEM;
	}
	s->host = host;
	s->ctx = ctx;
	s->verdict = (enum rs_verdict)v;
	s->tag_count = host->arg_list_count(ctx, "tags");
	host->arg_bool(ctx, "fail", &s->fail);
	*state = s;
	return RS_OK;
}

static enum rs_status stub_decide(const struct rs_ctx *ctx, void *state,
				  const struct rs_repo_view *repo, struct rs_decision *const *out)
{
	const struct stub *s = state;

	(void)ctx;
	if (s->fail)
		return RS_ERR_INTERNAL;
	for (size_t i = 0; i < repo->count; i++) {
		if (s->tag_count && !listed(s, repo->images[i]))
			continue;
		out[i]->verdict = s->verdict;
		snprintf(out[i]->reason, RS_REASON_MAX, "stub");
	}
	return RS_OK;
}

static void stub_fini(void *state)
{
	free(state);
}

static const struct rs_arg_spec stub_args[] = {
	{"verdict", RS_ARG_STRING, 1, "keep, delete or pass"},
	{"tags", RS_ARG_STRING_LIST, 0, "only images with one of these tags get the verdict; the others PASS"},
	{"fail", RS_ARG_BOOL, 0, "decide fails (after writing nothing)"},
	{NULL, 0, 0, NULL},
};

RS_MODULE_EXPORT const struct rs_module regsweep_module = {
	RS_MODULE_HEADER,
	.name = "stub_verdict",
	.summary = "test module: the same verdict for every tag (or the listed ones)",
	.kind = RS_KIND_POLICY,
	.args = stub_args,
	.needs = 0,
	.init = stub_init,
	.decide = stub_decide,
	.fini = stub_fini,
};
