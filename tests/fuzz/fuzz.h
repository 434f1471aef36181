/* fuzz.h - what the libFuzzer harnesses share: the input as a file for the parsers that
 * read one, and quiet logging. */
#ifndef RS_FUZZ_H
#define RS_FUZZ_H

#include <stddef.h>
#include <stdint.h>

/* The entry points libFuzzer calls; fuzz.c has a default LLVMFuzzerInitialize that only
 * quiets logging. */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Writes the size bytes at data to a new file in $TMPDIR (else /tmp) and returns its path,
 * valid until fuzz_file_done removes the file.  Aborts when it cannot. */
const char *fuzz_file(const void *data, size_t size);
void fuzz_file_done(void);

/* Drops every log line: a parser's warnings would drown libFuzzer's output. */
void fuzz_quiet(void);

/* A NUL-terminated copy of the size bytes at data (caller frees). */
char *fuzz_string(const uint8_t *data, size_t size);

#endif
