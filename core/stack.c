/* stack.c - stack file parsing: libconfig settings to core-owned structures. */
#include "stack.h"

#include <libconfig.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pattern.h"

#define DEFAULT_CONCURRENCY 8
#define MAX_CONCURRENCY 256
#define MAX_DELETE_PERCENT_UNSET (-1)
#define DEFAULT_MIN_KEEP 1

/* PAM's control words as action tables, indexed by verdict (PASS, KEEP, DELETE). */
static const struct {
	const char *word;
	int actions[RS_VERDICT_MAX];
} control_words[] = {
	{"required", {[RS_PASS] = STACK_IGNORE, [RS_KEEP] = STACK_BAD, [RS_DELETE] = STACK_OK}},
	{"requisite", {[RS_PASS] = STACK_IGNORE, [RS_KEEP] = STACK_DIE, [RS_DELETE] = STACK_OK}},
	{"sufficient",
	 {[RS_PASS] = STACK_IGNORE, [RS_KEEP] = STACK_IGNORE, [RS_DELETE] = STACK_DONE}},
	{"optional", {[RS_PASS] = STACK_IGNORE, [RS_KEEP] = STACK_IGNORE, [RS_DELETE] = STACK_OK}},
};

static const struct {
	const char *word;
	int action;
} action_words[] = {
	{"ignore", STACK_IGNORE}, {"ok", STACK_OK}, {"done", STACK_DONE},
	{"bad", STACK_BAD},       {"die", STACK_DIE},
};

static const char *const verdict_words[RS_VERDICT_MAX] = {
	[RS_PASS] = "pass", [RS_KEEP] = "keep", [RS_DELETE] = "delete"};

static int parse_action(const char *text, int *action)
{
	char *end;
	long n;

	for (size_t i = 0; i < sizeof(action_words) / sizeof(action_words[0]); i++) {
		if (strcmp(text, action_words[i].word) == 0) {
			*action = action_words[i].action;
			return 0;
		}
	}
	n = strtol(text, &end, 10);
	if (end == text || *end || n < 1 || n > 1000)
		return -1;
	*action = (int)n;
	return 0;
}

/* "[delete=ok keep=die pass=ignore default=bad]" */
static int parse_brackets(const char *text, int actions[RS_VERDICT_MAX], char *err,
			  size_t errlen)
{
	size_t len = strlen(text);
	char *copy, *tok, *save = NULL;
	int given[RS_VERDICT_MAX] = {0}, deflt = STACK_IGNORE, rc = -1;

	if (len < 2 || text[len - 1] != ']') {
		snprintf(err, errlen, "control \"%s\": missing closing ']'", text);
		return -1;
	}
	copy = xstrndup(text + 1, len - 2);
	for (tok = strtok_r(copy, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
		char *eq = strchr(tok, '=');
		int action, v;

		if (!eq) {
			snprintf(err, errlen, "control \"%s\": \"%s\" is not verdict=action", text,
				 tok);
			goto out;
		}
		*eq = '\0';
		if (parse_action(eq + 1, &action)) {
			snprintf(err, errlen,
				 "control \"%s\": unknown action \"%s\" (ignore, ok, done, bad, die "
				 "or a jump 1..1000)",
				 text, eq + 1);
			goto out;
		}
		if (strcmp(tok, "default") == 0) {
			deflt = action;
			continue;
		}
		for (v = 0; v < RS_VERDICT_MAX; v++)
			if (strcmp(tok, verdict_words[v]) == 0)
				break;
		if (v == RS_VERDICT_MAX) {
			snprintf(err, errlen,
				 "control \"%s\": unknown verdict \"%s\" (delete, keep, pass or "
				 "default)",
				 text, tok);
			goto out;
		}
		actions[v] = action;
		given[v] = 1;
	}
	for (int v = 0; v < RS_VERDICT_MAX; v++)
		if (!given[v])
			actions[v] = deflt;
	rc = 0;
out:
	free(copy);
	return rc;
}

int stack_parse_control(const char *text, int actions[RS_VERDICT_MAX], char *err,
			size_t errlen)
{
	if (text[0] == '[')
		return parse_brackets(text, actions, err, errlen);
	for (size_t i = 0; i < sizeof(control_words) / sizeof(control_words[0]); i++) {
		if (strcmp(text, control_words[i].word) == 0) {
			memcpy(actions, control_words[i].actions, sizeof(control_words[i].actions));
			return 0;
		}
	}
	snprintf(err, errlen,
		 "unknown control \"%s\" (required, requisite, sufficient, optional or "
		 "[verdict=action ...])",
		 text);
	return -1;
}

/* Errors carry the file and line of the setting they are about. */
static void fail_at(struct rs_err *e, const config_setting_t *s, const char *fmt, ...)
    RS_FMT(3, 4);

static void fail_at(struct rs_err *e, const config_setting_t *s, const char *fmt, ...)
{
	char msg[400];
	va_list ap;
	const char *file = config_setting_source_file(s);

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	err_set(e, "%s:%u: %s", file ? file : "?", config_setting_source_line(s), msg);
}

/* Refuses keys that are not in `allowed`: a typo must not silently drop a rule. */
static int check_keys(const config_setting_t *group, const char *const *allowed,
		      const char *what, struct rs_err *e)
{
	for (int i = 0; i < config_setting_length(group); i++) {
		const config_setting_t *s = config_setting_get_elem(group, (unsigned)i);
		const char *name = config_setting_name(s);
		size_t k;

		for (k = 0; allowed[k]; k++)
			if (strcmp(name, allowed[k]) == 0)
				break;
		if (!allowed[k]) {
			fail_at(e, s, "unknown setting \"%s\" in %s", name, what);
			return -1;
		}
	}
	return 0;
}

/* A string setting of group, or NULL (with an error when it exists but is not a string). */
static const char *member_string(const config_setting_t *group, const char *name,
				 struct rs_err *e)
{
	const config_setting_t *s = config_setting_get_member(group, name);

	if (!s)
		return NULL;
	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		fail_at(e, s, "\"%s\" must be a string", name);
		return NULL;
	}
	return config_setting_get_string(s);
}

