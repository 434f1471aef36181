/* miswritten.c - a module with one defect in an otherwise valid descriptor, which the
 * loader must refuse.  Built twice: with MISWRITTEN_BAD_ABI as bad_abi.so (claims the next
 * ABI major), with MISWRITTEN_WRONG_NAME as wrong_name.so (named unlike its file). */
#include "regsweep/module.h"

static enum rs_status mw_init(const struct rs_ctx *ctx, const struct rs_host_api *host,
			      void **state, char *err, size_t errlen)
{
	(void)ctx;
	(void)host;
	(void)err;
	(void)errlen;
	*state = NULL;
	return RS_OK;
}

static enum rs_status mw_decide(const struct rs_ctx *ctx, void *state,
				const struct rs_repo_view *repo, struct rs_decision *const *out)
{
	(void)ctx;
	(void)state;
	(void)repo;
	(void)out;
	return RS_OK;
}

static const struct rs_arg_spec mw_args[] = {{NULL, 0, 0, NULL}};

RS_MODULE_EXPORT const struct rs_module regsweep_module = {
#if defined(MISWRITTEN_BAD_ABI)
	.abi_version = (uint32_t)(RS_ABI_MAJOR + 1) << 16,
	.struct_size = sizeof(struct rs_module),
	.name = "bad_abi",
#elif defined(MISWRITTEN_WRONG_NAME)
	RS_MODULE_HEADER,
	.name = "something_else",
#else
#error "build with MISWRITTEN_BAD_ABI or MISWRITTEN_WRONG_NAME"
#endif
	.summary = "test module with one defect",
	.kind = RS_KIND_POLICY,
	.args = mw_args,
	.init = mw_init,
	.decide = mw_decide,
};
