"""Oblivious HTTP (RFC 9458): Appendix A byte for byte on both sides (the client replayed from the
RFC's skE through the _sk_e test hook), round trips for every suite and both KEMs,
key configuration lists, one named negative test per way input can be wrong, and hypothesis
fuzzing of the decapsulators and the key configuration parsers."""
import hashlib
import hmac
import threading

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import load_vector
from pcc import _core, bhttp, hpke, ohttp
from pcc.errors import (DecryptError, FormatError, InvalidArgument, LimitError, StateError,
                        UnknownKeyError, UnsupportedError)

sk_from_bytes = hpke.PrivateKey.from_bytes
sk_generate = hpke.PrivateKey.generate

V = load_vector("ohttp_rfc9458.json")
R = {k: bytes.fromhex(v) for k, v in V["rfc_values"].items()}
X25519, P256 = 0x0020, 0x0010
ALL_SUITES = [(kdf, aead) for kdf in (1, 2, 3) for aead in (1, 2, 3)]
NONCE_LEN = {1: 16, 2: 32, 3: 32}  # max(Nn, Nk) per AEAD
NENC = {X25519: 32, P256: 65}


def rfc_key():
    return sk_from_bytes(X25519, R["server_x25519_secret_key"])


def rfc_config(sk=None):
    d = V["decoded"]["key_config"]
    pk = (sk or rfc_key()).public_bytes()
    return ohttp.KeyConfig(d["key_id"], d["kem_id"], pk,
                           [(s["kdf_id"], s["aead_id"]) for s in d["symmetric_algorithms"]])


def rfc_gateway():
    sk = rfc_key()
    return ohttp.Gateway([(rfc_config(sk), sk)])


# ---- an independent reference of the RFC 9458 client (RFC 9180 mode base, X25519,
#      HKDF-SHA256, AES-128-GCM) on `cryptography` and hashlib, for known-answer checks ----

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


KEM_ID = b"KEM\x00\x20"
HPKE_ID = b"HPKE\x00\x20\x00\x01\x00\x01"


def ref_derive_sk(ikm):
    """DeriveKeyPair(ikm) of DHKEM(X25519, HKDF-SHA256): the private key bytes."""
    return _le(KEM_ID, _lx(KEM_ID, b"", b"dkp_prk", ikm), b"sk", b"", 32)


def ref_encapsulate(sk_e, pk_r, key_id, request):
    """Returns (enc_request, exported secret) computed without pcc."""
    e = X25519PrivateKey.from_private_bytes(sk_e)
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
    enc = e.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    dh = e.exchange(X25519PublicKey.from_public_bytes(pk_r))
    shared = _le(KEM_ID, _lx(KEM_ID, b"", b"eae_prk", dh), b"shared_secret", enc + pk_r, 32)
    hdr = bytes([key_id]) + b"\x00\x20\x00\x01\x00\x01"
    info = b"message/bhttp request\x00" + hdr
    ctx = b"\x00" + _lx(HPKE_ID, b"", b"psk_id_hash", b"") + _lx(HPKE_ID, b"", b"info_hash", info)
    secret = _lx(HPKE_ID, shared, b"secret", b"")
    key = _le(HPKE_ID, secret, b"key", ctx, 16)
    nonce = _le(HPKE_ID, secret, b"base_nonce", ctx, 12)
    exp = _le(HPKE_ID, secret, b"exp", ctx, 32)
    ct = AESGCM(key).encrypt(nonce, request, b"")
    return hdr + enc + ct, _le(HPKE_ID, exp, b"sec", b"message/bhttp response", 16)


def ref_response(enc, secret, nonce, response):
    prk = hmac.new(enc + nonce, secret, hashlib.sha256).digest()
    key = _le_plain(prk, b"key", 16)
    aead_nonce = _le_plain(prk, b"nonce", 12)
    return nonce + AESGCM(key).encrypt(aead_nonce, response, b"")


def _le_plain(prk, info, length):
    return hmac.new(prk, info + b"\x01", hashlib.sha256).digest()[:length]


# ---- RFC 9458 Appendix A ----

