"""Byte-level GGUF builder for tests: full control over every field, so invalid files can be made.

Valid files are also written with the `gguf` PyPI package (GGUFWriter) in the tests; this builder
exists for the files that package refuses to write.
"""
from __future__ import annotations

import struct

# value types
U8, I8, U16, I16, U32, I32, F32, BOOL, STR, ARR, U64, I64, F64 = range(13)
_FMT = {U8: "<B", I8: "<b", U16: "<H", I16: "<h", U32: "<I", I32: "<i", F32: "<f", BOOL: "<B",
        U64: "<Q", I64: "<q", F64: "<d"}


def gstr(s: bytes | str) -> bytes:
    """A gguf_string: u64 length then the bytes."""
    if isinstance(s, str):
        s = s.encode()
    return struct.pack("<Q", len(s)) + s


def value(vtype: int, v) -> bytes:
    """Encode a value (no type tag). Arrays: v = (elem_type, [items])."""
    if vtype == STR:
        return gstr(v)
    if vtype == ARR:
        et, items = v
        return struct.pack("<IQ", et, len(items)) + b"".join(value(et, x) for x in items)
    return struct.pack(_FMT[vtype], v)


def kv(key: bytes | str, vtype: int, v=None, raw: bytes | None = None) -> bytes:
    """A metadata pair; raw replaces the encoded value when given."""
    return gstr(key) + struct.pack("<I", vtype) + (raw if raw is not None else value(vtype, v))


def tinfo(name: bytes | str, ne: list[int], ttype: int, offset: int, n_dims: int | None = None) -> bytes:
    """A tensor-table entry."""
    n = len(ne) if n_dims is None else n_dims
    return gstr(name) + struct.pack("<I", n) + b"".join(struct.pack("<Q", x) for x in ne) + \
        struct.pack("<IQ", ttype, offset)


def build(kvs: list[bytes], infos: list[bytes], data: bytes = b"", *, version: int = 3,
          n_kv: int | None = None, n_tensors: int | None = None, alignment: int = 32,
          magic: bytes = b"GGUF", pad: bool = True) -> bytes:
    """Assemble a file: header, kvs, tensor infos, padding to alignment, data."""
    out = magic + struct.pack("<I", version)
    out += struct.pack("<QQ", len(infos) if n_tensors is None else n_tensors,
                       len(kvs) if n_kv is None else n_kv)
    out += b"".join(kvs) + b"".join(infos)
    if pad and (infos or data):
        out += b"\0" * (-len(out) % alignment)
    return out + data


def valid_small() -> bytes:
    """A small valid file: a few metadata types and two tensors (F32 [4,2], F16 [8])."""
    kvs = [
        kv("general.architecture", STR, "test"),
        kv("test.u32", U32, 7),
        kv("test.i8", I8, -3),
        kv("test.f64", F64, 2.5),
        kv("test.flag", BOOL, 1),
        kv("test.ints", ARR, (I32, [1, -2, 3])),
        kv("test.strs", ARR, (STR, ["a", "bc", ""])),
        kv("test.nested", ARR, (ARR, [(U8, [1, 2]), (U8, [])])),
    ]
    a = struct.pack("<8f", *range(8))
    b = struct.pack("<8e", *[0.5 * i for i in range(8)])
    infos = [tinfo("a", [4, 2], 0, 0), tinfo("b", [8], 1, 32)]
    return build(kvs, infos, a + b"\0" * (32 - len(a)) + b)


def tokenizer_gguf(path, tokens, merges, types=None, *, model="gpt2", pre="smollm", bos=None,
                   eos=None, extra=None) -> None:
    """Write a tokenizer-only GGUF at path with the `gguf` package."""
    import gguf

    w = gguf.GGUFWriter(str(path), arch="llama")
    w.add_tokenizer_model(model)
    if pre is not None:
        w.add_tokenizer_pre(pre)
    w.add_token_list(tokens)
    if types is not None:
        w.add_token_types(types)
    if merges is not None:
        w.add_token_merges(merges)
    if bos is not None:
        w.add_bos_token_id(bos)
    if eos is not None:
        w.add_eos_token_id(eos)
    for k, v in (extra or {}).items():
        if isinstance(v, bool):
            w.add_bool(k, v)
        else:
            w.add_uint32(k, v)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
