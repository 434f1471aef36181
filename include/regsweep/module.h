/* regsweep/module.h - the SDK for regsweep modules; the only header a module includes.
 *
 * A module is a shared object exporting one data symbol, `regsweep_module`, of type
 * `const struct rs_module`.  The core dlopen()s it, checks the descriptor, validates the
 * stack entry's `args` against the module's argument table, then calls `init` with an
 * append-only host API table.  No memory crosses the boundary unowned: everything the
 * core hands a module is borrowed for the duration of the call, and everything a module
 * allocates it frees itself in `fini`.
 */
#ifndef REGSWEEP_MODULE_H
#define REGSWEEP_MODULE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RS_ABI_MAJOR 2 /* bump on any incompatible change */
#define RS_ABI_MINOR 0 /* bump when appending fields or host API entries */
#define RS_ABI_VERSION (((uint32_t)RS_ABI_MAJOR << 16) | (uint32_t)RS_ABI_MINOR)
#define RS_MODULE_SYMBOL "regsweep_module"

/* Status codes.  Append-only: never renumber or remove a value. */
enum rs_status {
	RS_OK = 0,
	RS_ERR_ARGS,     /* bad module arguments */
	RS_ERR_NOMEM,    /* allocation failed */
	RS_ERR_IO,       /* file, process or pipe error */
	RS_ERR_INTERNAL, /* a bug; should not happen */
	RS_ERR_HTTP,     /* a request failed */
	RS_ERR_CONFIG,   /* broken stack file */
	RS_ERR_MODULE,   /* module failed to load or initialise */
	RS_ERR_FAILED,   /* an after-step ran and reported failure */
	RS_STATUS_MAX    /* never use */
};

/* A policy module's verdict on one image.  DELETE plays PAM's "success", KEEP its failure and
 * PASS its "ignore". */
enum rs_verdict { RS_PASS = 0, RS_KEEP = 1, RS_DELETE = 2, RS_VERDICT_MAX };

enum rs_kind { RS_KIND_POLICY = 1, RS_KIND_AFTER = 2 };

enum rs_arg_type {
	RS_ARG_INT = 1,     /* libconfig integer */
	RS_ARG_STRING,      /* libconfig string */
	RS_ARG_BOOL,        /* libconfig boolean */
	RS_ARG_STRING_LIST, /* libconfig array or list of strings */
	RS_ARG_DURATION     /* string such as "0s", "90m", "12h", "30d", "2w", "1d12h"; read with
			     * arg_duration */
};

enum rs_log_level {
	RS_LOG_ERROR = 0,
	RS_LOG_WARN,
	RS_LOG_INFO,
	RS_LOG_DEBUG,
	RS_LOG_RESULT /* what a step achieved, one line: shown also with -q */
};

/* Image facts a policy module needs; the core fetches only what the stack asks for.  A
 * module whose needs depend on its arguments adds bits from `init` with host->need. */
#define RS_NEED_DIGEST (1u << 0)  /* manifest digest (a GET per tag; always fetched) */
#define RS_NEED_CREATED (1u << 1) /* config blob `created` */
#define RS_NEED_LABELS (1u << 2)  /* config blob labels */
#define RS_NEED_SIZE (1u << 3)    /* manifest, config and layer sizes */
#define RS_NEED_PUSHED (1u << 4)  /* push times: needs a push-time source (storage_root) */
#define RS_NEED_UNTAGGED (1u << 5) /* also show this module the repository's untagged
				    * manifests (images with tag_count 0); needs storage_root */

#define RS_TIME_UNKNOWN INT64_MIN
#define RS_CREATED_UNKNOWN RS_TIME_UNKNOWN
#define RS_REASON_MAX 128

/* Orders for host->tag_compare, the ranking keep_last uses: the greater tag is the newer. */
enum rs_tag_order {
	RS_ORDER_NAME = 1, /* natural: digit runs by value, build-10 after build-9 */
	RS_ORDER_SEMVER,   /* semantic version precedence, optional leading "v" */
	RS_ORDER_LEXICAL   /* plain byte order */
};

/* One declared argument.  Tables end with an entry whose name is NULL. */
struct rs_arg_spec {
	const char *name;
	enum rs_arg_type type;
	int required; /* non-zero: the stack entry must give it */
	const char *help;
};

