"""Request and answer cryptography against an independent implementation.

The reference below is written from the protocol text on ``cryptography`` (AES-GCM, HKDF,
X25519) and the RFC 9180 reference of test_interop_hpke (DHKEM(X25519) and the key schedule);
the PyPI ``hpke`` package seals and opens DK for P-256 node keys. No pcc code is used by it.

- known answers: with DK, the base nonce, the HPKE ephemeral key and rnonce pinned, pcc's bytes
  equal the reference's, byte for byte (the pinning hooks are test-only functions of _core);
- both ways: a reference client to pcc's node side (unwrap, decrypt, parse) and pcc's client to
  a reference node; a reference node's answer to pcc's AnswerReader fed in arbitrary splits;
- one named test per way the input can be wrong, and hypothesis for the payload parser.
"""
import hashlib
import os
import struct

import msgpack
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import x25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pcc import _core, _request, hpke
from pcc.errors import (DecryptError, FormatError, InvalidArgument, LimitError, StateError,
                        UnknownKeyError, UnsupportedError)
from test_interop_hpke import RefContext, RefKem, _lexpand, _lextract  # noqa: E402

hpke_pkg = pytest.importorskip("hpke")

X25519 = 0x0020
CHUNK = 16384
REQ_INFO = b"pcc request key v1"


# ---- the reference -----------------------------------------------------------------------

def ref_derive_x25519(ikm):
    """DeriveKeyPair(ikm) for DHKEM(X25519, HKDF-SHA256), RFC 9180 §7.1.3."""
    sid = b"KEM" + struct.pack(">H", X25519)
    prk = _lextract(hashlib.sha256, sid, b"", b"dkp_prk", ikm)
    sk = _lexpand(hashlib.sha256, sid, prk, b"sk", b"", 32)
    return x25519.X25519PrivateKey.from_private_bytes(sk)


def ref_wrap(dk, node_id, pk_raw, aead=1, ikm_e=None):
    """enc, ct = SealBase(pkR, info = label || node_id, aad = "", DK) with DHKEM(X25519)."""
    kem = RefKem(X25519)
    pk_r = kem.deser(pk_raw)
    sk_e = ref_derive_x25519(ikm_e) if ikm_e is not None else kem.generate()
    enc = kem.ser(sk_e.public_key())
    shared = kem._shared(kem.dh(sk_e, pk_r), enc + pk_raw)
    ctx = RefContext(X25519, 1, aead, 0, shared, REQ_INFO + node_id)
    return enc, ctx.seal(dk, b"")


def ref_unwrap(enc, ct, sk: hpke.PrivateKey, node_id, aead=1):
    kem = RefKem(X25519)
    shared = kem.decap(enc, kem.private_from(sk))
    return RefContext(X25519, 1, aead, 0, shared, REQ_INFO + node_id).open(ct, b"")


def xor_nonce(base, i):
    return bytes(a ^ b for a, b in zip(base, i.to_bytes(12, "big")))


def ref_chunks(payload):
    return [payload[i:i + CHUNK] for i in range(0, len(payload), CHUNK)] or [b""]


def ref_seal_payload(dk, nonce, payload):
    parts = ref_chunks(payload)
    return [AESGCM(dk).encrypt(xor_nonce(nonce, i), p, b"final" if i == len(parts) - 1 else b"")
            for i, p in enumerate(parts)]


def ref_open_payload(dk, nonce, body):
    return b"".join(AESGCM(dk).decrypt(xor_nonce(nonce, i), c,
                                       b"final" if i == len(body) - 1 else b"")
                    for i, c in enumerate(body))


def ref_answer_keys(dk, rnonce, node_id):
    def hk(info, n):
        return HKDF(hashes.SHA256(), n, salt=rnonce, info=info).derive(dk)
    return hk(b"pcc response key v1" + node_id, 16), hk(b"pcc response nonce v1" + node_id, 12)


def ref_seal_answer(dk, node_id, rnonce, plaintexts):
    rk, base = ref_answer_keys(dk, rnonce, node_id)
    out = bytearray(rnonce)
    for i, pt in enumerate(plaintexts):
        ct = AESGCM(rk).encrypt(xor_nonce(base, i), pt,
                                b"final" if i == len(plaintexts) - 1 else b"")
        out += struct.pack(">I", len(ct)) + ct
    return bytes(out)


def ref_open_answer(dk, node_id, stream):
    """[(plaintext, final)...]; asserts the stream ends exactly after its final frame."""
    rk, base = ref_answer_keys(dk, stream[:16], node_id)
    off, i, out = 16, 0, []
    while off < len(stream):
        assert not out or not out[-1][1], "bytes after the final frame"
        (n,) = struct.unpack(">I", stream[off:off + 4])
        ct = stream[off + 4:off + 4 + n]
        assert len(ct) == n
        try:
            out.append((AESGCM(rk).decrypt(xor_nonce(base, i), ct, b""), False))
        except Exception:
            out.append((AESGCM(rk).decrypt(xor_nonce(base, i), ct, b"final"), True))
        off, i = off + 4 + n, i + 1
    assert out and out[-1][1], "no final frame"
    return out


