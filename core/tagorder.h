/* tagorder.h - how tags rank as versions (natural, semantic, lexical): lent to modules
 * through the host API so every module ranks the way keep_last does. */
#ifndef RS_TAGORDER_H
#define RS_TAGORDER_H

#include "regsweep/module.h"

/* 1 when tag has a place in order (semver: it parses as a semantic version), else 0. */
int tagorder_rankable(enum rs_tag_order order, const char *tag);

/* <0, 0, >0 as a is older than, equal to, newer than b.  Ties under name and semver fall
 * to the bytes, so only equal strings compare equal.  Both must be rankable. */
int tagorder_compare(enum rs_tag_order order, const char *a, const char *b);

#endif
