/* netopts.h - how to talk to a registry: TLS, credentials, timeouts, retries and pacing,
 * as the stack's `registry` group gives them.  Parsed by stack.c, used by http.c (TLS,
 * timeouts, retries, pacing) and auth.c (credentials, token realm requests). */
#ifndef RS_NETOPTS_H
#define RS_NETOPTS_H

#include <curl/curl.h>

struct tls_opts {
	char *ca_file;     /* PEM bundle to verify the registry with; NULL: system store */
	char *client_cert; /* PEM client certificate for mutual TLS; NULL: none */
	char *client_key;  /* its PEM private key */
	int verify;        /* 0: do not verify peer or host name (warned once) */
};

struct auth_opts {
	char *username;      /* basic credentials: username plus one of the two below */
	char *password_file; /* refused when group or others may read it */
	char *password_env;  /* name of an environment variable */
	char *docker_config; /* path to a docker config.json; "~/" expands to $HOME */
	int allow_insecure;  /* allow_insecure_auth: credentials over http:// to a non-loopback
			      * host */
};

struct net_opts {
	struct tls_opts tls;
	struct auth_opts auth;
	long timeout_ms;         /* one attempt of one request; default 60 s */
	long connect_timeout_ms; /* default 10 s */
	int retries;             /* further attempts after a retryable failure; default 4 */
	double max_rps;          /* max_requests_per_second; 0: unlimited */
};

/* Defaults for everything (verify on, timeouts, retries). */
void netopts_init(struct net_opts *o);
/* Frees the strings; the struct itself belongs to the caller. */
void netopts_free(struct net_opts *o);

/* Sets tls's CA, client certificate and verification on an easy handle: the registry's
 * transfers and the token realm's are verified alike. */
void netopts_apply_tls(CURL *c, const struct tls_opts *tls);

#endif