def payload_of(messages, **params):
    p = {"max_tokens": 16, "temperature": 0.0, "top_p": 1.0, "top_k": 0, "seed": None}
    p.update(params)
    return msgpack.packb({"messages": [{"role": r, "content": c} for r, c in messages],
                          "params": p})


# ---- fixtures ------------------------------------------------------------------------------

class Node:
    def __init__(self, suite=_request.DEFAULT_SUITE):
        self.suite = suite
        self.sk = hpke.PrivateKey.generate(suite.kem)
        self.pk = self.sk.public_bytes()
        self.node_id = os.urandom(32)
        self.key_id = os.urandom(8)

    def key(self):
        return _request.NodeKey(self.node_id, self.key_id, self.pk, self.suite)

    def tuple(self):
        s = self.suite
        return (self.node_id, self.key_id, self.pk, s.kem, s.kdf, s.aead)

    def unwrap(self, entry, node_id=None):
        s = self.suite
        return _core._testing_unwrap([(self.key_id, self.sk, s.kem, s.kdf, s.aead)],
                                     entry["key_id"], entry["enc"], entry["ct"],
                                     node_id if node_id is not None else entry["node"])


@pytest.fixture
def node():
    return Node()


def sealed_request(node, payload, dk=None, nonce=None):
    dk = dk or os.urandom(16)
    nonce = nonce or os.urandom(12)
    enc, ct = ref_wrap(dk, node.node_id, node.pk)
    entry = {"node": node.node_id, "key_id": node.key_id, "enc": enc, "ct": ct}
    return entry, nonce, ref_seal_payload(dk, nonce, payload), dk


# ---- known answers (pcc == reference, byte for byte) ------------------------------------------

@pytest.mark.parametrize("size", [1, 100, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 7])
def test_request_known_answer_byte_exact(node, size):
    dk, nonce = bytes(range(16)), bytes(range(100, 112))
    ikm_e = [b"\x07" * 32, b"\x08" * 32]
    other = Node()
    payload = bytes((i * 7 + 3) & 0xFF for i in range(size))
    got = _core._testing_request_seal(_core._testing_request_key(dk),
                                      [node.tuple(), other.tuple()], payload, nonce, ikm_e)
    assert got["nonce"] == nonce
    for entry, n, ikm in zip(got["keys"], (node, other), ikm_e):
        enc, ct = ref_wrap(dk, n.node_id, n.pk, ikm_e=ikm)
        assert entry == {"node": n.node_id, "key_id": n.key_id, "enc": enc, "ct": ct}
    assert got["body"] == ref_seal_payload(dk, nonce, payload)
    assert len(got["body"]) == len(ref_chunks(payload))


# Printed once by the reference above (DK 00..0f, nonce 00..0b, node id 32 zero bytes, the node
# key and the ephemeral key derived from ikm 01*32 and 02*32, rnonce 10..1f), so that a change
# made to both sides at once would still show.
PINNED = {
    "pk": "41852320ff367495fa522c94cb83af391e4e89018392725bbf2098dd931bc424",
    "enc": "6080bbe51005ea9acc863580ce57317d46bef6333558d5bfa97e461342985005",
    "ct": "cdae23879278d7985f6e2be857b794e1ec7a261e13ca1e0a7f1b73c283e7fa63",
    "body": "e30fc4b0429155037435b424c498e500d7ecd1",
    "answer": "101112131415161718191a1b1c1d1e1f00000019532ba960212dc645ddef0f8b07cfef2e44288d80"
              "5c81ab577600000020f71320f914ad0c3c179d7317c2f7283204efff7474319ebc60557da3e0fafe61",
}


def test_pinned_vector():
    dk, nonce, node_id = bytes(range(16)), bytes(range(12)), bytes(32)
    sk = hpke.PrivateKey.derive(X25519, b"\x01" * 32)
    assert sk.public_bytes().hex() == PINNED["pk"]
    got = _core._testing_request_seal(_core._testing_request_key(dk),
                                      [(node_id, bytes(8), sk.public_bytes(), X25519, 1, 1)],
                                      b"pcc", nonce, [b"\x02" * 32])
    e = got["keys"][0]
    assert (e["enc"].hex(), e["ct"].hex(), got["body"][0].hex()) == (
        PINNED["enc"], PINNED["ct"], PINNED["body"])
    rk = _core._testing_request_key(dk)
    stream = _core._testing_answer_seal(rk, node_id, [
        (_core._testing_answer_encode(("text", "hi")), False),
        (_core._testing_answer_encode(("error", "internal")), True)], bytes(range(16, 32)))
    assert stream.hex() == PINNED["answer"]
    dk2 = _core._testing_unwrap([(bytes(8), sk, X25519, 1, 1)], bytes(8), e["enc"], e["ct"],
                                node_id)
    assert _core._testing_request_open(dk2, nonce, got["body"], 100) == b"pcc"
    assert _core._testing_request_key_bytes(dk2) == dk


