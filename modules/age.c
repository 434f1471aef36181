/* age.c - delete tags whose image was created longer ago than `older_than`. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "regsweep/module.h"

struct age {
	int64_t older_than; /* seconds, > 0 */
	char text[24];      /* older_than for reasons, "30d" */
};

/* Seconds as the largest unit that divides them evenly, so "30d" reads back as written. */
static void format_duration(int64_t seconds, char *out, size_t outlen)
{
	static const struct {
		char unit;
		int64_t seconds;
	} units[] = {{'w', 604800}, {'d', 86400}, {'h', 3600}, {'m', 60}, {'s', 1}};
	size_t i = 0;

	while (seconds % units[i].seconds != 0)
		i++;
	snprintf(out, outlen, "%lld%c", (long long)(seconds / units[i].seconds), units[i].unit);
}

static void format_time(int64_t seconds, char *out, size_t outlen)
{
	time_t t = (time_t)seconds;
	struct tm tm;

	if ((int64_t)t != seconds || !gmtime_r(&t, &tm) ||
	    !strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(out, outlen, "@%lld", (long long)seconds);
}

static void age_fini(void *state)
{
	free(state);
}

static enum rs_status age_init(const struct rs_ctx *ctx, const struct rs_host_api *host,
			       void **state, char *err, size_t errlen)
{
	int64_t older_than = 0;
	struct age *a;
	int rc = host->arg_duration(ctx, "older_than", &older_than, err, errlen);

	if (rc < 0)
		return RS_ERR_ARGS;
	if (rc == 0) {
		snprintf(err, errlen, "older_than is required");
		return RS_ERR_ARGS;
	}
	/* "0s" would delete every image with a known creation time: surely a typo. */
	if (older_than <= 0) {
		snprintf(err, errlen, "older_than must be longer than 0s");
		return RS_ERR_ARGS;
	}
	a = calloc(1, sizeof(*a));
	if (!a) {
		snprintf(err, errlen, "out of memory");
		return RS_ERR_NOMEM;
	}
	a->older_than = older_than;
	format_duration(older_than, a->text, sizeof(a->text));
	*state = a;
	return RS_OK;
}

static enum rs_status age_decide(const struct rs_ctx *ctx, void *state,
				 const struct rs_repo_view *repo, struct rs_decision *out)
{
	const struct age *a = state;
	int64_t cutoff;

	(void)ctx;
	/* A duration reaching before the epoch's range means nothing can be that old. */
	if (__builtin_sub_overflow(repo->now, a->older_than, &cutoff))
		cutoff = INT64_MIN;
	for (size_t i = 0; i < repo->count; i++) {
		int64_t created = repo->images[i].created;
		char when[32];

		if (created == RS_CREATED_UNKNOWN) {
			out[i].verdict = RS_KEEP;
			snprintf(out[i].reason, RS_REASON_MAX, "creation time unknown");
			continue;
		}
		format_time(created, when, sizeof(when));
		if (created < cutoff) {
			out[i].verdict = RS_DELETE;
			snprintf(out[i].reason, RS_REASON_MAX, "created %s, older than %s", when,
				 a->text);
		} else {
			out[i].verdict = RS_KEEP;
			snprintf(out[i].reason, RS_REASON_MAX, "created %s, within %s", when,
				 a->text);
		}
	}
	return RS_OK;
}

static const struct rs_arg_spec age_args[] = {
	{"older_than", RS_ARG_DURATION, 1, "delete images created longer ago than this (30d)"},
	{NULL, 0, 0, NULL},
};

RS_MODULE_EXPORT const struct rs_module regsweep_module = {
	RS_MODULE_HEADER,
	.name = "age",
	.summary = "delete tags whose image is older than a duration, keep the others",
	.kind = RS_KIND_POLICY,
	.args = age_args,
	.needs = RS_NEED_CREATED,
	.init = age_init,
	.decide = age_decide,
	.fini = age_fini,
};
