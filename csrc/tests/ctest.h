/* ctest.h: the few helpers the C tests share (no framework): CHECK, hex decoding, a summary.
 * Each test program includes it once, calls its test functions from main and returns
 * ctest_done("name"). */
#ifndef PCC_CTEST_H
#define PCC_CTEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pcc/common.h"

static int ctest_failures;

#define CHECK(cond)                                                                     \
    do {                                                                                \
        if (!(cond)) {                                                                  \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);    \
            ctest_failures++;                                                           \
        }                                                                               \
    } while (0)

/* CHECK_ST checks that a call returned the wanted status and names both when it did not. */
#define CHECK_ST(call, want)                                                            \
    do {                                                                                \
        pcc_status ctest_st_ = (call);                                                  \
        if (ctest_st_ != (want)) {                                                      \
            fprintf(stderr, "%s:%d: %s returned %s, want %s\n", __FILE__, __LINE__,     \
                    #call, pcc_status_name(ctest_st_), pcc_status_name(want));          \
            ctest_failures++;                                                           \
        }                                                                               \
    } while (0)

static inline int ctest_nibble(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* unhex decodes the NUL-terminated hex string s into out (room for max bytes) and returns the
 * length; a malformed string or one that does not fit aborts the test program (a test bug). */
static inline size_t unhex(uint8_t *out, size_t max, const char *s)
{
    size_t n = strlen(s);
    if (n % 2 != 0 || n / 2 > max) {
        fprintf(stderr, "unhex: bad test vector (%zu hex digits, room for %zu bytes)\n", n, max);
        abort();
    }
    for (size_t i = 0; i < n / 2; i++) {
        int hi = ctest_nibble(s[2 * i]), lo = ctest_nibble(s[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            fprintf(stderr, "unhex: bad hex digit in a test vector\n");
            abort();
        }
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return n / 2;
}

/* hex_eq returns 1 if the n bytes at p are the hex string s. */
static inline int hex_eq(const uint8_t *p, size_t n, const char *s)
{
    uint8_t buf[4096];
    return strlen(s) == 2 * n && n <= sizeof buf && unhex(buf, sizeof buf, s) == n &&
           memcmp(buf, p, n) == 0;
}

/* ctest_done prints the summary line and returns the exit status for main. */
static inline int ctest_done(const char *name)
{
    if (ctest_failures) {
        fprintf(stderr, "%s: %d check(s) failed\n", name, ctest_failures);
        return 1;
    }
    printf("%s: all passed\n", name);
    return 0;
}

#endif
