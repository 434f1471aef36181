/* fuzz.c - the harnesses' shared helpers. */
#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

static char path[4096];

const char *fuzz_file(const void *data, size_t size)
{
	const char *dir = getenv("TMPDIR");
	int fd;

	snprintf(path, sizeof(path), "%s/regsweep-fuzz-XXXXXX", dir && dir[0] ? dir : "/tmp");
	fd = mkstemp(path);
	if (fd < 0 || util_write_all(fd, data, size) != 0 || close(fd) != 0) {
		perror("fuzz: temporary file");
		abort();
	}
	return path;
}

void fuzz_file_done(void)
{
	unlink(path);
}

void fuzz_quiet(void)
{
	log_set_level(-1);
}

char *fuzz_string(const uint8_t *data, size_t size)
{
	char *s = xmalloc(size + 1);

	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/* The harnesses that need nothing more than quiet logging take this one; the others
 * define their own, which wins over a weak symbol. */
__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet();
	return 0;
}
