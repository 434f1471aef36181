/* host.c - the services the core lends to modules through struct rs_host_api. */
#include "host.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "command.h"
#include "log.h"
#include "pattern.h"
#include "stack.h"
#include "tagorder.h"
#include "util.h"

static const char *entry_name(const struct rs_ctx *ctx)
{
	const struct stack_entry *en = ctx->entry;

	return en->desc && en->desc->name ? en->desc->name : en->module;
}

static void host_log(const struct rs_ctx *ctx, enum rs_log_level level, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	if ((unsigned)level > RS_LOG_RESULT)
		level = RS_LOG_DEBUG;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	log_msg(level, "%s: %s", entry_name(ctx), line);
}

/* The argument if present with the wanted type; the loader has checked types already. */
static const struct stack_arg *arg_of(const struct rs_ctx *ctx, const char *name,
				      enum rs_arg_type type)
{
	const struct stack_arg *a = stack_entry_arg(ctx->entry, name);

	return a && a->type == type ? a : NULL;
}

static int host_arg_int(const struct rs_ctx *ctx, const char *name, long long *out)
{
	const struct stack_arg *a = arg_of(ctx, name, RS_ARG_INT);

	if (a)
		*out = a->i;
	return a != NULL;
}

static int host_arg_string(const struct rs_ctx *ctx, const char *name, const char **out)
{
	const struct stack_arg *a = arg_of(ctx, name, RS_ARG_STRING);

	if (a)
		*out = a->s;
	return a != NULL;
}

static int host_arg_bool(const struct rs_ctx *ctx, const char *name, int *out)
{
	const struct stack_arg *a = arg_of(ctx, name, RS_ARG_BOOL);

	if (a)
		*out = (int)a->i;
	return a != NULL;
}

static size_t host_arg_list_count(const struct rs_ctx *ctx, const char *name)
{
	const struct stack_arg *a = arg_of(ctx, name, RS_ARG_STRING_LIST);

	return a ? a->list_count : 0;
}

static const char *host_arg_list_item(const struct rs_ctx *ctx, const char *name, size_t i)
{
	const struct stack_arg *a = arg_of(ctx, name, RS_ARG_STRING_LIST);

	return a && i < a->list_count ? a->list[i] : NULL;
}

static int host_arg_duration(const struct rs_ctx *ctx, const char *name, int64_t *out,
			     char *err, size_t errlen)
{
	const struct stack_arg *a = arg_of(ctx, name, RS_ARG_STRING);

	if (!a)
		return 0;
	if (util_parse_duration(a->s, out)) {
		snprintf(err, errlen, "%s: \"%s\" is not a duration (90m, 12h, 30d, 2w)", name,
			 a->s);
		return -1;
	}
	return 1;
}

static struct rs_pattern *host_pattern_compile(const struct rs_ctx *ctx, const char *name,
					       char *err, size_t errlen)
{
	const struct stack_arg *a = arg_of(ctx, name, RS_ARG_STRING_LIST);

	if (!a)
		return pattern_compile_list(NULL, 0, 1, err, errlen);
	return pattern_compile_list((const char *const *)a->list, a->list_count, 1, err, errlen);
}

static const char *host_location(const struct rs_ctx *ctx)
{
	return ctx->entry->location;
}

static int (*verifier)(void *arg, char *err, size_t errlen);
static void *verifier_arg;

void host_set_verifier(int (*fn)(void *arg, char *err, size_t errlen), void *arg)
{
	verifier = fn;
	verifier_arg = arg;
}

static int host_verify_kept(const struct rs_ctx *ctx, char *err, size_t errlen)
{
	(void)ctx;
	if (!verifier) {
		snprintf(err, errlen, "no registry to check: only after-steps may ask");
		return -1;
	}
	return verifier(verifier_arg, err, errlen);
}

static void host_need(const struct rs_ctx *ctx, unsigned needs)
{
	ctx->entry->needs |= needs;
}

static struct host_reclaimed reclaimed = {-1, -1};

static void host_reclaimed(const struct rs_ctx *ctx, int64_t blob_bytes, int64_t disk_bytes)
{
	(void)ctx;
	reclaimed = (struct host_reclaimed){blob_bytes, disk_bytes};
}

struct host_reclaimed host_reclaimed_get(void)
{
	return reclaimed;
}

static enum rs_status host_run_command(const struct rs_ctx *ctx, char *const *argv,
					const char *name,
					void (*on_line)(void *arg, const char *line), void *arg,
					char *err, size_t errlen)
{
	(void)ctx;
	return command_run(argv, name, on_line, arg, err, errlen);
}

static const struct rs_host_api api = {
	.abi_version = RS_ABI_VERSION,
	.struct_size = sizeof(struct rs_host_api),
	.log = host_log,
	.arg_int = host_arg_int,
	.arg_string = host_arg_string,
	.arg_bool = host_arg_bool,
	.arg_list_count = host_arg_list_count,
	.arg_list_item = host_arg_list_item,
	.arg_duration = host_arg_duration,
	.pattern_compile = host_pattern_compile,
	.pattern_match = pattern_match,
	.pattern_count = pattern_count,
	.pattern_free = pattern_free,
	.location = host_location,
	.verify_kept = host_verify_kept,
	.need = host_need,
	.tag_rankable = tagorder_rankable,
	.tag_compare = tagorder_compare,
	.format_time = util_format_rfc3339,
	.reclaimed = host_reclaimed,
	.run_command = host_run_command,
};

const struct rs_host_api *host_api(void)
{
	return &api;
}
