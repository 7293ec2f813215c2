/* SPDX-License-Identifier: MIT */
/*
 * mqttrule/abi.h - layout introspection: the size of each public struct and
 * the offset and size of each of its fields, as the library was compiled.
 *
 * For bindings that mirror the public structs by hand (the Python package
 * mirrors them with ctypes): they compare their mirror with these answers
 * when they load, so a header change that the mirror did not follow fails
 * loudly instead of corrupting memory.
 *
 * Names are the C typedef names ("mqr_diag_t") and the C member names
 * ("message"); a nested struct is one field (its own layout is covered
 * under its own name). The covered structs are those a binding passes by value or
 * reads field by field: see lib/abi.c for the list (one X-macro list, from
 * which every answer is generated).
 *
 * Threads: every function is pure (constant tables) and thread-safe.
 */
#ifndef MQTTRULE_ABI_H
#define MQTTRULE_ABI_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** sizeof the public struct named `struct_name` (e.g. "mqr_diag_t"); 0 when
 *  the name is NULL or not a struct this table covers. */
MQR_API size_t mqr_abi_struct_size(const char *struct_name);

/** The offset of `field_name` in `struct_name` into *out_offset. MQR_OK,
 *  MQR_EINVAL (a NULL argument; *out_offset untouched) or MQR_ENOTFOUND
 *  (unknown struct or field; *out_offset untouched). */
MQR_API int mqr_abi_field_offset(const char *struct_name, const char *field_name,
                                 size_t *out_offset);

/** sizeof the field `field_name` of `struct_name`; 0 when either is NULL or
 *  unknown. */
MQR_API size_t mqr_abi_field_size(const char *struct_name, const char *field_name);

/** The name of the index-th field (0, 1, ..., declaration order) of
 *  `struct_name`, NULL past the last or when the struct is NULL or unknown:
 *  lets a binding find the fields its mirror lacks. The string is static. */
MQR_API const char *mqr_abi_field_name(const char *struct_name, size_t index);

/** The name of the index-th covered struct (0, 1, ...), NULL past the last:
 *  lets a binding find the structs it does not mirror. The string is
 *  static. */
MQR_API const char *mqr_abi_struct_name(size_t index);

#ifdef __cplusplus
}
#endif

#endif /* MQTTRULE_ABI_H */
