/* pcc/tokenizer.h: GPT-2 byte-level BPE tokenizer built from GGUF metadata.
 *
 * Reads tokenizer.ggml.model ("gpt2"), .pre ("smollm", "gpt2"; others PCC_E_UNSUPPORTED),
 * .tokens, .merges, .token_type and the bos/eos/eot/padding ids. Encoding matches llama.cpp and
 * Hugging Face tokenizers for the same vocabulary: special tokens are split out first, the rest is
 * pre-tokenized with the pre-tokenizer's regexes (implemented by hand over a Unicode category
 * table), mapped through GPT-2's byte-to-unicode table and merged by rank.
 *
 * The tokenizer is immutable after pcc_tokenizer_new_from_gguf: encode and decode may run on many
 * threads at once. It copies what it needs, so the pcc_gguf may be closed afterwards.
 *
 * Privacy: encode's working memory (which holds prompt text) is a pcc_secure allocation wiped
 * before return; the streaming decoder's pending bytes live in secure memory too. */
#ifndef PCC_TOKENIZER_H
#define PCC_TOKENIZER_H

#include <stdbool.h>
#include "pcc/common.h"
#include "pcc/gguf.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Token types (tokenizer.ggml.token_type values, llama.cpp's llama_token_type). */
enum {
    PCC_TOKEN_UNDEFINED = 0,
    PCC_TOKEN_NORMAL = 1,
    PCC_TOKEN_UNKNOWN = 2,
    PCC_TOKEN_CONTROL = 3,      /* special: matched in text only when parse_special */
    PCC_TOKEN_USER_DEFINED = 4, /* added token: always matched in text, decoded verbatim */
    PCC_TOKEN_UNUSED = 5,
    PCC_TOKEN_BYTE = 6
};

/* Pre-tokenizers (tokenizer.ggml.pre). */
enum {
    PCC_TOKENIZER_PRE_GPT2 = 0,   /* "gpt2" (and "default"): the GPT-2 regex */
    PCC_TOKENIZER_PRE_SMOLLM = 1, /* "smollm": each digit alone, then the GPT-2 regex */
    PCC_TOKENIZER_PRE_QWEN2 = 2   /* "qwen2" (Qwen2, Qwen2.5, Qwen3): Qwen2's regex */
};

/* Limits. */
#define PCC_TOKENIZER_MAX_VOCAB (1u << 24)  /* tokens */
#define PCC_TOKENIZER_MAX_TOKEN_LEN 4096    /* bytes of one vocabulary entry */

/* pcc_tokenizer: an immutable BPE vocabulary (opaque). */
typedef struct pcc_tokenizer pcc_tokenizer;

/* pcc_tokenizer_new_from_gguf builds a tokenizer from g's tokenizer.ggml.* metadata; *out owns
 * it (free with pcc_tokenizer_free). Returns PCC_E_UNSUPPORTED for a tokenizer model other than
 * "gpt2" or an unknown pre-tokenizer, PCC_E_FORMAT for missing or inconsistent metadata (a merge
 * naming unknown tokens or not of the form "a b", duplicate tokens, ids out of range, a token
 * that is not valid byte-level text), PCC_E_LIMIT past PCC_TOKENIZER_MAX_*, PCC_E_NOMEM. */
PCC_API pcc_status pcc_tokenizer_new_from_gguf(pcc_tokenizer **out, const pcc_gguf *g) PCC_WUR;

/* pcc_tokenizer_free releases t. Accepts NULL. */
PCC_API void pcc_tokenizer_free(pcc_tokenizer *t);

/* pcc_tokenizer_vocab_size returns the number of tokens (ids are 0 .. vocab_size - 1). */
PCC_API size_t pcc_tokenizer_vocab_size(const pcc_tokenizer *t);

/* pcc_tokenizer_pre returns the PCC_TOKENIZER_PRE_* pre-tokenizer in use. */
PCC_API int pcc_tokenizer_pre(const pcc_tokenizer *t);

/* pcc_tokenizer_bos returns the beginning-of-sequence id, or -1 when the file names none. */
PCC_API int32_t pcc_tokenizer_bos(const pcc_tokenizer *t);

/* pcc_tokenizer_eos returns the end-of-sequence id, or -1 when the file names none. */
PCC_API int32_t pcc_tokenizer_eos(const pcc_tokenizer *t);

/* pcc_tokenizer_pad returns the padding id, or -1 when the file names none. */
PCC_API int32_t pcc_tokenizer_pad(const pcc_tokenizer *t);

/* pcc_tokenizer_add_bos returns tokenizer.ggml.add_bos_token (false when absent). Encode never
 * adds BOS itself; callers prepend pcc_tokenizer_bos when this is true. */
PCC_API bool pcc_tokenizer_add_bos(const pcc_tokenizer *t);

/* pcc_tokenizer_is_eog returns true when id ends generation: eos, eot, eom, or a CONTROL token
 * whose text is one of <|im_end|>, <|endoftext|>, <|eot_id|>, <|eom_id|>, <|end|>,
 * <end_of_turn> (llama.cpp's end-of-generation set). False for ids out of range. */
PCC_API bool pcc_tokenizer_is_eog(const pcc_tokenizer *t, int32_t id);

/* pcc_tokenizer_token_type returns id's PCC_TOKEN_* type, or -1 for an id out of range. */
PCC_API int pcc_tokenizer_token_type(const pcc_tokenizer *t, int32_t id);