/* A list of strings, also accepting one bare string.  *out is caller-owned. */
static int string_list(const config_setting_t *s, char ***out, size_t *count,
		       struct rs_err *e)
{
	int type = config_setting_type(s);

	if (type == CONFIG_TYPE_STRING) {
		*out = xcalloc(1, sizeof(char *));
		(*out)[0] = xstrdup(config_setting_get_string(s));
		*count = 1;
		return 0;
	}
	if (type != CONFIG_TYPE_ARRAY && type != CONFIG_TYPE_LIST) {
		fail_at(e, s, "\"%s\" must be a list of strings", config_setting_name(s));
		return -1;
	}
	*count = (size_t)config_setting_length(s);
	*out = xcalloc(*count, sizeof(char *));
	for (size_t i = 0; i < *count; i++) {
		const config_setting_t *el = config_setting_get_elem(s, (unsigned)i);

		if (config_setting_type(el) != CONFIG_TYPE_STRING) {
			fail_at(e, el, "\"%s\" must be a list of strings",
				config_setting_name(s));
			return -1;
		}
		(*out)[i] = xstrdup(config_setting_get_string(el));
	}
	return 0;
}

static void free_list(char **list, size_t count)
{
	for (size_t i = 0; i < count; i++)
		free(list[i]);
	free(list);
}

static char *location_of(const config_setting_t *s)
{
	const char *file = config_setting_source_file(s);

	return xasprintf("%s:%u", file ? file : "?", config_setting_source_line(s));
}

static int parse_arg(const config_setting_t *s, struct stack_arg *arg, struct rs_err *e)
{
	arg->name = xstrdup(config_setting_name(s));
	arg->location = location_of(s);
	switch (config_setting_type(s)) {
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		arg->type = RS_ARG_INT;
		arg->i = config_setting_get_int64(s);
		return 0;
	case CONFIG_TYPE_BOOL:
		arg->type = RS_ARG_BOOL;
		arg->i = config_setting_get_bool(s);
		return 0;
	case CONFIG_TYPE_STRING:
		arg->type = RS_ARG_STRING;
		arg->s = xstrdup(config_setting_get_string(s));
		return 0;
	case CONFIG_TYPE_ARRAY:
	case CONFIG_TYPE_LIST:
		arg->type = RS_ARG_STRING_LIST;
		return string_list(s, &arg->list, &arg->list_count, e);
	default:
		fail_at(e, s, "argument \"%s\" must be an integer, boolean, string or list of "
			      "strings",
			arg->name);
		return -1;
	}
}

