/* status.c: names for pcc_status values. */
#include "pcc/common.h"

const char *pcc_status_name(pcc_status st)
{
    switch (st) {
    case PCC_OK: return "PCC_OK";
    case PCC_E_INVALID: return "PCC_E_INVALID";
    case PCC_E_FORMAT: return "PCC_E_FORMAT";
    case PCC_E_VERIFY: return "PCC_E_VERIFY";
    case PCC_E_DECRYPT: return "PCC_E_DECRYPT";
    case PCC_E_NOMEM: return "PCC_E_NOMEM";
    case PCC_E_CRYPTO: return "PCC_E_CRYPTO";
    case PCC_E_STATE: return "PCC_E_STATE";
    case PCC_E_LIMIT: return "PCC_E_LIMIT";
    case PCC_E_UNSUPPORTED: return "PCC_E_UNSUPPORTED";
    case PCC_E_UNKNOWN_KEY: return "PCC_E_UNKNOWN_KEY";
    }
    return "PCC_E_UNKNOWN";
}