/* Structs below reach modules through arrays of pointers, never arrays of structs, so a
 * later minor version can append fields without moving anything a built module reads. */

struct rs_label {
	const char *key;
	const char *value;
};

struct rs_tag {
	const char *name;
	int64_t pushed; /* when the tag was last pushed, Unix seconds; RS_TIME_UNKNOWN */
};

/* One image of a repository: a manifest (by digest) with every tag that names it, or an
 * untagged manifest (tag_count 0, shown only to modules with RS_NEED_UNTAGGED).  Deleting
 * it deletes all its tags.  Borrowed from the core for the duration of `decide`. */
struct rs_image {
	const char *digest;     /* "sha256:..." */
	const char *media_type; /* manifest media type; NULL when not known */
	const struct rs_tag *const *tags; /* in tag-list order */
	size_t tag_count;
	int64_t created; /* config `created`, Unix seconds; RS_TIME_UNKNOWN when absent or
			  * before 1980 (reproducible builds write 1970) */
	int64_t pushed;  /* newest push of any of its tags, or of the untagged manifest;
			  * RS_TIME_UNKNOWN without a push-time source */
	int64_t size;    /* bytes of manifest + config + layers; -1 when not known */
	const struct rs_label *const *labels;
	size_t label_count;
};

/* The images of one repository whose walk through the stack reaches this entry (Linux-PAM:
 * a module is not called for what an earlier entry already settled), in tag-list order,
 * which is not age order. */
struct rs_repo_view {
	const char *name;
	const struct rs_image *const *images;
	size_t count;
	int64_t now; /* Unix seconds; the same for every repository of a run */
};

/* A module's answer for one image: `decide` writes *out[i] for images[i]; each starts as
 * PASS with an empty reason. */
struct rs_decision {
	enum rs_verdict verdict;
	char reason[RS_REASON_MAX];
};

/* What an after-step is told about the run that preceded it.  Borrowed. */
struct rs_run_summary {
	const char *registry; /* base URL */
	int dry_run;
	size_t repositories;
	size_t tags_deleted;
	size_t manifests_deleted;
	size_t requests_failed;
	int64_t reclaimable_bytes; /* the plan's estimate of what GC can free; -1 unknown */
	int reclaimable_upper_bound; /* the scan did not cover every repository: the estimate
				      * may be high */
	int maintenance_window; /* the stack's maintenance window holds the registry stopped
				 * (or read-only) around the after-steps: do not stop it again,
				 * and do not ask it anything; the core validates what was kept
				 * once the window closes */
};

struct rs_ctx;     /* opaque; one per stack entry, owned by the core */
struct rs_pattern; /* opaque; a compiled list of anchored PCRE2 patterns */

/* Services lent to modules.  Append-only, like sqlite3_api_routines: new entries go at the
 * end and raise RS_ABI_MINOR; check `struct_size` before using an entry added later. */
struct rs_host_api {
	uint32_t abi_version;
	uint32_t struct_size;

