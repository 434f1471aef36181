/* test_loader.c - module lookup and every load-time refusal, each with file:line. */
#include <stdlib.h>
#include <string.h>

#include "loader.h"
#include "stack.h"
#include "tests.h"

/* Loads a one-entry stack and returns the loader's error ("" on success). */
static char *load(const char *name, const char *section, const char *entry, char **path_out)
{
	char *text = xasprintf("%s = (\n  %s\n);\n%s", section, entry,
			       strcmp(section, "after") == 0
				   ? "policy = ( { module = \"stub_verdict\"; control = "
				     "\"required\"; args = { verdict = \"keep\"; }; } );\n"
				   : "");
	char *path = tests_write_file(name, text);
	struct stack s;
	struct rs_err e = {{0}};

	if (stack_load(path, &s, &e) == 0)
		loader_load(&s, RS_MODULE_BUILD_DIR, &e);
	loader_unload(&s);
	stack_free(&s);
	free(text);
	*path_out = path;
	return xstrdup(e.msg);
}

static const struct {
	const char *section, *entry, *msg;
} refusals[] = {
	{"policy", "{ module = \"nope\"; control = \"required\"; }",
	 "module \"nope\" not found (looked in "},
	{"policy", "{ module = \"../keep_last\"; control = \"required\"; }",
	 "neither a module name"},
	{"policy", "{ module = \"no_symbol\"; control = \"required\"; }",
	 "no \"regsweep_module\" symbol: not a regsweep module"},
	{"policy", "{ module = \"bad_abi\"; control = \"required\"; }",
	 "module ABI 3.0, but this regsweep speaks 2.0"},
	{"policy", "{ module = \"wrong_name\"; control = \"required\"; }",
	 "descriptor is named \"something_else\", expected \"wrong_name\""},
	{"policy", "{ module = \"stub_verdict\"; control = \"required\";\n"
		   "    args = { verdict = \"keep\"; verdit = \"x\"; }; }",
	 "module \"stub_verdict\" has no argument \"verdit\" (it takes: verdict, tags, fail)"},
	{"policy", "{ module = \"keep_last\"; control = \"required\";\n    args = { count = \"two\"; }; }",
	 "argument \"count\" of module \"keep_last\": expected integer"},
	{"policy", "{ module = \"age\"; control = \"required\";\n    args = { older_than = \"3x\"; }; }",
	 "argument \"older_than\" of module \"age\": expected duration"},
	{"policy", "{ module = \"keep_last\"; control = \"required\"; }",
	 "module \"keep_last\" needs argument \"count\" (integer)"},
	{"policy", "{ module = \"keep_last\"; control = \"required\";\n    args = { count = -1; }; }",
	 "keep_last: "},
	{"policy", "{ module = \"gc_distribution\"; control = \"required\";\n"
		   "    args = { command = [ \"true\" ]; }; }",
	 "module \"gc_distribution\" is an after-step module; it cannot stand in \"policy\""},
	{"after", "{ module = \"stub_verdict\"; args = { verdict = \"keep\"; }; }",
	 "module \"stub_verdict\" is a policy module; it cannot stand in \"after\""},
	{"after", "{ module = \"gc_distribution\";\n"
		  "    args = { command = [ \"docker-registry\", \"garbage-collect\", "
		  "\"--delete-untagged\", \"c.yml\" ]; }; }",
	 "gc_distribution: "},
};

static void test_refusals(void)
{
	for (size_t i = 0; i < sizeof(refusals) / sizeof(refusals[0]); i++) {
		char name[32], *path, *msg, *want;
		/* Errors about an argument point at its line (2 or 3), others at the entry. */
		int line = strchr(refusals[i].entry, '\n') && strstr(refusals[i].msg, "argument")
			       ? 3
			       : 2;

		snprintf(name, sizeof(name), "load-%zu.stack", i);
		msg = load(name, refusals[i].section, refusals[i].entry, &path);
		want = xasprintf("%s:%d: ", path, line);
		if (strncmp(msg, want, strlen(want)) || !strstr(msg, refusals[i].msg))
			fprintf(stderr, "\n  refusal %zu: got \"%s\"\n", i, msg);
		CU_ASSERT_EQUAL(strncmp(msg, want, strlen(want)), 0);
		CU_ASSERT_PTR_NOT_NULL(strstr(msg, refusals[i].msg));
		free(want);
		free(msg);
		free(path);
	}
}

static void test_absolute_path_and_success(void)
{
	char *entry = xasprintf("{ module = \"%s/stub_verdict.so\"; control = \"required\"; "
				"args = { verdict = \"delete\"; tags = \"a\"; }; }",
				RS_TEST_MODULE_DIR);
	char *path, *msg = load("abs.stack", "policy", entry, &path);

	CU_ASSERT_STRING_EQUAL(msg, "");
	free(msg);
	free(path);
	free(entry);
}

void suite_loader(void)
{
	static const struct test_case cases[] = {
		{"refusals name file and line", test_refusals},
		{"absolute path loads", test_absolute_path_and_success},
		{NULL, NULL},
	};
	tests_add_suite("loader", cases);
}
