/* skeleton.c - a minimal regsweep policy module to copy and rename (module ABI 2.0).
 *
 * What it does: an image whose every tag starts with `prefix` (default "tmp-") is a
 * scratch image. A scratch image created more than `older_than` ago is deleted; a newer
 * one, or one whose creation time is unknown, is kept. Any other image is passed: this
 * module has no opinion on it and the rest of the stack decides.
 *
 *   { module = "skeleton"; control = "required"; args = { older_than = "7d"; }; }
 *
 * To make it yours: rename the file, `.name` below and the stack's `module = "..."` all
 * alike (the loader looks for NAME.so and checks that the descriptor says NAME), then
 * replace the argument table, the state and the verdict rule. The contract is in
 * docs/writing-modules.md; <regsweep/module.h> is the reference.
 *
 * Build: `make` (pkg-config) or `cmake` (find_package(regsweep)); see README.md here.
 */
#include <stdio.h>  /* snprintf */
#include <stdlib.h> /* calloc, free */
#include <string.h> /* strlen, strncmp */

#include <regsweep/module.h> /* the only regsweep header a module includes */

/* Per stack entry state, allocated in init and freed in fini. The same module may stand
 * twice in a stack: each entry gets its own state, so nothing here may be global. */
struct skeleton {
	const struct rs_host_api *host; /* decide does not receive the host table: keep it */
	const char *prefix;             /* borrowed from the stack until fini: do not free */
	int64_t older_than;             /* seconds */
	const char *older_than_text;    /* "7d" as written, reads better in reasons */
};

/* Frees what init allocated. Not called after a failed init, so init cleans up itself. */
static void skeleton_fini(void *state)
{
	free(state);
}

/* Reads the arguments, checks their values and allocates the state. The loader has already
 * checked names, types and that required arguments are present; what is left is values. */
static enum rs_status skeleton_init(const struct rs_ctx *ctx, const struct rs_host_api *host,
				    void **state, char *err, size_t errlen)
{
	const char *prefix = "tmp-"; /* no defaults in the SDK: set one, then read over it */
	const char *text = "";
	int64_t older_than = 0;
	struct skeleton *s;
	int rc;

	host->arg_string(ctx, "prefix", &prefix); /* 0 and *out untouched when absent */
	if (prefix[0] == '\0') {
		/* One line, what is wrong and what would be right; the core adds file:line. */
		snprintf(err, errlen, "prefix must not be empty (every tag would match)");
		return RS_ERR_ARGS;
	}
	rc = host->arg_duration(ctx, "older_than", &older_than, err, errlen);
	if (rc < 0) /* err already says why */
		return RS_ERR_ARGS;
	if (rc == 0) { /* cannot happen: the table marks it required; stay safe anyway */
		snprintf(err, errlen, "older_than is required");
		return RS_ERR_ARGS;
	}
	host->arg_string(ctx, "older_than", &text); /* a duration is also its text */

	s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return RS_ERR_NOMEM;
	}
	s->host = host;
	s->prefix = prefix;
	s->older_than = older_than;
	s->older_than_text = text;
	/* Facts wanted only for some arguments would be asked for here with host->need();
	 * this module always reads `created`, so it declares RS_NEED_CREATED in `.needs`. */
	*state = s;
	return RS_OK;
}

/* Judges the images of one repository that reach this entry. repo->images and out are
 * arrays of POINTERS: read repo->images[i]->..., write out[i]->verdict and out[i]->reason.
 * Each answer starts as RS_PASS with an empty reason. */
static enum rs_status skeleton_decide(const struct rs_ctx *ctx, void *state,
				      const struct rs_repo_view *repo,
				      struct rs_decision *const *out)
{
	const struct skeleton *s = state;
	size_t plen = strlen(s->prefix);
	int64_t cutoff;

	(void)ctx;
	/* "Now" is repo->now, never time(): the same for the whole run, and tests set it. */
	if (__builtin_sub_overflow(repo->now, s->older_than, &cutoff))
		cutoff = INT64_MIN; /* nothing can be that old */

	for (size_t i = 0; i < repo->count; i++) {
		const struct rs_image *img = repo->images[i];
		struct rs_decision *d = out[i];
		char when[32];
		size_t k;

		if (img->tag_count == 0) /* untagged: never shown without RS_NEED_UNTAGGED */
			continue;
		/* An image is one digest with all its tags, and deleting it deletes every tag:
		 * one tag outside the rule is enough to stay out of it. */
		for (k = 0; k < img->tag_count; k++)
			if (strncmp(img->tags[k]->name, s->prefix, plen) != 0)
				break;
		if (k < img->tag_count) {
			/* PASS, with a reason the plan shows when no module decides. */
			snprintf(d->reason, RS_REASON_MAX, "%s does not start with %s",
				 img->tags[k]->name, s->prefix);
			continue;
		}
		/* A fact asked for may still be unknown: then take the safe side, keep. */
		if (img->created == RS_TIME_UNKNOWN) {
			d->verdict = RS_KEEP;
			snprintf(d->reason, RS_REASON_MAX, "%s: created time unknown",
				 img->tags[0]->name);
			continue;
		}
		s->host->format_time(img->created, when, sizeof(when));
		d->verdict = img->created < cutoff ? RS_DELETE : RS_KEEP;
		/* The core prefixes "skeleton: "; give what decided, so a reader can check. */
		snprintf(d->reason, RS_REASON_MAX, "%s created %s, %s %s", img->tags[0]->name,
			 when, d->verdict == RS_DELETE ? "older than" : "within",
			 s->older_than_text);
	}
	return RS_OK;
}

/* The arguments the stack may give; any other name is refused. Ends with a NULL name. */
static const struct rs_arg_spec skeleton_args[] = {
	{"older_than", RS_ARG_DURATION, 1, "delete scratch images created longer ago (7d, 12h)"},
	{"prefix", RS_ARG_STRING, 0, "scratch tags start with this (default \"tmp-\")"},
	{NULL, 0, 0, NULL},
};

/* The one exported symbol. Everything else is static, and the build uses
 * -fvisibility=hidden, so helpers never clash with the core's or another module's. */
RS_MODULE_EXPORT const struct rs_module regsweep_module = {
	RS_MODULE_HEADER, /* abi_version and struct_size: never by hand */
	.name = "skeleton",
	.summary = "delete images whose every tag starts with a prefix, once older than a duration",
	.kind = RS_KIND_POLICY,
	.args = skeleton_args,
	.needs = RS_NEED_CREATED, /* the core fetches each image's config for `created` */
	.init = skeleton_init,
	.decide = skeleton_decide,
	.fini = skeleton_fini,
};