def test_rfc_server_public_key_from_secret_key():
    assert rfc_key().public_bytes().hex() == V["decoded"]["key_config"]["public_key"]


def test_rfc_key_config_encodes_byte_for_byte():
    assert rfc_config().encode() == R["key_config"]


def test_rfc_key_config_decodes():
    cfg = ohttp.KeyConfig.decode(R["key_config"])
    assert (cfg.key_id, cfg.kem) == (1, X25519)
    assert cfg.public_key.hex() == V["decoded"]["key_config"]["public_key"]
    assert cfg.suites == ((1, 1), (1, 3))
    assert cfg == rfc_config()


def test_rfc_request_bhttp_is_the_bhttp_encoding():
    req = bhttp.Request("GET", "https", "example.com", "/")
    assert req.encode(truncate=True) == R["request_bhttp"]
    assert bhttp.Response(200).encode(truncate=True) == R["response_bhttp"]


def test_rfc_gateway_decapsulates_the_request():
    request, rctx = rfc_gateway().decapsulate(R["encapsulated_request"])
    assert request == R["request_bhttp"]
    assert rctx.key_id == 1 and rctx.suite == (X25519, 1, 1)


def test_rfc_response_encapsulates_byte_for_byte():
    _, rctx = rfc_gateway().decapsulate(R["encapsulated_request"])
    nonce = R["encapsulated_response"][:16]
    assert R["response_salt"] == R["client_ephemeral_public_key_enc"] + nonce
    assert (ohttp._testing_encapsulate_response(rctx, R["response_bhttp"], nonce)
            == R["encapsulated_response"])


def test_rfc_reference_reproduces_the_appendix():
    # validates the independent reference used below against every RFC value it can reach
    enc_request, secret = ref_encapsulate(R["client_ephemeral_secret_key"],
                                          rfc_key().public_bytes(), 1, R["request_bhttp"])
    assert enc_request == R["encapsulated_request"]
    assert secret == R["exported_secret"]
    assert ref_response(R["client_ephemeral_public_key_enc"], secret,
                        R["encapsulated_response"][:16], R["response_bhttp"]) == R["encapsulated_response"]


def rfc_ephemeral_key():
    return sk_from_bytes(X25519, R["client_ephemeral_secret_key"])


def test_rfc_client_ephemeral_public_key():
    assert rfc_ephemeral_key().public_bytes() == R["client_ephemeral_public_key_enc"]


def test_rfc_client_encapsulates_byte_for_byte():
    # the known-answer test of the client: the RFC's skE replayed exactly
    enc_request, cctx = ohttp.encapsulate_request(rfc_config(), R["request_bhttp"],
                                                  _sk_e=rfc_ephemeral_key())
    assert enc_request == R["encapsulated_request"]
    assert cctx.suite == (X25519, 1, 1)


def test_rfc_client_decapsulates_the_rfc_response():
    _, cctx = ohttp.encapsulate_request(rfc_config(), R["request_bhttp"], _sk_e=rfc_ephemeral_key())
    assert cctx.decapsulate_response(R["encapsulated_response"]) == R["response_bhttp"]


def test_rfc_client_rejects_the_rfc_response_for_another_ephemeral_key():
    _, cctx = ohttp.encapsulate_request(rfc_config(), R["request_bhttp"],
                                        _sk_e=sk_from_bytes(X25519, bytes(31) + b"\x01"))
    with pytest.raises(DecryptError):
        cctx.decapsulate_response(R["encapsulated_response"])


def test_client_ikm_e_matches_reference_byte_for_byte():
    # ikm_e (DeriveKeyPair) path, against the reference validated on the RFC above
    ikm_e = bytes(range(32))
    enc_request, cctx = ohttp.encapsulate_request(rfc_config(), R["request_bhttp"], ikm_e=ikm_e)
    want, secret = ref_encapsulate(ref_derive_sk(ikm_e), rfc_key().public_bytes(), 1, R["request_bhttp"])
    assert enc_request == want
    assert enc_request[:7] == R["encapsulated_request"][:7]
    enc_response = ref_response(enc_request[7:39], secret, R["encapsulated_response"][:16],
                                R["response_bhttp"])
    assert cctx.decapsulate_response(enc_response) == R["response_bhttp"]
    # and the same ephemeral key given as a key pair gives the same bytes
    same, _ = ohttp.encapsulate_request(rfc_config(), R["request_bhttp"],
                                        _sk_e=hpke.PrivateKey.derive(X25519, ikm_e))
    assert same == enc_request


