"""Chunked Oblivious HTTP (draft-ietf-ohai-chunked-ohttp): the draft's Appendix A example byte for
byte on both sides (and recomputed by an independent reference written here on `cryptography` and
hashlib), round trips for every suite and both KEMs, hypothesis round trips with random chunk
sizes and random splits of the byte streams in both directions, one named negative test per way
a chunked message can be wrong, and hypothesis fuzzing of both receivers."""
import hashlib
import hmac
import random

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import load_vector
from pcc import hpke, ohttp
from pcc.errors import (DecryptError, FormatError, InvalidArgument, LimitError, PccError,
                        StateError, UnknownKeyError, UnsupportedError)

V = load_vector("ohttp_chunked_draft.json")["values"]
H = {k: bytes.fromhex(v) for k, v in V.items() if isinstance(v, str)}
REQ_CHUNKS = [bytes.fromhex(c) for c in V["request_chunks"]]
RESP_CHUNKS = [bytes.fromhex(c) for c in V["response_chunks"]]
X25519, P256 = 0x0020, 0x0010
ALL_SUITES = [(kdf, aead) for kdf in (1, 2, 3) for aead in (1, 2, 3)]


def draft_key():
    return hpke.PrivateKey.from_bytes(X25519, H["server_x25519_secret_key"])


def draft_config():
    return ohttp.KeyConfig.decode(H["key_config"])


def draft_gateway():
    return ohttp.Gateway([(draft_config(), draft_key())])


def draft_client():
    eph = hpke.PrivateKey.from_bytes(X25519, H["client_ephemeral_secret_key"])
    return ohttp.encapsulate_request_chunked(draft_config(), aead=1, _sk_e=eph)


def draft_request():
    return H["request_header"] + b"".join(REQ_CHUNKS)


def draft_response():
    return H["response_nonce"] + b"".join(RESP_CHUNKS)


# ---- an independent reference (RFC 9180 mode base, X25519, HKDF-SHA256, AES-128-GCM; chunked
#      OHTTP framing and nonces) on `cryptography` and hashlib ----

KEM_ID = b"KEM\x00\x20"
HPKE_ID = b"HPKE\x00\x20\x00\x01\x00\x01"


def _lx(suite_id, salt, label, ikm):
    return hmac.new(salt or bytes(32), b"HPKE-v1" + suite_id + label + ikm, hashlib.sha256).digest()


def _le(suite_id, prk, label, info, length):
    info = length.to_bytes(2, "big") + b"HPKE-v1" + suite_id + label + info
    out, t, i = b"", b"", 1
    while len(out) < length:
        t = hmac.new(prk, t + info + bytes([i]), hashlib.sha256).digest()
        out += t
        i += 1
    return out[:length]


def _varint(n):
    for size, prefix in ((1, 0), (2, 0x40), (4, 0x80), (8, 0xC0)):
        if n < 1 << (8 * size - 2):
            return (n | prefix << (8 * size - 8)).to_bytes(size, "big")
    raise ValueError(n)


class RefClient:
    """The client side of a chunked exchange, computed without pcc."""

    def __init__(self, sk_e, pk_r, key_id):
        e = X25519PrivateKey.from_private_bytes(sk_e)
        self.enc = e.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        dh = e.exchange(X25519PublicKey.from_public_bytes(pk_r))
        shared = _le(KEM_ID, _lx(KEM_ID, b"", b"eae_prk", dh), b"shared_secret", self.enc + pk_r, 32)
        self.hdr = bytes([key_id]) + b"\x00\x20\x00\x01\x00\x01"
        self.info = b"message/bhttp chunked request\x00" + self.hdr
        ctx = (b"\x00" + _lx(HPKE_ID, b"", b"psk_id_hash", b"")
               + _lx(HPKE_ID, b"", b"info_hash", self.info))
        secret = _lx(HPKE_ID, shared, b"secret", b"")
        self.key = _le(HPKE_ID, secret, b"key", ctx, 16)
        self.base_nonce = _le(HPKE_ID, secret, b"base_nonce", ctx, 12)
        exp = _le(HPKE_ID, secret, b"exp", ctx, 32)
        self.secret = _le(HPKE_ID, exp, b"sec", b"message/bhttp chunked response", 16)
        self.seq = 0

    def seal(self, chunk, final=False, prefix=None):
        nonce = (int.from_bytes(self.base_nonce, "big") ^ self.seq).to_bytes(12, "big")
        self.seq += 1
        ct = AESGCM(self.key).encrypt(nonce, chunk, b"final" if final else b"")
        return (_varint(0 if final else len(ct)) if prefix is None else prefix) + ct

    def response_keys(self, response_nonce):
        salt = self.enc + response_nonce
        prk = hmac.new(salt, self.secret, hashlib.sha256).digest()
        key = hmac.new(prk, b"key\x01", hashlib.sha256).digest()[:16]
        nonce = hmac.new(prk, b"nonce\x01", hashlib.sha256).digest()[:12]
        return salt, prk, key, nonce


