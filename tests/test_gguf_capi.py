"""The C API of pcc/gguf.h and pcc/tokenizer.h called directly (ctypes on the extension, which
exports the PCC_API symbols): typed getters and their coercion rules, and the PCC_E_LIMIT
contracts (retry sizes, decoder state unchanged) that the inference engine relies on."""
from __future__ import annotations

import ctypes as C
import struct

import pytest

from pcc import _core
from pcc._internal.model_cache import default_model_path

from gguf_build import valid_small

OK, INVALID, FORMAT, LIMIT, UNSUPPORTED, UNKNOWN_KEY = 0, 1, 2, 8, 9, 10

lib = C.CDLL(_core.__file__)


class Tensor(C.Structure):
    _fields_ = [("name", C.c_char_p), ("type", C.c_uint32), ("n_dims", C.c_uint32),
                ("ne", C.c_uint64 * 4), ("offset", C.c_uint64), ("data", C.c_void_p),
                ("nbytes", C.c_uint64)]


def _sig(name, res, *args):
    f = getattr(lib, name)
    f.restype = res
    f.argtypes = list(args)
    return f


P = C.c_void_p
open_memory = _sig("pcc_gguf_open_memory", C.c_int, C.POINTER(P), C.c_char_p, C.c_size_t)
close = _sig("pcc_gguf_close", None, P)
get_u32 = _sig("pcc_gguf_get_u32", C.c_int, P, C.c_char_p, C.POINTER(C.c_uint32))
get_i32 = _sig("pcc_gguf_get_i32", C.c_int, P, C.c_char_p, C.POINTER(C.c_int32))
get_u64 = _sig("pcc_gguf_get_u64", C.c_int, P, C.c_char_p, C.POINTER(C.c_uint64))
get_i64 = _sig("pcc_gguf_get_i64", C.c_int, P, C.c_char_p, C.POINTER(C.c_int64))
get_f32 = _sig("pcc_gguf_get_f32", C.c_int, P, C.c_char_p, C.POINTER(C.c_float))
get_bool = _sig("pcc_gguf_get_bool", C.c_int, P, C.c_char_p, C.POINTER(C.c_bool))
get_str = _sig("pcc_gguf_get_str", C.c_int, P, C.c_char_p, C.POINTER(C.c_void_p),
               C.POINTER(C.c_size_t))
get_arr = _sig("pcc_gguf_get_arr", C.c_int, P, C.c_char_p, C.POINTER(C.c_uint32),
               C.POINTER(C.c_size_t))
get_arr_raw = _sig("pcc_gguf_get_arr_raw", C.c_int, P, C.c_char_p, C.c_uint32,
                   C.POINTER(C.c_void_p), C.POINTER(C.c_size_t))
get_arr_i64 = _sig("pcc_gguf_get_arr_i64", C.c_int, P, C.c_char_p, C.c_size_t,
                   C.POINTER(C.c_int64))
get_arr_f32 = _sig("pcc_gguf_get_arr_f32", C.c_int, P, C.c_char_p, C.c_size_t,
                   C.POINTER(C.c_float))
get_arr_str = _sig("pcc_gguf_get_arr_str", C.c_int, P, C.c_char_p, C.c_size_t,
                   C.POINTER(C.c_void_p), C.POINTER(C.c_size_t))
tensor_count = _sig("pcc_gguf_tensor_count", C.c_size_t, P)
tensor_at = _sig("pcc_gguf_tensor_at", C.POINTER(Tensor), P, C.c_size_t)
find_tensor = _sig("pcc_gguf_find_tensor", C.c_int, P, C.c_char_p, C.POINTER(C.POINTER(Tensor)))
row_size = _sig("pcc_gguf_row_size", C.c_int, C.c_uint32, C.c_uint64, C.POINTER(C.c_uint64))

tok_new = _sig("pcc_tokenizer_new_from_gguf", C.c_int, C.POINTER(P), P)
tok_free = _sig("pcc_tokenizer_free", None, P)
encode = _sig("pcc_tokenizer_encode", C.c_int, P, C.c_char_p, C.c_size_t, C.c_bool,
              C.POINTER(C.c_int32), C.POINTER(C.c_size_t), C.c_size_t)
decode = _sig("pcc_tokenizer_decode", C.c_int, P, C.POINTER(C.c_int32), C.c_size_t, C.c_bool,
              C.c_char_p, C.POINTER(C.c_size_t), C.c_size_t)
to_piece = _sig("pcc_tokenizer_token_to_piece", C.c_int, P, C.c_int32, C.c_bool, C.c_char_p,
                C.POINTER(C.c_size_t), C.c_size_t)