def test_sk_e_of_another_kem_is_invalid():
    with pytest.raises(InvalidArgument):
        ohttp.encapsulate_request(rfc_config(), b"x", _sk_e=sk_generate(P256))


def test_sk_e_with_ikm_e_is_invalid():
    with pytest.raises(InvalidArgument):
        ohttp.encapsulate_request(rfc_config(), b"x", ikm_e=bytes(32), _sk_e=rfc_ephemeral_key())


def test_sk_e_not_a_private_key_is_type_error():
    with pytest.raises(TypeError):
        ohttp.encapsulate_request(rfc_config(), b"x", _sk_e=R["client_ephemeral_secret_key"])


def test_rfc_full_exchange_with_the_rfc_gateway():
    enc_request, cctx = ohttp.encapsulate_request(rfc_config(), R["request_bhttp"])
    request, rctx = rfc_gateway().decapsulate(enc_request)
    assert request == R["request_bhttp"]
    assert cctx.decapsulate_response(rctx.encapsulate(R["response_bhttp"])) == R["response_bhttp"]


# ---- round trips ----

@pytest.mark.parametrize("kem", [X25519, P256])
@pytest.mark.parametrize("kdf,aead", ALL_SUITES)
def test_round_trip_every_suite(kem, kdf, aead):
    sk = sk_generate(kem)
    cfg = ohttp.KeyConfig(7, kem, sk.public_bytes(), [(kdf, aead)])
    gw = ohttp.Gateway([(cfg, sk)])
    req = bhttp.Request("POST", "https", "gw.example", "/v1/invoke", [("content-type", "x")],
                        b"prompt" * 50).encode()
    enc_request, cctx = ohttp.encapsulate_request(cfg, req)
    assert len(enc_request) == 7 + NENC[kem] + len(req) + 16
    assert enc_request[:7] == bytes([7]) + kem.to_bytes(2, "big") + kdf.to_bytes(2, "big") + aead.to_bytes(2, "big")
    got, rctx = gw.decapsulate(enc_request)
    assert got == req and rctx.suite == (kem, kdf, aead) == cctx.suite
    resp = bhttp.Response(200, content=b"answer").encode()
    enc_response = rctx.encapsulate(resp)
    assert len(enc_response) == NONCE_LEN[aead] + len(resp) + 16
    assert cctx.decapsulate_response(enc_response) == resp


def test_round_trip_empty_messages():
    sk = rfc_key()
    cfg = rfc_config(sk)
    enc_request, cctx = ohttp.encapsulate_request(cfg, b"")
    got, rctx = ohttp.Gateway([(cfg, sk)]).decapsulate(enc_request)
    assert got == b""
    assert cctx.decapsulate_response(rctx.encapsulate(b"")) == b""


def test_client_picks_the_first_suite_by_default():
    cfg = rfc_config()
    _, cctx = ohttp.encapsulate_request(cfg, b"x")
    assert cctx.suite == (X25519, 1, 1)
    _, cctx = ohttp.encapsulate_request(cfg, b"x", aead=3)
    assert cctx.suite == (X25519, 1, 3)


def test_client_skips_suites_it_does_not_implement():
    cfg = ohttp.KeyConfig(1, X25519, rfc_key().public_bytes(), [(1, 0x9999), (0x77, 1), (3, 2)])
    enc_request, cctx = ohttp.encapsulate_request(cfg, b"x")
    assert cctx.suite == (X25519, 3, 2)
    assert enc_request[3:7] == b"\x00\x03\x00\x02"


def test_random_response_nonces_differ():
    sk = rfc_key()
    gw = ohttp.Gateway([(rfc_config(sk), sk)])
    nonces = set()
    for _ in range(8):
        _, rctx = gw.decapsulate(R["encapsulated_request"])
        nonces.add(rctx.encapsulate(b"r")[:16])
    assert len(nonces) == 8