def ref_response_chunk(key, base_nonce, counter, chunk, final=False):
    nonce = (int.from_bytes(base_nonce, "big") ^ counter).to_bytes(12, "big")
    ct = AESGCM(key).encrypt(nonce, chunk, b"final" if final else b"")
    return (_varint(0) if final else _varint(len(ct))) + ct, nonce


def draft_ref():
    return RefClient(H["client_ephemeral_secret_key"], draft_key().public_bytes(), 1)


# ---- the draft's example ----

def test_draft_reference_reproduces_the_request():
    ref = draft_ref()
    assert ref.enc == H["client_ephemeral_public_key_enc"]
    assert ref.info == H["hpke_info"]
    assert ref.hdr + ref.enc == H["request_header"]
    req, pos = H["request_bhttp"], 0
    for n, want, final in zip(V["request_split"], REQ_CHUNKS, (False, False, True)):
        assert ref.seal(req[pos:pos + n], final) == want
        pos += n
    assert pos == len(req)


def test_draft_reference_reproduces_the_response():
    ref = draft_ref()
    assert ref.secret == H["response_secret"]
    salt, prk, key, base = ref.response_keys(H["response_nonce"])
    assert (salt, prk, key, base) == (H["response_salt"], H["response_prk"], H["response_key"],
                                      H["response_nonce_base"])
    resp, pos = H["response_bhttp"], 0
    for i, (n, want) in enumerate(zip(V["response_split"], RESP_CHUNKS)):
        got, nonce = ref_response_chunk(key, base, i, resp[pos:pos + n], final=i == 2)
        assert got == want
        assert nonce.hex() == V["response_chunk_nonces"][i]
        pos += n


def test_draft_client_encapsulates_byte_for_byte():
    header, cctx = draft_client()
    assert header == H["request_header"]
    req, pos = H["request_bhttp"], 0
    for n, want, final in zip(V["request_split"], REQ_CHUNKS, (False, False, True)):
        assert cctx.seal(req[pos:pos + n], final=final) == want
        pos += n


def test_draft_gateway_opens_the_request():
    gctx = draft_gateway().decapsulate_chunked()
    assert gctx.key_id is None and gctx.suite is None
    assert gctx.open(draft_request()) == [H["request_bhttp"][:12], H["request_bhttp"][12:]]
    assert gctx.key_id == 1 and gctx.suite == (X25519, 1, 1)
    assert gctx.finish() == b""


def test_draft_gateway_encapsulates_the_response_byte_for_byte():
    gctx = draft_gateway().decapsulate_chunked()
    gctx.open(draft_request())
    gctx.finish()
    resp = H["response_bhttp"]
    out = ohttp._testing_chunked_seal(gctx, resp[:1], nonce=H["response_nonce"])
    assert out == H["response_nonce"] + RESP_CHUNKS[0]
    assert gctx.seal(resp[1:]) == RESP_CHUNKS[1]
    assert gctx.seal(b"", final=True) == RESP_CHUNKS[2]


def test_draft_client_opens_the_response():
    _, cctx = draft_client()
    assert cctx.open(draft_response()) == [b"\x01", b"\x40\xc8"]
    assert cctx.finish() == b""