dec_new = _sig("pcc_tokenizer_decoder_new", C.c_int, C.POINTER(P), P, C.c_bool)
dec_push = _sig("pcc_tokenizer_decoder_push", C.c_int, P, C.c_int32, C.c_char_p,
                C.POINTER(C.c_size_t), C.c_size_t)
dec_flush = _sig("pcc_tokenizer_decoder_flush", C.c_int, P, C.c_char_p, C.POINTER(C.c_size_t),
                 C.c_size_t)
dec_pending = _sig("pcc_tokenizer_decoder_pending", C.c_size_t, P)
dec_free = _sig("pcc_tokenizer_decoder_free", None, P)


@pytest.fixture
def small():
    data = valid_small()
    g = P()
    assert open_memory(C.byref(g), data, len(data)) == OK
    yield g
    close(g)


def test_integer_getters_coerce_within_range(small):
    u32, i32, u64, i64 = C.c_uint32(), C.c_int32(), C.c_uint64(), C.c_int64()
    assert get_u32(small, b"test.u32", C.byref(u32)) == OK and u32.value == 7
    assert get_i64(small, b"test.u32", C.byref(i64)) == OK and i64.value == 7
    assert get_i32(small, b"test.i8", C.byref(i32)) == OK and i32.value == -3
    assert get_i64(small, b"test.i8", C.byref(i64)) == OK and i64.value == -3
    u32.value = 99
    assert get_u32(small, b"test.i8", C.byref(u32)) == FORMAT and u32.value == 99  # negative
    assert get_u64(small, b"test.i8", C.byref(u64)) == FORMAT
    assert get_u32(small, b"general.architecture", C.byref(u32)) == FORMAT  # a string
    assert get_u32(small, b"test.f64", C.byref(u32)) == FORMAT  # a float
    assert get_u32(small, b"missing", C.byref(u32)) == UNKNOWN_KEY


def test_other_getters(small):
    f, b = C.c_float(), C.c_bool()
    s, n = C.c_void_p(), C.c_size_t()
    assert get_f32(small, b"test.f64", C.byref(f)) == OK and f.value == 2.5
    assert get_f32(small, b"test.u32", C.byref(f)) == FORMAT
    assert get_bool(small, b"test.flag", C.byref(b)) == OK and b.value is True
    assert get_bool(small, b"test.u32", C.byref(b)) == FORMAT
    assert get_str(small, b"general.architecture", C.byref(s), C.byref(n)) == OK
    assert C.string_at(s, n.value) == b"test"
    assert get_str(small, b"test.u32", C.byref(s), C.byref(n)) == FORMAT


def test_array_getters(small):
    et, n = C.c_uint32(), C.c_size_t()
    assert get_arr(small, b"test.strs", C.byref(et), C.byref(n)) == OK and (et.value, n.value) == (8, 3)
    assert get_arr(small, b"test.u32", C.byref(et), C.byref(n)) == FORMAT
    s, ln = C.c_void_p(), C.c_size_t()
    assert get_arr_str(small, b"test.strs", 1, C.byref(s), C.byref(ln)) == OK
    assert C.string_at(s, ln.value) == b"bc"
    assert get_arr_str(small, b"test.strs", 2, C.byref(s), C.byref(ln)) == OK and ln.value == 0
    assert get_arr_str(small, b"test.strs", 3, C.byref(s), C.byref(ln)) == INVALID
    assert get_arr_str(small, b"test.ints", 0, C.byref(s), C.byref(ln)) == FORMAT
    v = C.c_int64()
    assert get_arr_i64(small, b"test.ints", 1, C.byref(v)) == OK and v.value == -2
    assert get_arr_i64(small, b"test.ints", 3, C.byref(v)) == INVALID
    assert get_arr_i64(small, b"test.strs", 0, C.byref(v)) == FORMAT
    f = C.c_float()
    assert get_arr_f32(small, b"test.ints", 0, C.byref(f)) == FORMAT
    raw = C.c_void_p()
    assert get_arr_raw(small, b"test.ints", 5, C.byref(raw), C.byref(n)) == OK and n.value == 3
    assert struct.unpack("<3i", C.string_at(raw, 12)) == (1, -2, 3)
    assert get_arr_raw(small, b"test.ints", 4, C.byref(raw), C.byref(n)) == FORMAT  # not UINT32
    assert get_arr_raw(small, b"test.strs", 8, C.byref(raw), C.byref(n)) == FORMAT
    assert get_arr(small, b"nope", C.byref(et), C.byref(n)) == UNKNOWN_KEY


