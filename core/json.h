/* json.h - the few cJSON readers and writers the plan, report and journal files share, a
 * streaming writer and reader for large documents, and the scanner the registry reads
 * manifests and image configs with. */
#ifndef RS_JSON_H
#define RS_JSON_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "util.h"

/* RFC 3339 text for Unix seconds, or JSON null for RS_CREATED_UNKNOWN; a new item the
 * caller adds to a document. */
cJSON *json_time(int64_t t);

/* doc as text, indented or compact; caller-owned (free).  Aborts when memory runs out,
 * as xmalloc does. */
char *json_text(const cJSON *doc, int indented);

/* o's member key when it is a string (borrowed from o), else NULL. */
const char *json_string(const cJSON *o, const char *key);

/* o's member key when it is a whole number of bytes (0 to 2^53), else -1. */
int64_t json_bytes(const cJSON *o, const char *key);

/* A JSON writer for documents too large to hold as a cJSON tree (a plan of 50,000 tags):
 * it prints what cJSON_Print would print for the same members in the same order, through
 * sink, and hashes what cJSON_PrintUnformatted would print, so that a plan's seal is the
 * same whichever way it was written.  Numbers print as cJSON prints them. */
#define JW_DEPTH_MAX 32

struct jw {
	/* Takes the next piece of text: 0, or -1 to fail the writer (it then writes
	 * nothing more). */
	int (*sink)(void *arg, const char *p, size_t n);
	void *arg;
	/* Private. */
	struct buf pending, scratch;
	void *md; /* EVP_MD_CTX of the compact text */
	unsigned depth;
	unsigned char in_object[JW_DEPTH_MAX], members[JW_DEPTH_MAX]; /* members: has one */
	int failed;
};

/* Starts w on sink (w's other members zeroed).  Aborts when memory runs out. */
void jw_init(struct jw *w, int (*sink)(void *arg, const char *p, size_t n), void *arg);

/* Each value goes in the open object under key, or in the open array (key NULL), or is the
 * document (key NULL, nothing open).  jw_string's s NULL is JSON null. */
void jw_object(struct jw *w, const char *key);
void jw_array(struct jw *w, const char *key);
void jw_end(struct jw *w); /* closes the innermost open object or array */
void jw_string(struct jw *w, const char *key, const char *s);
void jw_number(struct jw *w, const char *key, double v);
void jw_bool(struct jw *w, const char *key, int v);
void jw_time(struct jw *w, const char *key, int64_t t); /* as json_time */
void jw_cjson(struct jw *w, const char *key, const cJSON *item); /* a copy of item */

/* "sha256:<hex>" of the compact text so far with every open container closed. */
void jw_digest(const struct jw *w, char out[UTIL_SHA256_LEN]);

/* Hands what is left to the sink and frees w: 0, or -1 when the sink failed or the
 * document went deeper than JW_DEPTH_MAX. */
int jw_finish(struct jw *w);

/* A JSON reader for documents too large to hold as a cJSON tree: tokens pulled one at a
 * time from a file, each also given to a jw (hash only) so that the reader can check a
 * seal made by jw_digest.  It accepts what cJSON_Parse accepts, but no text after the
 * document and no nesting deeper than JW_DEPTH_MAX. */
enum jr_token {
	JR_ERROR, /* not valid JSON, or the file could not be read (read_error): the reader
		   * stops */
	JR_END,   /* the document is complete and nothing but white space follows */
	JR_OBJECT, JR_OBJECT_END, JR_ARRAY, JR_ARRAY_END,
	JR_KEY, /* a member's name, in jr->text */
	JR_STRING, /* in jr->text (a NUL it holds ends it early, as in cJSON) */
	JR_NUMBER, /* in jr->number */
	JR_TRUE, JR_FALSE, JR_NULL,
};

struct jr {
	const char *text; /* the last JR_KEY or JR_STRING, valid until the next token */
	double number;    /* the last JR_NUMBER */
	/* Private. */
	int fd;
	char in[16384];
	size_t at, len;
	struct buf str;
	struct jw hash;
	unsigned depth;
	unsigned char in_object[JW_DEPTH_MAX], members[JW_DEPTH_MAX], after_key;
	struct buf key;         /* the pending member name, hashed with its value */
	int keyed;              /* key holds one */
	unsigned unhashed_at;   /* depth + 1 of a value left out of the hash; 0: none */
	int done, failed, read_error;
};

/* Starts r on an open file descriptor (borrowed). */
void jr_init(struct jr *r, int fd);
enum jr_token jr_next(struct jr *r);
/* After JR_KEY: leave that member (its name and value) out of the hash. */
void jr_unhashed(struct jr *r);
/* The value that starts with token t (just returned by jr_next) as a cJSON tree
 * (caller-owned), or NULL when it is not valid JSON. */
cJSON *jr_value(struct jr *r, enum jr_token t);
/* jw_digest of what was read and hashed. */
void jr_digest(const struct jr *r, char out[UTIL_SHA256_LEN]);
void jr_free(struct jr *r);

/* Formats a number as cJSON does, into out (at least JSON_NUMBER_MAX bytes). */
#define JSON_NUMBER_MAX 32
void json_number_text(double d, char out[JSON_NUMBER_MAX]);

/* Appends s as a JSON string literal, escaped as cJSON escapes it. */
void json_string_text(struct buf *b, const char *s);
/* The same for n bytes at s, which hold no NUL. */
void json_string_text_len(struct buf *b, const char *s, size_t n);

/* A piece of JSON text: a value json_value_span or json_members found (text NULL: none). */
struct json_span {
	const char *text;
	size_t len;
};

/* The value that the n bytes at text start with, read as cJSON_ParseWithLength reads it
 * (after a UTF-8 byte order mark and white space; what follows the value is ignored), but
 * without building a tree: 0 with its span in *value, or -1 where cJSON would refuse the
 * text.  For documents read for a few members, such as manifests and image configs. */
int json_value_span(const char *text, size_t n, struct json_span *value);

/* Walks the values of container, an array or an object (a span json_value_span gave, or a
 * value inside one): with value->text NULL the first, else the one after *value (a span
 * this gave).  1 with it in *value and, in an object, its member name's string literal in
 * *key (when key is non-NULL); 0 after the last, or when container is neither.  An object's
 * values come in text order, as cJSON_ArrayForEach gives them. */
int json_next(struct json_span container, struct json_span *key, struct json_span *value);

/* How many values json_next walks, as cJSON_GetArraySize counts them. */
size_t json_count(struct json_span container);

/* The string value v (a span from json_members or json_next) decoded as cJSON decodes it,
 * in b (emptied first, caller-owned): b->data, or NULL when v is not a string.  A NUL it
 * holds ends it, as it ends cJSON's valuestring. */
const char *json_string_value(struct json_span v, struct buf *b);

/* The number v as cJSON reads it: 0 with it in *out, or -1 when v is not a number. */
int json_number_value(struct json_span v, double *out);

/* The values of the first members of object named keys[0..count-1], as
 * cJSON_GetObjectItemCaseSensitive finds them, into values[] (text NULL when there is
 * none, or when object is not an object).  object must be a span json_value_span gave, or
 * a value inside one. */
void json_members(struct json_span object, const char *const *keys, size_t count,
		  struct json_span *values);

#endif
