/* Compiler attribute wrappers used across geosteer.
 * Header-only; safe to include from any module or process. */
#ifndef GS_COMMON_COMPILER_H
#define GS_COMMON_COMPILER_H

#define GS_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#define GS_NORETURN __attribute__((noreturn))
#define GS_WARN_UNUSED __attribute__((warn_unused_result))
#define GS_MALLOC __attribute__((malloc))
#define GS_LIKELY(x) __builtin_expect(!!(x), 1)
#define GS_UNLIKELY(x) __builtin_expect(!!(x), 0)

#endif
