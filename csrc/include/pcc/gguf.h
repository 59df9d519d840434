/* pcc/gguf.h: strict, read-only GGUF v3 (and v2) loader.
 *
 * A file is mapped read-only (PROT_READ) once and validated completely at open: header, every
 * metadata value (nested arrays included), the tensor table and every tensor's data range. After
 * a successful open nothing in the mapping is re-checked, so every accessor below is a bounds-safe
 * O(1) or O(log n) lookup. Hostile input yields PCC_E_FORMAT (PCC_E_UNSUPPORTED for a tensor type
 * this build does not know); it never crashes or aborts.
 *
 * Byte order: GGUF is little-endian; values returned here are converted to host order, except
 * pcc_gguf_get_arr_raw and pcc_gguf_kv_raw which return the file's bytes.
 *
 * Ownership: every pointer returned (names, strings, tensor data) points into memory owned by the
 * pcc_gguf object and stays valid until pcc_gguf_close. Strings read from metadata are NOT
 * NUL-terminated (they may contain NUL); keys and tensor names ARE NUL-terminated (NUL bytes in
 * them are refused at open). */
#ifndef PCC_GGUF_H
#define PCC_GGUF_H

#include <stdbool.h>
#include "pcc/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Limits enforced at open (hostile files). */
#define PCC_GGUF_MAX_DIMS 4               /* GGML_MAX_DIMS */
#define PCC_GGUF_MAX_NAME 63              /* tensor name bytes (ggml: < GGML_MAX_NAME = 64) */
#define PCC_GGUF_MAX_KEY 65535            /* metadata key bytes (GGUF spec: at most 2^16 - 1) */
#define PCC_GGUF_MAX_ARRAY_DEPTH 8        /* nesting of arrays inside arrays */
#define PCC_GGUF_DEFAULT_ALIGNMENT 32     /* when general.alignment is absent */

/* Metadata value types (gguf_metadata_value_type). */
enum {
    PCC_GGUF_VAL_UINT8 = 0,
    PCC_GGUF_VAL_INT8 = 1,
    PCC_GGUF_VAL_UINT16 = 2,
    PCC_GGUF_VAL_INT16 = 3,
    PCC_GGUF_VAL_UINT32 = 4,
    PCC_GGUF_VAL_INT32 = 5,
    PCC_GGUF_VAL_FLOAT32 = 6,
    PCC_GGUF_VAL_BOOL = 7,
    PCC_GGUF_VAL_STRING = 8,
    PCC_GGUF_VAL_ARRAY = 9,
    PCC_GGUF_VAL_UINT64 = 10,
    PCC_GGUF_VAL_INT64 = 11,
    PCC_GGUF_VAL_FLOAT64 = 12,
    PCC_GGUF_VAL_COUNT = 13
};

/* Tensor (ggml) types. Ids 4, 5, 31-33 and 36-38 were removed from ggml and are refused with
 * PCC_E_UNSUPPORTED, like any id >= PCC_GGUF_TYPE_COUNT. */