def test_draft_exchange_byte_by_byte():
    gctx = draft_gateway().decapsulate_chunked()
    got = []
    for b in draft_request():
        got += gctx.open(bytes([b]))
    assert b"".join(got) + gctx.finish() == H["request_bhttp"]
    _, cctx = draft_client()
    got = []
    for b in draft_response():
        got += cctx.open(bytes([b]))
    assert got == [b"\x01", b"\x40\xc8"] and cctx.finish() == b""


def test_draft_response_for_another_ephemeral_key_fails():
    _, cctx = ohttp.encapsulate_request_chunked(draft_config())
    with pytest.raises(DecryptError):
        cctx.open(draft_response())


# ---- round trips ----

def exchange(cfg, gw, request, response, *, kdf=None, aead=None, chunk=ohttp.CHUNK_SIZE):
    header, cctx = ohttp.encapsulate_request_chunked(cfg, kdf=kdf, aead=aead)
    pieces = [request[i:i + chunk] for i in range(0, len(request), chunk)] or [b""]
    stream = header + b"".join(cctx.seal(p) for p in pieces[:-1]) + cctx.seal(pieces[-1], final=True)
    gctx = gw.decapsulate_chunked()
    got = b"".join(gctx.open(stream)) + gctx.finish()
    out = gctx.close(response)
    back = b"".join(cctx.open(out)) + cctx.finish()
    return got, back, gctx, cctx


@pytest.mark.parametrize("kem", [X25519, P256])
@pytest.mark.parametrize("kdf,aead", ALL_SUITES)
def test_round_trip_every_suite(kem, kdf, aead):
    sk = hpke.PrivateKey.generate(kem)
    cfg = ohttp.KeyConfig(7, kem, sk.public_bytes(), [(kdf, aead)])
    req, resp = b"q" * 40000, b"a" * 33000
    got, back, gctx, cctx = exchange(cfg, ohttp.Gateway([(cfg, sk)]), req, resp)
    assert (got, back) == (req, resp)
    assert gctx.suite == cctx.suite == (kem, kdf, aead) and gctx.key_id == 7


def test_round_trip_empty_messages():
    sk = hpke.PrivateKey.generate(X25519)
    cfg = ohttp.KeyConfig(1, X25519, sk.public_bytes())
    got, back, _, _ = exchange(cfg, ohttp.Gateway([(cfg, sk)]), b"", b"")
    assert (got, back) == (b"", b"")


def test_write_and_close_split_at_chunk_size():
    sk = hpke.PrivateKey.generate(X25519)
    cfg = ohttp.KeyConfig(1, X25519, sk.public_bytes())
    header, cctx = ohttp.encapsulate_request_chunked(cfg)
    data = bytes(range(256)) * 200  # 51200 bytes
    body = cctx.write(data[:40000]) + cctx.close(data[40000:40000 + 30000])
    gctx = ohttp.Gateway([(cfg, sk)]).decapsulate_chunked()
    chunks = gctx.open(header + body)
    # write: 16384, 16384, 7232; close(11200 bytes): all of it in the final chunk
    assert [len(c) for c in chunks] == [16384, 16384, 7232]
    last = gctx.finish()
    assert len(last) == 11200 and b"".join(chunks) + last == data


def test_response_may_start_before_the_request_ends():
    sk = hpke.PrivateKey.generate(X25519)
    cfg = ohttp.KeyConfig(1, X25519, sk.public_bytes())
    header, cctx = ohttp.encapsulate_request_chunked(cfg)
    gctx = ohttp.Gateway([(cfg, sk)]).decapsulate_chunked()
    assert gctx.open(header + cctx.seal(b"first")) == [b"first"]
    assert cctx.open(gctx.seal(b"early")) == [b"early"]
    assert gctx.open(cctx.seal(b"", final=True)) == [] and gctx.finish() == b""
    cctx.open(gctx.close(b"late"))
    assert cctx.finish() == b"late"


def test_non_minimal_length_prefixes_are_accepted():
    ref = draft_ref()
    req = H["request_bhttp"]
    stream = (H["request_header"] + ref.seal(req[:12], prefix=b"\x40\x1c")
              + ref.seal(req[12:], prefix=b"\x80\x00\x00\x1d")
              + ref.seal(b"", final=True, prefix=b"\xc0" + bytes(7)))
    gctx = draft_gateway().decapsulate_chunked()
    assert b"".join(gctx.open(stream)) + gctx.finish() == req