static int copy_bool(const config_setting_t *g, const char *name, int *out, struct rs_err *e);

static int parse_entry(const config_setting_t *s, int is_policy, struct stack_entry *entry,
		       struct rs_err *e)
{
	static const char *const policy_keys[] = {"module", "control", "args", NULL};
	static const char *const after_keys[] = {"module", "always", "args", NULL};
	const config_setting_t *args;
	const char *module, *control;
	char why[256];

	entry->location = location_of(s);
	entry->ctx.entry = entry;
	if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
		fail_at(e, s, "each entry must be a group { module = \"...\"; ... }");
		return -1;
	}
	if (check_keys(s, is_policy ? policy_keys : after_keys,
		       is_policy ? "a policy entry" : "an after entry", e))
		return -1;
	module = member_string(s, "module", e);
	if (!module) {
		fail_at(e, s, "entry has no \"module\"");
		return -1;
	}
	if (!module[0]) {
		fail_at(e, s, "\"module\" is empty");
		return -1;
	}
	entry->module = xstrdup(module);
	if (!is_policy && copy_bool(s, "always", &entry->always, e))
		return -1;
	if (is_policy) {
		control = member_string(s, "control", e);
		if (!control) {
			fail_at(e, s, "policy entry \"%s\" has no \"control\"", module);
			return -1;
		}
		entry->control = xstrdup(control);
		if (stack_parse_control(control, entry->actions, why, sizeof(why))) {
			fail_at(e, config_setting_get_member(s, "control"), "%s", why);
			return -1;
		}
	}
	args = config_setting_get_member(s, "args");
	if (!args)
		return 0;
	if (config_setting_type(args) != CONFIG_TYPE_GROUP) {
		fail_at(e, args, "\"args\" must be a group { name = value; ... }");
		return -1;
	}
	entry->arg_count = (size_t)config_setting_length(args);
	entry->args = xcalloc(entry->arg_count, sizeof(*entry->args));
	for (size_t i = 0; i < entry->arg_count; i++)
		if (parse_arg(config_setting_get_elem(args, (unsigned)i), &entry->args[i], e))
			return -1;
	return 0;
}

static int parse_entries(const config_setting_t *list, int is_policy,
			 struct stack_entry **out, size_t *count, struct rs_err *e)
{
	int type = config_setting_type(list);

	if (type != CONFIG_TYPE_LIST) {
		fail_at(e, list, "\"%s\" must be a list: ( { ... }, { ... } )",
			config_setting_name(list));
		return -1;
	}
	*count = (size_t)config_setting_length(list);
	*out = xcalloc(*count, sizeof(**out));
	for (size_t i = 0; i < *count; i++)
		if (parse_entry(config_setting_get_elem(list, (unsigned)i), is_policy, &(*out)[i],
				e))
			return -1;
	return 0;
}

/* A string member copied into *out (left alone when absent).  -1 on a wrong type. */
static int copy_string(const config_setting_t *g, const char *name, char **out,
		       struct rs_err *e)
{
	const char *v = member_string(g, name, e);

	if (err_isset(e))
		return -1;
	if (v) {
		free(*out);
		*out = xstrdup(v);
	}
	return 0;
}

/* A boolean member into *out (left alone when absent).  -1 on a wrong type. */
static int copy_bool(const config_setting_t *g, const char *name, int *out, struct rs_err *e)
{
	const config_setting_t *s = config_setting_get_member(g, name);

	if (!s)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_BOOL) {
		fail_at(e, s, "\"%s\" must be true or false", name);
		return -1;
	}
	*out = config_setting_get_bool(s);
	return 0;
}

/* An integer member in lo..hi into *out (left alone when absent). */
static int copy_int(const config_setting_t *g, const char *name, long long lo, long long hi,
		    long long *out, struct rs_err *e)
{
	const config_setting_t *s = config_setting_get_member(g, name);
	long long n;

	if (!s)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_INT &&
	    config_setting_type(s) != CONFIG_TYPE_INT64) {
		fail_at(e, s, "\"%s\" must be an integer", name);
		return -1;
	}
	n = config_setting_get_int64(s);
	if (n < lo || n > hi) {
		fail_at(e, s, "%s %lld is out of range %lld..%lld", name, n, lo, hi);
		return -1;
	}
	*out = n;
	return 0;
}