def test_fresh_ephemeral_key_per_request():
    cfg = rfc_config()
    a, _ = ohttp.encapsulate_request(cfg, b"same")
    b, _ = ohttp.encapsulate_request(cfg, b"same")
    assert a[7:39] != b[7:39] and a != b


def test_gateway_rejects_a_lookalike_of_the_private_key():
    class Wrapper:  # the shape of pcc.hpke.PrivateKey, but not one: refused, not unwrapped
        __slots__ = ("_key",)

        def __init__(self, k):
            self._key = k

        def public_bytes(self):
            return self._key.public_bytes()

    with pytest.raises(TypeError):
        ohttp.Gateway([(rfc_config(), Wrapper(rfc_key()._key))])
    with pytest.raises(TypeError):
        _core.OhttpGateway([(rfc_config()._tuple(), Wrapper(rfc_key()._key))])


def test_core_gateway_takes_an_hpke_private_key():
    # the shared C accessor (pcc_py_hpke_key) unwraps pcc.hpke.PrivateKey itself
    gw = _core.OhttpGateway([(rfc_config()._tuple(), rfc_key())])
    assert gw.decapsulate(R["encapsulated_request"])[0] == R["request_bhttp"]


def test_gateway_key_outlives_the_caller_reference():
    import gc
    sk = rfc_key()
    gw = ohttp.Gateway([(rfc_config(sk), sk)])
    del sk
    gc.collect()
    assert gw.decapsulate(R["encapsulated_request"])[0] == R["request_bhttp"]


def test_gateway_decapsulates_from_many_threads():
    sk = rfc_key()
    cfg = rfc_config(sk)
    gw = ohttp.Gateway([(cfg, sk)])
    reqs = [ohttp.encapsulate_request(cfg, b"req %d" % i) for i in range(40)]
    errors = []

    def work(part):
        try:
            for i, (enc, cctx) in part:
                got, rctx = gw.decapsulate(enc)
                assert got == b"req %d" % i
                assert cctx.decapsulate_response(rctx.encapsulate(got + b"!")) == got + b"!"
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(list(enumerate(reqs))[k::4],)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


# ---- key configuration lists ----

def _three_keys():
    keys = [sk_generate(X25519), sk_generate(P256), sk_generate(X25519)]
    cfgs = [ohttp.KeyConfig(1, X25519, keys[0].public_bytes(), [(1, 1), (1, 3)]),
            ohttp.KeyConfig(2, P256, keys[1].public_bytes(), [(2, 2)]),
            ohttp.KeyConfig(3, X25519, keys[2].public_bytes(), [(3, 3)])]
    return cfgs, keys


def test_key_config_list_round_trip():
    cfgs, _ = _three_keys()
    data = ohttp.encode_key_configs(cfgs)
    off = 0
    for c in cfgs:  # each configuration carries a 2-byte length prefix
        enc = c.encode()
        assert data[off:off + 2] == len(enc).to_bytes(2, "big") and data[off + 2:off + 2 + len(enc)] == enc
        off += 2 + len(enc)
    assert off == len(data)
    assert ohttp.decode_key_configs(data) == cfgs


def test_gateway_with_several_configs_routes_by_key_id():
    cfgs, keys = _three_keys()
    gw = ohttp.Gateway(list(zip(cfgs, keys)))
    assert gw.configs == tuple(cfgs)
    for cfg in ohttp.decode_key_configs(ohttp.encode_key_configs(cfgs)):
        enc_request, cctx = ohttp.encapsulate_request(cfg, b"to %d" % cfg.key_id)
        got, rctx = gw.decapsulate(enc_request)
        assert got == b"to %d" % cfg.key_id and rctx.key_id == cfg.key_id
        assert cctx.decapsulate_response(rctx.encapsulate(b"ok")) == b"ok"


def test_key_config_list_skips_unsupported_kem():
    cfgs, _ = _three_keys()
    unknown = b"\x09\x00\x21" + bytes(56) + b"\x00\x04\x00\x01\x00\x01"  # X448 (0x0021)
    data = (len(unknown).to_bytes(2, "big") + unknown + ohttp.encode_key_configs(cfgs[:1]))
    assert ohttp.decode_key_configs(data) == cfgs[:1]