enum {
    PCC_GGUF_TYPE_F32 = 0,
    PCC_GGUF_TYPE_F16 = 1,
    PCC_GGUF_TYPE_Q4_0 = 2,
    PCC_GGUF_TYPE_Q4_1 = 3,
    PCC_GGUF_TYPE_Q5_0 = 6,
    PCC_GGUF_TYPE_Q5_1 = 7,
    PCC_GGUF_TYPE_Q8_0 = 8,
    PCC_GGUF_TYPE_Q8_1 = 9,
    PCC_GGUF_TYPE_Q2_K = 10,
    PCC_GGUF_TYPE_Q3_K = 11,
    PCC_GGUF_TYPE_Q4_K = 12,
    PCC_GGUF_TYPE_Q5_K = 13,
    PCC_GGUF_TYPE_Q6_K = 14,
    PCC_GGUF_TYPE_Q8_K = 15,
    PCC_GGUF_TYPE_IQ2_XXS = 16,
    PCC_GGUF_TYPE_IQ2_XS = 17,
    PCC_GGUF_TYPE_IQ3_XXS = 18,
    PCC_GGUF_TYPE_IQ1_S = 19,
    PCC_GGUF_TYPE_IQ4_NL = 20,
    PCC_GGUF_TYPE_IQ3_S = 21,
    PCC_GGUF_TYPE_IQ2_S = 22,
    PCC_GGUF_TYPE_IQ4_XS = 23,
    PCC_GGUF_TYPE_I8 = 24,
    PCC_GGUF_TYPE_I16 = 25,
    PCC_GGUF_TYPE_I32 = 26,
    PCC_GGUF_TYPE_I64 = 27,
    PCC_GGUF_TYPE_F64 = 28,
    PCC_GGUF_TYPE_IQ1_M = 29,
    PCC_GGUF_TYPE_BF16 = 30,
    PCC_GGUF_TYPE_TQ1_0 = 34,
    PCC_GGUF_TYPE_TQ2_0 = 35,
    PCC_GGUF_TYPE_MXFP4 = 39,
    PCC_GGUF_TYPE_NVFP4 = 40,
    PCC_GGUF_TYPE_Q1_0 = 41,
    PCC_GGUF_TYPE_COUNT = 42
};

/* pcc_gguf: an open, validated GGUF file (opaque). */
typedef struct pcc_gguf pcc_gguf;

/* pcc_gguf_tensor: one entry of the tensor table, validated at open. ne[i] is the number of
 * elements along dimension i (ne[0] is the innermost, contiguous one); dimensions past n_dims are
 * 1. data points at the tensor's first byte inside the read-only mapping (aligned to the file's
 * alignment relative to the mapping start, which is page-aligned for files); nbytes is the exact
 * size of the data (rows of ne[0] / block_size blocks of type_size bytes). offset is relative to
 * the start of the data section, as stored in the file. The struct and name belong to the
 * pcc_gguf object. WARNING: data is read-only; writing through it faults. */
typedef struct pcc_gguf_tensor {
    const char *name;
    uint32_t type;
    uint32_t n_dims;
    uint64_t ne[PCC_GGUF_MAX_DIMS];
    uint64_t offset;
    const uint8_t *data;
    uint64_t nbytes;
} pcc_gguf_tensor;

/* ---- tensor types ---- */

/* pcc_gguf_type_size returns the bytes of one block of tensor type `type` (4 for F32, 20 for
 * Q4_1), or 0 when the type is unknown or removed. */
PCC_API size_t pcc_gguf_type_size(uint32_t type);

/* pcc_gguf_block_size returns the elements per block of type `type` (1 for F32, 32 for Q4_1),
 * or 0 when the type is unknown or removed. */
PCC_API size_t pcc_gguf_block_size(uint32_t type);

/* pcc_gguf_type_name returns a static name ("Q4_1") for type, or NULL when unknown. */
PCC_API const char *pcc_gguf_type_name(uint32_t type);

/* pcc_gguf_row_size sets *out to the bytes of a row of ne0 elements of type `type`.
 * Returns PCC_E_UNSUPPORTED for an unknown type, PCC_E_FORMAT when ne0 is not a multiple of the
 * block size or the size overflows. */
PCC_API pcc_status pcc_gguf_row_size(uint32_t type, uint64_t ne0, uint64_t *out) PCC_WUR;

/* ---- open / close ---- */

/* pcc_gguf_open maps the file at path read-only and validates it completely; on success *out
 * owns the mapping (close it with pcc_gguf_close). Returns PCC_E_INVALID for NULL arguments or a
 * file that cannot be opened/mapped (not a regular file, I/O error), PCC_E_FORMAT for any
 * malformed content, PCC_E_UNSUPPORTED for an unknown GGUF version or tensor type, PCC_E_NOMEM.
 * On failure *out is NULL and nothing stays mapped. Thread-safe; the result is immutable and may
 * be shared between threads (and forked workers). */
PCC_API pcc_status pcc_gguf_open(pcc_gguf **out, const char *path) PCC_WUR;

