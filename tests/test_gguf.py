"""GGUF loader: valid files written with the `gguf` package, one named test per validation rule,
and a hypothesis fuzz test over mutations of a small valid file."""
from __future__ import annotations

import struct

import gguf
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pcc import _core
from pcc.errors import FormatError, InvalidArgument, UnknownKeyError, UnsupportedError

from gguf_build import (ARR, BOOL, F32, F64, I8, I32, STR, U8, U32, U64, build, gstr, kv, tinfo,
                        valid_small)

GGUFFile = _core.GGUFFile


def open_bytes(data: bytes):
    return GGUFFile.from_bytes(data)


# ---------------------------------------------------------------- valid files


def write_with_gguf(path, tensors, extra=None):
    w = gguf.GGUFWriter(str(path), arch="test")
    w.add_uint8("t.u8", 200)
    w.add_int8("t.i8", -100)
    w.add_uint16("t.u16", 60000)
    w.add_int16("t.i16", -30000)
    w.add_uint32("t.u32", 4_000_000_000)
    w.add_int32("t.i32", -2_000_000_000)
    w.add_uint64("t.u64", 2**64 - 1)
    w.add_int64("t.i64", -(2**63))
    w.add_float32("t.f32", 1.5)
    w.add_float64("t.f64", -0.125)
    w.add_bool("t.bool", True)
    w.add_string("t.str", "héllo ✓")
    w.add_array("t.arr_i", [1, 2, 3])
    w.add_array("t.arr_s", ["x", "yy", "zzz"])
    w.add_array("t.arr_f", [0.5, 1.5])
    w.add_array("t.nested", [[1, 2], [3]])
    for k, v in (extra or {}).items():
        w.add_uint32(k, v)
    for name, arr, qtype in tensors:
        w.add_tensor(name, arr, raw_dtype=qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def test_open_file_written_by_gguf_package(tmp_path):
    rng = np.random.default_rng(1)
    f32 = rng.standard_normal((3, 64), dtype=np.float32)
    f16 = rng.standard_normal((5, 32)).astype(np.float16)
    q8 = gguf.quants.quantize(rng.standard_normal((2, 64), dtype=np.float32),
                              gguf.GGMLQuantizationType.Q8_0)
    q41 = gguf.quants.quantize(rng.standard_normal((4, 96), dtype=np.float32),
                               gguf.GGMLQuantizationType.Q4_1)
    tensors = [("w.f32", f32, None), ("w.f16", f16, None),
               ("w.q8", q8, gguf.GGMLQuantizationType.Q8_0),
               ("w.q41", q41, gguf.GGMLQuantizationType.Q4_1)]
    path = tmp_path / "t.gguf"
    write_with_gguf(path, tensors)
    g = GGUFFile(path)
    assert g.version == 3 and g.alignment == 32
    assert g.get("general.architecture") == "test"
    md = g.metadata
    assert md["t.u8"] == 200 and md["t.i8"] == -100 and md["t.u16"] == 60000
    assert md["t.i16"] == -30000 and md["t.u32"] == 4_000_000_000 and md["t.i32"] == -2_000_000_000
    assert md["t.u64"] == 2**64 - 1 and md["t.i64"] == -(2**63)
    assert md["t.f32"] == 1.5 and md["t.f64"] == -0.125 and md["t.bool"] is True
    assert md["t.str"] == "héllo ✓"
    assert md["t.arr_i"] == [1, 2, 3] and md["t.arr_s"] == ["x", "yy", "zzz"]
    assert md["t.arr_f"] == [0.5, 1.5] and md["t.nested"] == [[1, 2], [3]]
    assert g.value_type("t.arr_s") == (9, 8) and g.value_type("t.u8") == (0, None)
    assert g.get("missing", 42) == 42
    by_name = {t["name"]: t for t in g.tensors}
    assert by_name["w.f32"]["shape"] == (64, 3) and by_name["w.f32"]["type_name"] == "F32"
    assert by_name["w.f16"]["shape"] == (32, 5) and by_name["w.f16"]["nbytes"] == 5 * 32 * 2
    assert by_name["w.q8"]["shape"] == (64, 2) and by_name["w.q8"]["nbytes"] == 2 * 2 * 34
    assert by_name["w.q41"]["shape"] == (96, 4) and by_name["w.q41"]["nbytes"] == 4 * 3 * 20
    assert g.tensor_bytes("w.f32") == f32.tobytes()
    assert g.tensor_bytes("w.f16") == f16.tobytes()
    assert g.tensor_bytes("w.q8") == q8.tobytes()
    assert g.tensor_bytes("w.q41") == q41.tobytes()
    for t in g.tensors:
        assert t["offset"] % 32 == 0
    # the same bytes through from_bytes give the same view
    g2 = GGUFFile.from_bytes(path.read_bytes())
    assert g2.metadata == md and g2.tensors == g.tensors
    # cross-check against gguf's own reader
    r = gguf.GGUFReader(str(path))
    assert [t.name for t in r.tensors] == [t["name"] for t in g.tensors]
    assert g.data_offset == r.data_offset


def test_custom_alignment(tmp_path):
    path = tmp_path / "a.gguf"
    w = gguf.GGUFWriter(str(path), arch="test")
    w.add_custom_alignment(64)
    w.add_tensor("x", np.arange(3, dtype=np.float32))
    w.add_tensor("y", np.arange(5, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    g = GGUFFile(path)
    assert g.alignment == 64 and g.data_offset % 64 == 0
    assert [t["offset"] for t in g.tensors] == [0, 64]
    assert g.tensor_bytes("y") == np.arange(5, dtype=np.float32).tobytes()


def test_type_table_matches_gguf_package():
    for t, (block, size) in gguf.constants.GGML_QUANT_SIZES.items():
        if t == gguf.GGMLQuantizationType.Q8_1:
            # gguf-py says 40 (two floats); ggml's block_q8_1 is two halves + 32 = 36
            assert GGUFFile.type_info(t.value) == ("Q8_1", 32, 36)
            continue
        assert GGUFFile.type_info(t.value) == (t.name, block, size), t.name
    for removed in (4, 5, 31, 32, 33, 36, 37, 38, 42, 2**31):
        with pytest.raises(UnsupportedError):
            GGUFFile.type_info(removed)


def test_builder_small_file_opens():
    g = open_bytes(valid_small())
    assert g.get("test.strs") == ["a", "bc", ""]
    assert g.get("test.nested") == [[1, 2], []]
    assert g.get("test.flag") is True and g.get("test.i8") == -3
    assert g.tensor_bytes("a") == struct.pack("<8f", *range(8))
    assert g.tensor("b")["shape"] == (8,)


def test_version_2_accepted():
    data = bytearray(valid_small())
    data[4:8] = struct.pack("<I", 2)
    assert open_bytes(bytes(data)).version == 2


def test_no_tensors_no_padding():
    g = open_bytes(build([kv("k", U32, 1)], []))
    assert g.tensors == [] and g.get("k") == 1


def test_tensors_in_any_order():
    a = struct.pack("<8f", *range(8))
    infos = [tinfo("late", [8], 0, 32), tinfo("early", [8], 0, 0)]
    g = open_bytes(build([], infos, a + a))
    assert [t["name"] for t in g.tensors] == ["late", "early"]


def test_open_missing_path(tmp_path):
    with pytest.raises(InvalidArgument):
        GGUFFile(tmp_path / "nope.gguf")


def test_open_directory(tmp_path):
    with pytest.raises(InvalidArgument):
        GGUFFile(tmp_path)


def test_unknown_key_and_tensor():
    g = open_bytes(valid_small())
    with pytest.raises(UnknownKeyError):
        g.tensor("zzz")
    with pytest.raises(UnknownKeyError):
        g.value_type("zzz")


# ---------------------------------------------------------------- one test per rule


def test_empty_file(tmp_path):
    (tmp_path / "e.gguf").write_bytes(b"")
    with pytest.raises(FormatError):
        GGUFFile(tmp_path / "e.gguf")
    with pytest.raises(FormatError):
        open_bytes(b"")


@pytest.mark.parametrize("n", range(0, 24))
def test_truncated_header(n):
    with pytest.raises(FormatError):
        open_bytes(valid_small()[:n])


def test_truncated_anywhere():
    data = valid_small()
    for n in range(len(data)):
        with pytest.raises(FormatError):
            open_bytes(data[:n])


def test_bad_magic():
    with pytest.raises(FormatError):
        open_bytes(b"GGUG" + valid_small()[4:])


@pytest.mark.parametrize("version", [0, 1, 4, 0x03000000])
def test_unsupported_version(version):
    data = bytearray(valid_small())
    data[4:8] = struct.pack("<I", version)
    with pytest.raises(UnsupportedError):
        open_bytes(bytes(data))


@pytest.mark.parametrize("count", [9, 1000, 2**32, 2**63, 2**64 - 1])
def test_kv_count_too_large(count):
    with pytest.raises(FormatError):
        open_bytes(build([kv("k", U32, 1)], [], n_kv=count))


@pytest.mark.parametrize("count", [3, 1000, 2**40, 2**64 - 1])
def test_tensor_count_too_large(count):
    with pytest.raises(FormatError):
        open_bytes(build([kv("k", U32, 1)], [tinfo("a", [8], 0, 0)], b"\0" * 32, n_tensors=count))


def test_counts_together_exceed_file():
    # each count alone fits the bytes left, both together cannot
    data = build([kv("k", U32, 1)] * 0, [], n_kv=2, n_tensors=1) + b"\0" * 40
    with pytest.raises(FormatError):
        open_bytes(data)


def test_key_length_past_end():
    with pytest.raises(FormatError):
        open_bytes(build([struct.pack("<Q", 1000) + b"abc"], []))


def test_key_length_huge():
    with pytest.raises(FormatError):
        open_bytes(build([struct.pack("<Q", 2**64 - 1) + b"abc" + b"\0" * 16], []))


def test_string_length_past_end():
    with pytest.raises(FormatError):
        open_bytes(build([kv("k", STR, raw=struct.pack("<Q", 50) + b"short")], []))


def test_string_in_array_past_end():
    raw = struct.pack("<IQ", STR, 2) + gstr("ok") + struct.pack("<Q", 99) + b"x"
    with pytest.raises(FormatError):
        open_bytes(build([kv("k", ARR, raw=raw)], []))


def test_duplicate_key():
    with pytest.raises(FormatError):
        open_bytes(build([kv("k", U32, 1), kv("other", U32, 2), kv("k", U32, 3)], []))


def test_empty_key():
    with pytest.raises(FormatError):
        open_bytes(build([kv("", U32, 1)], []))


def test_key_with_nul():
    with pytest.raises(FormatError):
        open_bytes(build([kv(b"a\0b", U32, 1)], []))


def test_key_not_ascii():
    with pytest.raises(FormatError):
        open_bytes(build([kv("clé", U32, 1)], []))


@pytest.mark.parametrize("vtype", [13, 255, 2**32 - 1])
def test_unknown_value_type(vtype):
    with pytest.raises(FormatError):
        open_bytes(build([gstr("k") + struct.pack("<I", vtype) + b"\0" * 8], []))


def test_unknown_array_element_type():
    with pytest.raises(FormatError):
        open_bytes(build([kv("k", ARR, raw=struct.pack("<IQ", 13, 1) + b"\0" * 8)], []))


def test_array_count_past_end():
    with pytest.raises(FormatError):
        open_bytes(build([kv("k", ARR, raw=struct.pack("<IQ", U32, 1000) + b"\0" * 8)], []))


def test_array_count_huge():
    with pytest.raises(FormatError):
        open_bytes(build([kv("k", ARR, raw=struct.pack("<IQ", U64, 2**61) + b"\0" * 8)], []))


def test_nested_array_too_deep():
    v = (U8, [1])
    for _ in range(8):
        v = (ARR, [v])
    with pytest.raises(FormatError):
        open_bytes(build([kv("k", ARR, v)], []))
    v = (U8, [1])
    for _ in range(7):
        v = (ARR, [v])
    assert open_bytes(build([kv("k", ARR, v)], [])).get("k") == [[[[[[[[1]]]]]]]]


def test_bool_not_0_or_1():
    with pytest.raises(FormatError):
        open_bytes(build([kv("k", BOOL, 2)], []))
    with pytest.raises(FormatError):
        open_bytes(build([kv("k", ARR, (BOOL, [0, 1, 7]))], []))


@pytest.mark.parametrize("alignment", [0, 3, 48, 2**32 - 1])
def test_alignment_not_power_of_two(alignment):
    with pytest.raises(FormatError):
        open_bytes(build([kv("general.alignment", U32, alignment)], []))


def test_alignment_wrong_type():
    with pytest.raises(FormatError):
        open_bytes(build([kv("general.alignment", U64, 32)], []))


def test_duplicate_tensor_name():
    a = b"\0" * 32
    infos = [tinfo("w", [8], 0, 0), tinfo("w", [8], 0, 32)]
    with pytest.raises(FormatError):
        open_bytes(build([], infos, a + a))


def test_empty_tensor_name():
    with pytest.raises(FormatError):
        open_bytes(build([], [tinfo("", [8], 0, 0)], b"\0" * 32))


def test_tensor_name_too_long():
    ok = open_bytes(build([], [tinfo("n" * 63, [8], 0, 0)], b"\0" * 32))
    assert ok.tensors[0]["name"] == "n" * 63
    with pytest.raises(FormatError):
        open_bytes(build([], [tinfo("n" * 64, [8], 0, 0)], b"\0" * 32))


def test_tensor_name_with_nul():
    with pytest.raises(FormatError):
        open_bytes(build([], [tinfo(b"a\0", [8], 0, 0)], b"\0" * 32))


@pytest.mark.parametrize("name", [b"\x80w", b"w\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80",
                                  b"w\xe2\x82"], ids=["continuation", "overlong", "surrogate",
                                                       "above-max", "truncated"])
def test_tensor_name_not_utf8(name):
    # Regression (found by test_fuzz_mutations): such names once reached Python's decoder.
    with pytest.raises(FormatError):
        open_bytes(build([], [tinfo(name, [8], 0, 0)], b"\0" * 32))


def test_tensor_name_utf8_accepted():
    g = open_bytes(build([], [tinfo("blk.é.😀".encode(), [8], 0, 0)], b"\0" * 32))
    assert g.tensors[0]["name"] == "blk.é.😀"


@pytest.mark.parametrize("offset", [1, 16, 31, 33])
def test_misaligned_offset(offset):
    with pytest.raises(FormatError):
        open_bytes(build([], [tinfo("w", [8], 0, offset)], b"\0" * 128))


def test_misaligned_offset_custom_alignment():
    kvs = [kv("general.alignment", U32, 64)]
    with pytest.raises(FormatError):
        open_bytes(build(kvs, [tinfo("w", [8], 0, 32)], b"\0" * 128, alignment=64))
    assert open_bytes(build(kvs, [tinfo("w", [8], 0, 64)], b"\0" * 128, alignment=64))


def test_tensor_data_past_end():
    with pytest.raises(FormatError):
        open_bytes(build([], [tinfo("w", [8], 0, 0)], b"\0" * 31))
    with pytest.raises(FormatError):
        open_bytes(build([], [tinfo("w", [8], 0, 2**64 - 32)], b"\0" * 64))


def test_data_section_missing():
    # tensor table ends, but the file stops before the aligned data section starts
    with pytest.raises(FormatError):
        open_bytes(build([], [tinfo("w", [1], 0, 0)], pad=False))


def test_overlapping_tensors():
    infos = [tinfo("a", [16], 0, 0), tinfo("b", [8], 0, 32)]
    with pytest.raises(FormatError):
        open_bytes(build([], infos, b"\0" * 96))
    # same start
    infos = [tinfo("a", [8], 0, 0), tinfo("b", [8], 0, 0)]
    with pytest.raises(FormatError):
        open_bytes(build([], infos, b"\0" * 64))


@pytest.mark.parametrize("ne", [[2**32, 2**32], [2**63], [2**62, 4], [3, 2**62, 2**62]])
def test_overflowing_dims(ne):
    with pytest.raises(FormatError):
        open_bytes(build([], [tinfo("w", ne, 0, 0)], b"\0" * 64))


def test_byte_size_overflow():
    # the element count fits int64 but its F32 byte size (2^64) does not fit uint64
    with pytest.raises(FormatError):
        open_bytes(build([], [tinfo("w", [2**62], 0, 0)], b"\0" * 64))
    # Q8_0: 2^62 elements are 2^57 blocks of 34 bytes: overflow in the row size
    with pytest.raises(FormatError):
        open_bytes(build([], [tinfo("w", [2**62], 8, 0)], b"\0" * 64))


@pytest.mark.parametrize("ttype", [4, 5, 31, 36, 42, 1000, 2**32 - 1])
def test_unknown_tensor_type(ttype):
    with pytest.raises(UnsupportedError):
        open_bytes(build([], [tinfo("w", [32], ttype, 0)], b"\0" * 256))


def test_zero_dims():
    with pytest.raises(FormatError):
        open_bytes(build([], [tinfo("w", [], 0, 0)], b"\0" * 32))


def test_zero_extent():
    with pytest.raises(FormatError):
        open_bytes(build([], [tinfo("w", [8, 0], 0, 0)], b"\0" * 32))


def test_too_many_dims():
    with pytest.raises(FormatError):
        open_bytes(build([], [tinfo("w", [1, 1, 1, 1, 1], 0, 0)], b"\0" * 32))


def test_ne0_not_multiple_of_block():
    with pytest.raises(FormatError):
        open_bytes(build([], [tinfo("w", [33], 8, 0)], b"\0" * 128))
    g = open_bytes(build([], [tinfo("w", [64, 2], 8, 0)], b"\0" * 160))
    assert g.tensors[0]["nbytes"] == 2 * 2 * 34


# ---------------------------------------------------------------- fuzz


def _touch_everything(g):
    g.metadata
    for t in g.tensors:
        g.tensor_bytes(t["name"])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    edits=st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 255)), max_size=8),
    cut=st.one_of(st.none(), st.integers(min_value=0)),
    insert=st.one_of(st.none(), st.tuples(st.integers(min_value=0), st.binary(min_size=1, max_size=9))),
)
def test_fuzz_mutations(edits, cut, insert):
    data = bytearray(valid_small())
    for pos, b in edits:
        data[pos % len(data)] = b
    if insert is not None:
        pos = insert[0] % (len(data) + 1)
        data[pos:pos] = insert[1]
    if cut is not None:
        del data[cut % (len(data) + 1):]
    try:
        g = open_bytes(bytes(data))
    except (FormatError, UnsupportedError):
        return
    _touch_everything(g)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_fuzz_random_after_magic(tail):
    try:
        g = open_bytes(b"GGUF\x03\x00\x00\x00" + tail)
    except (FormatError, UnsupportedError):
        return
    _touch_everything(g)