@pytest.mark.parametrize("n_chunks", [1, 2, 5])
def test_answer_known_answer_byte_exact(node, n_chunks):
    dk, rnonce = os.urandom(16), bytes(range(16))
    pts = [_core._testing_answer_encode(("text", f"piece {i} é")) for i in range(n_chunks - 1)]
    pts.append(_core._testing_answer_encode(("done", 7, n_chunks - 1)))
    ours = _core._testing_answer_seal(_core._testing_request_key(dk), node.node_id,
                                      [(p, i == len(pts) - 1) for i, p in enumerate(pts)], rnonce)
    assert ours == ref_seal_answer(dk, node.node_id, rnonce, pts)


def test_answer_chunk_encoding_matches_msgpack():
    assert _core._testing_answer_encode(("text", "héllo")) == msgpack.packb({"text": "héllo"})
    assert _core._testing_answer_encode(("done", 300, 70000)) == msgpack.packb(
        {"done": True, "usage": {"prompt_tokens": 300, "completion_tokens": 70000}})
    for code in _request.ERROR_CODES:
        assert _core._testing_answer_encode(("error", code)) == msgpack.packb({"error": code})


# ---- pcc client -> reference node ------------------------------------------------------------

def test_pcc_client_to_reference_node():
    nodes = [Node(), Node()]
    msgs = [("system", "be brief"), ("user", "what is 2+2? ✓")]
    params = _request.Params(max_tokens=33, temperature=0.7, top_p=0.9, top_k=40, seed=2**63 + 5)
    body, state = _request.seal_request([n.key() for n in nodes], msgs, params)
    assert [e["node"] for e in body["keys"]] == [n.node_id for n in nodes]
    for n, e in zip(nodes, body["keys"]):
        dk = ref_unwrap(e["enc"], e["ct"], n.sk, n.node_id)
        payload = ref_open_payload(dk, body["nonce"], body["body"])
        # the encoding is exactly what Python's msgpack writes for the same map
        assert payload == payload_of(msgs, max_tokens=33, temperature=0.7, top_p=0.9, top_k=40,
                                     seed=2**63 + 5)
        # and the reference node's answer opens in pcc's reader
        rnonce = os.urandom(16)
        stream = ref_seal_answer(dk, n.node_id, rnonce, [
            msgpack.packb({"text": "4"}), msgpack.packb({"text": "."}),
            msgpack.packb({"done": True, "usage": {"prompt_tokens": 12, "completion_tokens": 2}})])
        reader = state.reader(n.node_id)
        assert reader.feed(stream) == ["4", ".", _request.Done(12, 2)]
        assert reader.done
        reader.finish()


def test_pcc_client_large_payload_chunks(node):
    content = "x" * (3 * CHUNK)
    body, _ = _request.seal_request([node.key()], [("user", content)])
    dk = ref_unwrap(body["keys"][0]["enc"], body["keys"][0]["ct"], node.sk, node.node_id)
    assert len(body["body"]) == 4
    assert all(len(c) == CHUNK + 16 for c in body["body"][:3])
    assert ref_open_payload(dk, body["nonce"], body["body"]) == payload_of([("user", content)],
                                                                           max_tokens=256)


def test_seal_request_builds_the_invoke_body(node):
    body, _ = _request.seal_request([node.key()], [("user", "x")], model="smollm2")
    assert list(body) == ["v", "model", "keys", "nonce", "body"]
    assert body["v"] == 1 and body["model"] == "smollm2"
    with pytest.raises(TypeError):
        _request.seal_request([node.key()], [("user", "x")], model=b"smollm2")


def test_fresh_key_and_nonce_per_request(node):
    a, _ = _request.seal_request([node.key()], [("user", "same")])
    b, _ = _request.seal_request([node.key()], [("user", "same")])
    assert a["nonce"] != b["nonce"] and a["keys"][0]["enc"] != b["keys"][0]["enc"]
    assert a["body"] != b["body"]


@pytest.mark.parametrize("aead", [1, 2, 3])
def test_x25519_all_aeads_both_ways(aead):
    n = Node(hpke.Suite(X25519, 1, aead))
    body, _ = _request.seal_request([n.key()], [("user", "hi")])
    e = body["keys"][0]
    dk = ref_unwrap(e["enc"], e["ct"], n.sk, n.node_id, aead=aead)
    assert ref_open_payload(dk, body["nonce"], body["body"]) == payload_of([("user", "hi")],
                                                                           max_tokens=256)
    dk2 = os.urandom(16)
    enc, ct = ref_wrap(dk2, n.node_id, n.pk, aead=aead)
    got = n.unwrap({"node": n.node_id, "key_id": n.key_id, "enc": enc, "ct": ct})
    assert _core._testing_request_key_bytes(got) == dk2


_P256_SUITES = {1: "AES_128_GCM", 2: "AES_256_GCM", 3: "ChaCha20Poly1305"}


