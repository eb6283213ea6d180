/* The fleet CA (dp_ca.h): issues data-plane client certificates and the
 * agent listener's server certificate, keeps the revoked-name list. Files
 * are written with their final mode at creation, whatever the umask. */
#include "dp_ca.h"
#include "x509.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#define DAY_S (24L * 3600)

struct ca {
	X509 *crt;
	EVP_PKEY *key;
};

void rv_dp_ca_dir(const struct rv_control_config *cfg, char *out, size_t outlen)
{
	if (cfg->dp_ca_dir[0])
		snprintf(out, outlen, "%s", cfg->dp_ca_dir);
	else
		snprintf(out, outlen, "%s/fleet", cfg->state_dir);
}

bool rv_dp_ca_name_valid(const char *name)
{
	size_t n = strlen(name);
	return n >= 1 && n <= 63 && name[0] != '.' && name[0] != '-' &&
	       strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") ==
		   n;
}

static void path_in(char *out, size_t len, const char *dir, const char *file)
{
	snprintf(out, len, "%s/%s", dir, file);
}

/* A certificate for @pk: self-signed CA when @ca is NULL, else a leaf signed
 * by @ca with extended key usage @eku and SANs @names ("" none). */
static X509 *make_cert(EVP_PKEY *pk, const char *cn, long days, const struct ca *ca,
		       const char *eku, const char *names)
{
	char san[1024] = "";
	X509 *issuer = ca ? ca->crt : NULL;
	X509 *x = rv_x509_new(pk, cn, days, issuer);
	if (!x)
		return NULL;
	int bad = rv_x509_ext(x, issuer, NID_subject_key_identifier, "hash") ||
		  rv_x509_ext(x, issuer, NID_authority_key_identifier, "keyid:always");
	if (!ca)
		bad = bad ||
		      rv_x509_ext(x, NULL, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") ||
		      rv_x509_ext(x, NULL, NID_key_usage, "critical,keyCertSign,cRLSign");
	else
		bad = bad || rv_x509_ext(x, issuer, NID_basic_constraints, "critical,CA:FALSE") ||
		      rv_x509_ext(x, issuer, NID_key_usage, "critical,digitalSignature") ||
		      rv_x509_ext(x, issuer, NID_ext_key_usage, eku);
	rv_x509_san_append(names, san, sizeof(san));
	if (san[0])
		bad = bad || rv_x509_ext(x, issuer, NID_subject_alt_name, san);
	if (bad || !X509_sign(x, ca ? ca->key : pk, EVP_sha256())) {
		X509_free(x);
		return NULL;
	}
	return x;
}

static X509 *read_crt(const char *path)
{
	FILE *f = fopen(path, "r");
	X509 *x = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
	if (f)
		fclose(f);
	return x;
}

static EVP_PKEY *read_key(const char *path)
{
	FILE *f = fopen(path, "r");
	EVP_PKEY *k = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
	if (f)
		fclose(f);
	return k;
}

static void ca_free(struct ca *ca)
{
	X509_free(ca->crt);
	EVP_PKEY_free(ca->key);
}

int rv_dp_ca_ensure(const char *dir, char *err, size_t errlen)
{
	char crt[RV_CTL_PATH], key[RV_CTL_PATH];
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "fleet CA: cannot create %s: %s", dir, strerror(errno));
		return -1;
	}
	chmod(dir, 0700);
	path_in(crt, sizeof(crt), dir, "ca.crt");
	path_in(key, sizeof(key), dir, "ca.key");
	if (access(crt, F_OK) == 0 && access(key, F_OK) == 0)
		return 0;
	EVP_PKEY *pk = EVP_EC_gen("P-256");
	X509 *x = pk ? make_cert(pk, "roomvpn fleet CA", RV_DP_CA_DAYS, NULL, NULL, "") : NULL;
	int rc = -1;
	if (!x)
		snprintf(err, errlen, "fleet CA: cannot generate the CA certificate");
	else if (rv_x509_write_pem(key, 0600, NULL, pk) != 0 ||
		 rv_x509_write_pem(crt, 0644, x, NULL) != 0)
		snprintf(err, errlen, "fleet CA: cannot write %s: %s", crt, strerror(errno));
	else {
		rv_log(RV_LOG_NOTICE, "fleet CA created in %s", dir);
		rc = 0;
	}
	X509_free(x);
	EVP_PKEY_free(pk);
	return rc;
}

static int ca_load(const char *dir, struct ca *ca, char *err, size_t errlen)
{
	char crt[RV_CTL_PATH], key[RV_CTL_PATH];
	if (rv_dp_ca_ensure(dir, err, errlen) < 0)
		return -1;
	path_in(crt, sizeof(crt), dir, "ca.crt");
	path_in(key, sizeof(key), dir, "ca.key");
	ca->crt = read_crt(crt);
	ca->key = read_key(key);
	if (!ca->crt || !ca->key) {
		snprintf(err, errlen, "fleet CA: cannot read %s and %s", crt, key);
		ca_free(ca);
		return -1;
	}
	return 0;
}

