/* loader.c - module lookup, dlopen, descriptor checks, argument validation, init/fini. */
#include "loader.h"

#include <dlfcn.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host.h"

#ifndef RS_INSTALL_MODULE_DIR
#define RS_INSTALL_MODULE_DIR "/usr/local/lib/regsweep"
#endif
#ifndef RS_INSTALL_MODULE_DIR_REL
#define RS_INSTALL_MODULE_DIR_REL "lib/regsweep"
#endif

/* The descriptor fields that existed in ABI 1.0; later minors only append. */
#define DESC_V1_SIZE (offsetof(struct rs_module, fini) + sizeof(((struct rs_module *)0)->fini))

const char *loader_arg_type_name(enum rs_arg_type type)
{
	switch (type) {
	case RS_ARG_INT:
		return "integer";
	case RS_ARG_STRING:
		return "string";
	case RS_ARG_BOOL:
		return "boolean";
	case RS_ARG_STRING_LIST:
		return "list of strings";
	case RS_ARG_DURATION:
		return "duration";
	}
	return "?";
}

/* Appends dir to *dirs unless it is there already: the same string, or the same existing
 * directory under another name (a symbolic link in a prefix). */
static void add_dir(char ***dirs, size_t *count, char *dir)
{
	struct stat st, seen;
	int exists = stat(dir, &st) == 0;

	for (size_t i = 0; i < *count; i++) {
		if (strcmp((*dirs)[i], dir) == 0 ||
		    (exists && stat((*dirs)[i], &seen) == 0 && seen.st_dev == st.st_dev &&
		     seen.st_ino == st.st_ino)) {
			free(dir);
			return;
		}
	}
	*dirs = xrealloc(*dirs, (*count + 1) * sizeof(**dirs));
	(*dirs)[(*count)++] = dir;
}

size_t loader_search_dirs(const char *extra_dir, const char *stack_dir, char ***dirs)
{
	const char *env = getenv("REGSWEEP_MODULE_PATH");
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	size_t count = 0;

	*dirs = NULL;
	if (extra_dir)
		add_dir(dirs, &count, xstrdup(extra_dir));
	if (stack_dir)
		add_dir(dirs, &count, xstrdup(stack_dir));
	for (const char *p = env; p && *p;) {
		size_t len = strcspn(p, ":");

		if (len)
			add_dir(dirs, &count, xstrndup(p, len));
		p += len + (p[len] == ':');
	}
	if (n > 0) {
		char *dir;

		exe[n] = '\0';
		dir = dirname(exe);
		/* The build tree, then an install wherever its prefix was moved to:
		 * <prefix>/bin/regsweep looks in <prefix>/RS_INSTALL_MODULE_DIR_REL, written
		 * without "..", so that an install not moved names RS_INSTALL_MODULE_DIR. */
		add_dir(dirs, &count, xasprintf("%s/modules", dir));
		dir = dirname(dir);
		add_dir(dirs, &count, xasprintf("%s%s%s", dir, strcmp(dir, "/") ? "/" : "",
						RS_INSTALL_MODULE_DIR_REL));
	}
	add_dir(dirs, &count, xstrdup(RS_INSTALL_MODULE_DIR));
	return count;
}

void loader_free_dirs(char **dirs, size_t count)
{
	for (size_t i = 0; i < count; i++)
		free(dirs[i]);
	free(dirs);
}

static int valid_name(const char *name)
{
	for (const char *p = name; *p; p++)
		if (!(*p >= 'a' && *p <= 'z') && !(*p >= 'A' && *p <= 'Z') &&
		    !(*p >= '0' && *p <= '9') && *p != '_' && *p != '-')
			return 0;
	return name[0] != '\0';
}

/* The .so for an entry's module: an absolute path as given, else <dir>/<name>.so. */
static char *resolve(const struct stack_entry *en, const char *extra_dir, const char *stack_dir,
		     struct rs_err *e)
{
	char **dirs, *found = NULL;
	size_t n;
	struct buf tried = {0};

	if (en->module[0] == '/')
		return xstrdup(en->module);
	if (!valid_name(en->module)) {
		err_set(e, "%s: module \"%s\" is neither a module name ([A-Za-z0-9_-]) nor an "
			   "absolute path",
			en->location, en->module);
		return NULL;
	}
	n = loader_search_dirs(extra_dir, stack_dir, &dirs);
	for (size_t i = 0; i < n; i++) {
		char *path = xasprintf("%s/%s.so", dirs[i], en->module);

		if (!found && access(path, F_OK) == 0)
			found = path;
		else
			free(path);
		buf_printf(&tried, "%s%s", i ? ", " : "", dirs[i]);
	}
	loader_free_dirs(dirs, n);
	if (!found)
		err_set(e, "%s: module \"%s\" not found (looked in %s)", en->location, en->module,
			tried.data ? tried.data : "nowhere");
	buf_free(&tried);
	return found;
}

