/* pcc/common.h: status codes and attributes shared by every pcc C module. */
#ifndef PCC_COMMON_H
#define PCC_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* pcc_status: what every fallible function returns. PCC_OK is zero. */
typedef enum pcc_status {
    PCC_OK = 0,
    PCC_E_INVALID = 1,     /* caller passed a bad argument (wrong length, bad id) */
    PCC_E_FORMAT = 2,      /* input is malformed or truncated */
    PCC_E_VERIFY = 3,      /* a signature or proof did not verify (no detail) */
    PCC_E_DECRYPT = 4,     /* authenticated decryption failed (no detail) */
    PCC_E_NOMEM = 5,       /* allocation failed */
    PCC_E_CRYPTO = 6,      /* an OpenSSL primitive failed unexpectedly */
    PCC_E_STATE = 7,       /* object used in the wrong state (sequence overflow, reuse) */
    PCC_E_LIMIT = 8,       /* a size or count limit was exceeded */
    PCC_E_UNSUPPORTED = 9, /* algorithm or suite not supported / not offered */
    PCC_E_UNKNOWN_KEY = 10 /* key identifier not known */
} pcc_status;

#define PCC_WUR __attribute__((warn_unused_result))
#define PCC_API __attribute__((visibility("default")))

/* pcc_status_name returns a static string naming a status ("PCC_E_FORMAT"). */
PCC_API const char *pcc_status_name(pcc_status st);

#ifdef __cplusplus
}
#endif
#endif