def test_key_config_list_of_only_unsupported_kems_is_unsupported():
    unknown = b"\x09\x00\x21" + bytes(56) + b"\x00\x04\x00\x01\x00\x01"
    with pytest.raises(UnsupportedError):
        ohttp.decode_key_configs(len(unknown).to_bytes(2, "big") + unknown)


def test_key_config_list_empty_is_format_error():
    with pytest.raises(FormatError):
        ohttp.decode_key_configs(b"")


@pytest.mark.parametrize("mangle", ["prefix_overruns", "trailing_byte", "inner_too_long",
                                    "inner_too_short", "zero_length", "odd_byte"])
def test_key_config_list_incorrectly_encoded_is_rejected_whole(mangle):
    cfgs, _ = _three_keys()
    data = ohttp.encode_key_configs(cfgs)
    first = len(cfgs[0].encode())
    if mangle == "prefix_overruns":
        data = data[:-1]
    elif mangle == "trailing_byte":
        data = data + b"\x00"
    elif mangle == "inner_too_long":  # the first config's prefix claims one byte more
        data = (first + 1).to_bytes(2, "big") + data[2:]
    elif mangle == "inner_too_short":
        data = (first - 1).to_bytes(2, "big") + data[2:]
    elif mangle == "zero_length":
        data = b"\x00\x00" + data
    else:
        data = b"\x00" + data
    with pytest.raises(FormatError):
        ohttp.decode_key_configs(data)


def test_key_config_list_too_many_is_limit_error():
    one = ohttp.encode_key_configs([rfc_config()])
    with pytest.raises(LimitError):
        ohttp.decode_key_configs(one * (ohttp.MAX_CONFIGS + 1))
    assert len(ohttp.decode_key_configs(one * ohttp.MAX_CONFIGS)) == ohttp.MAX_CONFIGS


# ---- key configuration: named negatives ----

def test_key_config_truncated_at_every_length_is_format_error():
    for n in range(len(R["key_config"])):
        with pytest.raises(FormatError):
            ohttp.KeyConfig.decode(R["key_config"][:n])


def test_key_config_trailing_bytes_is_format_error():
    with pytest.raises(FormatError):
        ohttp.KeyConfig.decode(R["key_config"] + b"\x00")


@pytest.mark.parametrize("alen", [0, 3, 5, 6, 7])
def test_key_config_bad_algorithms_length_is_format_error(alen):
    body = R["key_config"][:35] + alen.to_bytes(2, "big") + bytes(alen)
    with pytest.raises(FormatError):
        ohttp.KeyConfig.decode(body)


def test_key_config_too_many_suites_is_limit_error():
    n = ohttp.MAX_SUITES + 1
    with pytest.raises(LimitError):
        ohttp.KeyConfig.decode(R["key_config"][:35] + (4 * n).to_bytes(2, "big") + b"\x00\x01\x00\x01" * n)
    with pytest.raises(InvalidArgument):
        ohttp.KeyConfig(1, X25519, bytes(32), [(1, 1)] * n)


def test_key_config_unsupported_kem():
    with pytest.raises(UnsupportedError):
        ohttp.KeyConfig.decode(b"\x01\x00\x21" + bytes(56) + b"\x00\x04\x00\x01\x00\x01")
    with pytest.raises(UnsupportedError):
        ohttp.KeyConfig(1, 0x0011, bytes(97)).encode()


def test_key_config_wrong_public_key_length_is_invalid():
    with pytest.raises(InvalidArgument):
        ohttp.KeyConfig(1, X25519, bytes(31)).encode()
    with pytest.raises(InvalidArgument):
        ohttp.KeyConfig(1, P256, bytes(32)).encode()


@pytest.mark.parametrize("args", [(256, X25519, bytes(32)), (-1, X25519, bytes(32)),
                                  (1, 0x10000, bytes(32))])
def test_key_config_out_of_range_ids_are_invalid(args):
    with pytest.raises(InvalidArgument):
        ohttp.KeyConfig(*args)