/* A duration member ("30s", "2m") into milliseconds (left alone when absent). */
static int copy_duration_ms(const config_setting_t *g, const char *name, long *out,
			    struct rs_err *e)
{
	const char *v = member_string(g, name, e);
	int64_t secs;

	if (err_isset(e))
		return -1;
	if (!v)
		return 0;
	if (util_parse_duration(v, &secs) || secs < 1 || secs > 86400) {
		fail_at(e, config_setting_get_member(g, name),
			"%s \"%s\" is not a duration from 1s to 1d (\"30s\", \"2m\")", name, v);
		return -1;
	}
	*out = (long)secs * 1000;
	return 0;
}

/* A group member, or NULL; an error when it exists but is not a group. */
static const config_setting_t *member_group(const config_setting_t *g, const char *name,
					    const char *const *keys, struct rs_err *e)
{
	const config_setting_t *s = config_setting_get_member(g, name);

	if (!s)
		return NULL;
	if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
		fail_at(e, s, "\"%s\" must be a group { ... }", name);
		return NULL;
	}
	return check_keys(s, keys, name, e) ? NULL : s;
}

static int parse_auth(const config_setting_t *reg, struct auth_opts *a, struct rs_err *e)
{
	static const char *const keys[] = {"username", "password_file", "password_env", NULL};
	const config_setting_t *g = member_group(reg, "auth", keys, e);

	if (!g)
		return err_isset(e) ? -1 : 0;
	if (copy_string(g, "username", &a->username, e) ||
	    copy_string(g, "password_file", &a->password_file, e) ||
	    copy_string(g, "password_env", &a->password_env, e))
		return -1;
	if (!a->username || !a->username[0]) {
		fail_at(e, g, "auth needs a \"username\"");
		return -1;
	}
	if (!a->password_file == !a->password_env) {
		fail_at(e, g, "auth needs exactly one of \"password_file\" or \"password_env\"");
		return -1;
	}
	return 0;
}

static int parse_tls(const config_setting_t *reg, struct tls_opts *t, struct rs_err *e)
{
	static const char *const keys[] = {"ca_file", "client_cert", "client_key", "verify",
					   NULL};
	const config_setting_t *g = member_group(reg, "tls", keys, e);

	if (!g)
		return err_isset(e) ? -1 : 0;
	if (copy_string(g, "ca_file", &t->ca_file, e) ||
	    copy_string(g, "client_cert", &t->client_cert, e) ||
	    copy_string(g, "client_key", &t->client_key, e) || copy_bool(g, "verify", &t->verify, e))
		return -1;
	if (!t->client_cert != !t->client_key) {
		fail_at(e, g, "tls needs both \"client_cert\" and \"client_key\", or neither");
		return -1;
	}
	return 0;
}

static int parse_net(const config_setting_t *g, struct net_opts *n, struct rs_err *e)
{
	long long retries = n->retries, rps = 0;

	if (copy_duration_ms(g, "timeout", &n->timeout_ms, e) ||
	    copy_duration_ms(g, "connect_timeout", &n->connect_timeout_ms, e) ||
	    copy_int(g, "retries", 0, 20, &retries, e) ||
	    copy_int(g, "max_requests_per_second", 0, 100000, &rps, e) ||
	    copy_bool(g, "allow_insecure_auth", &n->auth.allow_insecure, e) ||
	    copy_string(g, "docker_config", &n->auth.docker_config, e) || parse_auth(g, &n->auth, e) ||
	    parse_tls(g, &n->tls, e))
		return -1;
	n->retries = (int)retries;
	n->max_rps = (double)rps;
	if (n->auth.username && n->auth.docker_config) {
		fail_at(e, g, "give \"auth\" or \"docker_config\", not both");
		return -1;
	}
	return 0;
}

