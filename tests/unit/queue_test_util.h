/* SPDX-License-Identifier: MIT */
/*
 * queue_test_util.h - helpers of the durable queue's tests: remove a test
 * directory with its files (and empty subdirectories).
 */
#ifndef MQR_QUEUE_TEST_UTIL_H
#define MQR_QUEUE_TEST_UTIL_H

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static inline void rm_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    char p[512];
    while ((de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        if (unlink(p) != 0)
            rmdir(p);
    }
    closedir(d);
    rmdir(dir);
}

#endif /* MQR_QUEUE_TEST_UTIL_H */