/* pcc_gguf_open_memory is pcc_gguf_open on len bytes at data (for tests and fuzzers). The bytes
 * are copied into a private, page-aligned, then read-only buffer, so data may be freed after the
 * call. Same errors as pcc_gguf_open (PCC_E_FORMAT for len == 0). */
PCC_API pcc_status pcc_gguf_open_memory(pcc_gguf **out, const uint8_t *data, size_t len) PCC_WUR;

/* pcc_gguf_close unmaps the file and frees every table. Accepts NULL. WARNING: every pointer
 * obtained from g (tensors, names, strings, data) dangles afterwards. */
PCC_API void pcc_gguf_close(pcc_gguf *g);

/* pcc_gguf_version returns the file's GGUF version (3, or 2). */
PCC_API uint32_t pcc_gguf_version(const pcc_gguf *g);

/* pcc_gguf_alignment returns the data alignment in bytes (general.alignment or 32). */
PCC_API size_t pcc_gguf_alignment(const pcc_gguf *g);

/* pcc_gguf_file returns the whole mapped file (for hashing/measurement): *data and *len. */
PCC_API void pcc_gguf_file(const pcc_gguf *g, const uint8_t **data, size_t *len);

/* pcc_gguf_data_offset returns the file offset where the tensor data section starts. */
PCC_API uint64_t pcc_gguf_data_offset(const pcc_gguf *g);

/* ---- metadata: enumeration ---- */

/* pcc_gguf_kv_count returns the number of metadata key/value pairs. */
PCC_API size_t pcc_gguf_kv_count(const pcc_gguf *g);

/* pcc_gguf_kv_key returns the NUL-terminated key of pair i, or NULL when i is out of range. */
PCC_API const char *pcc_gguf_kv_key(const pcc_gguf *g, size_t i);

/* pcc_gguf_kv_type returns the PCC_GGUF_VAL_* type of pair i, or PCC_GGUF_VAL_COUNT when i is out
 * of range. */
PCC_API uint32_t pcc_gguf_kv_type(const pcc_gguf *g, size_t i);

/* pcc_gguf_kv_raw sets *raw and *len to the encoded value of pair i exactly as in the file (after the
 * type tag: for a string the u64 length and bytes, for an array the element type, u64 count and
 * elements). The bytes were validated at open, so a pcc_reader over them cannot fail on a
 * well-formed walk. Returns PCC_E_INVALID when i is out of range. */
PCC_API pcc_status pcc_gguf_kv_raw(const pcc_gguf *g, size_t i, const uint8_t **raw,
                                   size_t *len) PCC_WUR;

/* pcc_gguf_find_key sets *i to the index of key (binary search over an index sorted at open, so
 * a hostile file cannot force quadratic work). Returns PCC_E_UNKNOWN_KEY when there is none. */
PCC_API pcc_status pcc_gguf_find_key(const pcc_gguf *g, const char *key, size_t *i) PCC_WUR;

/* ---- metadata: typed getters by key ----
 * Each returns PCC_E_UNKNOWN_KEY when the key is absent and PCC_E_FORMAT when the value has an
 * incompatible type or does not fit the requested type; *out is written only on PCC_OK.
 * Integer getters accept any integer value type (UINT8..INT64) whose value fits. */

