/* fuzz_manifest.c - manifest bodies as the image graph reads them (image manifests,
 * indexes, manifest lists, referrers with a subject): registry_manifest_from_body must read
 * them as a cJSON tree does (any difference aborts), then a repository's graph holds the
 * result. */
#include <stdlib.h>

#include "fuzz.h"
#include "json_agree.h"
#include "registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pool *pool = pool_new();
	struct reg_manifest m = {0};
	char digest[UTIL_SHA256_LEN];
	/* As a scan passes it: the Content-Type, used when the body names no mediaType. */
	const char *content_type =
	    size % 2 ? "application/vnd.oci.image.manifest.v1+json; charset=utf-8" : NULL;

	if (manifest_agree((const char *)data, size, content_type))
		abort();
	util_sha256(data, size, digest);
	if (registry_manifest_from_body(pool, pool, &m, digest, (const char *)data, size,
					content_type) == 0) {
		struct reg_repo repo = {0};

		registry_adopt_manifests(&repo, &m, 1);
		registry_adopt_manifests(&repo, &m, 1);
		for (size_t i = 0; i < m.child_count; i++)
			registry_manifest(&repo, m.children[i]);
		if (m.subject)
			registry_manifest(&repo, m.subject);
		registry_manifest(&repo, digest);
		free(repo.manifests);
	}
	pool_free(pool);
	return 0;
}
