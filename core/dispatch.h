/* dispatch.h - the PAM stack walk: one tag's verdicts through the control actions. */
#ifndef RS_DISPATCH_H
#define RS_DISPATCH_H

#include <stddef.h>

#include "regsweep/module.h"

struct dispatch_result {
	enum rs_verdict verdict; /* RS_DELETE only when the walk ended positive, else RS_KEEP */
	int decided_by;          /* index of the entry that set the outcome; -1 if none did */
};

/* Walk count entries: entry i has action table actions[i] and gave verdicts[i] for this
 * tag.  Linux-PAM's _pam_dispatch_aux semantics: ok/done make a positive impression unless
 * it is already negative, done then stops; bad/die make it negative keeping the first
 * failure, die then stops; ignore does nothing; N > 0 skips the next N entries.  A walk
 * that ends with no impression (every entry passed) keeps the tag. */
void dispatch_walk(const int (*actions)[RS_VERDICT_MAX], const enum rs_verdict *verdicts,
		   size_t count, struct dispatch_result *out);

#endif