/* pcc_gguf_get_u32 reads an integer value that fits in uint32_t. */
PCC_API pcc_status pcc_gguf_get_u32(const pcc_gguf *g, const char *key, uint32_t *out) PCC_WUR;
/* pcc_gguf_get_i32 reads an integer value that fits in int32_t. */
PCC_API pcc_status pcc_gguf_get_i32(const pcc_gguf *g, const char *key, int32_t *out) PCC_WUR;
/* pcc_gguf_get_u64 reads a non-negative integer value. */
PCC_API pcc_status pcc_gguf_get_u64(const pcc_gguf *g, const char *key, uint64_t *out) PCC_WUR;
/* pcc_gguf_get_i64 reads an integer value that fits in int64_t. */
PCC_API pcc_status pcc_gguf_get_i64(const pcc_gguf *g, const char *key, int64_t *out) PCC_WUR;
/* pcc_gguf_get_f32 reads a FLOAT32 value, or a FLOAT64 one converted to float. */
PCC_API pcc_status pcc_gguf_get_f32(const pcc_gguf *g, const char *key, float *out) PCC_WUR;
/* pcc_gguf_get_f64 reads a FLOAT32 or FLOAT64 value as double. */
PCC_API pcc_status pcc_gguf_get_f64(const pcc_gguf *g, const char *key, double *out) PCC_WUR;
/* pcc_gguf_get_bool reads a BOOL value (the file byte must be 0 or 1; checked at open). */
PCC_API pcc_status pcc_gguf_get_bool(const pcc_gguf *g, const char *key, bool *out) PCC_WUR;
/* pcc_gguf_get_str sets *s and *len to a STRING value (not NUL-terminated, not checked for UTF-8). */
PCC_API pcc_status pcc_gguf_get_str(const pcc_gguf *g, const char *key, const char **s,
                                    size_t *len) PCC_WUR;

/* ---- metadata: arrays by key ----
 * These return PCC_E_UNKNOWN_KEY for an absent key, PCC_E_FORMAT when the value is not an array
 * or its elements have an incompatible type, PCC_E_INVALID when index >= the element count. */

/* pcc_gguf_get_arr sets *elem_type (PCC_GGUF_VAL_*) and *n (element count) of an ARRAY value. */
PCC_API pcc_status pcc_gguf_get_arr(const pcc_gguf *g, const char *key, uint32_t *elem_type,
                                    size_t *n) PCC_WUR;

/* pcc_gguf_get_arr_raw sets *data and *n for an array of fixed-size elements of type elem_type
 * (anything but STRING and ARRAY): *data points at n little-endian elements in the mapping, with
 * NO alignment guarantee (use memcpy). Fails with PCC_E_FORMAT if the element type differs. */
PCC_API pcc_status pcc_gguf_get_arr_raw(const pcc_gguf *g, const char *key, uint32_t elem_type,
                                        const uint8_t **data, size_t *n) PCC_WUR;

/* pcc_gguf_get_arr_i64 reads element index of an integer array (any integer element type that
 * fits int64_t; UINT64 values above INT64_MAX give PCC_E_FORMAT). */
PCC_API pcc_status pcc_gguf_get_arr_i64(const pcc_gguf *g, const char *key, size_t index,
                                        int64_t *out) PCC_WUR;

/* pcc_gguf_get_arr_f32 reads element index of a FLOAT32 (or FLOAT64, converted) array. */
PCC_API pcc_status pcc_gguf_get_arr_f32(const pcc_gguf *g, const char *key, size_t index,
                                        float *out) PCC_WUR;

/* pcc_gguf_get_arr_str sets *s and *len to element index of a STRING array in O(1) (an offset index
 * for every top-level string array is built at open). Not NUL-terminated. */
PCC_API pcc_status pcc_gguf_get_arr_str(const pcc_gguf *g, const char *key, size_t index,
                                        const char **s, size_t *len) PCC_WUR;

/* ---- tensors ---- */

/* pcc_gguf_tensor_count returns the number of tensors. */
PCC_API size_t pcc_gguf_tensor_count(const pcc_gguf *g);

/* pcc_gguf_tensor_at returns tensor i in file order, or NULL when i is out of range. */
PCC_API const pcc_gguf_tensor *pcc_gguf_tensor_at(const pcc_gguf *g, size_t i);

/* pcc_gguf_find_tensor sets *out to the tensor named name (binary search; names are unique).
 * Returns PCC_E_UNKNOWN_KEY when there is none. */
PCC_API pcc_status pcc_gguf_find_tensor(const pcc_gguf *g, const char *name,
                                        const pcc_gguf_tensor **out) PCC_WUR;

#ifdef __cplusplus
}
#endif
#endif
