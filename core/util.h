/* util.h - allocation that aborts on exhaustion, growable buffers, first-error-wins error
 * text, and the duration / RFC 3339 parsers shared by the core and the host API. */
#ifndef RS_UTIL_H
#define RS_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#define RS_FMT(a, b) __attribute__((format(printf, a, b)))

/* Allocation failures print one line and abort (tmux's xmalloc): a half-built plan is
 * worse than no plan.  Results are owned by the caller and released with free(). */
void *xmalloc(size_t size);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) RS_FMT(1, 2);

/* Gives the free pages inside the heap back to the system: after a phase that leaves
 * holes in it (a scan's buffers and parse trees) and before one that maps apart what it
 * keeps.  Nothing where the C library cannot. */
void util_heap_trim(void);

/* A region for objects that live and die together, such as everything one scan keeps
 * (nginx's pools): an allocation is a pointer bump, the release is one pool_free, and the
 * objects stay out of the malloc heap that libcurl churns with a buffer per transfer, where
 * a long-lived string would split the hole the next transfer's buffer needs.  Allocations
 * abort on exhaustion like xmalloc; they are owned by the pool, never free()d alone. */
struct pool;

struct pool *pool_new(void);  /* owned by the caller */
void pool_free(struct pool *p); /* everything allocated from p too; NULL is fine */
void *pool_calloc(struct pool *p, size_t n, size_t size); /* zeroed, aligned for any type */
char *pool_strdup(struct pool *p, const char *s);
char *pool_strndup(struct pool *p, const char *s, size_t n);
char *pool_printf(struct pool *p, const char *fmt, ...) RS_FMT(2, 3);
/* Makes into the owner of everything allocated from `from`, which is released (NULL is
 * fine): what one pool's objects point at can outlive the pool that made them. */
void pool_adopt(struct pool *into, struct pool *from);
size_t pool_mapped(const struct pool *p); /* bytes p holds mapped, for logs and tests */

/* Error text where the first error wins (curl's Curl_failf); later calls are ignored. */
struct rs_err {
	char msg[512];
};
void err_set(struct rs_err *e, const char *fmt, ...) RS_FMT(2, 3);
int err_isset(const struct rs_err *e);

/* A growable byte buffer, always NUL-terminated; owned by whoever holds the struct and
 * released with buf_free(). */
struct buf {
	char *data;
	size_t len;
	size_t cap;
};
void buf_append(struct buf *b, const void *data, size_t len);
/* Makes room for n more bytes and counts them in b->len: returns where they go (a NUL is
 * kept after them), for the caller to fill. */
char *buf_grow(struct buf *b, size_t n);
void buf_printf(struct buf *b, const char *fmt, ...) RS_FMT(2, 3);
void buf_vprintf(struct buf *b, const char *fmt, va_list ap) RS_FMT(2, 0);
void buf_free(struct buf *b);

/* Appends the whole file at path to b.  0, or -1 (errno set) when it cannot be read. */
int buf_read_file(struct buf *b, const char *path);

/* "90m", "12h", "30d", "2w", "0s", and compounds such as "1d12h" to seconds.  Returns 0 on
 * success, -1 otherwise. */
int util_parse_duration(const char *text, int64_t *seconds);

/* RFC 3339 ("2024-05-01T10:20:30Z", fractional seconds and numeric offsets allowed) to Unix
 * seconds.  Returns 0 on success, -1 otherwise. */
int util_parse_rfc3339(const char *text, int64_t *seconds);

/* Unix seconds to "YYYY-MM-DDTHH:MM:SSZ" in out (at least 21 bytes). */
void util_format_rfc3339(int64_t seconds, char *out, size_t outlen);

/* Repository names as the distribution spec has them: path components of [a-z0-9]+ joined
 * by '.', '_', '__' or '-' runs, split by single '/', at most 255 bytes.  Names end up in
 * URLs, so nothing else is ever sent or accepted from a plan file. */
int util_valid_repo_name(const char *name);

/* "algorithm:encoded" digests as the OCI grammar has them. */
int util_valid_digest(const char *digest);

