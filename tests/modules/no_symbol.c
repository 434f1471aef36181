/* no_symbol.c - test shared object that exports a function but no `regsweep_module`. */
#include "regsweep/module.h"

/* Exported so that the object is a well-formed library with a dynamic symbol table; only
 * the descriptor is missing. */
RS_MODULE_EXPORT int regsweep_not_a_module(void);

RS_MODULE_EXPORT int regsweep_not_a_module(void)
{
	return 0;
}
