/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "internal.h"
#include "mqttrule.h"

Test(common, version_matches_macros)
{
    cr_assert_str_eq(mqr_version(), MQR_VERSION_STRING);
    cr_assert_eq(mqr_version_number(), (uint32_t)MQR_VERSION_NUMBER);
}

Test(common, status_names_and_messages)
{
    cr_assert_eq(MQR_OK, 0);
    cr_assert_gt(MQR_NEED_MORE, 0);
    cr_assert_lt(MQR_ENOMEM, 0);
    cr_assert_str_eq(mqr_status_name(MQR_OK), "MQR_OK");
    cr_assert_str_eq(mqr_status_name(MQR_EMALFORMED), "MQR_EMALFORMED");
    cr_assert_str_eq(mqr_status_name(12345), "MQR_UNKNOWN");
    cr_assert_str_eq(mqr_strerror(MQR_EBUFFER), "output buffer too small");
    cr_assert_str_eq(mqr_strerror(-12345), "unknown status");
}

Test(common, diag_set_and_clear)
{
    mqr_diag_t d;
    cr_assert_eq(mqr__diag_set(&d, MQR_EINVAL, "bad %s at %d", "thing", 7), MQR_EINVAL);
    cr_assert_eq(d.code, MQR_EINVAL);
    cr_assert_str_eq(d.message, "bad thing at 7");
    cr_assert_eq(d.reason_code, -1);
    mqr_diag_clear(&d);
    cr_assert_eq(d.code, 0);
    cr_assert_str_eq(d.message, "");
    mqr_diag_clear(NULL);
    cr_assert_eq(mqr__diag_set(NULL, MQR_ENOMEM, "x"), MQR_ENOMEM);
}

static size_t live;
static void *counting_alloc(void *ud, void *ptr, size_t old_size, size_t new_size)
{
    (void)ud;
    live -= ptr ? old_size : 0;
    if (new_size == 0) {
        free(ptr);
        return NULL;
    }
    void *p = realloc(ptr, new_size);
    live += p ? new_size : (ptr ? old_size : 0);
    return p;
}

Test(common, allocator_hook_is_used)
{
    mqr_allocator_t a = {counting_alloc, NULL};
    char *s = mqr__strndup(&a, "hello", 5);
    cr_assert_str_eq(s, "hello");
    cr_assert_eq(live, 6);
    s = mqr__realloc(&a, s, 6, 100);
    cr_assert_eq(live, 100);
    mqr__free(&a, s, 100);
    cr_assert_eq(live, 0);
    cr_assert_null(mqr__calloc(&a, SIZE_MAX / 2, 4));
}

Test(common, strerror_r_helper)
{
    char buf[128];
    cr_assert_eq(mqr__strerror_r(ENOENT, buf, sizeof buf), buf);
    cr_assert_str_eq(buf, strerror(ENOENT));
    char small[4];
    cr_assert_eq(strlen(mqr__strerror_r(ENOENT, small, sizeof small)), 3u);
    cr_assert_eq(strncmp(small, strerror(ENOENT), 3), 0);
    cr_assert_gt(strlen(mqr__strerror_r(123456, buf, sizeof buf)), 0u);
    cr_assert_str_eq(mqr__strerror_r(ENOENT, NULL, 10), "");
    cr_assert_str_eq(mqr__strerror_r(ENOENT, buf, 0), "");
}

Test(common, random_seed_is_non_zero_and_varies)
{
    int a = 0;
    uint64_t s1 = mqr__random_seed(&a), s2 = mqr__random_seed(&a);
    cr_assert_neq(s1, 0u);
    cr_assert_neq(s1, s2);
}
