/* SPDX-License-Identifier: MIT */
/*
 * func_list.h - the built-in SQL functions (spec §7), one line each:
 *   X("sql name", c_name, min_args, max_args, flags)
 * The C implementation of a line is mqr__func_sql_<c_name> (several names may
 * share one implementation: timezone_to_offset_seconds / timezone_to_second).
 * Not API.
 *
 * ORDER: lines are sorted by SQL name in byte order (strcmp), because
 * func_table.c builds its binary-searched table from this list; the unit test
 * func_table.sorted_and_unique checks it. Adding a function is one line here
 * plus its code in one of lib/func_*.c.
 *
 * Flags: MQR__FUNC_PURE only for functions whose result depends on nothing
 * but their arguments (no clock, no RNG, no environment, no columns, no engine
 * option); MQR__FUNC_CONTEXT for the §7.1 helpers that read columns.
 */
#ifndef MQR_FUNC_LIST_H
#define MQR_FUNC_LIST_H

#include "mqr_config.h"

/* Lines of functions that need zlib (func_zlib.c): in the table only when
 * the build has zlib; otherwise their names are D9's "not supported". */
#if MQR_HAVE_ZLIB
#define MQR__FUNC_ZLIB(X, ...) X(__VA_ARGS__)
#else
#define MQR__FUNC_ZLIB(X, ...)
#endif