#define UTIL_SHA256_LEN 72 /* "sha256:" + 64 hex digits + NUL */

/* "sha256:<hex>" of len bytes at data, into out. */
void util_sha256(const void *data, size_t len, char out[UTIL_SHA256_LEN]);

/* "<algorithm>:" and n raw digest bytes in lower-case hex, NUL-terminated, into out
 * (strlen(algorithm) + 2 * n + 2 bytes). */
void util_digest_text(const char *algorithm, const unsigned char *raw, size_t n, char *out);

/* Tags as the distribution spec has them: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}. */
int util_valid_tag(const char *tag);

/* 1 when s holds no control character (it may go into a header line or a log). */
int util_printable(const char *s);

#define UTIL_SIZE_LEN 16 /* "1023.9 KiB", up to "8.0 EiB", with NUL */

/* bytes (>= 0) as "512 B", "4.8 MiB" (binary units, one decimal) into out. */
void util_format_size(int64_t bytes, char *out, size_t outlen);

/* A hash of the string s for hash tables: read a word at a time, and mixed so that the low
 * bits, which pick a slot, depend on every byte. */
size_t util_hash(const char *s);

/* A hash map from strings to pointers, for sets of digests.  Keys are borrowed: they must
 * outlive the map.  Zero-initialise; release with strmap_free (values are not freed). */
struct strmap {
	struct strmap_slot *slots; /* open addressing; size a power of two, at most half full */
	size_t size, count;
};

/* The value slot of key, made (holding NULL, *fresh = 1) when key is new. */
void **strmap_slot(struct strmap *m, const char *key, int *fresh);
/* key's value, NULL when absent. */
void *strmap_get(const struct strmap *m, const char *key);
void strmap_free(struct strmap *m);

/* The elements of an array grouped by a string member (a digest), in array order:
 * strchains_first gives the index + 1 of the first element with a key, next[i] the index + 1
 * of the one after element i; 0 ends a chain.  Elements whose key is NULL are left out.
 * Keys are borrowed from the array. */
struct strchains {
	struct strmap head;
	size_t *next;
};

/* Chains over base[0..n), elements of stride bytes whose key is the char * at key_offset
 * (offsetof). */
void strchains_build(struct strchains *c, const void *base, size_t n, size_t stride,
		     size_t key_offset);
size_t strchains_first(const struct strchains *c, const char *key);
void strchains_free(struct strchains *c);

struct stat;

/* Why a file (or directory) described by st must not be trusted to hold code or secrets,
 * or NULL: it is owned by neither root nor the effective user, or group or others may
 * write it (OpenSSH's StrictModes).  The text is static. */
const char *util_untrusted(const struct stat *st);

/* A file replaced whole: written to a new file beside it (mkstemp: O_EXCL, so a symlink
 * planted at the temporary name redirects nothing) and renamed over it, so a reader never
 * sees half of it. */
struct atomic_file {
	const char *path; /* borrowed */
	char *tmp;        /* NULL when written in place */
	int fd; /* -1 when not open */
};
/* 0, or -1 with "path: cannot write there: why" in e.  A path that names something other
 * than a regular file (/dev/stdout, a pipe, a terminal) is written in place: renaming over
 * it would replace the device or link itself. */
int atomic_open(struct atomic_file *f, const char *path, struct rs_err *e);
/* Writes data plus a newline, syncs and renames: 0, or -1 with e set; f is closed either
 * way. */
int atomic_commit(struct atomic_file *f, const char *data, size_t len, struct rs_err *e);
void atomic_abort(struct atomic_file *f); /* safe on a closed one */

/* Writes all n bytes of p to fd, through short writes and EINTR.  0, or -1 with errno. */
int util_write_all(int fd, const char *p, size_t n);

/* The wall clock, Unix seconds with a fraction. */
double util_now(void);

/* Whether two registry URLs name the same registry (trailing '/' aside). */
int util_same_url(const char *a, const char *b);

/* 1980-01-01T00:00:00Z: image times before it come from reproducible builds, not clocks. */
#define UTIL_EPOCH_1980 315532800

#endif
