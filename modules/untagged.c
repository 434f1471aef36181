/* untagged.c - delete the manifests no tag reaches (left behind by overwritten tags) once
 * they were pushed longer ago than `older_than`.
 *
 * The core shows this module the repository's untagged manifests as images without tags:
 * only the roots, never a child of an index something kept reaches, nor a referrer (a
 * referrer follows its subject).  Children of an untagged index go with it.  The grace
 * period (default 1h) protects a multi-arch push in progress: its children are pushed, and
 * untagged, before the index that lists them. */
#include <stdio.h>
#include <stdlib.h>

#include "regsweep/module.h"

#define DEFAULT_GRACE (60 * 60) /* "1h" */

struct untagged {
	const struct rs_host_api *host;
	int64_t older_than;
	char text[32];
};

static void ut_fini(void *state)
{
	free(state);
}

static enum rs_status ut_init(const struct rs_ctx *ctx, const struct rs_host_api *host,
			      void **state, char *err, size_t errlen)
{
	struct untagged *u = calloc(1, sizeof(*u));
	const char *text = "1h";

	if (!u) {
		snprintf(err, errlen, "out of memory");
		return RS_ERR_NOMEM;
	}
	u->host = host;
	u->older_than = DEFAULT_GRACE;
	if (host->arg_duration(ctx, "older_than", &u->older_than, err, errlen) < 0) {
		free(u);
		return RS_ERR_ARGS;
	}
	host->arg_string(ctx, "older_than", &text); /* as written, for reasons */
	snprintf(u->text, sizeof(u->text), "%s", text);
	*state = u;
	return RS_OK;
}

static enum rs_status ut_decide(const struct rs_ctx *ctx, void *state,
				const struct rs_repo_view *repo, struct rs_decision *const *out)
{
	const struct untagged *u = state;
	int64_t cutoff;

	(void)ctx;
	if (__builtin_sub_overflow(repo->now, u->older_than, &cutoff))
		cutoff = INT64_MIN;
	for (size_t i = 0; i < repo->count; i++) {
		const struct rs_image *img = repo->images[i];
		char when[32];

		if (img->tag_count)
			continue; /* PASS: tagged images are for the other modules */
		if (img->pushed == RS_TIME_UNKNOWN) {
			out[i]->verdict = RS_KEEP;
			snprintf(out[i]->reason, RS_REASON_MAX, "push time unknown");
			continue;
		}
		u->host->format_time(img->pushed, when, sizeof(when));
		out[i]->verdict = img->pushed < cutoff ? RS_DELETE : RS_KEEP;
		snprintf(out[i]->reason, RS_REASON_MAX, "pushed %s, %s %s", when,
			 img->pushed < cutoff ? "older than" : "within the grace period of",
			 u->text);
	}
	return RS_OK;
}

static const struct rs_arg_spec ut_args[] = {
	{"older_than", RS_ARG_DURATION, 0,
	 "delete untagged manifests pushed longer ago than this (default 1h: the grace period "
	 "for pushes in progress)"},
	{NULL, 0, 0, NULL},
};

RS_MODULE_EXPORT const struct rs_module regsweep_module = {
	RS_MODULE_HEADER,
	.name = "untagged",
	.summary = "delete untagged manifests (overwritten tags) pushed longer ago than a grace "
		   "period; needs storage_root",
	.kind = RS_KIND_POLICY,
	.args = ut_args,
	.needs = RS_NEED_UNTAGGED | RS_NEED_PUSHED,
	.init = ut_init,
	.decide = ut_decide,
	.fini = ut_fini,
};