/* "keep_last" from ".../keep_last.so". */
static char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/'), *b = slash ? slash + 1 : path;
	size_t len = strlen(b);

	if (len > 3 && strcmp(b + len - 3, ".so") == 0)
		len -= 3;
	return xstrndup(b, len);
}

static int check_desc(const char *path, const char *expect_name, const struct rs_module *d,
		      struct rs_err *e)
{
	uint32_t major = d->abi_version >> 16, minor = d->abi_version & 0xffff;

	if (major != RS_ABI_MAJOR || minor > RS_ABI_MINOR) {
		err_set(e, "%s: module ABI %u.%u, but this regsweep speaks %u.%u", path, major,
			minor, RS_ABI_MAJOR, RS_ABI_MINOR);
		return -1;
	}
	if (d->struct_size < DESC_V1_SIZE) {
		err_set(e, "%s: descriptor is %u bytes, smaller than ABI %u.0's %zu", path,
			d->struct_size, RS_ABI_MAJOR, DESC_V1_SIZE);
		return -1;
	}
	if (!d->name || !d->name[0]) {
		err_set(e, "%s: descriptor has no name", path);
		return -1;
	}
	if (expect_name && strcmp(d->name, expect_name) != 0) {
		err_set(e, "%s: descriptor is named \"%s\", expected \"%s\"", path, d->name,
			expect_name);
		return -1;
	}
	if (d->kind != RS_KIND_POLICY && d->kind != RS_KIND_AFTER) {
		err_set(e, "%s: unknown module kind %d", path, (int)d->kind);
		return -1;
	}
	if (!d->init || (d->kind == RS_KIND_POLICY && !d->decide) ||
	    (d->kind == RS_KIND_AFTER && !d->after)) {
		err_set(e, "%s: descriptor lacks a required callback (init, and %s)", path,
			d->kind == RS_KIND_POLICY ? "decide" : "after");
		return -1;
	}
	return 0;
}

/* dlopen runs a module's constructors: a file, or a directory, others could have written
 * is refused before it is opened. */
static int trusted(const char *path, struct rs_err *e)
{
	char *copy = xstrdup(path), *dir = dirname(copy);
	struct stat st;
	const char *why = NULL, *what = path;

	if (stat(path, &st) != 0) {
		err_set(e, "cannot load %s: %s", path, strerror(errno));
		free(copy);
		return -1;
	}
	if (!S_ISREG(st.st_mode))
		why = "not a regular file";
	else if (!(why = util_untrusted(&st)) && stat(dir, &st) == 0)
		why = util_untrusted(&st), what = dir;
	if (why)
		err_set(e, "%s: refused: %s is %s", path, what, why);
	free(copy);
	return why ? -1 : 0;
}

int loader_open_file(const char *path, const char *expect_name, void **handle,
		     const struct rs_module **desc, struct rs_err *e)
{
	void *h = trusted(path, e) == 0 ? dlopen(path, RTLD_NOW | RTLD_LOCAL) : NULL;
	const struct rs_module *d;
	char *name = NULL;

	if (err_isset(e))
		return -1;
	if (!h) {
		err_set(e, "cannot load %s", dlerror());
		return -1;
	}
	d = dlsym(h, RS_MODULE_SYMBOL);
	if (!d) {
		err_set(e, "%s: no \"%s\" symbol: not a regsweep module", path, RS_MODULE_SYMBOL);
		goto fail;
	}
	if (!expect_name)
		expect_name = name = base_name(path);
	if (check_desc(path, expect_name, d, e))
		goto fail;
	free(name);
	*handle = h;
	*desc = d;
	return 0;
fail:
	free(name);
	dlclose(h);
	return -1;
}

static const struct rs_arg_spec *find_spec(const struct rs_module *d, const char *name)
{
	for (const struct rs_arg_spec *s = d->args; s && s->name; s++)
		if (strcmp(s->name, name) == 0)
			return s;
	return NULL;
}