def test_gateway_context_keeps_its_gateway():
    gctx = draft_gateway().decapsulate_chunked()  # the Gateway object is dropped at once
    assert b"".join(gctx.open(draft_request())) + gctx.finish() == H["request_bhttp"]


def _split(data, cuts):
    cuts = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in zip([0] + cuts, cuts + [len(data)])]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(req=st.binary(max_size=3000), resp=st.binary(max_size=3000),
       req_sizes=st.lists(st.integers(1, 700), min_size=1, max_size=8),
       resp_sizes=st.lists(st.integers(1, 700), min_size=1, max_size=8),
       cuts_a=st.lists(st.integers(0, 10**6), max_size=12),
       cuts_b=st.lists(st.integers(0, 10**6), max_size=12))
def test_round_trip_random_chunks_and_splits(req, resp, req_sizes, resp_sizes, cuts_a, cuts_b):
    sk = draft_key()
    cfg = draft_config()
    gw = ohttp.Gateway([(cfg, sk)])

    def seal_all(ctx, data, sizes):
        out, pos, i = [], 0, 0
        while len(data) - pos > sizes[i % len(sizes)]:
            n = sizes[i % len(sizes)]
            out.append(ctx.seal(data[pos:pos + n]))
            pos, i = pos + n, i + 1
        out.append(ctx.seal(data[pos:], final=True))
        return b"".join(out)

    header, cctx = ohttp.encapsulate_request_chunked(cfg)
    stream = header + seal_all(cctx, req, req_sizes)
    gctx = gw.decapsulate_chunked()
    got = []
    for piece in _split(stream, cuts_a):
        got += gctx.open(piece)
    assert all(got) and b"".join(got) + gctx.finish() == req
    stream = seal_all(gctx, resp, resp_sizes)
    back = []
    for piece in _split(stream, cuts_b):
        back += cctx.open(piece)
    assert all(back) and b"".join(back) + cctx.finish() == resp


# ---- negative tests: one per way a chunked message can be wrong ----

def test_truncated_request_without_final_chunk_is_format_error():
    gctx = draft_gateway().decapsulate_chunked()
    gctx.open(H["request_header"] + REQ_CHUNKS[0] + REQ_CHUNKS[1])
    with pytest.raises(FormatError):
        gctx.finish()


def test_truncated_response_without_final_chunk_is_format_error():
    _, cctx = draft_client()
    cctx.open(H["response_nonce"] + RESP_CHUNKS[0] + RESP_CHUNKS[1])
    with pytest.raises(FormatError):
        cctx.finish()


def test_truncated_at_every_length_never_completes():
    stream = draft_request()
    for cut in range(len(stream)):
        gctx = draft_gateway().decapsulate_chunked()
        with pytest.raises((FormatError, DecryptError)):
            gctx.open(stream[:cut])
            gctx.finish()


def test_truncated_header_is_format_error():
    gctx = draft_gateway().decapsulate_chunked()
    gctx.open(H["request_header"][:20])
    with pytest.raises(FormatError):
        gctx.finish()


def test_reordered_chunks_are_decrypt_errors():
    gctx = draft_gateway().decapsulate_chunked()
    with pytest.raises(DecryptError):
        gctx.open(H["request_header"] + REQ_CHUNKS[1] + REQ_CHUNKS[0])
    _, cctx = draft_client()
    with pytest.raises(DecryptError):
        cctx.open(H["response_nonce"] + RESP_CHUNKS[1] + RESP_CHUNKS[0])


def test_dropped_middle_chunk_is_decrypt_error():
    gctx = draft_gateway().decapsulate_chunked()
    gctx.open(H["request_header"] + REQ_CHUNKS[0] + REQ_CHUNKS[2])
    with pytest.raises(DecryptError):
        gctx.finish()


@pytest.mark.parametrize("which", [0, 1, 2])
def test_tampered_request_chunk_is_decrypt_error(which):
    for pos in range(1, len(REQ_CHUNKS[which])):  # every byte after the length prefix
        chunks = list(REQ_CHUNKS)
        c = bytearray(chunks[which])
        c[pos] ^= 0x01
        chunks[which] = bytes(c)
        gctx = draft_gateway().decapsulate_chunked()
        with pytest.raises(DecryptError):
            gctx.open(H["request_header"] + b"".join(chunks))
            gctx.finish()