def test_tensor_table(small):
    assert tensor_count(small) == 2
    t = C.POINTER(Tensor)()
    assert find_tensor(small, b"a", C.byref(t)) == OK
    a = t.contents
    assert a.name == b"a" and a.type == 0 and a.n_dims == 2 and list(a.ne) == [4, 2, 1, 1]
    assert a.nbytes == 32 and C.string_at(a.data, 32) == struct.pack("<8f", *range(8))
    assert find_tensor(small, b"zz", C.byref(t)) == UNKNOWN_KEY
    assert not tensor_at(small, 2)
    assert tensor_at(small, 1).contents.name == b"b"


def test_row_size():
    out = C.c_uint64()
    assert row_size(3, 64, C.byref(out)) == OK and out.value == 40  # Q4_1
    assert row_size(0, 7, C.byref(out)) == OK and out.value == 28  # F32
    assert row_size(3, 33, C.byref(out)) == FORMAT
    assert row_size(4, 32, C.byref(out)) == UNSUPPORTED
    assert row_size(0, 2**63, C.byref(out)) == FORMAT  # overflow


@pytest.fixture(scope="module")
def smol_tok():
    data = open(default_model_path(), "rb").read()
    g = P()
    assert open_memory(C.byref(g), data, len(data)) == OK
    t = P()
    assert tok_new(C.byref(t), g) == OK
    close(g)  # the tokenizer keeps its own copies
    yield t
    tok_free(t)


def _encode(t, text, cap, special=True):
    ids = (C.c_int32 * max(cap, 1))()
    n = C.c_size_t(12345)
    st = encode(t, text, len(text), special, ids if cap else None, C.byref(n), cap)
    return st, n.value, list(ids[:min(n.value, cap)])


def test_encode_limit_reports_needed_count(smol_tok):
    text = "Hello, world! <|im_end|> 123 😀".encode()
    st, n, full = _encode(smol_tok, text, 100)
    assert st == OK and n == len(full)
    st2, n2, part = _encode(smol_tok, text, 3)
    assert st2 == LIMIT and n2 == n and part == full[:3]
    st3, n3, _ = _encode(smol_tok, text, 0)
    assert st3 == LIMIT and n3 == n
    st4, n4, _ = _encode(smol_tok, b"", 0)
    assert st4 == OK and n4 == 0


def test_decode_and_piece_limits(smol_tok):
    _, n, ids = _encode(smol_tok, "héllo wörld".encode(), 64)
    arr = (C.c_int32 * n)(*ids)
    out = C.create_string_buffer(64)
    ln = C.c_size_t()
    assert decode(smol_tok, arr, n, False, out, C.byref(ln), 64) == OK
    assert out.raw[:ln.value] == "héllo wörld".encode()
    assert decode(smol_tok, arr, n, False, out, C.byref(ln), 3) == LIMIT and ln.value == 13
    bad = (C.c_int32 * 1)(49152)
    assert decode(smol_tok, bad, 1, False, out, C.byref(ln), 64) == INVALID
    assert to_piece(smol_tok, 2, True, out, C.byref(ln), 4) == LIMIT and ln.value == 10
    assert to_piece(smol_tok, 2, False, out, C.byref(ln), 0) == OK and ln.value == 0
    assert to_piece(smol_tok, -1, True, out, C.byref(ln), 64) == INVALID


def test_decoder_limit_keeps_state(smol_tok):
    emoji = "🧑🏿‍💻".encode()
    _, n, ids = _encode(smol_tok, emoji, 64)
    d = P()
    assert dec_new(C.byref(d), smol_tok, False) == OK
    out = C.create_string_buffer(256)
    ln = C.c_size_t()
    got, limited, held = b"", 0, 0
    for i in ids:
        # a zero-size buffer fails only when there is something to emit, and changes nothing
        before = dec_pending(d)
        st = dec_push(d, i, out, C.byref(ln), 0)
        if st == LIMIT:
            limited += 1
            assert ln.value > 0 and dec_pending(d) == before
            assert dec_push(d, i, out, C.byref(ln), 256) == OK
            got += out.raw[:ln.value]
        else:
            assert st == OK and ln.value == 0
            held += 1
        assert dec_pending(d) <= 3
    assert limited and held
    assert dec_flush(d, out, C.byref(ln), 4) == OK
    got += out.raw[:ln.value]
    assert got == emoji
    assert dec_push(d, 10**6, out, C.byref(ln), 256) == INVALID
    dec_free(d)
