/* fuzz_json.c - image configs as the scan reads them: json_value_span and json_members
 * must take and refuse exactly what cJSON does, and find the same members.  Any
 * difference aborts. */
#include <stdlib.h>

#include "fuzz.h"
#include "json_agree.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (json_agree((const char *)data, size))
		abort();
	return 0;
}
