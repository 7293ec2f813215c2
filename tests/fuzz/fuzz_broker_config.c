/* SPDX-License-Identifier: MIT */
/*
 * fuzz_broker_config.c - libFuzzer target for mqttrule-broker's
 * configuration-file parser (examples/broker/config.c, linked in by
 * tests/fuzz/CMakeLists.txt).
 *
 * The input is the file's text. It is written to an anonymous memory file
 * and loaded through /proc/self/fd/N with brk_config_load_file, as the
 * broker loads --config. A file that loads is finished (defaults applied)
 * and its rules are compiled into a fresh engine, as at start-up; the
 * rules-only reload path (SIGHUP) runs on the same text. Everything is
 * freed: ASan/LSan report any memory error or leak. The parser's error
 * messages go to stderr, which is closed for the run (-close_fd_mask=2).
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../../examples/broker/broker.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static broker_t b;
    char path[64], msg[512];
    const char *err = NULL;
    int fd = memfd_create("fuzz_broker_config", 0);
    if (fd < 0)
        __builtin_trap();
    if (size > 0 && write(fd, data, size) != (ssize_t)size)
        __builtin_trap();
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    memset(&b, 0, sizeof b);
    brk_config_defaults(&b.cfg);
    b.cfg.verbose = -1;
    if (brk_config_load_file(&b.cfg, path, 1) == 0) {
        brk_config_finish(&b.cfg);
        if (brk_events_create(&b, &err) != 0)
            __builtin_trap();
        (void)brk_events_load_rules(&b, &b.cfg, msg, sizeof msg);
        brk_config_free_rules(&b.cfg);
        (void)brk_config_load_file(&b.cfg, path, 2);
        brk_events_destroy(&b);
    }
    brk_config_free(&b.cfg);
    close(fd);
    return 0;
}
