/* TLS certificate loading and self-signed generation (OpenSSL 3 EVP/X509). */
#include "tls.h"
#include "x509.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

void rv_tls_default_paths(const char *state_dir, char *cert, char *key, size_t len)
{
	snprintf(cert, len, "%s/tls/server.crt", state_dir);
	snprintf(key, len, "%s/tls/server.key", state_dir);
}

void rv_tls_next_paths(const char *state_dir, char *cert, char *key, size_t len)
{
	snprintf(cert, len, "%s/tls/next.crt", state_dir);
	snprintf(key, len, "%s/tls/next.key", state_dir);
}

void rv_tls_free_pem(char *pem)
{
	if (pem) {
		OPENSSL_cleanse(pem, strlen(pem));
		free(pem);
	}
}

static char *read_file(const char *path, char *err, size_t errlen, const char *key)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		snprintf(err, errlen, "%s: cannot open %s: %s", key, path, strerror(errno));
		return NULL;
	}
	char *buf = NULL;
	size_t len = 0, cap = 0, n;
	do {
		if (len + 4096 + 1 > cap) {
			cap = cap ? cap * 2 : 8192;
			char *nb = realloc(buf, cap);
			if (!nb) {
				free(buf);
				fclose(f);
				snprintf(err, errlen, "out of memory");
				return NULL;
			}
			buf = nb;
		}
		n = fread(buf + len, 1, 4096, f);
		len += n;
	} while (n > 0 && len < (1u << 20));
	fclose(f);
	buf[len] = '\0';
	return buf;
}

/* The self-signed server certificate (CA:TRUE so clients may pin it or
 * use it as their CA file), for localhost and cfg.tls_names. */
static X509 *make_cert(EVP_PKEY *pk, const char *names)
{
	char san[1024] = "DNS:localhost,IP:127.0.0.1,IP:::1";
	X509 *x = rv_x509_new(pk, "roomvpn-control", 3650, NULL);
	if (!x)
		return NULL;
	rv_x509_san_append(names, san, sizeof(san));
	if (rv_x509_ext(x, NULL, NID_basic_constraints, "critical,CA:TRUE") ||
	    rv_x509_ext(x, NULL, NID_key_usage, "critical,digitalSignature,keyCertSign") ||
	    rv_x509_ext(x, NULL, NID_ext_key_usage, "serverAuth") ||
	    rv_x509_ext(x, NULL, NID_subject_alt_name, san) || !X509_sign(x, pk, EVP_sha256())) {
		X509_free(x);
		return NULL;
	}
	return x;
}

static int generate(const struct rv_control_config *cfg, const char *cert, const char *key,
		    char *err, size_t errlen)
{
	char dir[RV_CTL_PATH + 8];
	int rc = -1;

	snprintf(dir, sizeof(dir), "%s/tls", cfg->state_dir);
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "state_dir: cannot create %s: %s", dir, strerror(errno));
		return -1;
	}
	EVP_PKEY *pk = EVP_EC_gen("P-256");
	X509 *x = pk ? make_cert(pk, cfg->tls_names) : NULL;
	if (!x) {
		snprintf(err, errlen, "cannot generate a self-signed certificate");
		goto out;
	}
	if (rv_x509_write_pem(key, 0600, NULL, pk) != 0 ||
	    rv_x509_write_pem(cert, 0644, x, NULL) != 0) {
		snprintf(err, errlen, "cannot write %s / %s: %s", cert, key, strerror(errno));
		goto out;
	}
	rv_log(RV_LOG_INFO, "generated a self-signed certificate %s", cert);
	rc = 0;
out:
	X509_free(x);
	EVP_PKEY_free(pk);
	return rc;
}

static int fingerprint(const char *pem, char *out, size_t outlen)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
	unsigned char md[32];
	unsigned mdlen = 0;
	int rc = -1;

	if (x && X509_digest(x, EVP_sha256(), md, &mdlen) && mdlen == 32 && outlen >= 96) {
		for (unsigned i = 0; i < 32; i++)
			snprintf(out + 3 * i, 4, i == 31 ? "%02X" : "%02X:", md[i]);
		rc = 0;
	}
	X509_free(x);
	BIO_free(b);
	return rc;
}

/* The announced next pin: written at start and on SIGHUP, read by every
 * Login/Refresh reply and keepalive heartbeat. */
static pthread_mutex_t next_mu = PTHREAD_MUTEX_INITIALIZER;
static char next_fp[96];

static int file_fingerprint(const char *path, char *out, size_t outlen, char *err, size_t errlen)
{
	char *pem = read_file(path, err, errlen, "tls");
	int rc;

	if (!pem)
		return -1;
	rc = fingerprint(pem, out, outlen);
	free(pem);
	if (rc != 0)
		snprintf(err, errlen, "%s holds no PEM certificate", path);
	return rc;
}

int rv_tls_load_next(const struct rv_control_config *cfg)
{
	char cert[RV_CTL_PATH + 32], key[RV_CTL_PATH + 32], fp[96] = "", err[512];

	rv_tls_next_paths(cfg->state_dir, cert, key, sizeof(cert));
	if (!cfg->tls_cert[0] && access(cert, F_OK) == 0) {
		if (file_fingerprint(cert, fp, sizeof(fp), err, sizeof(err)) != 0) {
			rv_log(RV_LOG_ERROR, "certificate rotation: %s", err);
			fp[0] = '\0';
		} else {
			rv_log(RV_LOG_INFO,
			       "certificate rotation: announcing the next certificate %s, SHA-256 "
			       "fingerprint %s",
			       cert, fp);
		}
	}
	pthread_mutex_lock(&next_mu);
	memcpy(next_fp, fp, sizeof(next_fp));
	pthread_mutex_unlock(&next_mu);
	return fp[0] ? 1 : 0;
}