	/* Log a line; the core prefixes it with the module name and stack location. */
	void (*log)(const struct rs_ctx *ctx, enum rs_log_level level, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));

	/* Argument accessors.  The core has already checked names and types against the
	 * module's table.  Return 1 and set *out when the argument is present, 0 when absent.
	 * Strings are borrowed until `fini`. */
	int (*arg_int)(const struct rs_ctx *ctx, const char *name, long long *out);
	int (*arg_string)(const struct rs_ctx *ctx, const char *name, const char **out);
	int (*arg_bool)(const struct rs_ctx *ctx, const char *name, int *out);
	/* Number of strings in a list argument (0 when absent) and the i-th one. */
	size_t (*arg_list_count)(const struct rs_ctx *ctx, const char *name);
	const char *(*arg_list_item)(const struct rs_ctx *ctx, const char *name, size_t i);
	/* A duration argument in seconds; 0 when absent, -1 with a message in err when the
	 * text is not a duration. */
	int (*arg_duration)(const struct rs_ctx *ctx, const char *name, int64_t *out, char *err,
			    size_t errlen);

	/* Compile a list argument's strings as PCRE2 patterns anchored at both ends.  Returns
	 * NULL and writes err when a pattern does not compile; the caller owns the result and
	 * frees it with pattern_free.  An absent argument gives an empty pattern list. */
	struct rs_pattern *(*pattern_compile)(const struct rs_ctx *ctx, const char *name,
					      char *err, size_t errlen);
	/* 1 when any pattern of the list matches the whole subject, else 0. */
	int (*pattern_match)(const struct rs_pattern *p, const char *subject);
	/* Number of patterns in the list. */
	size_t (*pattern_count)(const struct rs_pattern *p);
	void (*pattern_free)(struct rs_pattern *p);

	/* Where the stack entry stands, "file:line"; borrowed until `fini`. */
	const char *(*location)(const struct rs_ctx *ctx);

	/* After-steps only, from `after`: re-reads the registry and checks that every tag the
	 * run kept still names its planned digest and that its manifest, its children and their
	 * config and layer blobs all answer 200.  Returns 0, or -1 with the first problem in
	 * err ("team/app:v2: GET /v2/team/app/blobs/sha256:...: HTTP 404"). */
	int (*verify_kept)(const struct rs_ctx *ctx, char *err, size_t errlen);

	/* From `init` only: ask for facts beyond the descriptor's `needs` (RS_NEED_* bits),
	 * e.g. push times only when an argument says so.  The core refuses the stack with the
	 * entry's file:line when it cannot supply them. */
	void (*need)(const struct rs_ctx *ctx, unsigned needs);
	/* 1 when tag has a place in order (under RS_ORDER_SEMVER: it is a semantic version),
	 * else 0. */
	int (*tag_rankable)(enum rs_tag_order order, const char *tag);
	/* <0, 0 or >0 as tag a is older than, as new as, or newer than b in order; both must be
	 * rankable.  0 only for equal strings. */
	int (*tag_compare)(enum rs_tag_order order, const char *a, const char *b);
	/* Unix seconds as "2024-05-01T10:20:30Z" (out: at least 21 bytes). */
	void (*format_time)(int64_t seconds, char *out, size_t outlen);
	/* After-steps: what a garbage collection measurably freed, in blob data and on disk
	 * (-1 when not measured), for the run's JSON result and metrics. */
	void (*reclaimed)(const struct rs_ctx *ctx, int64_t blob_bytes, int64_t disk_bytes);
	/* Run argv (no shell; argv[0] looked up in PATH) with stdout and stderr on one pipe,
	 * calling on_line for each non-empty line (may be NULL).  name is what messages call
	 * it.  RS_OK when it exited 0; RS_ERR_IO when it could not be run, RS_ERR_FAILED when
	 * it exited non-zero or was killed, with one line in err either way. */
	enum rs_status (*run_command)(const struct rs_ctx *ctx, char *const *argv,
				      const char *name,
				      void (*on_line)(void *arg, const char *line), void *arg,
				      char *err, size_t errlen);
};

struct rs_module {
	uint32_t abi_version; /* RS_MODULE_HEADER fills these two */
	uint32_t struct_size;
	const char *name;    /* must equal the stack's module name or the file's base name */
	const char *summary; /* one line */
	enum rs_kind kind;
	const struct rs_arg_spec *args; /* NULL-name terminated; any other name is refused */
	unsigned needs;                 /* RS_NEED_* bits (policy modules) */

	/* Read arguments, allocate *state.  On failure return non-RS_OK and write a one-line
	 * reason into err (caller-owned, errlen bytes).  Required. */
	enum rs_status (*init)(const struct rs_ctx *ctx, const struct rs_host_api *host,
			       void **state, char *err, size_t errlen);
	/* Policy modules: called once per repository with the images whose walk reaches this
	 * entry (not called when none does); writes *out[i] for repo->images[i].  Required
	 * for RS_KIND_POLICY. */
	enum rs_status (*decide)(const struct rs_ctx *ctx, void *state,
				 const struct rs_repo_view *repo, struct rs_decision *const *out);
	/* After-steps: called once after a successful apply.  Required for RS_KIND_AFTER. */
	enum rs_status (*after)(const struct rs_ctx *ctx, void *state,
				const struct rs_run_summary *summary, char *err, size_t errlen);
	/* Free state.  May be NULL. */
	void (*fini)(void *state);
};

#define RS_MODULE_HEADER .abi_version = RS_ABI_VERSION, .struct_size = sizeof(struct rs_module)

#define RS_MODULE_EXPORT __attribute__((visibility("default")))

#ifdef __cplusplus
}
#endif

#endif /* REGSWEEP_MODULE_H */
