/* auth.h - registry credentials and tokens: basic credentials from a password file, an
 * environment variable or a docker config.json (with credential helpers), and bearer
 * tokens fetched from the realm a 401 names, cached per scope.  Secrets never leave this
 * file except inside an Authorization header. */
#ifndef RS_AUTH_H
#define RS_AUTH_H

#include "netopts.h"
#include "util.h"

struct auth;

/* What a run may do beyond reading, for token scopes: bits of auth_new's `want`. */
#define AUTH_WANT_DELETE 1u /* scopes ask for "pull,delete" */
#define AUTH_WANT_PUSH 2u   /* scopes ask for "pull,push" (undo) */

/* Resolves the credentials opts names for registry_url (reading the password file or
 * variable, the docker config, running a credential helper) and refuses to send them over
 * http:// to a non-loopback host unless opts->allow_insecure.  No credentials configured is
 * valid: tokens are then fetched anonymously.  want: AUTH_WANT_* bits, the actions token
 * scopes ask for besides "pull".  Returns an object owned by the caller
 * (auth_free), or NULL with a one-line reason in e that contains no secret. */
struct auth *auth_new(const char *registry_url, const struct auth_opts *opts,
		      const struct tls_opts *tls, long timeout_ms, unsigned want,
		      struct rs_err *e);
void auth_free(struct auth *a);

/* The Authorization header line to send with a request to url ("Authorization: Basic ..."
 * or "Authorization: Bearer ..."), or NULL for none.  Borrowed: valid until the next call
 * on a. */
const char *auth_header(struct auth *a, const char *url);

/* A request to url was answered 401 with this WWW-Authenticate value (NULL when absent).
 * Fetches or refreshes what is needed (a blocking token request to the realm, once per
 * scope until it expires).  Returns 1 when the request should be sent again, 0 when not,
 * with a one-line reason in e ("registry refused the credentials of user ci", "token
 * server http://...: HTTP 401"). */
int auth_challenge(struct auth *a, const char *url, const char *www_authenticate,
		   struct rs_err *e);

/* 1 when some credential is configured (used to word errors). */
int auth_has_credentials(const struct auth *a);

#endif