@pytest.mark.parametrize("aead", [1, 2, 3])
def test_p256_node_key_with_hpke_package(aead):
    from cryptography.hazmat.primitives.asymmetric import ec
    S = getattr(hpke_pkg, f"Suite__DHKEM_P256_HKDF_SHA256__HKDF_SHA256__{_P256_SUITES[aead]}")
    n = Node(hpke.Suite(0x0010, 1, aead))
    sk_c = ec.derive_private_key(int.from_bytes(n.sk.private_bytes(), "big"), ec.SECP256R1())
    # pcc client -> package
    body, _ = _request.seal_request([n.key()], [("user", "p256")])
    e = body["keys"][0]
    dk = S.open(e["enc"], sk_c, REQ_INFO + n.node_id, b"", e["ct"])
    assert ref_open_payload(dk, body["nonce"], body["body"]) == payload_of([("user", "p256")],
                                                                           max_tokens=256)
    # package client -> pcc node side
    dk2 = os.urandom(16)
    enc, ct = S.seal(ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), n.pk),
                     REQ_INFO + n.node_id, b"", dk2)
    got = n.unwrap({"node": n.node_id, "key_id": n.key_id, "enc": enc, "ct": ct})
    assert _core._testing_request_key_bytes(got) == dk2


# ---- reference client -> pcc node ----------------------------------------------------------

@pytest.mark.parametrize("content_len", [0, 10, CHUNK, 2 * CHUNK + 3])
def test_reference_client_to_pcc_node(node, content_len):
    msgs = [("user", "é" * (content_len // 2) + "a" * (content_len % 2))]
    payload = payload_of(msgs, max_tokens=5, temperature=1.5, top_p=0.5, top_k=3, seed=9)
    entry, nonce, body, dk = sealed_request(node, payload)
    got = node.unwrap(entry)
    assert _core._testing_request_key_bytes(got) == dk
    plain = _core._testing_request_open(got, nonce, body, 1 << 20)
    assert plain == payload
    assert _core._testing_chat_parse(plain) == (msgs, {"max_tokens": 5, "temperature": 1.5,
                                                       "top_p": 0.5, "top_k": 3, "seed": 9})
    # pcc's answer sealer (random rnonce) -> the reference opener
    pts = [_core._testing_answer_encode(("text", "ok")),
           _core._testing_answer_encode(("error", "too_long"))]
    stream = _core._testing_answer_seal(got, node.node_id, [(pts[0], False), (pts[1], True)])
    assert ref_open_answer(dk, node.node_id, stream) == [(pts[0], False), (pts[1], True)]


def test_parse_accepts_any_key_order_and_float32(node):
    raw = (b"\x82\xa6params\x85\xa4seed\xc0\xa5top_k\x00\xa5top_p\xca\x3f\x80\x00\x00"
           b"\xabtemperature\xca\x00\x00\x00\x00\xaamax_tokens\x01"
           b"\xa8messages\x91\x82\xa7content\xa1x\xa4role\xa4user")
    assert _core._testing_chat_parse(raw) == ([("user", "x")], {
        "max_tokens": 1, "temperature": 0.0, "top_p": 1.0, "top_k": 0, "seed": None})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_answer_reader_any_split(node, data):
    dk = os.urandom(16)
    texts = data.draw(st.lists(st.text(max_size=40), max_size=6))
    pts = [msgpack.packb({"text": t}) for t in texts]
    pts.append(msgpack.packb({"done": True, "usage": {"prompt_tokens": 1,
                                                      "completion_tokens": len(texts)}}))
    stream = ref_seal_answer(dk, node.node_id, os.urandom(16), pts)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=12)))
    reader = _core._testing_request_key(dk).answer_reader(node.node_id)
    events, prev = [], 0
    for c in cuts + [len(stream)]:
        events += reader.feed(stream[prev:c])
        prev = c
    reader.finish()
    assert events == texts + [("done", 1, len(texts))]


# ---- negatives: the wrapped key --------------------------------------------------------------

def test_unwrap_wrong_node_id(node):
    entry, *_ = sealed_request(node, b"\x80")
    with pytest.raises(DecryptError):
        node.unwrap(entry, node_id=os.urandom(32))


def test_unwrap_unknown_key_id(node):
    entry, *_ = sealed_request(node, b"\x80")
    entry["key_id"] = bytes(8)
    with pytest.raises(UnknownKeyError):
        node.unwrap(entry)


def test_unwrap_picks_the_named_key_among_several(node):
    entry, _, _, dk = sealed_request(node, b"\x80")
    other = Node()
    keys = [(other.key_id, other.sk, X25519, 1, 1), (node.key_id, node.sk, X25519, 1, 1)]
    got = _core._testing_unwrap(keys, entry["key_id"], entry["enc"], entry["ct"], node.node_id)
    assert _core._testing_request_key_bytes(got) == dk
    keys[1] = (node.key_id, other.sk, X25519, 1, 1)  # the right id with the wrong key
    with pytest.raises(DecryptError):
        _core._testing_unwrap(keys, entry["key_id"], entry["enc"], entry["ct"], node.node_id)


@pytest.mark.parametrize("field", ["enc", "ct"])
def test_unwrap_tampered(node, field):
    entry, *_ = sealed_request(node, b"\x80")
    b = bytearray(entry[field])
    b[5] ^= 0x01
    entry[field] = bytes(b)
    with pytest.raises(DecryptError):
        node.unwrap(entry)


def test_unwrap_wrong_sizes(node):
    entry, *_ = sealed_request(node, b"\x80")
    with pytest.raises(FormatError):
        node.unwrap(dict(entry, ct=entry["ct"][:-1]))
    with pytest.raises(FormatError):
        node.unwrap(dict(entry, enc=entry["enc"][:-1]))
    with pytest.raises(FormatError):
        node.unwrap(dict(entry, key_id=entry["key_id"] + b"\0"))


