/* loader.h - finding, dlopen()ing and checking modules, validating their arguments and
 * running their init/fini.  Any failure stops the run before a request is sent. */
#ifndef RS_LOADER_H
#define RS_LOADER_H

#include "regsweep/module.h"
#include "stack.h"
#include "util.h"

/* Where a module name is looked for, in order, the first that has it winning: extra_dir
 * (--module-dir), stack_dir (the stack's module_path), each directory of
 * $REGSWEEP_MODULE_PATH (':'-separated), the build tree (modules/ beside the executable),
 * the install relative to the executable (../<libdir>/regsweep: a prefix moved after the
 * install still works), then the configured install directory.  extra_dir and stack_dir
 * may be NULL.  *dirs is caller-owned (loader_free_dirs); returns how many. */
size_t loader_search_dirs(const char *extra_dir, const char *stack_dir, char ***dirs);
void loader_free_dirs(char **dirs, size_t count);

/* Load, check and initialise every entry of the stack (policy and after).  Returns 0, or
 * -1 with "file:line: what" in e; entries already loaded are released by loader_unload. */
int loader_load(struct stack *s, const char *extra_dir, struct rs_err *e);

/* Run fini and dlclose for every loaded entry.  Safe on a partly loaded stack. */
void loader_unload(struct stack *s);

/* Open one module file and check its descriptor without initialising it (for listings).
 * On success *handle must be passed to dlclose by the caller and *desc is valid until then.
 * Returns 0, or -1 with e set. */
int loader_open_file(const char *path, const char *expect_name, void **handle,
		     const struct rs_module **desc, struct rs_err *e);

/* Name of an argument type as used in messages and listings ("integer", "duration"...). */
const char *loader_arg_type_name(enum rs_arg_type type);

#endif