def test_tampered_response_chunk_is_decrypt_error():
    for pos in range(len(draft_response())):
        stream = bytearray(draft_response())
        if pos in (16, 16 + 18, 16 + 18 + 19):
            continue  # length prefixes: covered by the framing tests
        stream[pos] ^= 0x80
        _, cctx = draft_client()
        with pytest.raises((DecryptError, FormatError, LimitError)):
            cctx.open(bytes(stream))
            cctx.finish()


def test_tampered_enc_is_decrypt_error():
    hdr = bytearray(H["request_header"])
    hdr[10] ^= 0x01
    gctx = draft_gateway().decapsulate_chunked()
    with pytest.raises(DecryptError):
        gctx.open(bytes(hdr) + b"".join(REQ_CHUNKS))


def test_data_after_final_chunk_is_decrypt_error():
    gctx = draft_gateway().decapsulate_chunked()
    gctx.open(draft_request() + b"\x00")
    with pytest.raises(DecryptError):
        gctx.finish()
    _, cctx = draft_client()
    cctx.open(draft_response() + RESP_CHUNKS[0])
    with pytest.raises(DecryptError):
        cctx.finish()


def test_data_after_finish_is_state_error():
    gctx = draft_gateway().decapsulate_chunked()
    gctx.open(draft_request())
    gctx.finish()
    with pytest.raises(StateError):
        gctx.open(b"\x00")
    with pytest.raises(StateError):
        gctx.finish()


def test_oversized_chunk_length_is_limit_error():
    gctx = draft_gateway().decapsulate_chunked()
    with pytest.raises(LimitError):
        gctx.open(H["request_header"] + _varint(ohttp.MAX_CHUNK + 17))
    _, cctx = draft_client()
    with pytest.raises(LimitError):
        cctx.open(H["response_nonce"] + b"\xff" * 8)  # the largest 8-byte varint


def test_oversized_final_chunk_is_limit_error():
    gctx = draft_gateway().decapsulate_chunked()
    gctx.open(H["request_header"] + b"\x00" + bytes(ohttp.MAX_CHUNK + 16))
    with pytest.raises(LimitError):
        gctx.open(b"\x00")


def test_largest_chunk_is_accepted():
    sk = hpke.PrivateKey.generate(X25519)
    cfg = ohttp.KeyConfig(1, X25519, sk.public_bytes())
    big = bytes(ohttp.MAX_CHUNK)
    got, back, _, _ = exchange(cfg, ohttp.Gateway([(cfg, sk)]), big, big, chunk=ohttp.MAX_CHUNK)
    assert got == big and back == big


@pytest.mark.parametrize("prefix", [b"\x40", b"\x80\x00\x00", b"\xc0\x00\x00\x00\x00\x00\x00"])
def test_varint_cut_by_the_end_of_the_stream_is_format_error(prefix):
    gctx = draft_gateway().decapsulate_chunked()
    gctx.open(H["request_header"] + REQ_CHUNKS[0] + prefix)
    with pytest.raises(FormatError):
        gctx.finish()


@pytest.mark.parametrize("length", [1, 15, 0x400f])
def test_chunk_length_shorter_than_the_tag_is_format_error(length):
    if length > 63:  # 15 as a non-minimal 2-byte varint
        prefix = b"\x40\x0f"
    else:
        prefix = _varint(length)
    gctx = draft_gateway().decapsulate_chunked()
    with pytest.raises(FormatError):
        gctx.open(H["request_header"] + prefix)


def test_final_chunk_shorter_than_the_tag_is_format_error():
    gctx = draft_gateway().decapsulate_chunked()
    gctx.open(H["request_header"] + b"\x00" + bytes(15))
    with pytest.raises(FormatError):
        gctx.finish()


def test_authentic_empty_non_final_chunk_is_decrypt_error():
    ref = draft_ref()
    stream = H["request_header"] + ref.seal(b"") + ref.seal(b"x", final=True)
    gctx = draft_gateway().decapsulate_chunked()
    with pytest.raises(DecryptError):
        gctx.open(stream)