static int parse_registry(const config_setting_t *g, struct stack *out, struct rs_err *e)
{
	static const char *const keys[] = {"url",
					   "concurrency",
					   "timeout",
					   "connect_timeout",
					   "retries",
					   "max_requests_per_second",
					   "allow_insecure_auth",
					   "auth",
					   "docker_config",
					   "tls",
					   "storage_root",
					   NULL};
	const config_setting_t *c;
	const char *url;

	if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
		fail_at(e, g, "\"registry\" must be a group { url = \"...\"; }");
		return -1;
	}
	if (check_keys(g, keys, "registry", e))
		return -1;
	url = member_string(g, "url", e);
	if (err_isset(e))
		return -1;
	if (url) {
		if (strncmp(url, "http://", 7) && strncmp(url, "https://", 8)) {
			fail_at(e, config_setting_get_member(g, "url"),
				"registry url \"%s\" must start with http:// or https://", url);
			return -1;
		}
		out->url = xstrdup(url);
		out->url_location = location_of(config_setting_get_member(g, "url"));
	}
	c = config_setting_get_member(g, "concurrency");
	if (c) {
		long long n = config_setting_get_int64(c);

		if (config_setting_type(c) != CONFIG_TYPE_INT &&
		    config_setting_type(c) != CONFIG_TYPE_INT64) {
			fail_at(e, c, "\"concurrency\" must be an integer");
			return -1;
		}
		if (n < 1 || n > MAX_CONCURRENCY) {
			fail_at(e, c, "concurrency %lld is out of range 1..%d", n, MAX_CONCURRENCY);
			return -1;
		}
		out->concurrency = (int)n;
	}
	if (copy_string(g, "storage_root", &out->storage_root, e))
		return -1;
	if (out->storage_root)
		out->storage_root_location =
		    location_of(config_setting_get_member(g, "storage_root"));
	return parse_net(g, &out->net, e);
}

/* An argv list member of g into *out, NULL-terminated (left alone when absent). */
static int copy_argv(const config_setting_t *g, const char *name, char ***out, struct rs_err *e)
{
	const config_setting_t *s = config_setting_get_member(g, name);
	size_t n = 0;

	if (!s)
		return 0;
	if (string_list(s, out, &n, e))
		return -1;
	if (!n) {
		fail_at(e, s, "\"%s\" is an empty command", name);
		return -1;
	}
	*out = xrealloc(*out, (n + 1) * sizeof(char *));
	(*out)[n] = NULL;
	return 0;
}

static int parse_maintenance(const config_setting_t *root, struct stack *out, struct rs_err *e)
{
	static const char *const keys[] = {"before", "after", "delete", NULL};
	const config_setting_t *g = member_group(root, "maintenance", keys, e);
	char *del = NULL;
	int rc = -1;

	if (!g)
		return err_isset(e) ? -1 : 0;
	out->window_location = location_of(g);
	if (copy_argv(g, "before", &out->window_before, e) ||
	    copy_argv(g, "after", &out->window_after, e) || copy_string(g, "delete", &del, e))
		goto out;
	if (!out->window_before || !out->window_after) {
		fail_at(e, g, "maintenance needs \"before\" (stop the registry or make it read-only) "
			      "and \"after\" (bring it back)");
		goto out;
	}
	if (del && strcmp(del, "api") && strcmp(del, "storage")) {
		fail_at(e, config_setting_get_member(g, "delete"),
			"maintenance.delete must be \"api\" or \"storage\", not \"%s\"", del);
		goto out;
	}
	out->delete_in_storage = del && !strcmp(del, "storage");
	if (out->delete_in_storage && !out->storage_root) {
		fail_at(e, config_setting_get_member(g, "delete"),
			"maintenance.delete = \"storage\" needs registry.storage_root");
		goto out;
	}
	rc = 0;
out:
	free(del);
	return rc;
}

static int parse_guards(const config_setting_t *root, struct stack *out, struct rs_err *e)
{
	static const char *const keys[] = {"max_delete_percent", "min_keep", NULL};
	const config_setting_t *g = member_group(root, "guards", keys, e);
	long long pct = out->max_delete_percent, keep = out->min_keep;

	if (!g)
		return err_isset(e) ? -1 : 0;
	if (copy_int(g, "max_delete_percent", 0, 100, &pct, e) ||
	    copy_int(g, "min_keep", 0, 1000000, &keep, e))
		return -1;
	out->max_delete_percent = (int)pct;
	out->min_keep = (int)keep;
	return 0;
}

static int parse_filter(const config_setting_t *g, const char *name, struct rs_pattern **out,
			struct rs_err *e)
{
	const config_setting_t *s = config_setting_get_member(g, name);
	char **list = NULL, why[300];
	size_t count = 0;
	int rc = -1;