def test_key_config_without_suites_is_invalid():
    with pytest.raises(InvalidArgument):
        ohttp.KeyConfig(1, X25519, bytes(32), [])


def test_key_config_wrong_types_are_type_errors():
    with pytest.raises(TypeError):
        ohttp.KeyConfig("1", X25519, bytes(32))
    with pytest.raises(TypeError):
        ohttp.KeyConfig(1, X25519, "key")
    with pytest.raises(TypeError):
        ohttp.KeyConfig(1, X25519, bytes(32), [1, 1])


# ---- gateway construction ----

def test_gateway_key_not_matching_config_is_invalid():
    with pytest.raises(InvalidArgument):
        ohttp.Gateway([(rfc_config(), sk_generate(X25519))])


def test_gateway_key_of_other_kem_is_invalid():
    sk = sk_generate(P256)
    with pytest.raises(InvalidArgument):
        ohttp.Gateway([(ohttp.KeyConfig(1, X25519, sk.public_bytes()[:32]), sk)])


def test_gateway_duplicate_key_id_is_invalid():
    sk = rfc_key()
    with pytest.raises(InvalidArgument):
        ohttp.Gateway([(rfc_config(sk), sk), (rfc_config(sk), sk)])


def test_gateway_needs_keys():
    with pytest.raises(InvalidArgument):
        ohttp.Gateway([])
    with pytest.raises(TypeError):
        ohttp.Gateway([(rfc_config(), b"not a key")])


# ---- encapsulated request: named negatives ----

def _with(data, off, new):
    return data[:off] + new + data[off + len(new):]


def test_unknown_key_id():
    with pytest.raises(UnknownKeyError):
        rfc_gateway().decapsulate(_with(R["encapsulated_request"], 0, b"\x02"))


def test_suite_not_offered_by_gateway():
    # AES-256-GCM is implemented but the RFC configuration offers only (1, 1) and (1, 3)
    with pytest.raises(UnsupportedError):
        rfc_gateway().decapsulate(_with(R["encapsulated_request"], 5, b"\x00\x02"))
    with pytest.raises(UnsupportedError):
        rfc_gateway().decapsulate(_with(R["encapsulated_request"], 3, b"\x00\x02"))


def test_suite_not_offered_by_client_config():
    with pytest.raises(UnsupportedError):
        ohttp.encapsulate_request(rfc_config(), b"x", aead=2)
    with pytest.raises(UnsupportedError):
        ohttp.encapsulate_request(rfc_config(), b"x", kdf=3)
    with pytest.raises(UnsupportedError):
        ohttp.encapsulate_request(rfc_config(), b"x", kdf=0)


def test_no_implemented_suite_in_config():
    cfg = ohttp.KeyConfig(1, X25519, rfc_key().public_bytes(), [(1, 0xFFFF), (9, 9)])
    with pytest.raises(UnsupportedError):
        ohttp.encapsulate_request(cfg, b"x")


def test_export_only_aead_is_unsupported():
    sk = rfc_key()
    cfg = ohttp.KeyConfig(1, X25519, sk.public_bytes(), [(1, 1), (1, 0xFFFF)])
    with pytest.raises(UnsupportedError):
        ohttp.encapsulate_request(cfg, b"x", aead=0xFFFF)
    with pytest.raises(UnsupportedError):
        ohttp.Gateway([(cfg, sk)]).decapsulate(_with(R["encapsulated_request"], 5, b"\xff\xff"))


def test_unsupported_kem():
    with pytest.raises(UnsupportedError):
        rfc_gateway().decapsulate(_with(R["encapsulated_request"], 1, b"\x00\x21"))


def test_kem_not_matching_the_key():
    # P-256 is implemented, but key id 1 is an X25519 key
    with pytest.raises(UnsupportedError):
        rfc_gateway().decapsulate(_with(R["encapsulated_request"], 1, b"\x00\x10") + bytes(33))