def test_non_final_chunk_marked_final_is_decrypt_error():
    ref = draft_ref()  # a truncating relay turns chunk 1 into a "final" chunk
    stream = H["request_header"] + ref.seal(b"abc", prefix=b"\x00")
    gctx = draft_gateway().decapsulate_chunked()
    gctx.open(stream)
    with pytest.raises(DecryptError):
        gctx.finish()


def test_final_chunk_marked_non_final_is_decrypt_error():
    ref = draft_ref()
    sealed = ref.seal(b"abc", final=True)[1:]
    gctx = draft_gateway().decapsulate_chunked()
    with pytest.raises(DecryptError):
        gctx.open(H["request_header"] + _varint(len(sealed)) + sealed)


def test_wrong_key_id_is_unknown_key_error():
    stream = bytearray(draft_request())
    stream[0] = 9
    gctx = draft_gateway().decapsulate_chunked()
    with pytest.raises(UnknownKeyError):
        gctx.open(bytes(stream))


def test_unknown_key_id_is_reported_from_the_first_seven_bytes():
    gctx = draft_gateway().decapsulate_chunked()
    with pytest.raises(UnknownKeyError):
        gctx.open(b"\x09\x00\x20\x00\x01\x00\x01")


@pytest.mark.parametrize("suite", [b"\x00\x10\x00\x01\x00\x01", b"\x00\x20\x00\x02\x00\x01",
                                   b"\x00\x20\x00\x01\x00\x02", b"\x00\x20\x00\x01\xff\xff"])
def test_suite_not_offered_is_unsupported(suite):
    gctx = draft_gateway().decapsulate_chunked()
    with pytest.raises(UnsupportedError):
        gctx.open(b"\x01" + suite + bytes(32))


def test_errors_are_final():
    gctx = draft_gateway().decapsulate_chunked()
    with pytest.raises(DecryptError):
        gctx.open(H["request_header"] + REQ_CHUNKS[1])
    with pytest.raises(StateError):
        gctx.open(REQ_CHUNKS[2])
    with pytest.raises(StateError):
        gctx.finish()
    with pytest.raises(StateError):
        gctx.seal(b"x")


# ---- sender rules ----

def test_empty_non_final_chunk_cannot_be_sealed():
    _, cctx = draft_client()
    with pytest.raises(InvalidArgument):
        cctx.seal(b"")
    gctx = draft_gateway().decapsulate_chunked()
    gctx.open(H["request_header"])
    with pytest.raises(InvalidArgument):
        gctx.seal(b"")


def test_nothing_after_the_final_chunk():
    _, cctx = draft_client()
    cctx.seal(b"x", final=True)
    with pytest.raises(StateError):
        cctx.seal(b"y")
    gctx = draft_gateway().decapsulate_chunked()
    gctx.open(H["request_header"])
    gctx.close(b"done")
    with pytest.raises(StateError):
        gctx.seal(b"y", final=True)


def test_response_before_the_request_header_is_state_error():
    gctx = draft_gateway().decapsulate_chunked()
    with pytest.raises(StateError):
        gctx.seal(b"x")
    gctx.open(H["request_header"][:10])
    with pytest.raises(StateError):
        gctx.seal(b"x")


def test_response_nonce_rules():
    gctx = draft_gateway().decapsulate_chunked()
    gctx.open(H["request_header"])
    with pytest.raises(TypeError):
        gctx.seal(b"x", nonce=bytes(16))  # the public seal takes no nonce
    with pytest.raises(InvalidArgument):
        ohttp._testing_chunked_seal(gctx, b"x", nonce=bytes(12))  # max(Nn, Nk) = 16 (AES-128)
    out = gctx.seal(b"x")
    assert len(out) == 16 + 1 + 17
    with pytest.raises(InvalidArgument):
        ohttp._testing_chunked_seal(gctx, b"y", nonce=bytes(16))  # only the first chunk


def test_random_response_nonces_differ():
    nonces = set()
    for _ in range(4):
        gctx = draft_gateway().decapsulate_chunked()
        gctx.open(H["request_header"])
        nonces.add(gctx.seal(b"x")[:16])
    assert len(nonces) == 4


