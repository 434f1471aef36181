/* main.c - runs every unit suite with CUnit's basic interface. */
#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "tests.h"
#include "util.h"

static char scratch[] = "/tmp/regsweep-unit-XXXXXX";

void tests_add_suite(const char *name, const struct test_case *cases)
{
	CU_pSuite s = CU_add_suite(name, NULL, NULL);

	for (; s && cases->name; cases++)
		CU_add_test(s, cases->name, cases->fn);
}

char *tests_write_file(const char *name, const char *content)
{
	char *path = xasprintf("%s/%s", scratch, name);
	FILE *f = fopen(path, "w");

	if (!f || fputs(content, f) < 0 || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
	return path;
}

int main(void)
{
	unsigned failed;

	if (!mkdtemp(scratch)) {
		perror("mkdtemp");
		return 1;
	}
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	suite_util();
	suite_dispatch();
	suite_stack();
	suite_loader();
	suite_plan();
	suite_modules();
	suite_auth();
	suite_report();
	suite_graph();
	suite_journal();
	CU_basic_set_mode(CU_BRM_NORMAL);
	CU_basic_run_tests();
	failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
	CU_cleanup_registry();
	/* Scratch files are tiny; remove them the simple way. */
	if (!getenv("KEEP_TMP")) {
		char *cmd = xasprintf("rm -rf '%s'", scratch);

		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", scratch);
		free(cmd);
	}
	return failed ? 1 : 0;
}
