/* host.h - the host API table lent to modules (argument access, logging, patterns). */
#ifndef RS_HOST_H
#define RS_HOST_H

#include "regsweep/module.h"

/* The table every module's init receives; static, never freed. */
const struct rs_host_api *host_api(void);

#endif
