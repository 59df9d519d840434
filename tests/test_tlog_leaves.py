"""Log leaves (docs/formats.md): strict schema validation, one negative test per way to be wrong."""
import hashlib

import msgpack
import pytest
from hypothesis import given, settings, strategies as st

from pcc.transparency import leaves
from pcc.errors import FormatError

SHA = hashlib.sha384(b"x").digest()
# application/ohttp-keys: one config, X25519 (0x0020), HKDF-SHA256 + AES-128-GCM
CFG = bytes([0x01]) + (0x0020).to_bytes(2, "big") + b"\x07" * 32 + (4).to_bytes(2, "big") + \
    (1).to_bytes(2, "big") + (1).to_bytes(2, "big")
CONFIGS = len(CFG).to_bytes(2, "big") + CFG


def _spki(n=270):
    # SEQUENCE { SEQUENCE { OID }, BIT STRING { 0x00 || key } } with correct DER lengths
    alg = b"\x30\x0b\x06\x09" + b"\x2a" * 9
    key = b"\x00" + b"\x5a" * (n - 1)
    bit = b"\x03\x82" + len(key).to_bytes(2, "big") + key
    body = alg + bit
    return b"\x30\x82" + len(body).to_bytes(2, "big") + body


SPKI = _spki()


def rel(**over):
    d = {"type": "release", "v": 1, "name": "pcc-node", "version": "1.2.3", "created": 1700000000,
         "components": [{"name": "app", "kind": "code", "sha384": SHA},
                        {"name": "model.gguf", "kind": "model", "sha384": SHA}]}
    d.update(over)
    return d


def ohttp(**over):
    d = {"type": "ohttp-keys", "v": 1, "gateway": "gw.example", "configs": CONFIGS,
         "not_after": 1800000000}
    d.update(over)
    return d


def issuer(**over):
    d = {"type": "issuer-key", "v": 1, "issuer": "issuer.example", "token_type": 2, "spki": SPKI,
         "not_after": 1800000000}
    d.update(over)
    return d


def roster(**over):
    d = {"type": "roster", "v": 1, "model": "smollm2", "epoch": 7,
         "nodes": [b"\x01" * 32, b"\x02" * 32]}
    d.update(over)
    return d


def enc(d):
    return msgpack.packb(d, use_bin_type=True)


@pytest.mark.parametrize("d", [rel(), ohttp(), issuer(), roster(), roster(nodes=[])])
def test_valid_leaves(d):
    assert leaves.decode(enc(d)) == d


def test_builders_roundtrip():
    leaf = leaves.release("n", "v", 5, [("a", "config", SHA)])
    assert leaves.decode(leaf)["components"][0]["kind"] == "config"
    assert leaves.release_digest(leaf) == hashlib.sha256(leaf).digest()
    assert leaves.decode(leaves.ohttp_keys("gw", CONFIGS, 9))["gateway"] == "gw"
    assert leaves.decode(leaves.issuer_key("iss", SPKI, 9))["token_type"] == 2
    assert leaves.decode(leaves.roster("m", 1, [b"\x03" * 32]))["epoch"] == 1
    for d in (rel(), ohttp(), issuer(), roster()):
        assert leaves.describe(d)


def _bad(d, match):
    with pytest.raises(FormatError, match=match):
        leaves.decode(enc(d) if not isinstance(d, bytes) else d)


def test_not_msgpack():
    _bad(b"\xc1", "msgpack")


def test_trailing_bytes():
    _bad(enc(rel()) + b"\x00", "msgpack")


def test_not_a_map():
    _bad(enc([1, 2]), "map")


def test_empty():
    _bad(b"", "size")


def test_too_large():
    _bad(enc(rel(name="x" * 70000)), "size|bytes")


def test_unknown_type():
    _bad(rel(type="binary"), "unknown type")


def test_type_not_str():
    _bad(rel(type=b"release"), "unknown type")


def test_missing_key():
    d = rel()
    del d["created"]
    _bad(d, "missing")


def test_extra_key():
    _bad(rel(extra=1), "unexpected")


def test_wrong_version():
    _bad(rel(v=2), "v must be 1")


def test_version_bool():
    _bad(rel(v=True), "v must be 1")


def test_name_as_bin():
    _bad(rel(name=b"pcc"), "name must be a msgpack str")