# ---- negatives: request chunks ---------------------------------------------------------------

def open_body(dk, nonce, body, max_payload=1 << 20):
    return _core._testing_request_open(_core._testing_request_key(dk), nonce, body, max_payload)


@pytest.fixture
def three_chunks(node):
    payload = payload_of([("user", "z" * (2 * CHUNK + 100))])
    _, nonce, body, dk = sealed_request(node, payload)
    assert len(body) == 3
    assert open_body(dk, nonce, body) == payload
    return dk, nonce, body


def test_request_tampered_chunk(three_chunks):
    dk, nonce, body = three_chunks
    for i in range(3):
        b = list(body)
        c = bytearray(b[i])
        c[-1] ^= 0x80
        b[i] = bytes(c)
        with pytest.raises(DecryptError):
            open_body(dk, nonce, b)


def test_request_reordered_chunks(three_chunks):
    dk, nonce, body = three_chunks
    with pytest.raises(DecryptError):
        open_body(dk, nonce, [body[1], body[0], body[2]])


@pytest.mark.parametrize("drop", [0, 1, 2])
def test_request_dropped_chunk(three_chunks, drop):
    dk, nonce, body = three_chunks
    with pytest.raises(DecryptError):
        open_body(dk, nonce, body[:drop] + body[drop + 1:])


def test_request_extra_chunk(three_chunks):
    dk, nonce, body = three_chunks
    extra = AESGCM(dk).encrypt(xor_nonce(nonce, 3), b"more", b"final")
    with pytest.raises(DecryptError):
        open_body(dk, nonce, body + [extra])


def test_request_missing_final_chunk(node):
    dk, nonce = os.urandom(16), os.urandom(12)
    body = [AESGCM(dk).encrypt(xor_nonce(nonce, i), b"abc", b"") for i in range(2)]
    with pytest.raises(DecryptError):
        open_body(dk, nonce, body)


def test_request_wrong_nonce_or_key(three_chunks):
    dk, nonce, body = three_chunks
    with pytest.raises(DecryptError):
        open_body(dk, os.urandom(12), body)
    with pytest.raises(DecryptError):
        open_body(os.urandom(16), nonce, body)


def test_request_oversized_payload(three_chunks):
    dk, nonce, body = three_chunks
    with pytest.raises(LimitError):
        open_body(dk, nonce, body, max_payload=2 * CHUNK)


def test_request_oversized_chunk(node):
    dk, nonce = os.urandom(16), os.urandom(12)
    big = AESGCM(dk).encrypt(nonce, b"a" * (CHUNK + 1), b"final")
    with pytest.raises(LimitError):
        open_body(dk, nonce, [big])


def test_request_no_chunks_or_short_chunk(node):
    dk, nonce = os.urandom(16), os.urandom(12)
    with pytest.raises(FormatError):
        open_body(dk, nonce, [])
    with pytest.raises(FormatError):
        open_body(dk, nonce, [b"\0" * 15])
    with pytest.raises(FormatError):  # an empty payload (one empty final chunk)
        open_body(dk, nonce, [AESGCM(dk).encrypt(nonce, b"", b"final")])


def test_request_too_many_chunks(node):
    dk, nonce = os.urandom(16), os.urandom(12)
    with pytest.raises(LimitError):
        open_body(dk, nonce, [b"\0" * 17] * 4097)


# ---- negatives: the answer stream ------------------------------------------------------------

@pytest.fixture
def answer(node):
    dk = os.urandom(16)
    pts = [msgpack.packb({"text": "a"}), msgpack.packb({"text": "b"}),
           msgpack.packb({"done": True, "usage": {"prompt_tokens": 1, "completion_tokens": 2}})]
    stream = ref_seal_answer(dk, node.node_id, os.urandom(16), pts)
    return dk, node.node_id, stream


def frames(stream):
    out, off = [], 16
    while off < len(stream):
        (n,) = struct.unpack(">I", stream[off:off + 4])
        out.append(stream[off:off + 4 + n])
        off += 4 + n
    return stream[:16], out


def reader_for(dk, node_id):
    return _core._testing_request_key(dk).answer_reader(node_id)


def test_answer_wrong_node_id(answer):
    dk, _, stream = answer
    with pytest.raises(DecryptError):
        reader_for(dk, os.urandom(32)).feed(stream)


def test_answer_tampered_frame(answer):
    dk, nid, stream = answer
    s = bytearray(stream)
    s[16 + 4 + 2] ^= 1
    r = reader_for(dk, nid)
    with pytest.raises(DecryptError):
        r.feed(bytes(s))
    with pytest.raises(StateError):  # a failed reader stays failed
        r.feed(b"")


def test_answer_tampered_rnonce(answer):
    dk, nid, stream = answer
    with pytest.raises(DecryptError):
        reader_for(dk, nid).feed(bytes([stream[0] ^ 1]) + stream[1:])


def test_answer_reordered_frames(answer):
    dk, nid, stream = answer
    head, fr = frames(stream)
    with pytest.raises(DecryptError):
        reader_for(dk, nid).feed(head + fr[1] + fr[0] + fr[2])


