/* label_match.c - test module: deletes the images whose config carries one label, to show
 * that RS_NEED_LABELS brings every image its config's labels, whatever else the scan
 * reads. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "regsweep/module.h"

struct match {
	const char *key, *value; /* borrowed from the stack, which outlives the module */
};

static enum rs_status lm_init(const struct rs_ctx *ctx, const struct rs_host_api *host,
			      void **state, char *err, size_t errlen)
{
	struct match *m = calloc(1, sizeof(*m));

	if (!m) {
		snprintf(err, errlen, "out of memory");
		return RS_ERR_NOMEM;
	}
	if (!host->arg_string(ctx, "key", &m->key) || !host->arg_string(ctx, "value", &m->value)) {
		free(m);
		snprintf(err, errlen, "key and value are required");
		return RS_ERR_ARGS;
	}
	*state = m;
	return RS_OK;
}

static enum rs_status lm_decide(const struct rs_ctx *ctx, void *state,
				const struct rs_repo_view *repo, struct rs_decision *const *out)
{
	const struct match *m = state;

	(void)ctx;
	for (size_t i = 0; i < repo->count; i++) {
		const struct rs_image *img = repo->images[i];

		for (size_t k = 0; k < img->label_count; k++) {
			if (strcmp(img->labels[k]->key, m->key) == 0 &&
			    strcmp(img->labels[k]->value, m->value) == 0) {
				out[i]->verdict = RS_DELETE;
				snprintf(out[i]->reason, RS_REASON_MAX, "label %s=%s", m->key,
					 m->value);
			}
		}
	}
	return RS_OK;
}

static const struct rs_arg_spec lm_args[] = {
	{"key", RS_ARG_STRING, 1, "label key"},
	{"value", RS_ARG_STRING, 1, "label value: images with key=value are deleted"},
	{NULL, 0, 0, NULL},
};

RS_MODULE_EXPORT const struct rs_module regsweep_module = {
	RS_MODULE_HEADER,
	.name = "label_match",
	.summary = "test module: delete the images whose config has one label",
	.kind = RS_KIND_POLICY,
	.args = lm_args,
	.needs = RS_NEED_LABELS,
	.init = lm_init,
	.decide = lm_decide,
	.fini = free,
};