/* pcc_tokenizer_token_id sets *id to the token whose vocabulary text is exactly the len bytes at
 * text (vocabulary text is byte-level encoded for normal tokens, e.g. "Ġthe"; special tokens
 * are plain, e.g. "<|im_end|>"). Returns PCC_E_UNKNOWN_KEY when there is none. */
PCC_API pcc_status pcc_tokenizer_token_id(const pcc_tokenizer *t, const char *text, size_t len,
                                          int32_t *id) PCC_WUR;

/* pcc_tokenizer_token_text sets *text and *len to id's vocabulary text as stored in the file (not
 * NUL-terminated; owned by t). Returns PCC_E_INVALID for an id out of range. */
PCC_API pcc_status pcc_tokenizer_token_text(const pcc_tokenizer *t, int32_t id, const char **text,
                                            size_t *len) PCC_WUR;

/* pcc_tokenizer_max_piece_len returns the largest number of bytes any single token decodes to
 * (with special tokens rendered): a buffer of this size always fits one piece. */
PCC_API size_t pcc_tokenizer_max_piece_len(const pcc_tokenizer *t);

/* pcc_tokenizer_encode tokenizes len bytes of text and writes the ids to ids[0 .. *n_ids). Text
 * should be UTF-8; a byte that does not start a valid sequence is pre-tokenized as one "other"
 * character, so decode restores it. A byte for which the vocabulary has no token is dropped, as
 * Hugging Face and llama.cpp do (SmolLM2 lacks 21 of the 256, e.g. 0x04 and 0xFF). With parse_special
 * true, CONTROL tokens spelled in the text ("<|im_start|>") become their ids; USER_DEFINED tokens
 * always do. No BOS/EOS is added. When more than max_ids ids are needed it returns PCC_E_LIMIT
 * with *n_ids set to the number needed (ids holds the first max_ids), so the caller can retry.
 * ids may be NULL when max_ids is 0. Returns PCC_E_INVALID for NULL arguments, PCC_E_NOMEM. */
PCC_API pcc_status pcc_tokenizer_encode(const pcc_tokenizer *t, const char *text, size_t len,
                                        bool parse_special, int32_t *ids, size_t *n_ids,
                                        size_t max_ids) PCC_WUR;

/* pcc_tokenizer_token_to_piece writes the bytes token id stands for: normal tokens are mapped
 * back through the byte-level table, USER_DEFINED tokens are written verbatim, CONTROL (and
 * UNKNOWN/UNUSED) tokens are written verbatim only when special is true and are empty otherwise.
 * The bytes may be a partial UTF-8 sequence. Returns PCC_E_INVALID for an id out of range,
 * PCC_E_LIMIT when more than max_out bytes are needed (*out_len then holds the size needed). */
PCC_API pcc_status pcc_tokenizer_token_to_piece(const pcc_tokenizer *t, int32_t id, bool special,
                                                uint8_t *out, size_t *out_len,
                                                size_t max_out) PCC_WUR;

/* pcc_tokenizer_decode writes the concatenated pieces of n ids (see token_to_piece) to out.
 * Returns PCC_E_INVALID for an id out of range, PCC_E_LIMIT when more than max_out bytes are
 * needed (*out_len then holds the size needed and out is unspecified). */
PCC_API pcc_status pcc_tokenizer_decode(const pcc_tokenizer *t, const int32_t *ids, size_t n,
                                        bool special, uint8_t *out, size_t *out_len,
                                        size_t max_out) PCC_WUR;

/* pcc_tokenizer_decoder: streaming decoder that only ever emits whole UTF-8 characters, holding
 * back up to 3 bytes of an incomplete sequence across tokens (an emoji split over byte tokens).
 * Bytes that can never start or continue a valid sequence are emitted as they are. One decoder
 * per stream; not thread-safe. */
typedef struct pcc_tokenizer_decoder pcc_tokenizer_decoder;

/* pcc_tokenizer_decoder_new makes a decoder for t (which must outlive it); special says whether
 * CONTROL tokens are rendered. Free with pcc_tokenizer_decoder_free. */
PCC_API pcc_status pcc_tokenizer_decoder_new(pcc_tokenizer_decoder **out, const pcc_tokenizer *t,
                                             bool special) PCC_WUR;

/* pcc_tokenizer_decoder_push adds token id and writes the bytes now complete to out
 * (*out_len may be 0). A buffer of pcc_tokenizer_max_piece_len(t) + 4 bytes always suffices.
 * Returns PCC_E_INVALID for an id out of range and PCC_E_LIMIT when out is too small; in both
 * cases the decoder's state is unchanged. */
PCC_API pcc_status pcc_tokenizer_decoder_push(pcc_tokenizer_decoder *d, int32_t id, uint8_t *out,
                                              size_t *out_len, size_t max_out) PCC_WUR;

/* pcc_tokenizer_decoder_flush writes any held-back bytes (an incomplete sequence at the end of
 * the stream, at most 3 bytes) and resets the decoder. PCC_E_LIMIT if max_out is too small. */
PCC_API pcc_status pcc_tokenizer_decoder_flush(pcc_tokenizer_decoder *d, uint8_t *out,
                                               size_t *out_len, size_t max_out) PCC_WUR;

/* pcc_tokenizer_decoder_pending returns how many bytes are held back (0..3). */
PCC_API size_t pcc_tokenizer_decoder_pending(const pcc_tokenizer_decoder *d);

/* pcc_tokenizer_decoder_free wipes and releases d. Accepts NULL. */
PCC_API void pcc_tokenizer_decoder_free(pcc_tokenizer_decoder *d);

#ifdef __cplusplus
}
#endif
#endif