def test_answer_dropped_frame(answer):
    dk, nid, stream = answer
    head, fr = frames(stream)
    with pytest.raises(DecryptError):
        reader_for(dk, nid).feed(head + fr[0] + fr[2])


def test_answer_bytes_after_final(answer):
    dk, nid, stream = answer
    head, fr = frames(stream)
    r = reader_for(dk, nid)
    assert r.feed(stream)[-1] == ("done", 1, 2)
    with pytest.raises(FormatError):
        r.feed(fr[0])


def test_answer_extra_frame_in_same_feed(answer):
    dk, nid, stream = answer
    with pytest.raises(FormatError):
        reader_for(dk, nid).feed(stream + b"\0")


def test_answer_truncated_without_final(answer):
    dk, nid, stream = answer
    head, fr = frames(stream)
    for cut in (head + fr[0] + fr[1], head + fr[0] + fr[1] + fr[2][:-1], head[:7], b""):
        r = reader_for(dk, nid)
        r.feed(cut)
        assert not r.done
        with pytest.raises(FormatError, match="truncated"):
            r.finish()


FINAL_CHUNK = 65536 + 1024   # a final chunk may carry up to 64 KiB of size padding


@pytest.mark.parametrize("length", [0, 15, FINAL_CHUNK + 17, 2**32 - 1])
def test_answer_frame_length_out_of_range(answer, length):
    dk, nid, stream = answer
    with pytest.raises(FormatError):
        reader_for(dk, nid).feed(stream[:16] + struct.pack(">I", length) + b"\0" * 20)


def test_answer_long_final_chunk_with_pad_is_read():
    # a final chunk over 16 KiB (its pad) opens; the pad is checked and dropped
    dk, nid, rnonce = os.urandom(16), os.urandom(32), os.urandom(16)
    done = {"done": True, "usage": {"prompt_tokens": 1, "completion_tokens": 2}}
    stream = ref_seal_answer(dk, nid, rnonce, [msgpack.packb({"text": "a"}),
                                               msgpack.packb(dict(done, pad=bytes(40000)))])
    assert reader_for(dk, nid).feed(stream) == ["a", ("done", 1, 2)]


def test_answer_nonzero_pad_refused():
    dk, nid, rnonce = os.urandom(16), os.urandom(32), os.urandom(16)
    stream = ref_seal_answer(dk, nid, rnonce, [msgpack.packb({"error": "internal",
                                                              "pad": b"\0\1"})])
    with pytest.raises(FormatError):
        reader_for(dk, nid).feed(stream)


def test_answer_long_text_chunk_refused():
    # only the final chunk may exceed 16 KiB
    dk, nid, rnonce = os.urandom(16), os.urandom(32), os.urandom(16)
    stream = ref_seal_answer(dk, nid, rnonce, [msgpack.packb({"text": "a" * (CHUNK + 10)}),
                                               msgpack.packb({"error": "internal"})])
    with pytest.raises(FormatError):
        reader_for(dk, nid).feed(stream)


def ref_abort_frame(dk, node_id, rnonce, i, pt):
    """An abort frame at position i: aad "final", the nonce of counter i + 2**64."""
    rk, base = ref_answer_keys(dk, rnonce, node_id)
    ct = AESGCM(rk).encrypt(xor_nonce(base, i + 2**64), pt, b"final")
    return struct.pack(">I", len(ct)) + ct


@pytest.mark.parametrize("at", [0, 1])
def test_answer_abort_frame_ends_the_stream(at):
    dk, nid, rnonce = os.urandom(16), os.urandom(32), os.urandom(16)
    head = ref_seal_answer(dk, nid, rnonce, [msgpack.packb({"text": "a"}),
                                             msgpack.packb({"error": "internal"})])
    head = head[:16] + (frames(head)[1][0] if at else b"")
    err = msgpack.packb({"error": "internal", "pad": bytes(7)})
    r = reader_for(dk, nid)
    assert r.feed(head + ref_abort_frame(dk, nid, rnonce, at, err)) == \
        ["a"] * at + [("error", "internal")]
    r.finish()
    # at another position it does not open
    with pytest.raises(DecryptError):
        reader_for(dk, nid).feed(head + ref_abort_frame(dk, nid, rnonce, at + 1, err))


def test_answer_final_chunk_must_be_done_or_error(node):
    dk = os.urandom(16)
    stream = ref_seal_answer(dk, node.node_id, os.urandom(16), [msgpack.packb({"text": "a"})])
    with pytest.raises(FormatError):
        reader_for(dk, node.node_id).feed(stream)


def test_answer_done_before_final(node):
    dk = os.urandom(16)
    done = msgpack.packb({"done": True, "usage": {"prompt_tokens": 1, "completion_tokens": 2}})
    stream = ref_seal_answer(dk, node.node_id, os.urandom(16), [done, done])
    with pytest.raises(FormatError):
        reader_for(dk, node.node_id).feed(stream)


@pytest.mark.parametrize("final", [
    {"error": "nope"}, {"error": 1}, {"done": False, "usage": {"prompt_tokens": 1,
                                                               "completion_tokens": 1}},
    {"done": True}, {"done": True, "usage": {"prompt_tokens": -1, "completion_tokens": 1}},
    {"done": True, "usage": {"prompt_tokens": 1}}, {"text": "x", "extra": 1}])