def test_truncated_at_every_length():
    gw = rfc_gateway()
    data = R["encapsulated_request"]
    for n in range(len(data)):
        # header, enc and the AEAD tag are fixed-size: shorter is malformed; a cut ciphertext
        # that still has a tag's worth of bytes fails authentication
        want = FormatError if n < 7 + 32 + 16 else DecryptError
        with pytest.raises(want):
            gw.decapsulate(data[:n])


def test_appended_byte_is_decrypt_error():
    with pytest.raises(DecryptError):
        rfc_gateway().decapsulate(R["encapsulated_request"] + b"\x00")


def test_every_bit_flipped():
    gw = rfc_gateway()
    offered = {(1, 1), (1, 3)}
    data = R["encapsulated_request"]
    for i in range(len(data)):
        for bit in range(8):
            bad = _with(data, i, bytes([data[i] ^ (1 << bit)]))
            key_id, kem = bad[0], int.from_bytes(bad[1:3], "big")
            suite = (int.from_bytes(bad[3:5], "big"), int.from_bytes(bad[5:7], "big"))
            if key_id != 1:
                want = UnknownKeyError
            elif kem != X25519 or suite not in offered:
                want = UnsupportedError
            else:
                want = DecryptError  # enc, ciphertext, tag, or another offered suite
            with pytest.raises(want):
                gw.decapsulate(bad)


def test_wrong_key():
    other = sk_generate(X25519)
    cfg = ohttp.KeyConfig(1, X25519, other.public_bytes(), [(1, 1), (1, 3)])
    with pytest.raises(DecryptError):
        ohttp.Gateway([(cfg, other)]).decapsulate(R["encapsulated_request"])


def test_low_order_enc_is_decrypt_error():
    with pytest.raises(DecryptError):
        rfc_gateway().decapsulate(_with(R["encapsulated_request"], 7, bytes(32)))


def test_invalid_p256_enc_is_decrypt_error():
    sk = sk_generate(P256)
    cfg = ohttp.KeyConfig(4, P256, sk.public_bytes())
    gw = ohttp.Gateway([(cfg, sk)])
    enc_request, _ = ohttp.encapsulate_request(cfg, b"x")
    for bad_enc in (b"\x04" + bytes(64), b"\x05" + enc_request[8:72], b"\x04" + b"\xff" * 64):
        with pytest.raises(DecryptError):
            gw.decapsulate(_with(enc_request, 7, bad_enc))


def test_decrypt_error_carries_no_detail():
    with pytest.raises(DecryptError) as e:
        rfc_gateway().decapsulate(_with(R["encapsulated_request"], 60, b"\x00"))
    assert str(e.value) == "decryption failed"


# ---- encapsulated response: named negatives ----

def _exchange():
    sk = rfc_key()
    cfg = rfc_config(sk)
    enc_request, cctx = ohttp.encapsulate_request(cfg, b"request")
    _, rctx = ohttp.Gateway([(cfg, sk)]).decapsulate(enc_request)
    return cctx, rctx.encapsulate(b"response")


def test_response_tampered_every_byte():
    cctx, enc_response = _exchange()
    assert cctx.decapsulate_response(enc_response) == b"response"
    for i in range(len(enc_response)):
        for mask in (0x01, 0x80):
            with pytest.raises(DecryptError):
                cctx.decapsulate_response(_with(enc_response, i, bytes([enc_response[i] ^ mask])))


def test_response_truncated_at_every_length():
    cctx, enc_response = _exchange()
    for n in range(len(enc_response)):
        with pytest.raises(FormatError if n < 16 + 16 else DecryptError):
            cctx.decapsulate_response(enc_response[:n])


def test_response_from_another_request():
    cctx1, _ = _exchange()
    _, enc_response2 = _exchange()
    with pytest.raises(DecryptError):
        cctx1.decapsulate_response(enc_response2)


def test_response_encapsulated_once_only():
    _, rctx = rfc_gateway().decapsulate(R["encapsulated_request"])
    rctx.encapsulate(b"first")
    with pytest.raises(StateError):
        rctx.encapsulate(b"second")