/* Issue a leaf into @crt/@key (key mode 0600). */
static int issue(const struct ca *ca, const char *cn, long days, const char *eku, const char *names,
		 const char *crt, const char *key, char *err, size_t errlen)
{
	EVP_PKEY *pk = EVP_EC_gen("P-256");
	X509 *x = pk ? make_cert(pk, cn, days, ca, eku, names) : NULL;
	int rc = -1;
	if (!x)
		snprintf(err, errlen, "fleet CA: cannot issue a certificate for %s", cn);
	else if (rv_x509_write_pem(key, 0600, NULL, pk) != 0 ||
		 rv_x509_write_pem(crt, 0644, x, NULL) != 0)
		snprintf(err, errlen, "cannot write %s: %s", crt, strerror(errno));
	else
		rc = 0;
	X509_free(x);
	EVP_PKEY_free(pk);
	return rc;
}

int rv_dp_ca_issue_client(const char *dir, const char *name, const char *out_dir, char *err,
			  size_t errlen)
{
	char crt[RV_CTL_PATH + 80], key[RV_CTL_PATH + 80], ca_copy[RV_CTL_PATH + 16];
	struct ca ca = {0};
	if (!rv_dp_ca_name_valid(name)) {
		snprintf(err, errlen, "'%s' is not a data-plane name (1..63 of A-Z a-z 0-9 . _ -)",
			 name);
		return -1;
	}
	if (rv_dp_ca_is_revoked(dir, name)) {
		snprintf(err, errlen, "'%s' is revoked (%s/revoked); choose another name", name,
			 dir);
		return -1;
	}
	if (mkdir(out_dir, 0700) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", out_dir, strerror(errno));
		return -1;
	}
	if (ca_load(dir, &ca, err, errlen) < 0)
		return -1;
	snprintf(crt, sizeof(crt), "%s/%s.crt", out_dir, name);
	snprintf(key, sizeof(key), "%s/%s.key", out_dir, name);
	snprintf(ca_copy, sizeof(ca_copy), "%s/ca.crt", out_dir);
	int rc = issue(&ca, name, RV_DP_CA_CLIENT_DAYS, "clientAuth", "", crt, key, err, errlen);
	if (rc == 0 && rv_x509_write_pem(ca_copy, 0644, ca.crt, NULL) != 0) {
		snprintf(err, errlen, "cannot write %s: %s", ca_copy, strerror(errno));
		rc = -1;
	}
	ca_free(&ca);
	return rc;
}

/* @x is signed by @ca, valid for another 30 days and covers every name. */
static bool server_cert_fits(X509 *x, const struct ca *ca, const char *names)
{
	char copy[512];
	if (!x || X509_verify(x, ca->key) != 1 ||
	    X509_cmp_time(X509_get0_notAfter(x), &(time_t){time(NULL) + 30 * DAY_S}) <= 0)
		return false;
	snprintf(copy, sizeof(copy), "%s", names);
	for (char *save = NULL, *t = strtok_r(copy, ", ", &save); t;
	     t = strtok_r(NULL, ", ", &save)) {
		unsigned char bin[16];
		bool ip = inet_pton(AF_INET, t, bin) == 1 || inet_pton(AF_INET6, t, bin) == 1;
		if ((ip ? X509_check_ip_asc(x, t, 0) : X509_check_host(x, t, 0, 0, NULL)) != 1)
			return false;
	}
	return true;
}

int rv_dp_ca_server_cert(const char *dir, const char *names, char *crt, char *key, size_t len,
			 char *err, size_t errlen)
{
	struct ca ca = {0};
	char cn[256];
	if (ca_load(dir, &ca, err, errlen) < 0)
		return -1;
	path_in(crt, len, dir, "server.crt");
	path_in(key, len, dir, "server.key");
	snprintf(cn, sizeof(cn), "%.*s", (int)strcspn(names, ", "), names);
	X509 *x = read_crt(crt);
	int rc = 0;
	if (!server_cert_fits(x, &ca, names) || access(key, R_OK) != 0) {
		rc = issue(&ca, cn[0] ? cn : "roomvpn-control", RV_DP_CA_DAYS, "serverAuth", names,
			   crt, key, err, errlen);
		if (rc == 0)
			rv_log(RV_LOG_NOTICE,
			       "fleet CA: issued the agent listener's certificate "
			       "for %s",
			       names);
	}
	X509_free(x);
	ca_free(&ca);
	return rc;
}

bool rv_dp_ca_is_revoked(const char *dir, const char *name)
{
	char path[RV_CTL_PATH], line[128];
	bool found = false;
	path_in(path, sizeof(path), dir, "revoked");
	FILE *f = fopen(path, "r");
	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		line[strcspn(line, " \t\r\n")] = '\0';
		found = line[0] && !strcmp(line, name);
	}
	fclose(f);
	return found;
}

int rv_dp_ca_revoke(const char *dir, const char *name, char *err, size_t errlen)
{
	char path[RV_CTL_PATH];
	if (!rv_dp_ca_name_valid(name)) {
		snprintf(err, errlen, "'%s' is not a data-plane name", name);
		return -1;
	}
	if (rv_dp_ca_ensure(dir, err, errlen) < 0)
		return -1;
	if (rv_dp_ca_is_revoked(dir, name))
		return 0;
	path_in(path, sizeof(path), dir, "revoked");
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	char line[80];
	int n = snprintf(line, sizeof(line), "%s\n", name);
	int rc = write(fd, line, (size_t)n) == n && fsync(fd) == 0 ? 0 : -1;
	if (rc < 0)
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
	close(fd);
	return rc;
}