def test_answer_malformed_final_chunk(node, final):
    dk = os.urandom(16)
    stream = ref_seal_answer(dk, node.node_id, os.urandom(16), [msgpack.packb(final)])
    with pytest.raises(FormatError):
        reader_for(dk, node.node_id).feed(stream)


def test_answer_error_codes(node):
    for code in _request.ERROR_CODES:
        dk = os.urandom(16)
        stream = ref_seal_answer(dk, node.node_id, os.urandom(16),
                                 [msgpack.packb({"error": code})])
        assert _request.AnswerReader(reader_for(dk, node.node_id)).feed(stream) == [
            _request.Failed(code)]


def test_answer_invalid_utf8_text(node):
    dk = os.urandom(16)
    bad = b"\x81\xa4text\xa2\xc3\x28"
    stream = ref_seal_answer(dk, node.node_id, os.urandom(16), [bad, msgpack.packb(
        {"error": "internal"})])
    with pytest.raises(FormatError):
        reader_for(dk, node.node_id).feed(stream)


def test_answer_sealer_refuses_after_final_and_oversized(node):
    dk = _core._testing_request_key(os.urandom(16))
    done = _core._testing_answer_encode(("done", 1, 1))
    with pytest.raises(StateError):
        _core._testing_answer_seal(dk, node.node_id, [(done, True), (done, True)])
    with pytest.raises(LimitError):          # a text chunk over 16 KiB
        _core._testing_answer_seal(dk, node.node_id, [(b"a" * (CHUNK + 1), False)])
    with pytest.raises(LimitError):          # a final one over 16 KiB + its padding
        _core._testing_answer_seal(dk, node.node_id, [(b"a" * (FINAL_CHUNK + 1), True)])


# ---- the payload parser --------------------------------------------------------------------

def parse(raw):
    return _core._testing_chat_parse(raw)


GOOD = {"messages": [{"role": "user", "content": "hi"}],
        "params": {"max_tokens": 16, "temperature": 0.0, "top_p": 1.0, "top_k": 0, "seed": None}}


def variant(**params):
    p = dict(GOOD["params"])
    for k, v in params.items():
        if v is KeyError:
            del p[k]
        else:
            p[k] = v
    return msgpack.packb({"messages": GOOD["messages"], "params": p})


def test_parse_good():
    assert parse(msgpack.packb(GOOD)) == ([("user", "hi")], GOOD["params"])


@pytest.mark.parametrize("n", [0, 1, 255, 256, 70000])
def test_parse_accepts_a_pad_of_zeros(n):
    assert parse(msgpack.packb(dict(GOOD, pad=bytes(n)))) == ([("user", "hi")], GOOD["params"])


@pytest.mark.parametrize("pad", [b"\0\0\1", b"\x80", "", 0, None, [b""]],
                         ids=["nonzero", "high", "str", "int", "nil", "array"])
def test_parse_refuses_a_wrong_pad(pad):
    with pytest.raises(FormatError):
        parse(msgpack.packb(dict(GOOD, pad=pad)))


def test_parse_refuses_a_pad_inside_params_or_twice():
    with pytest.raises(FormatError):
        parse(msgpack.packb({"messages": GOOD["messages"], "params": dict(GOOD["params"],
                                                                           pad=b"")}))
    good = msgpack.packb(dict(GOOD, pad=b""))
    # a map of 4 whose fourth entry repeats "pad"
    with pytest.raises(FormatError):
        parse(bytes([0x84]) + good[1:] + msgpack.packb("pad") + msgpack.packb(b""))


@pytest.mark.parametrize("bad", [
    {"max_tokens": 1.0}, {"max_tokens": "16"}, {"max_tokens": 0}, {"max_tokens": -1},
    {"max_tokens": 2**31}, {"max_tokens": True}, {"temperature": 0}, {"temperature": "0"},
    {"temperature": -0.5}, {"temperature": float("nan")}, {"temperature": float("inf")},
    {"top_p": 1}, {"top_p": 1.5}, {"top_p": -0.1}, {"top_k": 1.0}, {"top_k": -1},
    {"top_k": None}, {"seed": -1}, {"seed": 1.0}, {"seed": "1"}, {"seed": False},
    {"seed": KeyError}, {"top_k": KeyError}, {"extra": 1}],
    ids=lambda d: ",".join(f"{k}={v!r}" for k, v in d.items()))
def test_parse_wrong_params(bad):
    with pytest.raises(FormatError):
        parse(variant(**bad))


@pytest.mark.parametrize("doc", [
    {"messages": []}, {"messages": [], "params": GOOD["params"]},
    {"messages": [{"role": "root", "content": "x"}], "params": GOOD["params"]},
    {"messages": [{"role": "user"}], "params": GOOD["params"]},
    {"messages": [{"role": "user", "content": b"x"}], "params": GOOD["params"]},
    {"messages": [{"role": "user", "content": "x", "name": "y"}], "params": GOOD["params"]},
    {"messages": {"role": "user"}, "params": GOOD["params"]},
    {"messages": GOOD["messages"], "params": GOOD["params"], "stream": True},
    {"messages": GOOD["messages"], "params": [1, 2]},
    [GOOD["messages"], GOOD["params"]], "messages", None])
