/* wrong_name.c - test module whose descriptor name differs from its file name, which the
 * loader must refuse. */
#include "regsweep/module.h"

static enum rs_status wn_init(const struct rs_ctx *ctx, const struct rs_host_api *host,
			      void **state, char *err, size_t errlen)
{
	(void)ctx;
	(void)host;
	(void)err;
	(void)errlen;
	*state = NULL;
	return RS_OK;
}

static enum rs_status wn_decide(const struct rs_ctx *ctx, void *state,
				const struct rs_repo_view *repo, struct rs_decision *out)
{
	(void)ctx;
	(void)state;
	(void)repo;
	(void)out;
	return RS_OK;
}

static const struct rs_arg_spec wn_args[] = {{NULL, 0, 0, NULL}};

RS_MODULE_EXPORT const struct rs_module regsweep_module = {
	RS_MODULE_HEADER,
	.name = "something_else",
	.summary = "test module: named unlike its file",
	.kind = RS_KIND_POLICY,
	.args = wn_args,
	.init = wn_init,
	.decide = wn_decide,
};
