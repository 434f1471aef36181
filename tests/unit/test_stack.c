/* test_stack.c - stack file parsing, and its errors with file:line. */
#include <stdlib.h>
#include <string.h>

#include "pattern.h"
#include "stack.h"
#include "tests.h"

static const char good_stack[] =
	"registry = { url = \"http://127.0.0.1:5000\"; concurrency = 4; };\n"
	"repositories = { include = [ \"^team.*\" ]; exclude = [ \"^team/base\" ]; };\n"
	"policy = (\n"
	"  { module = \"regex\"; control = \"requisite\";\n"
	"    args = { keep = [ \"latest\", \"v[0-9]+\\\\..*\" ]; }; },\n"
	"  { module = \"keep_last\"; control = \"required\"; args = { count = 2; order = "
	"\"created\"; }; },\n"
	"  { module = \"age\"; control = \"[delete=ok keep=bad pass=ignore]\";\n"
	"    args = { older_than = \"30d\"; }; }\n"
	");\n"
	"after = ( { module = \"gc_distribution\"; args = { command = [ \"true\" ]; }; } );\n";

static void test_good_stack(void)
{
	char *path = tests_write_file("good.stack", good_stack), *loc;
	struct stack s;
	struct rs_err e = {{0}};
	const struct stack_arg *a;

	CU_ASSERT_EQUAL_FATAL(stack_load(path, &s, &e), 0);
	CU_ASSERT_STRING_EQUAL(s.url, "http://127.0.0.1:5000");
	CU_ASSERT_EQUAL(s.concurrency, 4);
	CU_ASSERT_TRUE(pattern_match(s.include, "team/app"));
	CU_ASSERT_FALSE(pattern_match(s.include, "other/team"));
	CU_ASSERT_TRUE(pattern_match(s.exclude, "team/base-image"));
	CU_ASSERT_EQUAL_FATAL(s.policies[0].count, 3);
	CU_ASSERT_STRING_EQUAL(s.policies[0].entries[0].module, "regex");
	CU_ASSERT_EQUAL(s.policies[0].entries[0].actions[RS_KEEP], STACK_DIE);
	CU_ASSERT_EQUAL(s.policies[0].entries[2].actions[RS_KEEP], STACK_BAD);
	loc = xasprintf("%s:4", path);
	CU_ASSERT_STRING_EQUAL(s.policies[0].entries[0].location, loc);
	a = stack_entry_arg(&s.policies[0].entries[0], "keep");
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_EQUAL(a->type, RS_ARG_STRING_LIST);
	CU_ASSERT_EQUAL_FATAL(a->list_count, 2);
	CU_ASSERT_STRING_EQUAL(a->list[1], "v[0-9]+\\..*");
	a = stack_entry_arg(&s.policies[0].entries[1], "count");
	CU_ASSERT_EQUAL(a->type, RS_ARG_INT);
	CU_ASSERT_EQUAL(a->i, 2);
	CU_ASSERT_EQUAL_FATAL(s.after_count, 1);
	CU_ASSERT_PTR_NULL(s.after[0].control);
	stack_free(&s);
	free(loc);
	free(path);
}

static void test_include(void)
{
	char *inc = tests_write_file("policy.inc",
				     "policy = ( { module = \"age\"; control = \"required\"; "
				     "args = { older_than = \"1d\"; }; } );\n");
	char *path = tests_write_file("with-include.stack", "registry = { url = "
							    "\"http://127.0.0.1:1\"; };\n"
							    "@include \"policy.inc\"\n");
	struct stack s;
	struct rs_err e = {{0}};

	CU_ASSERT_EQUAL_FATAL(stack_load(path, &s, &e), 0);
	CU_ASSERT_EQUAL(s.policies[0].count, 1);
	/* Entries from an included file report that file's line. */
	CU_ASSERT_PTR_NOT_NULL(strstr(s.policies[0].entries[0].location, "policy.inc:1"));
	stack_free(&s);
	free(path);
	free(inc);
}