def test_parse_wrong_structure(doc):
    with pytest.raises(FormatError):
        parse(msgpack.packb(doc))


def test_parse_duplicate_key():
    good = msgpack.packb(GOOD)
    # a map of 3 whose third entry repeats "params"
    raw = b"\x83" + good[1:] + msgpack.packb("params") + msgpack.packb(GOOD["params"])
    with pytest.raises(FormatError):
        parse(raw)


def test_parse_invalid_utf8_content():
    raw = msgpack.packb(GOOD).replace(b"\xa2hi", b"\xa2\xed\xa0")  # a surrogate
    with pytest.raises(FormatError):
        parse(raw)


def test_parse_trailing_bytes_and_truncation():
    good = msgpack.packb(GOOD)
    for raw in (good + b"\xc0", good[:-1], b"", b"\xc1"):
        with pytest.raises(FormatError):
            parse(raw)


def test_parse_huge_declared_counts():
    # array32 / map32 claiming 2^32-1 elements, and deep nesting: refused before allocation
    for raw in (b"\x82\xa8messages\xdd\xff\xff\xff\xff", b"\xdf\xff\xff\xff\xff",
                b"\x91" * 100 + b"\xc0", b"\xdb\xff\xff\xff\xff"):
        with pytest.raises(FormatError):
            parse(raw)


def test_parse_too_many_messages():
    doc = dict(GOOD, messages=[{"role": "user", "content": ""}] * 1025)
    with pytest.raises(FormatError):
        parse(msgpack.packb(doc))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_parse_arbitrary_bytes_never_crash(raw):
    try:
        parse(raw)
    except FormatError:
        pass


_mp_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**63, 2**64 - 1) | st.floats() | st.text(max_size=8)
    | st.binary(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                max_size=6),
    max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(st.fixed_dictionaries({"messages": _mp_values, "params": _mp_values}) | _mp_values)
def test_parse_arbitrary_msgpack(doc):
    raw = msgpack.packb(doc)
    try:
        msgs, params = parse(raw)
    except FormatError:
        return
    assert msgpack.unpackb(raw) == {"messages": [{"role": r, "content": c} for r, c in msgs],
                                    "params": params}


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(_request.ROLES), st.text(max_size=50)), min_size=1,
                max_size=5),
       st.integers(1, 2**31 - 1), st.floats(0, 5), st.floats(0, 1), st.integers(0, 2**31 - 1),
       st.none() | st.integers(0, 2**64 - 1))
def test_parse_round_trip(msgs, max_tokens, temperature, top_p, top_k, seed):
    params = {"max_tokens": max_tokens, "temperature": temperature, "top_p": top_p,
              "top_k": top_k, "seed": seed}
    assert parse(payload_of(msgs, **params)) == (msgs, params)


# ---- the public client API -------------------------------------------------------------------

def test_seal_request_argument_errors(node):
    with pytest.raises(UnsupportedError):
        _request.seal_request([(node.node_id, node.key_id, node.pk, (X25519, 1, 0xFFFF))],
                              [("user", "x")])
    with pytest.raises(InvalidArgument):
        _request.seal_request([(node.node_id, node.key_id, node.pk[:-1])], [("user", "x")])
    with pytest.raises(InvalidArgument):
        _request.seal_request([(node.node_id[:-1], node.key_id, node.pk)], [("user", "x")])
    with pytest.raises(InvalidArgument):
        _request.seal_request([node.key()] * 2, [("user", "x")])
    with pytest.raises(InvalidArgument):
        _request.seal_request([Node().key() for _ in range(17)], [("user", "x")])
    with pytest.raises(InvalidArgument):
        _request.seal_request([node.key()], [])
    with pytest.raises(InvalidArgument):
        _request.seal_request([node.key()], [("root", "x")])
    with pytest.raises(InvalidArgument):
        _request.seal_request([node.key()], [("user", "x")], {"top_p": 2.0})
    with pytest.raises(InvalidArgument):
        _request.seal_request([node.key()], [("user", "x")], {"stream": True})
    with pytest.raises(TypeError):
        _request.seal_request([node.key()], [("user", b"x")])
    with pytest.raises(TypeError):
        _request.seal_request([node.key()], [("user", "x")], {"temperature": "hot"})
    with pytest.raises(FormatError):  # an X25519 point of small order
        _request.seal_request([(node.node_id, node.key_id, bytes(32))], [("user", "x")])


def test_reader_only_for_a_sealed_node(node):
    _, state = _request.seal_request([node.key()], [("user", "x")])
    with pytest.raises(InvalidArgument):
        state.reader(os.urandom(32))


def test_dk_is_not_exported(node):
    _, state = _request.seal_request([node.key()], [("user", "x")])
    public = [n for n in dir(state._dk) if not n.startswith("__")]
    assert public == ["answer_reader"]
    assert repr(state) == "RequestState(nodes=1)"
    for v in vars(type(state)).values():
        assert not isinstance(v, bytes)