bool rv_tls_next_pin(char *out, size_t len)
{
	pthread_mutex_lock(&next_mu);
	snprintf(out, len, "%s", next_fp);
	pthread_mutex_unlock(&next_mu);
	return out[0] != '\0';
}

/* Files written by root for a server that runs as its own user: hand them
 * to the owner of the tls/ directory. */
static void chown_like_dir(const char *dir, const char *cert, const char *key)
{
	struct stat st;

	if (geteuid() != 0 || stat(dir, &st) != 0 || st.st_uid == 0)
		return;
	if (chown(cert, st.st_uid, st.st_gid) != 0 || chown(key, st.st_uid, st.st_gid) != 0)
		rv_log(RV_LOG_WARN, "cannot hand %s to uid %u: %s", key, (unsigned)st.st_uid,
		       strerror(errno));
}

static int rotation_allowed(const struct rv_control_config *cfg, char *err, size_t errlen)
{
	if (cfg->tls_cert[0]) {
		snprintf(err, errlen,
			 "tls_cert is set (%s): rotate-cert manages only the self-signed "
			 "certificate in state_dir; replace the configured files yourself",
			 cfg->tls_cert);
		return -1;
	}
	return 0;
}

int rv_tls_rotate_prepare(const struct rv_control_config *cfg, char fp[96], char *err,
			  size_t errlen)
{
	char cert[RV_CTL_PATH + 32], key[RV_CTL_PATH + 32], dir[RV_CTL_PATH + 8];

	if (rotation_allowed(cfg, err, errlen) != 0)
		return -1;
	rv_tls_next_paths(cfg->state_dir, cert, key, sizeof(cert));
	if (access(cert, F_OK) != 0) {
		if (generate(cfg, cert, key, err, errlen) != 0)
			return -1;
		snprintf(dir, sizeof(dir), "%s/tls", cfg->state_dir);
		chown_like_dir(dir, cert, key);
	}
	return file_fingerprint(cert, fp, 96, err, errlen);
}

int rv_tls_rotate_commit(const struct rv_control_config *cfg, char fp[96], char *err, size_t errlen)
{
	char cert[RV_CTL_PATH + 32], key[RV_CTL_PATH + 32];
	char ncert[RV_CTL_PATH + 32], nkey[RV_CTL_PATH + 32];
	char ocert[RV_CTL_PATH + 32], okey[RV_CTL_PATH + 32];

	if (rotation_allowed(cfg, err, errlen) != 0)
		return -1;
	rv_tls_default_paths(cfg->state_dir, cert, key, sizeof(cert));
	rv_tls_next_paths(cfg->state_dir, ncert, nkey, sizeof(ncert));
	snprintf(ocert, sizeof(ocert), "%s/tls/previous.crt", cfg->state_dir);
	snprintf(okey, sizeof(okey), "%s/tls/previous.key", cfg->state_dir);
	if (access(ncert, R_OK) != 0 || access(nkey, R_OK) != 0) {
		snprintf(err, errlen, "no prepared certificate %s: run 'rotate-cert prepare' first",
			 ncert);
		return -1;
	}
	if (file_fingerprint(ncert, fp, 96, err, errlen) != 0)
		return -1;
	/* The current pair stays as previous.* (a rollback: rename it back). */
	if ((access(cert, F_OK) == 0 && rename(cert, ocert) != 0) ||
	    (access(key, F_OK) == 0 && rename(key, okey) != 0) || rename(nkey, key) != 0 ||
	    rename(ncert, cert) != 0) {
		snprintf(err, errlen, "cannot move %s into place: %s", ncert, strerror(errno));
		return -1;
	}
	return 0;
}

int rv_tls_load(struct rv_control *ctl, char **cert_pem, char **key_pem, char *err, size_t errlen)
{
	const struct rv_control_config *cfg = &ctl->cfg;
	char cert[RV_CTL_PATH + 32], key[RV_CTL_PATH + 32];

	if (cfg->tls_cert[0] || cfg->tls_key[0]) {
		if (!cfg->tls_cert[0] || !cfg->tls_key[0]) {
			snprintf(err, errlen, "tls_cert and tls_key must be given together");
			return -1;
		}
		snprintf(cert, sizeof(cert), "%s", cfg->tls_cert);
		snprintf(key, sizeof(key), "%s", cfg->tls_key);
	} else {
		rv_tls_default_paths(cfg->state_dir, cert, key, sizeof(cert));
		if (access(cert, R_OK) != 0 && generate(cfg, cert, key, err, errlen) != 0)
			return -1;
	}
	*cert_pem = read_file(cert, err, errlen, "tls_cert");
	if (!*cert_pem)
		return -1;
	*key_pem = read_file(key, err, errlen, "tls_key");
	if (!*key_pem)
		goto err_cert;
	if (fingerprint(*cert_pem, ctl->tls_fingerprint, sizeof(ctl->tls_fingerprint)) != 0) {
		snprintf(err, errlen, "tls_cert: %s holds no PEM certificate", cert);
		goto err_key;
	}
	rv_log(RV_LOG_INFO, "TLS certificate %s SHA-256 fingerprint %s", cert,
	       ctl->tls_fingerprint);
	rv_tls_load_next(cfg);
	return 0;

err_key:
	rv_tls_free_pem(*key_pem);
err_cert:
	free(*cert_pem);
	return -1;
}