/* Each broken stack must fail with exactly this file:line and message. */
static const struct {
	const char *text;
	int line;
	const char *msg;
} broken[] = {
	{"policy = ( { module = \"age\"; control = \"required\"; } )\n\nregistry = { url = 1 ",
	 3, "syntax error"},
	{"registry = { url = \"http://x\"; };\n", 1, "no \"policy\" or \"policies\" list"},
	{"policy = ();\n", 1, "\"policy\" is empty"},
	{"policy = (\n { control = \"required\"; }\n);\n", 2, "entry has no \"module\""},
	{"policy = (\n { module = \"age\"; }\n);\n", 2, "has no \"control\""},
	{"policy = (\n { module = \"age\";\n   control = \"mandatory\"; }\n);\n", 3,
	 "unknown control \"mandatory\""},
	{"policy = (\n { module = \"age\"; control = \"required\"; arg = { }; }\n);\n", 2,
	 "unknown setting \"arg\" in a policy entry"},
	{"polcy = ( );\n", 1, "unknown setting \"polcy\" in the stack"},
	{"registry = { url = \"ftp://x\"; };\npolicy = ( { module = \"a\"; control = "
	 "\"required\"; } );\n",
	 1, "must start with http:// or https://"},
	{"registry = {\n concurrency = 0; };\npolicy = ( { module = \"a\"; control = "
	 "\"required\"; } );\n",
	 2, "concurrency 0 is out of range"},
	{"repositories = {\n include = [ \"(\" ]; };\npolicy = ( { module = \"a\"; control = "
	 "\"required\"; } );\n",
	 2, "bad pattern \"(\""},
	{"policy = (\n { module = \"a\"; control = \"[keep=1]\"; }\n);\n", 2,
	 "keep=1 jumps past the end of the stack"},
	{"policy = (\n { module = \"a\"; control = \"required\";\n  args = { x = 1.5; }; }\n);\n",
	 3, "argument \"x\" must be"},
	{"policy = (\n { module = \"a\"; control = \"required\";\n  args = { x = [ 1, 2 ]; }; "
	 "}\n);\n",
	 3, "\"x\" must be a list of strings"},
	{"policy = ( { module = \"a\"; control = \"required\"; } );\nafter = (\n { module = "
	 "\"gc\"; control = \"required\"; }\n);\n",
	 3, "unknown setting \"control\" in an after entry"},
	{"policy = ( \"age\" );\n", 1, "each entry must be a group"},
};

static void test_broken_stacks(void)
{
	for (size_t i = 0; i < sizeof(broken) / sizeof(broken[0]); i++) {
		char name[32], *path, *want;
		struct stack s;
		struct rs_err e = {{0}};

		snprintf(name, sizeof(name), "broken-%zu.stack", i);
		path = tests_write_file(name, broken[i].text);
		want = xasprintf("%s:%d: ", path, broken[i].line);
		CU_ASSERT_EQUAL(stack_load(path, &s, &e), -1);
		if (strncmp(e.msg, want, strlen(want)) || !strstr(e.msg, broken[i].msg))
			fprintf(stderr, "\n  broken stack %zu: got \"%s\"\n", i, e.msg);
		CU_ASSERT_EQUAL(strncmp(e.msg, want, strlen(want)), 0);
		CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, broken[i].msg));
		stack_free(&s);
		free(want);
		free(path);
	}
}

static void test_missing_file(void)
{
	struct stack s;
	struct rs_err e = {{0}};

	CU_ASSERT_EQUAL(stack_load("/nonexistent/regsweep.stack", &s, &e), -1);
	CU_ASSERT_STRING_EQUAL(e.msg, "/nonexistent/regsweep.stack: cannot read the stack file");
	stack_free(&s);
}

void suite_stack(void)
{
	static const struct test_case cases[] = {
		{"good stack", test_good_stack},
		{"@include", test_include},
		{"broken stacks", test_broken_stacks},
		{"missing file", test_missing_file},
		{NULL, NULL},
	};
	tests_add_suite("stack", cases);
}
