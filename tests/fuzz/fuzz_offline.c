/* fuzz_offline.c - images files (`regsweep decide`): offline_read. */
#include "fuzz.h"
#include "offline.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rs_err e = {{0}};
	struct reg_scan scan;
	int64_t now = 0;

	if (offline_read(fuzz_file(data, size), "library/app", &scan, &now, &e) == 0) {
		for (size_t i = 0; i < scan.count; i++) {
			const struct reg_repo *rp = &scan.repos[i];

			for (size_t k = 0; k < rp->manifest_count; k++)
				registry_manifest(rp, rp->manifests[k].digest);
		}
	}
	registry_scan_free(&scan);
	fuzz_file_done();
	return 0;
}