def test_chunk_larger_than_max_chunk_is_limit_error():
    _, cctx = draft_client()
    with pytest.raises(LimitError):
        cctx.seal(bytes(ohttp.MAX_CHUNK + 1))


def test_wrong_types_are_type_errors():
    _, cctx = draft_client()
    with pytest.raises(TypeError):
        cctx.open("text")
    with pytest.raises(TypeError):
        cctx.seal("text")
    with pytest.raises(TypeError):
        ohttp.encapsulate_request_chunked(b"not a config")


def test_requested_suite_not_offered_is_unsupported():
    with pytest.raises(UnsupportedError):
        ohttp.encapsulate_request_chunked(draft_config(), aead=2)


def test_media_types():
    assert ohttp.CHUNKED_REQUEST_MEDIA_TYPE == "message/ohttp-chunked-req"
    assert ohttp.CHUNKED_RESPONSE_MEDIA_TYPE == "message/ohttp-chunked-res"
    assert ohttp.CHUNK_SIZE == 16384 and ohttp.MAX_CHUNK >= 16384


# ---- fuzzing ----

@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=300), cuts=st.lists(st.integers(0, 400), max_size=6))
def test_gateway_fuzz_only_raises_pcc_errors(data, cuts):
    gctx = draft_gateway().decapsulate_chunked()
    try:
        for piece in _split(H["request_header"][:7] + data if data[:1] == b"\x01" else data, cuts):
            assert all(gctx.open(piece))
        gctx.finish()
    except PccError:
        pass


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=300), cuts=st.lists(st.integers(0, 400), max_size=6))
def test_client_fuzz_only_raises_pcc_errors(data, cuts):
    _, cctx = draft_client()
    try:
        for piece in _split(H["response_nonce"] + data, cuts):
            assert all(cctx.open(piece))
        cctx.finish()
    except PccError:
        pass


def test_mutated_draft_streams_never_open_to_other_plaintext():
    rng = random.Random(1)
    good = draft_request()
    for _ in range(300):
        s = bytearray(good)
        for _ in range(rng.randint(1, 3)):
            s[rng.randrange(len(s))] = rng.randrange(256)
        gctx = draft_gateway().decapsulate_chunked()
        try:
            got = b"".join(gctx.open(bytes(s))) + gctx.finish()
        except PccError:
            continue
        assert got == H["request_bhttp"]  # only changes to varint encodings survive


def test_streamed_bhttp_response_through_chunked_ohttp():
    """How the gateway answers a chunked request: an indeterminate-length BHTTP response whose
    parts are sealed as they are produced, decoded by the client as they arrive."""
    from pcc import bhttp
    gctx = draft_gateway().decapsulate_chunked()
    gctx.open(draft_request())
    assert gctx.finish() == b""
    _, cctx = draft_client()
    dec = bhttp.ResponseDecoder()
    assert dec.feed(b"".join(cctx.open(gctx.seal(bhttp.encode_response_head(200, [("pcc-node", "ab")]))))) == b""
    assert dec.head.status == 200 and dec.head.headers == [(b"pcc-node", b"ab")]
    for frame in (b"frame-1", b"frame-2"):
        assert dec.feed(b"".join(cctx.open(gctx.seal(bhttp.encode_content_chunk(frame))))) == frame
    cctx.open(gctx.close(bhttp.encode_response_end()))
    assert dec.feed(cctx.finish()) == b""
    dec.finish()
    assert dec.trailers == []


def test_reprs_are_readable_and_hold_no_bytes():
    gctx = draft_gateway().decapsulate_chunked()
    assert repr(gctx) == "ohttp.ChunkedGatewayContext(key_id=None, suite=None)"
    gctx.open(H["request_header"])
    assert repr(gctx) == ("ohttp.ChunkedGatewayContext(key_id=0x01, "
                          "suite=(kem=0x0020, kdf=0x0001, aead=0x0001))")
    _, cctx = draft_client()
    assert repr(cctx) == "ohttp.ChunkedClientContext(suite=(kem=0x0020, kdf=0x0001, aead=0x0001))"
