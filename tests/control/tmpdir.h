/* Temporary state directories for the control-plane unit tests. */
#ifndef RV_TEST_TMPDIR_H
#define RV_TEST_TMPDIR_H

#include <ftw.h>
#include <stdio.h>
#include <sys/stat.h>

static int rv_test_rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Remove @dir and everything below it (best effort: a test's clean-up). */
static inline void rv_test_tmpdir_remove(const char *dir)
{
	nftw(dir, rv_test_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
