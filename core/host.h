/* host.h - the host API table lent to modules (argument access, logging, patterns). */
#ifndef RS_HOST_H
#define RS_HOST_H

#include "regsweep/module.h"

/* The table every module's init receives; static, never freed. */
const struct rs_host_api *host_api(void);

/* What verify_kept calls: installed by the core around after-steps (fn NULL: removed, and
 * verify_kept then says it cannot check).  arg is borrowed. */
void host_set_verifier(int (*fn)(void *arg, char *err, size_t errlen), void *arg);

/* What an after-step reported with host->reclaimed; -1 each until one does. */
struct host_reclaimed {
	int64_t blob_bytes, disk_bytes;
};
struct host_reclaimed host_reclaimed_get(void);

#endif