def test_name_empty():
    _bad(rel(name=""), "name")


def test_name_control_char():
    _bad(rel(version="1\n2"), "control")


def test_created_negative():
    _bad(rel(created=-1), "created")


def test_created_float():
    _bad(rel(created=1.5), "created")


def test_created_too_big():
    _bad(rel(created=2**64 - 1), "created")


def test_components_empty():
    _bad(rel(components=[]), "components")


def test_components_not_list():
    _bad(rel(components={"a": 1}), "components")


def test_component_bad_kind():
    _bad(rel(components=[{"name": "a", "kind": "binary", "sha384": SHA}]), "kind")


def test_component_short_digest():
    _bad(rel(components=[{"name": "a", "kind": "code", "sha384": SHA[:32]}]), "48 bytes")


def test_component_digest_as_str():
    _bad(rel(components=[{"name": "a", "kind": "code", "sha384": SHA.hex()}]), "bin")


def test_component_extra_key():
    _bad(rel(components=[{"name": "a", "kind": "code", "sha384": SHA, "x": 1}]), "unexpected")


def test_component_duplicate_name():
    c = {"name": "a", "kind": "code", "sha384": SHA}
    _bad(rel(components=[c, dict(c)]), "duplicate")


def test_non_minimal_int():
    # created encoded as uint64 although it fits in uint32: not the canonical encoding
    good = enc(rel(created=5))
    d = rel(created=5)
    packed = bytearray()
    packed += b"\x86"
    for k, v in d.items():
        packed += msgpack.packb(k)
        packed += b"\xcf" + (5).to_bytes(8, "big") if k == "created" else \
            msgpack.packb(v, use_bin_type=True)
    assert bytes(packed) != good
    _bad(bytes(packed), "minimal")


def test_duplicate_map_key():
    # {"type": ..., "type": ...} decodes to one key: re-encoding differs, so it is refused
    raw = b"\x87" + msgpack.packb("type") + msgpack.packb("release") + enc(rel())[1:]
    _bad(raw, "minimal|keys")


def test_ohttp_configs_truncated():
    _bad(ohttp(configs=CONFIGS[:-1]), "configs")


def test_ohttp_configs_unknown_kem():
    cfg = bytes([1]) + (0x0099).to_bytes(2, "big") + CFG[3:]
    _bad(ohttp(configs=len(cfg).to_bytes(2, "big") + cfg), "KEM")


def test_ohttp_configs_bad_suite():
    cfg = CFG[:-2] + (0x0042).to_bytes(2, "big")
    _bad(ohttp(configs=len(cfg).to_bytes(2, "big") + cfg), "KDF or AEAD")


def test_ohttp_configs_odd_suite_length():
    cfg = CFG[:35] + (3).to_bytes(2, "big") + b"\x00\x01\x00"
    _bad(ohttp(configs=len(cfg).to_bytes(2, "big") + cfg), "symmetric")


def test_issuer_wrong_token_type():
    _bad(issuer(token_type=1), "token_type")


def test_issuer_spki_not_der():
    _bad(issuer(spki=b"\x04" + SPKI[1:]), "spki")


def test_issuer_spki_bad_length():
    _bad(issuer(spki=SPKI + b"\x00"), "spki")


def test_roster_bad_node_id():
    _bad(roster(nodes=[b"\x01" * 31]), "32 bytes")


def test_roster_duplicate_node():
    _bad(roster(nodes=[b"\x01" * 32, b"\x01" * 32]), "duplicate")


def test_roster_epoch_str():
    _bad(roster(epoch="7"), "epoch")


def test_builder_refuses_bad_input():
    with pytest.raises(FormatError):
        leaves.release("n", "v", 1, [("a", "code", b"short")])


@given(st.binary(max_size=300))
@settings(max_examples=500, deadline=None)
def test_fuzz_decode_raises_only_format_error(data):
    try:
        d = leaves.decode(data)
    except FormatError:
        return
    assert d["type"] in leaves.LEAF_TYPES


@given(st.integers(0, len(enc(rel())) - 1), st.integers(0, 255))
@settings(max_examples=300, deadline=None)
def test_fuzz_mutations(pos, byte):
    raw = bytearray(enc(rel()))
    raw[pos] = byte
    try:
        d = leaves.decode(bytes(raw))
    except FormatError:
        return
    assert leaves.encode(d) == bytes(raw)
