/* age.c - delete images created (or pushed) longer ago than `older_than`, keep the others. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "regsweep/module.h"

struct age {
	const struct rs_host_api *host;
	int64_t older_than; /* seconds, >= 0 */
	int by_pushed;      /* by = "pushed" */
	char text[32];      /* older_than as written, for reasons: "30d" */
};

static void age_fini(void *state)
{
	free(state);
}

static enum rs_status age_init(const struct rs_ctx *ctx, const struct rs_host_api *host,
			       void **state, char *err, size_t errlen)
{
	const char *by = "created", *text = "";
	int64_t older_than = 0;
	struct age *a;
	int rc = host->arg_duration(ctx, "older_than", &older_than, err, errlen);

	if (rc < 0)
		return RS_ERR_ARGS;
	if (rc == 0) {
		snprintf(err, errlen, "older_than is required");
		return RS_ERR_ARGS;
	}
	host->arg_string(ctx, "by", &by);
	if (strcmp(by, "created") && strcmp(by, "pushed")) {
		snprintf(err, errlen, "by must be created or pushed, got \"%s\"", by);
		return RS_ERR_ARGS;
	}
	a = calloc(1, sizeof(*a));
	if (!a) {
		snprintf(err, errlen, "out of memory");
		return RS_ERR_NOMEM;
	}
	a->host = host;
	a->older_than = older_than;
	a->by_pushed = strcmp(by, "pushed") == 0;
	host->arg_string(ctx, "older_than", &text); /* as written, for reasons */
	snprintf(a->text, sizeof(a->text), "%s", text);
	if (a->by_pushed)
		host->need(ctx, RS_NEED_PUSHED);
	*state = a;
	return RS_OK;
}

static enum rs_status age_decide(const struct rs_ctx *ctx, void *state,
				 const struct rs_repo_view *repo, struct rs_decision *const *out)
{
	const struct age *a = state;
	const char *what = a->by_pushed ? "pushed" : "created";
	int64_t cutoff;

	(void)ctx;
	/* A duration reaching before the epoch's range means nothing can be that old. */
	if (__builtin_sub_overflow(repo->now, a->older_than, &cutoff))
		cutoff = INT64_MIN;
	for (size_t i = 0; i < repo->count; i++) {
		int64_t t = a->by_pushed ? repo->images[i]->pushed : repo->images[i]->created;
		char when[32];

		if (t == RS_TIME_UNKNOWN) {
			out[i]->verdict = RS_KEEP;
			snprintf(out[i]->reason, RS_REASON_MAX, "%s time unknown", what);
			continue;
		}
		a->host->format_time(t, when, sizeof(when));
		out[i]->verdict = t < cutoff ? RS_DELETE : RS_KEEP;
		snprintf(out[i]->reason, RS_REASON_MAX, "%s %s, %s %s", what, when,
			 t < cutoff ? "older than" : "within", a->text);
	}
	return RS_OK;
}

static const struct rs_arg_spec age_args[] = {
	{"older_than", RS_ARG_DURATION, 1, "delete images older than this (30d, 1d12h, 0s)"},
	{"by", RS_ARG_STRING, 0,
	 "age by created (default: the config's time) or pushed (needs storage_root)"},
	{NULL, 0, 0, NULL},
};

RS_MODULE_EXPORT const struct rs_module regsweep_module = {
	RS_MODULE_HEADER,
	.name = "age",
	.summary = "delete images created or pushed longer ago than a duration, keep the others",
	.kind = RS_KIND_POLICY,
	.args = age_args,
	.needs = RS_NEED_CREATED,
	.init = age_init,
	.decide = age_decide,
	.fini = age_fini,
};
