/* unicode_tables.h: Unicode classes for the tokenizer's pre-tokenizer (private to csrc/llm).
 * The data is generated into unicode_tables.c by scripts/gen_unicode_tables.py. */
#ifndef PCC_LLM_UNICODE_TABLES_H
#define PCC_LLM_UNICODE_TABLES_H

#include <stddef.h>
#include <stdint.h>

/* Classes: OTHER is everything not listed in the table. */
enum { PCC_UC_OTHER = 0, PCC_UC_L = 1, PCC_UC_N = 2, PCC_UC_S = 3 };

/* One run of code points [first, last] of class cls; the table is sorted and disjoint. */
typedef struct pcc_uc_range {
    uint32_t first;
    uint32_t last;
    uint8_t cls;
} pcc_uc_range;

extern const pcc_uc_range pcc_uc_ranges[];
extern const size_t pcc_uc_ranges_len;
/* pcc_uc_ascii[c] is the class of ASCII code point c (same data as the ranges). */
extern const uint8_t pcc_uc_ascii[128];
/* The Unicode version the table was generated from ("14.0.0"). */
extern const char pcc_uc_version[];

#endif