	if (!s)
		return 0;
	if (string_list(s, &list, &count, e))
		goto out;
	*out = pattern_compile_list((const char *const *)list, count, 0, why, sizeof(why));
	if (!*out) {
		fail_at(e, s, "repositories.%s: %s", name, why);
		goto out;
	}
	rc = 0;
out:
	free_list(list, count);
	return rc;
}

static int parse_repositories(const config_setting_t *g, struct stack *out, struct rs_err *e)
{
	static const char *const keys[] = {"include", "exclude", NULL};

	if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
		fail_at(e, g, "\"repositories\" must be a group { include = [...]; }");
		return -1;
	}
	if (check_keys(g, keys, "repositories", e))
		return -1;
	if (parse_filter(g, "include", &out->include, e))
		return -1;
	return parse_filter(g, "exclude", &out->exclude, e);
}

/* A jump past the last entry is almost certainly a miscount: refuse it. */
static int check_jumps(const struct stack_policy *p, struct rs_err *e)
{
	for (size_t i = 0; i < p->count; i++) {
		for (int v = 0; v < RS_VERDICT_MAX; v++) {
			int a = p->entries[i].actions[v];

			if (a > 0 && i + (size_t)a >= p->count) {
				err_set(e, "%s: %s=%d jumps past the end of the stack",
					p->entries[i].location, verdict_words[v], a);
				return -1;
			}
		}
	}
	return 0;
}

static struct stack_policy *add_policy(struct stack *out)
{
	struct stack_policy *p;

	out->policies = xrealloc(out->policies, (out->policy_count + 1) * sizeof(*p));
	p = &out->policies[out->policy_count++];
	memset(p, 0, sizeof(*p));
	return p;
}

/* A `policy` list: non-empty entries, jumps inside it. */
static int parse_policy(const config_setting_t *s, struct stack_policy *p, struct rs_err *e)
{
	p->location = location_of(s);
	if (parse_entries(s, 1, &p->entries, &p->count, e))
		return -1;
	if (p->count == 0) {
		fail_at(e, s, "\"policy\" is empty: nothing would decide what to delete");
		return -1;
	}
	return check_jumps(p, e);
}

/* policies = ( { repositories = [ "releases/.*" ]; policy = ( ... ); }, ... ); */
static int parse_policies(const config_setting_t *list, struct stack *out, struct rs_err *e)
{
	static const char *const keys[] = {"repositories", "policy", NULL};

	if (config_setting_type(list) != CONFIG_TYPE_LIST) {
		fail_at(e, list, "\"policies\" must be a list: ( { repositories = [ ... ]; "
				 "policy = ( ... ); }, ... )");
		return -1;
	}
	for (int i = 0; i < config_setting_length(list); i++) {
		const config_setting_t *g = config_setting_get_elem(list, (unsigned)i), *r, *pl;
		struct stack_policy *p = add_policy(out);
		char **names = NULL, why[300];
		size_t count = 0;

		if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
			fail_at(e, g, "each of \"policies\" must be a group { repositories = "
				      "[ ... ]; policy = ( ... ); }");
			return -1;
		}
		if (check_keys(g, keys, "a policies entry", e))
			return -1;
		r = config_setting_get_member(g, "repositories");
		pl = config_setting_get_member(g, "policy");
		if (!r || !pl) {
			fail_at(e, g, "a policies entry needs \"repositories\" and \"policy\"");
			return -1;
		}
		if (string_list(r, &names, &count, e))
			return free_list(names, count), -1;
		p->repos = count ? pattern_compile_list((const char *const *)names, count, 1, why,
							sizeof(why))
				 : NULL;
		free_list(names, count);
		if (!p->repos) {
			fail_at(e, r, "repositories: %s", count ? why : "give at least one pattern");
			return -1;
		}
		if (parse_policy(pl, p, e))
			return -1;
	}
	return 0;
}

