/* bad_abi.c - test module whose descriptor claims the next ABI major, which the loader must
 * refuse. */
#include "regsweep/module.h"

static enum rs_status bad_init(const struct rs_ctx *ctx, const struct rs_host_api *host,
			       void **state, char *err, size_t errlen)
{
	(void)ctx;
	(void)host;
	(void)err;
	(void)errlen;
	*state = NULL;
	return RS_OK;
}

static enum rs_status bad_decide(const struct rs_ctx *ctx, void *state,
				 const struct rs_repo_view *repo, struct rs_decision *out)
{
	(void)ctx;
	(void)state;
	(void)repo;
	(void)out;
	return RS_OK;
}

static const struct rs_arg_spec bad_args[] = {{NULL, 0, 0, NULL}};

/* Everything else is valid, so the ABI check is the only reason to refuse it. */
RS_MODULE_EXPORT const struct rs_module regsweep_module = {
	.abi_version = (uint32_t)(RS_ABI_MAJOR + 1) << 16,
	.struct_size = sizeof(struct rs_module),
	.name = "bad_abi",
	.summary = "test module: built against a future ABI major",
	.kind = RS_KIND_POLICY,
	.args = bad_args,
	.init = bad_init,
	.decide = bad_decide,
};