# ---------------------------------------------------------------- the real model


@pytest.fixture(scope="module")
def smollm_path():
    from pcc._internal.model_cache import default_model_path
    return default_model_path()


def test_real_model_opens(smollm_path):
    g = GGUFFile(smollm_path)
    assert g.version == 3 and len(g.tensors) == 272
    assert g.get("general.architecture") == "llama"
    assert g.get("llama.block_count") == 30 and g.get("llama.embedding_length") == 576
    assert g.get("tokenizer.ggml.pre") == "smollm"
    types = {}
    for t in g.tensors:
        types[t["type_name"]] = types.get(t["type_name"], 0) + 1
    assert types == {"Q4_1": 210, "F32": 61, "Q8_0": 1}
    emb = g.tensor("token_embd.weight")
    assert emb["shape"] == (576, 49152) and emb["type_name"] == "Q8_0"
    # every byte of the data section that tensors claim is inside the file
    end = max(t["offset"] + t["nbytes"] for t in g.tensors)
    assert g.data_offset + end <= g.size
    r = gguf.GGUFReader(str(smollm_path))
    ref = {t.name: (int(t.data_offset), int(t.n_bytes)) for t in r.tensors}
    assert {t["name"]: (g.data_offset + t["offset"], t["nbytes"]) for t in g.tensors} == ref