static int parse_root(const config_t *cfg, struct stack *out, struct rs_err *e)
{
	static const char *const keys[] = {"registry", "repositories", "guards",      "policies",
					   "policy",   "after",        "module_path", "maintenance",
					   NULL};
	const config_setting_t *root = config_root_setting(cfg), *s;

	if (check_keys(root, keys, "the stack", e))
		return -1;
	s = config_setting_get_member(root, "registry");
	if (s && parse_registry(s, out, e))
		return -1;
	s = config_setting_get_member(root, "repositories");
	if (s && parse_repositories(s, out, e))
		return -1;
	if (parse_guards(root, out, e) || parse_maintenance(root, out, e))
		return -1;
	if (copy_string(root, "module_path", &out->module_path, e))
		return -1;
	/* Like @include, relative to the stack file: the stack and its modules travel together. */
	if (out->module_path && out->module_path[0] != '/') {
		char *copy = xstrdup(out->file), *dir = xasprintf("%s/%s", dirname(copy),
								  out->module_path);

		free(out->module_path);
		out->module_path = dir;
		free(copy);
	}
	s = config_setting_get_member(root, "policies");
	if (s && parse_policies(s, out, e))
		return -1;
	s = config_setting_get_member(root, "policy");
	if (s && parse_policy(s, add_policy(out), e))
		return -1;
	if (!out->policy_count) {
		err_set(e, "%s:1: no \"policy\" or \"policies\" list: nothing would decide what "
			   "to delete",
			out->file);
		return -1;
	}
	s = config_setting_get_member(root, "after");
	return s ? parse_entries(s, 0, &out->after, &out->after_count, e) : 0;
}

int stack_load(const char *path, struct stack *out, struct rs_err *e)
{
	config_t cfg;
	char *dir = xstrdup(path);
	int rc = -1;

	memset(out, 0, sizeof(*out));
	out->file = xstrdup(path);
	out->concurrency = DEFAULT_CONCURRENCY;
	netopts_init(&out->net);
	out->max_delete_percent = MAX_DELETE_PERCENT_UNSET;
	out->min_keep = DEFAULT_MIN_KEEP;
	config_init(&cfg);
	/* @include paths are relative to the stack file, not to the working directory. */
	config_set_include_dir(&cfg, dirname(dir));
	if (config_read_file(&cfg, path) != CONFIG_TRUE) {
		if (config_error_type(&cfg) == CONFIG_ERR_FILE_IO)
			err_set(e, "%s: cannot read the stack file", path);
		else
			err_set(e, "%s:%d: %s",
				config_error_file(&cfg) ? config_error_file(&cfg) : path,
				config_error_line(&cfg), config_error_text(&cfg));
		goto out;
	}
	rc = parse_root(&cfg, out, e);
out:
	config_destroy(&cfg);
	free(dir);
	return rc;
}

const struct stack_policy *stack_policy_for(const struct stack *s, const char *repo)
{
	for (size_t i = 0; i < s->policy_count; i++)
		if (!s->policies[i].repos || pattern_match(s->policies[i].repos, repo))
			return &s->policies[i];
	return NULL;
}

const struct stack_arg *stack_entry_arg(const struct stack_entry *entry, const char *name)
{
	for (size_t i = 0; i < entry->arg_count; i++)
		if (strcmp(entry->args[i].name, name) == 0)
			return &entry->args[i];
	return NULL;
}

static void free_entries(struct stack_entry *entries, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		struct stack_entry *en = &entries[i];

		for (size_t k = 0; k < en->arg_count; k++) {
			free(en->args[k].name);
			free(en->args[k].s);
			free(en->args[k].location);
			free_list(en->args[k].list, en->args[k].list_count);
		}
		free(en->args);
		free(en->module);
		free(en->control);
		free(en->location);
		free(en->path);
	}
	free(entries);
}

void stack_free(struct stack *s)
{
	for (size_t i = 0; i < s->policy_count; i++) {
		free_entries(s->policies[i].entries, s->policies[i].count);
		pattern_free(s->policies[i].repos);
		free(s->policies[i].location);
	}
	free(s->policies);
	free(s->module_path);
	for (size_t i = 0; s->window_before && s->window_before[i]; i++)
		free(s->window_before[i]);
	for (size_t i = 0; s->window_after && s->window_after[i]; i++)
		free(s->window_after[i]);
	free(s->window_before);
	free(s->window_after);
	free(s->window_location);
	free(s->storage_root);
	free(s->storage_root_location);
	free_entries(s->after, s->after_count);
	pattern_free(s->include);
	pattern_free(s->exclude);
	free(s->url);
	free(s->url_location);
	free(s->file);
	netopts_free(&s->net);
	memset(s, 0, sizeof(*s));
}