#define MQR__FUNC_LIST(X) \
    X("abs", abs, 1, 1, MQR__FUNC_PURE) \
    X("acos", acos, 1, 1, MQR__FUNC_PURE) \
    X("acosh", acosh, 1, 1, MQR__FUNC_PURE) \
    X("ascii", ascii, 1, 1, MQR__FUNC_PURE) \
    X("asin", asin, 1, 1, MQR__FUNC_PURE) \
    X("asinh", asinh, 1, 1, MQR__FUNC_PURE) \
    X("atan", atan, 1, 1, MQR__FUNC_PURE) \
    X("atanh", atanh, 1, 1, MQR__FUNC_PURE) \
    X("base64_decode", base64_decode, 1, 3, MQR__FUNC_PURE) \
    X("base64_encode", base64_encode, 1, 3, MQR__FUNC_PURE) \
    X("bin2hexstr", bin2hexstr, 1, 2, MQR__FUNC_PURE) \
    X("bitand", bitand, 2, 2, MQR__FUNC_PURE) \
    X("bitnot", bitnot, 1, 1, MQR__FUNC_PURE) \
    X("bitor", bitor, 2, 2, MQR__FUNC_PURE) \
    X("bitsize", bitsize, 1, 1, MQR__FUNC_PURE) \
    X("bitsl", bitsl, 2, 2, MQR__FUNC_PURE) \
    X("bitsr", bitsr, 2, 2, MQR__FUNC_PURE) \
    X("bitxor", bitxor, 2, 2, MQR__FUNC_PURE) \
    X("bool", bool, 1, 1, MQR__FUNC_PURE) \
    X("bytesize", bytesize, 1, 1, MQR__FUNC_PURE) \
    X("ceil", ceil, 1, 1, MQR__FUNC_PURE) \
    X("clientid", clientid, 0, 0, MQR__FUNC_CONTEXT) \
    X("clientip", clientip, 0, 0, MQR__FUNC_CONTEXT) \
    X("coalesce", coalesce, 1, MQR__FUNC_VARIADIC, MQR__FUNC_PURE) \
    X("coalesce_ne", coalesce_ne, 1, MQR__FUNC_VARIADIC, MQR__FUNC_PURE) \
    X("concat", concat, 1, MQR__FUNC_VARIADIC, MQR__FUNC_PURE) \
    X("contains", contains, 2, 2, MQR__FUNC_PURE) \
    X("contains_topic", contains_topic, 2, 3, MQR__FUNC_PURE) \
    X("contains_topic_match", contains_topic_match, 2, 3, MQR__FUNC_PURE) \
    X("cos", cos, 1, 1, MQR__FUNC_PURE) \
    X("cosh", cosh, 1, 1, MQR__FUNC_PURE) \
    X("date_to_unix_ts", date_to_unix_ts, 3, 4, 0) \
    X("div", div, 2, 2, MQR__FUNC_PURE) \
    X("eq", eq, 2, 2, MQR__FUNC_PURE) \
    X("exp", exp, 1, 1, MQR__FUNC_PURE) \
    X("find", find, 2, 3, MQR__FUNC_PURE) \
    X("first", first, 1, 1, MQR__FUNC_PURE) \
    X("flag", flag, 1, 1, MQR__FUNC_CONTEXT) \
    X("flags", flags, 0, 0, MQR__FUNC_CONTEXT) \
    X("float", float, 1, 2, MQR__FUNC_PURE) \
    X("float2str", float2str, 2, 2, MQR__FUNC_PURE) \
    X("floor", floor, 1, 1, MQR__FUNC_PURE) \
    X("fmod", fmod, 2, 2, MQR__FUNC_PURE) \
    X("format_date", format_date, 3, 4, 0) \
    X("getenv", getenv, 1, 1, 0) \
    MQR__FUNC_ZLIB(X, "gunzip", gunzip, 1, 1, MQR__FUNC_PURE) \
    MQR__FUNC_ZLIB(X, "gzip", gzip, 1, 1, MQR__FUNC_PURE) \
    X("hash", hash, 2, 2, MQR__FUNC_PURE) \
    X("hexstr2bin", hexstr2bin, 1, 2, MQR__FUNC_PURE) \
    X("int", int, 1, 1, MQR__FUNC_PURE) \
    X("is_array", is_array, 1, 1, MQR__FUNC_PURE) \
    X("is_bool", is_bool, 1, 1, MQR__FUNC_PURE) \
    X("is_empty", is_empty, 1, 1, MQR__FUNC_PURE) \
    X("is_float", is_float, 1, 1, MQR__FUNC_PURE) \
    X("is_int", is_int, 1, 1, MQR__FUNC_PURE) \
    X("is_map", is_map, 1, 1, MQR__FUNC_PURE) \
    X("is_not_null", is_not_null, 1, 1, MQR__FUNC_PURE) \
    X("is_not_null_var", is_not_null_var, 1, 1, MQR__FUNC_PURE) \
    X("is_null", is_null, 1, 1, MQR__FUNC_PURE) \
    X("is_null_var", is_null_var, 1, 1, MQR__FUNC_PURE) \
    X("is_num", is_num, 1, 1, MQR__FUNC_PURE) \
    X("is_str", is_str, 1, 1, MQR__FUNC_PURE) \
    X("join_to_sql_values_string", join_to_sql_values_string, 1, 1, MQR__FUNC_PURE) \
    X("join_to_string", join_to_string, 1, 2, MQR__FUNC_PURE) \
    X("json_decode", json_decode, 1, 1, MQR__FUNC_PURE) \
    X("json_encode", json_encode, 1, 1, 0) \
    X("last", last, 1, 1, MQR__FUNC_PURE) \
    X("length", length, 1, 1, MQR__FUNC_PURE) \
    X("log", log, 1, 1, MQR__FUNC_PURE) \
    X("log10", log10, 1, 1, MQR__FUNC_PURE) \
    X("log2", log2, 1, 1, MQR__FUNC_PURE) \
    X("lower", lower, 1, 1, MQR__FUNC_PURE) \
    X("ltrim", ltrim, 1, 2, MQR__FUNC_PURE) \
    X("map", map, 1, 1, MQR__FUNC_PURE) \
    X("map_get", map_get, 2, 3, MQR__FUNC_PURE) \
    X("map_keys", map_keys, 1, 1, MQR__FUNC_PURE) \
    X("map_new", map_new, 0, 0, MQR__FUNC_PURE) \
    X("map_put", map_put, 3, 3, MQR__FUNC_PURE) \
    X("map_size", map_size, 1, 1, MQR__FUNC_PURE) \
    X("map_to_entries", map_to_entries, 1, 1, MQR__FUNC_PURE) \
    X("map_to_redis_hset_args", map_to_redis_hset_args, 1, 1, MQR__FUNC_PURE) \
    X("map_values", map_values, 1, 1, MQR__FUNC_PURE) \
    X("md5", md5, 1, 1, MQR__FUNC_PURE) \
    X("mget", mget, 2, 3, MQR__FUNC_PURE) \
    X("mod", mod, 2, 2, MQR__FUNC_PURE) \
    X("mput", mput, 3, 3, MQR__FUNC_PURE) \
    X("msgid", msgid, 0, 0, MQR__FUNC_CONTEXT) \
    X("now_rfc3339", now_rfc3339, 0, 1, 0) \
    X("now_timestamp", now_timestamp, 0, 1, 0) \
    X("nth", nth, 2, 2, MQR__FUNC_PURE) \
    X("null", null, 0, 0, MQR__FUNC_PURE) \
    X("pad", pad, 2, 4, MQR__FUNC_PURE) \
    X("payload", payload, 0, 1, MQR__FUNC_CONTEXT) \
    X("peerhost", peerhost, 0, 0, MQR__FUNC_CONTEXT) \
    X("power", power, 2, 2, MQR__FUNC_PURE) \
    X("qos", qos, 0, 0, MQR__FUNC_CONTEXT) \
    X("random", random, 0, 0, 0) \
    X("regex_extract", regex_extract, 2, 2, MQR__FUNC_PURE) \
    X("regex_match", regex_match, 2, 2, MQR__FUNC_PURE) \
    X("regex_replace", regex_replace, 3, 3, MQR__FUNC_PURE) \
    X("replace", replace, 3, 4, MQR__FUNC_PURE) \
    X("reverse", reverse, 1, 1, MQR__FUNC_PURE) \
    X("rfc3339_to_unix_ts", rfc3339_to_unix_ts, 1, 2, MQR__FUNC_PURE) \
    X("rm_prefix", rm_prefix, 2, 2, MQR__FUNC_PURE) \
    X("round", round, 1, 1, MQR__FUNC_PURE) \
    X("rtrim", rtrim, 1, 2, MQR__FUNC_PURE) \
    X("sha", sha, 1, 1, MQR__FUNC_PURE) \
    X("sha256", sha256, 1, 1, MQR__FUNC_PURE) \
    X("sin", sin, 1, 1, MQR__FUNC_PURE) \
    X("sinh", sinh, 1, 1, MQR__FUNC_PURE) \
    X("split", split, 2, 3, MQR__FUNC_PURE) \
    X("sprintf", sprintf, 1, MQR__FUNC_VARIADIC, MQR__FUNC_PURE) \
    X("sprintf_s", sprintf_s, 2, 2, MQR__FUNC_PURE) \
    X("sqlserver_bin2hexstr", sqlserver_bin2hexstr, 1, 1, MQR__FUNC_PURE) \
    X("sqrt", sqrt, 1, 1, MQR__FUNC_PURE) \
    X("str", str, 1, 1, MQR__FUNC_PURE) \
    X("str_utf16_le", str_utf16_le, 1, 1, MQR__FUNC_PURE) \
    X("str_utf8", str_utf8, 1, 1, MQR__FUNC_PURE) \
    X("strlen", strlen, 1, 1, MQR__FUNC_PURE) \
    X("subbits", subbits, 2, 6, MQR__FUNC_PURE) \
    X("sublist", sublist, 2, 3, MQR__FUNC_PURE) \
    X("substr", substr, 2, 3, MQR__FUNC_PURE) \
    X("tan", tan, 1, 1, MQR__FUNC_PURE) \
    X("tanh", tanh, 1, 1, MQR__FUNC_PURE) \
    X("timezone_to_offset_seconds", timezone_to_second, 1, 1, 0) \
    X("timezone_to_second", timezone_to_second, 1, 1, 0) \
    X("tokens", tokens, 2, 3, MQR__FUNC_PURE) \
    X("topic", topic, 0, 1, MQR__FUNC_CONTEXT) \
    X("trim", trim, 1, 2, MQR__FUNC_PURE) \
    X("unescape", unescape, 1, 1, MQR__FUNC_PURE) \
    X("unix_ts_to_rfc3339", unix_ts_to_rfc3339, 1, 2, 0) \
    MQR__FUNC_ZLIB(X, "unzip", unzip, 1, 1, MQR__FUNC_PURE) \
    X("upper", upper, 1, 1, MQR__FUNC_PURE) \
    X("username", username, 0, 0, MQR__FUNC_CONTEXT) \
    X("uuid_v4", uuid_v4, 0, 0, 0) \
    X("uuid_v4_no_hyphen", uuid_v4_no_hyphen, 0, 0, 0) \
    MQR__FUNC_ZLIB(X, "zip", zip, 1, 1, MQR__FUNC_PURE) \
    MQR__FUNC_ZLIB(X, "zip_compress", zip_compress, 1, 1, MQR__FUNC_PURE) \
    MQR__FUNC_ZLIB(X, "zip_uncompress", zip_uncompress, 1, 1, MQR__FUNC_PURE)

#endif /* MQR_FUNC_LIST_H */
