/* netopts.c - defaults and cleanup for the registry connection settings. */
#include "netopts.h"

#include <stdlib.h>
#include <string.h>

void netopts_init(struct net_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->tls.verify = 1;
	o->timeout_ms = 60000;
	o->connect_timeout_ms = 10000;
	o->retries = 4;
}

void netopts_free(struct net_opts *o)
{
	free(o->tls.ca_file);
	free(o->tls.client_cert);
	free(o->tls.client_key);
	free(o->auth.username);
	free(o->auth.password_file);
	free(o->auth.password_env);
	free(o->auth.docker_config);
	memset(o, 0, sizeof(*o));
}

void netopts_apply_tls(CURL *c, const struct tls_opts *tls)
{
	if (tls->ca_file)
		curl_easy_setopt(c, CURLOPT_CAINFO, tls->ca_file);
	if (tls->client_cert) {
		curl_easy_setopt(c, CURLOPT_SSLCERT, tls->client_cert);
		curl_easy_setopt(c, CURLOPT_SSLKEY, tls->client_key);
	}
	if (!tls->verify) {
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
	}
}