static int type_fits(const struct stack_arg *a, enum rs_arg_type want)
{
	if (want == RS_ARG_DURATION) {
		int64_t secs;

		return a->type == RS_ARG_STRING && util_parse_duration(a->s, &secs) == 0;
	}
	/* One bare string is accepted where a list is wanted ("keep = "latest""). */
	return a->type == want || (want == RS_ARG_STRING_LIST && a->type == RS_ARG_STRING);
}

static int check_args(struct stack_entry *en, struct rs_err *e)
{
	const struct rs_module *d = en->desc;

	for (size_t i = 0; i < en->arg_count; i++) {
		struct stack_arg *a = &en->args[i];
		const struct rs_arg_spec *spec = find_spec(d, a->name);

		if (!spec) {
			struct buf names = {0};

			for (const struct rs_arg_spec *s = d->args; s && s->name; s++)
				buf_printf(&names, "%s%s", names.len ? ", " : "", s->name);
			err_set(e, "%s: module \"%s\" has no argument \"%s\" (it takes: %s)",
				a->location, d->name, a->name, names.data ? names.data : "none");
			buf_free(&names);
			return -1;
		}
		if (!type_fits(a, spec->type)) {
			err_set(e, "%s: argument \"%s\" of module \"%s\": expected %s%s",
				a->location, a->name, d->name, loader_arg_type_name(spec->type),
				spec->type == RS_ARG_DURATION ? " such as \"90m\", \"12h\", "
								"\"30d\", \"2w\" or \"1d12h\""
							      : "");
			return -1;
		}
		if (spec->type == RS_ARG_STRING_LIST && a->type == RS_ARG_STRING) {
			a->type = RS_ARG_STRING_LIST;
			a->list = xcalloc(1, sizeof(char *));
			a->list[0] = a->s;
			a->list_count = 1;
			a->s = NULL;
		}
	}
	for (const struct rs_arg_spec *s = d->args; s && s->name; s++) {
		if (s->required && !stack_entry_arg(en, s->name)) {
			err_set(e, "%s: module \"%s\" needs argument \"%s\" (%s)", en->location,
				d->name, s->name, loader_arg_type_name(s->type));
			return -1;
		}
	}
	return 0;
}

static int load_entry(struct stack_entry *en, enum rs_kind want, const char *extra_dir,
		      const char *stack_dir, struct rs_err *e)
{
	struct rs_err why = {{0}};
	char msg[400] = "";
	const char *expect;

	en->path = resolve(en, extra_dir, stack_dir, e);
	if (!en->path)
		return -1;
	expect = en->module[0] == '/' ? NULL : en->module;
	if (loader_open_file(en->path, expect, &en->handle, &en->desc, &why)) {
		err_set(e, "%s: %s", en->location, why.msg);
		return -1;
	}
	if (en->desc->kind != want) {
		err_set(e, "%s: module \"%s\" is %s module; it cannot stand in \"%s\"",
			en->location, en->desc->name,
			en->desc->kind == RS_KIND_POLICY ? "a policy" : "an after-step",
			want == RS_KIND_POLICY ? "policy" : "after");
		return -1;
	}
	if (check_args(en, e))
		return -1;
	en->needs = en->desc->needs;
	if (en->desc->init(&en->ctx, host_api(), &en->state, msg, sizeof(msg)) != RS_OK) {
		err_set(e, "%s: %s: %s", en->location, en->desc->name,
			msg[0] ? msg : "init failed");
		en->state = NULL;
		return -1;
	}
	en->initialised = 1;
	return 0;
}

int loader_load(struct stack *s, const char *extra_dir, struct rs_err *e)
{
	for (size_t i = 0; i < s->policy_count; i++)
		for (size_t k = 0; k < s->policies[i].count; k++)
			if (load_entry(&s->policies[i].entries[k], RS_KIND_POLICY, extra_dir,
				       s->module_path, e))
				return -1;
	for (size_t i = 0; i < s->after_count; i++)
		if (load_entry(&s->after[i], RS_KIND_AFTER, extra_dir, s->module_path, e))
			return -1;
	return 0;
}

static void unload_entries(struct stack_entry *entries, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		struct stack_entry *en = &entries[i];

		if (en->initialised && en->desc->fini)
			en->desc->fini(en->state);
		if (en->handle)
			dlclose(en->handle);
		en->handle = NULL;
		en->desc = NULL;
		en->state = NULL;
		en->initialised = 0;
	}
}

void loader_unload(struct stack *s)
{
	for (size_t i = 0; i < s->policy_count; i++)
		unload_entries(s->policies[i].entries, s->policies[i].count);
	unload_entries(s->after, s->after_count);
}
