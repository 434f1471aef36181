/* tests.h - suite registration and helpers shared by the unit tests. */
#ifndef RS_TESTS_H
#define RS_TESTS_H

#include <CUnit/CUnit.h>

struct test_case {
	const char *name;
	CU_TestFunc fn;
};

/* Registers a suite from a NULL-terminated table. */
void tests_add_suite(const char *name, const struct test_case *cases);

/* Writes content to a new file in the test's scratch directory and returns its path (owned
 * by the caller, free()).  name may contain no slash. */
char *tests_write_file(const char *name, const char *content);

void suite_util(void);
void suite_dispatch(void);
void suite_stack(void);
void suite_loader(void);
void suite_plan(void);
void suite_modules(void);
void suite_auth(void);
void suite_report(void);
void suite_graph(void);
void suite_journal(void);

#endif
