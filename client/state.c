#include "state.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "config.h"

static int mkdir_p(const char *path, char *err, size_t errlen)
{
	char tmp[RV_STATE_PATH];

	snprintf(tmp, sizeof(tmp), "%s", path);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
			goto err;
		*p = '/';
	}
	if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
		goto err;
	return 0;
err:
	snprintf(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
	return -1;
}

int rv_state_dir(const char *override, char *out, size_t len, char *err, size_t errlen)
{
	const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
	int n;

	if (override && *override)
		n = snprintf(out, len, "%s", override);
	else if (xdg && *xdg)
		n = snprintf(out, len, "%s/roomvpn", xdg);
	else if (home && *home)
		n = snprintf(out, len, "%s/.config/roomvpn", home);
	else {
		snprintf(err, errlen,
			 "no config directory: set HOME, XDG_CONFIG_HOME or --config-dir");
		return -1;
	}
	if (n < 0 || (size_t)n >= len || (size_t)n >= RV_STATE_PATH - 32) {
		snprintf(err, errlen, "config directory path too long");
		return -1;
	}
	return mkdir_p(out, err, errlen);
}

#define STR_FIELD(name)                                                                            \
	{                                                                                          \
#name, offsetof(struct rv_login, name), sizeof(((struct rv_login *)0)->name)       \
	}
static const struct {
	const char *key;
	size_t off, size;
} str_fields[] = {
    STR_FIELD(server),	 STR_FIELD(ca_file),	   STR_FIELD(tls_name),
    STR_FIELD(username), STR_FIELD(session_token), STR_FIELD(device_token),
};

static int load_cb(void *arg, const char *key, const char *value, char *err, size_t errlen)
{
	struct rv_login *l = arg;

	for (size_t i = 0; i < sizeof(str_fields) / sizeof(str_fields[0]); i++) {
		if (strcmp(key, str_fields[i].key) == 0) {
			snprintf((char *)l + str_fields[i].off, str_fields[i].size, "%s", value);
			return 0;
		}
	}
	if (!strcmp(key, "fingerprint")) {
		uint8_t fp[RV_FP_LEN];
		if (rv_fp_parse(value, fp) < 0) {
			snprintf(err, errlen, "bad fingerprint '%s'; log in again", value);
			return -1;
		}
		rv_pinset_add(&l->pins, fp);
	} else if (!strcmp(key, "session_expires"))
		l->session_expires = strtoull(value, NULL, 10);
	else if (!strcmp(key, "device_expires"))
		l->device_expires = strtoull(value, NULL, 10);
	else if (!strcmp(key, "user_id"))
		l->user_id = strtoull(value, NULL, 10);
	else if (!strcmp(key, "device_id"))
		l->device_id = strtoull(value, NULL, 10);
	else if (!strcmp(key, "admin"))
		return rv_parse_bool(value, &l->admin, err, errlen);
	/* unknown keys are ignored: files from newer clients still load */
	return 0;
}

/* The login holds the session and device tokens: readable by its owner
 * only. A looser mode (copied by hand, a umask-less editor) is warned
 * about and put back to 0600. */
static void fix_mode(const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0 || (st.st_mode & 0077) == 0)
		return;
	fprintf(stderr, "roomvpn: warning: %s was mode %04o, readable by others; set to 0600\n",
		path, (unsigned)(st.st_mode & 07777));
	if (chmod(path, 0600) < 0)
		fprintf(stderr, "roomvpn: warning: cannot chmod %s: %s\n", path, strerror(errno));
}

int rv_login_load(const char *dir, struct rv_login *l, char *err, size_t errlen)
{
	char path[RV_STATE_PATH + 16];

	memset(l, 0, sizeof(*l));
	snprintf(path, sizeof(path), "%s/login.conf", dir);
	if (access(path, F_OK) < 0)
		return 1;
	fix_mode(path);
	return rv_config_load(path, load_cb, l, err, errlen) < 0 ? -1 : 0;
}

static int write_fields(FILE *f, const struct rv_login *l)
{
	for (size_t i = 0; i < sizeof(str_fields) / sizeof(str_fields[0]); i++) {
		const char *v = (const char *)l + str_fields[i].off;
		if (*v)
			fprintf(f, "%s = %s\n", str_fields[i].key, v);
	}
	for (unsigned i = 0; i < l->pins.n; i++) {
		char fp[RV_FP_STR];
		rv_fp_format(l->pins.fp[i], fp);
		fprintf(f, "fingerprint = %s\n", fp);
	}
	fprintf(f,
		"session_expires = %" PRIu64 "\ndevice_expires = %" PRIu64 "\nuser_id = %" PRIu64
		"\ndevice_id = %" PRIu64 "\nadmin = %s\n",
		l->session_expires, l->device_expires, l->user_id, l->device_id,
		l->admin ? "true" : "false");
	return ferror(f) ? -1 : 0;
}

int rv_login_save(const char *dir, const struct rv_login *l, char *err, size_t errlen)
{
	char path[RV_STATE_PATH + 16], tmp[RV_STATE_PATH + 32];
	FILE *f;
	int fd, rc;

	snprintf(path, sizeof(path), "%s/login.conf", dir);
	snprintf(tmp, sizeof(tmp), "%s/.login.conf.%d", dir, (int)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!f) {
		snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	fprintf(f, "# roomvpn login state: holds secrets, keep it 0600\n");
	rc = write_fields(f, l);
	if (fflush(f) != 0 || fsync(fileno(f)) != 0)
		rc = -1;
	if (fclose(f) != 0)
		rc = -1;
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -1;
	if (rc < 0) {
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
		unlink(tmp);
	}
	return rc;
}

bool rv_login_learn_pin(struct rv_login *l, const char *fp)
{
	uint8_t bin[RV_FP_LEN];

	if (!fp || !*fp || l->pins.n == 0 || rv_fp_parse(fp, bin) < 0)
		return false;
	return rv_pinset_add(&l->pins, bin);
}

int rv_login_remove(const char *dir, char *err, size_t errlen)
{
	char path[RV_STATE_PATH + 16];

	snprintf(path, sizeof(path), "%s/login.conf", dir);
	if (unlink(path) < 0 && errno != ENOENT) {
		snprintf(err, errlen, "cannot remove %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

int rv_run_path(const char *dir, const char *room, const char *ext, char *out, size_t len)
{
	char run[RV_STATE_PATH + 8], err[64];
	int n;

	if (!*room || strchr(room, '/') || room[0] == '.')
		return -1;
	snprintf(run, sizeof(run), "%s/run", dir);
	if (mkdir_p(run, err, sizeof(err)) < 0)
		return -1;
	n = snprintf(out, len, "%s/%s.%s", run, room, ext);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}
