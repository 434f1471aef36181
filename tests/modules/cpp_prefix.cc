// cpp_prefix.cc - test module written in C++: the SDK header is extern "C", so a C++ module
// exports the descriptor with C linkage and loads like any other.  Deletes the images all of
// whose tags start with `prefix`, keeps the others.
#include <cstdio>
#include <string>

#include "regsweep/module.h"

namespace {

struct prefix_state {
	std::string prefix;
};

enum rs_status px_init(const struct rs_ctx *ctx, const struct rs_host_api *host, void **state,
		       char *err, size_t errlen)
{
	const char *p = nullptr;

	if (!host->arg_string(ctx, "prefix", &p)) {
		std::snprintf(err, errlen, "prefix is required");
		return RS_ERR_ARGS;
	}
	*state = new prefix_state{p};
	return RS_OK;
}

enum rs_status px_decide(const struct rs_ctx *, void *state, const struct rs_repo_view *repo,
			 struct rs_decision *const *out)
{
	const std::string &prefix = static_cast<prefix_state *>(state)->prefix;

	for (size_t i = 0; i < repo->count; i++) {
		const struct rs_image *img = repo->images[i];
		bool all = img->tag_count > 0;

		for (size_t t = 0; t < img->tag_count; t++)
			all = all && std::string(img->tags[t]->name).rfind(prefix, 0) == 0;
		out[i]->verdict = all ? RS_DELETE : RS_KEEP;
		std::snprintf(out[i]->reason, RS_REASON_MAX, "%s %s", all ? "all tags start with" : "a tag does not start with", prefix.c_str());
	}
	return RS_OK;
}

void px_fini(void *state)
{
	delete static_cast<prefix_state *>(state);
}

const struct rs_arg_spec px_args[] = {
	{"prefix", RS_ARG_STRING, 1, "images all of whose tags start with this are deleted"},
	{nullptr, RS_ARG_INT, 0, nullptr},
};

} // namespace

extern "C" RS_MODULE_EXPORT const struct rs_module regsweep_module = {
	RS_MODULE_HEADER,
	.name = "cpp_prefix",
	.summary = "test module in C++: delete images whose tags all start with a prefix",
	.kind = RS_KIND_POLICY,
	.args = px_args,
	.needs = 0,
	.init = px_init,
	.decide = px_decide,
	.after = nullptr,
	.fini = px_fini,
};
