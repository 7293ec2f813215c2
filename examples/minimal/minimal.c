/* SPDX-License-Identifier: MIT */
/*
 * minimal.c - the smallest program using the installed library: it prints the
 * library version and the name of a status code. tests/install/run.sh builds
 * it against an installed tree with pkg-config to prove install works.
 */
#include <stdio.h>
#include <string.h>

#include <mqttrule.h>

int main(void)
{
    printf("mqttrule %s\n", mqr_version());
    printf("%s: %s\n", mqr_status_name(MQR_NEED_MORE), mqr_strerror(MQR_NEED_MORE));
    return strcmp(mqr_version(), MQR_VERSION_STRING) == 0 ? 0 : 1;
}