@pytest.mark.parametrize("n", [0, 12, 15, 17, 32])
def test_response_nonce_of_wrong_length_is_invalid(n):
    _, rctx = rfc_gateway().decapsulate(R["encapsulated_request"])
    with pytest.raises(InvalidArgument):
        ohttp._testing_encapsulate_response(rctx, b"r", bytes(n))
    assert len(ohttp._testing_encapsulate_response(rctx, b"r", bytes(16))) == 16 + 1 + 16


@pytest.mark.parametrize("nonce", [bytes(16), b"", bytearray(16)])
def test_response_nonce_keyword_is_refused(nonce):
    _, rctx = rfc_gateway().decapsulate(R["encapsulated_request"])
    with pytest.raises(InvalidArgument, match="random"):
        rctx.encapsulate(b"r", nonce=nonce)
    with pytest.raises(TypeError):
        rctx._ctx.encapsulate(b"r", nonce)  # the core object takes no nonce at all
    assert len(rctx.encapsulate(b"r", nonce=None)) == 16 + 1 + 16  # still unused, still usable


def test_response_nonces_differ_for_a_replayed_request():
    # the same request decapsulated twice gives the same secret; random nonces keep the two
    # responses under different keys and nonces
    gw = rfc_gateway()
    _, a = gw.decapsulate(R["encapsulated_request"])
    _, b = gw.decapsulate(R["encapsulated_request"])
    ra, rb = a.encapsulate(b"same"), b.encapsulate(b"same")
    assert ra[:16] != rb[:16] and ra[16:] != rb[16:]


def test_testing_helper_checks_its_context():
    with pytest.raises(TypeError):
        ohttp._testing_encapsulate_response(object(), b"r", bytes(16))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        _core._testing_ohttp_encapsulate_response(None, b"r", bytes(16))


def test_client_context_decapsulates_again():
    cctx, enc_response = _exchange()
    assert cctx.decapsulate_response(enc_response) == cctx.decapsulate_response(enc_response)


# ---- hypothesis fuzzing ----

GW = rfc_gateway()
DECAP_ERRORS = (FormatError, UnknownKeyError, UnsupportedError, DecryptError)


@st.composite
def mutated(draw, seed):
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "set", "insert", "delete", "cut"]))
        if op == "insert" or not data:
            data[draw(st.integers(0, len(data))):0] = draw(st.binary(min_size=1, max_size=8))
            continue
        i = draw(st.integers(0, len(data) - 1))
        if op == "flip":
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "set":
            data[i] = draw(st.integers(0, 255))
        elif op == "delete":
            del data[i: i + draw(st.integers(1, 4))]
        else:
            del data[i:]
    return bytes(data)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated(R["encapsulated_request"]))
def test_fuzz_gateway_decapsulate(data):
    try:
        request, _ = GW.decapsulate(data)
    except DECAP_ERRORS:
        return
    assert data == R["encapsulated_request"] and request == R["request_bhttp"]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=120))
def test_fuzz_gateway_decapsulate_random_bytes(data):
    with pytest.raises(DECAP_ERRORS):
        GW.decapsulate(data)


_CCTX, _ENC_RESPONSE = _exchange()


@settings(max_examples=400, deadline=None)
@given(mutated(_ENC_RESPONSE))
def test_fuzz_client_decapsulate_response(data):
    try:
        assert _CCTX.decapsulate_response(data) == b"response"
        assert data == _ENC_RESPONSE
    except (FormatError, DecryptError):
        pass


@settings(max_examples=600, deadline=None)
@given(mutated(R["key_config"]))
def test_fuzz_key_config_decode(data):
    try:
        cfg = ohttp.KeyConfig.decode(data)
    except (FormatError, UnsupportedError, LimitError):
        return
    assert cfg.encode() == data  # the encoding is canonical


_LIST = ohttp.encode_key_configs([rfc_config(), ohttp.KeyConfig(2, P256, sk_generate(P256).public_bytes(), [(2, 2)])])


@settings(max_examples=600, deadline=None)
@given(mutated(_LIST))
def test_fuzz_key_configs_decode(data):
    try:
        cfgs = ohttp.decode_key_configs(data)
    except (FormatError, UnsupportedError, LimitError):
        return
    assert ohttp.decode_key_configs(ohttp.encode_key_configs(cfgs)) == cfgs
