"""Privacy Pass token type 2 (RFC 9577/9578): known answers, round trips, tampering, parsing.

Known answers: tests/vectors/privacypass_rfc9578.json (RFC 9578 Appendix A.2, see its source).
"""
import base64
import dataclasses
import hashlib
import re

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import load_vector
from pcc import blindrsa, errors, tokens

KAT = load_vector("privacypass_rfc9578.json")["vectors"]


def h(s):
    return bytes.fromhex(s)


def pem_to_der(pem_hex):
    text = h(pem_hex).decode("ascii")
    return base64.b64decode("".join(l for l in text.splitlines() if not l.startswith("-----")))


@pytest.fixture(scope="module")
def sk():
    return blindrsa.PrivateKey.generate(bits=2048)


@pytest.fixture(scope="module")
def issuer(sk):
    return tokens.Issuer(sk)


@pytest.fixture(scope="module")
def spki(issuer):
    return issuer.spki


@pytest.fixture(scope="module")
def other_spki():
    return blindrsa.PrivateKey.generate(bits=2048).public_key().to_der(pss_oid=True)


CH = tokens.TokenChallenge("issuer.example")


@pytest.fixture(scope="module")
def token(issuer, spki):
    state, request = tokens.begin_issuance(spki, CH)
    return tokens.finalize_issuance(state, issuer.issue(request))


# --- RFC 9578 Appendix A.2 ---

@pytest.mark.parametrize("vec", KAT, ids=[f"vector{v['index']}" for v in KAT])
def test_rfc9578_vector_client(vec):
    spki, raw_ch = h(vec["pk_s"]), h(vec["token_challenge"])
    ch = tokens.TokenChallenge.decode(raw_ch)
    assert ch.encode() == raw_ch and ch.token_type == 2
    assert ch.issuer_name == "Issuer Name" and ch.origin_info == ("a", "b", "c")
    assert tokens.token_key_id(spki) == h(vec["token"])[66:98]
    state, request = tokens.begin_issuance(spki, ch, nonce=h(vec["nonce"]), salt=h(vec["salt"]),
                                           r=h(vec["blind"]))
    assert request == h(vec["token_request"])
    token = tokens.finalize_issuance(state, h(vec["token_response"]))
    assert token.encode() == h(vec["token"])
    assert tokens.Token.decode(h(vec["token"])) == token
    assert tokens.verify(token, spki, ch) is None
    assert tokens.verify(h(vec["token"]), spki, raw_ch) is None


@pytest.mark.parametrize("vec", [v for v in KAT if "sk_s" in v],
                         ids=[f"vector{v['index']}" for v in KAT if "sk_s" in v])
def test_rfc9578_vector_issuer(vec):
    sk = blindrsa.PrivateKey.from_der(pem_to_der(vec["sk_s"]))
    issuer = tokens.Issuer(sk)
    assert issuer.spki == h(vec["pk_s"])  # our RSASSA-PSS SPKI is byte-identical to RFC 9578's
    assert issuer.token_key_id == hashlib.sha256(h(vec["pk_s"])).digest()
    assert issuer.issue(h(vec["token_request"])) == h(vec["token_response"])


def test_rfc9578_vector2_has_empty_context():
    ch = tokens.TokenChallenge.decode(h(KAT[1]["token_challenge"]))
    assert ch.redemption_context == b""
    assert len(tokens.TokenChallenge.decode(h(KAT[0]["token_challenge"])).redemption_context) == 32


# --- round trips ---

def test_round_trip(issuer, spki, token):
    assert len(token.encode()) == 354
    tokens.verify(token, spki, CH)
    tokens.verify(token.encode(), spki, CH.encode())
    assert tokens.Token.decode(token.encode()) == token
    assert token.token_key_id == issuer.token_key_id == tokens.token_key_id(spki)
    assert token.challenge_digest == CH.digest() == hashlib.sha256(CH.encode()).digest()


def test_round_trip_with_context_and_origins(issuer, spki):
    ch = tokens.TokenChallenge("issuer.example", redemption_context=b"\x07" * 32,
                               origin_info=["a.example", "b.example"])
    assert tokens.TokenChallenge.decode(ch.encode()) == ch
    state, request = tokens.begin_issuance(spki, ch)
    token = tokens.finalize_issuance(state, issuer.issue(request))
    tokens.verify(token, spki, ch)


def test_rsa_encryption_spki_has_same_key_id(sk, spki, token):
    plain = sk.public_key().to_der(pss_oid=False)
    assert tokens.token_key_id(plain) == tokens.token_key_id(spki)
    tokens.verify(token, plain, CH)


def test_nonces_are_fresh(spki):
    s1, r1 = tokens.begin_issuance(spki, CH)
    s2, r2 = tokens.begin_issuance(spki, CH)
    assert r1 != r2 and s1._nonce != s2._nonce


def test_default_challenge_matches_design():
    ch = tokens.TokenChallenge("issuer.example")
    assert (ch.token_type, ch.redemption_context, ch.origin_info) == (2, b"", ("pcc",))
    assert ch.encode() == b"\x00\x02\x00\x0eissuer.example\x00\x00\x03pcc"


# --- every field tampered ---

@pytest.mark.parametrize("field", ["nonce", "challenge_digest", "token_key_id", "authenticator"])
def test_tampered_field_refused(token, spki, field):
    value = bytearray(getattr(token, field))
    value[len(value) // 2] ^= 0x01
    bad = dataclasses.replace(token, **{field: bytes(value)})
    with pytest.raises(errors.VerifyError):
        tokens.verify(bad, spki, CH)
    with pytest.raises(errors.VerifyError):
        tokens.verify(bad.encode(), spki, CH)


@pytest.mark.parametrize("token_type", [0x0000, 0x0001, 0x0003, 0x0102, 0xFFFF])
def test_tampered_type_refused(token, spki, token_type):
    raw = token_type.to_bytes(2, "big") + token.encode()[2:]
    with pytest.raises(errors.FormatError):
        tokens.verify(raw, spki, CH)
    with pytest.raises(errors.FormatError):
        tokens.Token.decode(raw)
    with pytest.raises(errors.VerifyError):
        tokens.verify(dataclasses.replace(token, token_type=token_type), spki, CH)


@pytest.mark.parametrize("other", [
    tokens.TokenChallenge("issuer.exampl"),
    tokens.TokenChallenge("issuer.example", origin_info=[]),
    tokens.TokenChallenge("issuer.example", origin_info=["pcc", "x"]),
    tokens.TokenChallenge("issuer.example", redemption_context=b"\x00" * 32),
], ids=["issuer", "no-origin", "more-origins", "context"])
def test_wrong_challenge_refused(token, spki, other):
    with pytest.raises(errors.VerifyError):
        tokens.verify(token, spki, other)


def test_wrong_key_refused(token, other_spki):
    with pytest.raises(errors.VerifyError):
        tokens.verify(token, other_spki, CH)


def test_wrong_key_same_key_id_still_refused(token, spki, other_spki):
    """A token whose key id was rewritten to another key's must fail the signature check."""
    forged = dataclasses.replace(token, token_key_id=tokens.token_key_id(other_spki))
    with pytest.raises(errors.VerifyError):
        tokens.verify(forged, other_spki, CH)


# --- issuer checks ---

def test_issuer_checks_truncated_key_id(issuer, spki):
    _, request = tokens.begin_issuance(spki, CH)
    bad = request[:2] + bytes([request[2] ^ 0xFF]) + request[3:]
    with pytest.raises(errors.UnknownKeyError):
        issuer.issue(bad)


def test_issuer_checks_token_type(issuer, spki):
    _, request = tokens.begin_issuance(spki, CH)
    for t in (b"\x00\x01", b"\x00\x03"):
        with pytest.raises(errors.FormatError):
            issuer.issue(t + request[2:])


def test_issuer_refuses_blinded_not_below_n(issuer, spki, sk):
    n = sk.public_key().n
    req = tokens.TokenRequest(2, issuer.token_key_id[-1], n.to_bytes(256, "big")).encode()
    with pytest.raises(errors.FormatError):
        issuer.issue(req)


def test_issuer_other_key_request(issuer, other_spki):
    _, request = tokens.begin_issuance(other_spki, CH)
    if request[2] == issuer.token_key_id[-1]:  # 1 in 256: same truncated id
        pytest.skip("truncated key ids collide")
    with pytest.raises(errors.UnknownKeyError):
        issuer.issue(request)


def test_issuer_refuses_4096_bit_key():
    v = load_vector("blindrsa_rfc9474.json")["vectors"][0]
    p, q, n, e, d = (int(v[k], 16) for k in ("p", "q", "n", "e", "d"))
    der = rsa.RSAPrivateNumbers(p, q, d, rsa.rsa_crt_dmp1(d, p), rsa.rsa_crt_dmq1(d, q),
                                rsa.rsa_crt_iqmp(p, q), rsa.RSAPublicNumbers(e, n)).private_key() \
        .private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                       serialization.NoEncryption())
    sk4096 = blindrsa.PrivateKey.from_der(der)
    with pytest.raises(errors.UnsupportedError):
        tokens.Issuer(sk4096)
    with pytest.raises(errors.UnsupportedError):
        tokens.begin_issuance(sk4096.public_key().to_der(pss_oid=True), CH)


def test_issuer_spki_must_match_key(sk, other_spki):
    with pytest.raises(errors.InvalidArgument):
        tokens.Issuer(sk, spki=other_spki)


def test_begin_issuance_refuses_other_token_type(spki):
    with pytest.raises(errors.UnsupportedError):
        tokens.begin_issuance(spki, tokens.TokenChallenge("i", token_type=1))


def test_finalize_refuses_bad_response(issuer, spki):
    state, request = tokens.begin_issuance(spki, CH)
    response = bytearray(issuer.issue(request))
    good = bytes(response)
    response[10] ^= 0x01
    with pytest.raises(errors.VerifyError):
        tokens.finalize_issuance(state, bytes(response))
    with pytest.raises(errors.FormatError):
        tokens.finalize_issuance(state, good[:-1])
    with pytest.raises(errors.FormatError):
        tokens.finalize_issuance(state, good + b"\x00")
    tokens.verify(tokens.finalize_issuance(state, good), spki, CH)


def test_finalize_refuses_response_for_another_request(issuer, spki):
    state, _ = tokens.begin_issuance(spki, CH)
    _, request2 = tokens.begin_issuance(spki, CH)
    with pytest.raises(errors.VerifyError):
        tokens.finalize_issuance(state, issuer.issue(request2))


# --- malformed encodings ---

def test_token_truncated_at_every_length(token):
    raw = token.encode()
    for n in range(len(raw)):
        with pytest.raises(errors.FormatError):
            tokens.Token.decode(raw[:n])
    with pytest.raises(errors.FormatError):
        tokens.Token.decode(raw + b"\x00")


def test_request_truncated_at_every_length(spki):
    _, raw = tokens.begin_issuance(spki, CH)
    assert tokens.TokenRequest.decode(raw).encode() == raw
    for n in range(len(raw)):
        with pytest.raises(errors.FormatError):
            tokens.TokenRequest.decode(raw[:n])
    with pytest.raises(errors.FormatError):
        tokens.TokenRequest.decode(raw + b"\x00")


def test_response_wrong_lengths():
    for n in (0, 1, 255, 257, 512):
        with pytest.raises(errors.FormatError):
            tokens.TokenResponse.decode(b"\x01" * n)
    assert tokens.TokenResponse.decode(b"\x01" * 256).blind_sig == b"\x01" * 256


def test_challenge_truncated_at_every_length():
    raw = tokens.TokenChallenge("issuer.example", b"\x01" * 32, ["a", "b"]).encode()
    for n in range(len(raw)):
        with pytest.raises(errors.FormatError):
            tokens.TokenChallenge.decode(raw[:n])
    with pytest.raises(errors.FormatError):
        tokens.TokenChallenge.decode(raw + b"\x00")


@pytest.mark.parametrize("raw", [
    b"\x00\x02\x00\x00\x00\x00\x00",                       # empty issuer_name
    b"\x00\x02\x00\x01i\x01\x00\x00\x00",                  # 1-byte redemption_context
    b"\x00\x02\x00\x01i\x1f" + b"\x00" * 31 + b"\x00\x00",  # 31 bytes
    b"\x00\x02\x00\x01i\x21" + b"\x00" * 33 + b"\x00\x00",  # 33 bytes
    b"\x00\x02\x00\x01\xff\x00\x00\x00",                   # non-ASCII issuer name
    b"\x00\x02\x00\x01\x0a\x00\x00\x00",                   # control character
    b"\x00\x02\x00\x01i\x00\x00\x04a,,b",                  # empty origin name
    b"\x00\x02\x00\x01i\x00\x00\x02a,",                    # trailing comma
    b"\x00\x02\x00\x01i\x00\x00\x01,",                     # only a comma
], ids=["empty-name", "ctx1", "ctx31", "ctx33", "non-ascii", "control", "empty-origin",
        "trailing-comma", "comma"])
def test_challenge_malformed(raw):
    with pytest.raises(errors.FormatError):
        tokens.TokenChallenge.decode(raw)


@pytest.mark.parametrize("kwargs", [
    {"issuer_name": ""},
    {"issuer_name": "é"},
    {"issuer_name": "x" * 65536},
    {"issuer_name": "i", "redemption_context": b"\x00" * 16},
    {"issuer_name": "i", "origin_info": ["a,b"]},
    {"issuer_name": "i", "origin_info": [""]},
    {"issuer_name": "i", "token_type": 65536},
    {"issuer_name": "i", "token_type": -1},
])
def test_challenge_constructor_validates(kwargs):
    with pytest.raises(errors.InvalidArgument):
        tokens.TokenChallenge(**kwargs)


def test_challenge_constructor_types():
    with pytest.raises(TypeError):
        tokens.TokenChallenge(b"issuer")
    with pytest.raises(TypeError):
        tokens.TokenChallenge("i", origin_info="pcc")


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=400))
def test_decoders_fuzz(data):
    for cls in (tokens.Token, tokens.TokenRequest, tokens.TokenResponse, tokens.TokenChallenge):
        try:
            obj = cls.decode(data)
        except errors.FormatError:
            continue
        assert obj.encode() == data  # whatever parses re-encodes to the same bytes


printable = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1,
                    max_size=40)


@settings(max_examples=200, deadline=None)
@given(name=printable, ctx=st.sampled_from([b"", b"\x00" * 32, b"\xff" * 32]),
       origins=st.lists(printable.filter(lambda s: "," not in s), max_size=5),
       token_type=st.integers(0, 0xFFFF))
def test_challenge_round_trip_property(name, ctx, origins, token_type):
    ch = tokens.TokenChallenge(name, ctx, origins, token_type)
    raw = ch.encode()
    assert tokens.TokenChallenge.decode(raw) == ch
    assert tokens.TokenChallenge.decode(raw).encode() == raw


# --- HTTP headers ---

def test_authorization_header_round_trip(token):
    value = tokens.authorization_header(token)
    m = re.fullmatch(r'PrivateToken token="([A-Za-z0-9_-]+=*)"', value)
    assert m and base64.urlsafe_b64decode(m.group(1)) == token.encode()
    assert tokens.parse_authorization(value) == token
    assert tokens.parse_authorization(value.encode()) == token


def test_authorization_header_variants(token):
    b64 = base64.urlsafe_b64encode(token.encode()).decode()
    bare = b64.rstrip("=")
    for value in (f"privatetoken token={b64}", f"PRIVATETOKEN  token = \"{bare}\"",
                  f'PrivateToken realm="x", token="{b64}", foo=bar',
                  f"  PrivateToken token={bare}  "):
        assert tokens.parse_authorization(value) == token


@pytest.mark.parametrize("value", [
    "", "PrivateToken", "PrivateToken ", "Bearer token=abc", "PrivateTokentoken=abc",
    'PrivateToken token="abc', "PrivateToken token=", "PrivateToken =abc",
    "PrivateToken token abc", "PrivateToken foo=bar",
    'PrivateToken token="AAAA", token="AAAA"',
    'PrivateToken token="A+/="', 'PrivateToken token="A==="', 'PrivateToken token="A"',
    'PrivateToken token="AB=="', 'PrivateToken token="AAAA"',
    "PrivateToken token=" + "A" * 20000,
], ids=lambda v: v[:40] or "empty")
def test_authorization_header_malformed(value):
    with pytest.raises(errors.FormatError):
        tokens.parse_authorization(value)


def test_authorization_header_non_ascii():
    with pytest.raises(errors.FormatError):
        tokens.parse_authorization("PrivateToken token=\u00e9".encode("utf-8"))


def test_challenge_header(spki):
    ch = tokens.TokenChallenge("issuer.example", origin_info=["pcc"])
    value = tokens.challenge_header(ch, spki, max_age=600)
    m = re.fullmatch(r'PrivateToken challenge="([A-Za-z0-9_=-]+)", token-key="([A-Za-z0-9_=-]+)", '
                     r"max-age=600", value)
    assert m
    assert tokens.TokenChallenge.decode(base64.urlsafe_b64decode(m.group(1))) == ch
    assert base64.urlsafe_b64decode(m.group(2)) == spki
    assert "max-age" not in tokens.challenge_header(ch, spki)
    with pytest.raises(errors.FormatError):
        tokens.challenge_header(ch, b"\x30\x00")
    with pytest.raises(errors.InvalidArgument):
        tokens.challenge_header(ch, spki, max_age=-1)


def test_parse_challenge_header_round_trip(spki):
    ch = tokens.TokenChallenge("issuer.example", origin_info=["pcc"])
    assert tokens.parse_challenge_header(tokens.challenge_header(ch, spki, max_age=600)) == \
        (ch, spki, 600)
    got = tokens.parse_challenge_header(tokens.challenge_header(ch, spki).encode())
    assert got == (ch, spki, None)
    # scheme and parameter names are case-insensitive; unknown parameters are ignored
    value = tokens.challenge_header(ch, spki).replace("PrivateToken", "privatetoken")
    value = value.replace("token-key", "Token-Key") + ', other="x"'
    assert tokens.parse_challenge_header(value) == (ch, spki, None)


@pytest.mark.parametrize("mutate", [
    lambda v: v.replace("PrivateToken", "Basic"),
    lambda v: v.split(", token-key")[0],                     # no token-key
    lambda v: v.replace('challenge="', 'chal="'),             # no challenge
    lambda v: v.replace('challenge="', 'challenge="AAAA'),    # challenge does not decode
    lambda v: v.replace('token-key="', 'token-key="MAA'),     # key is not an RSA SPKI
    lambda v: v + ", max-age=-5",
    lambda v: v + ", max-age=12345678901",
    lambda v: v + ', challenge="x"',                           # duplicate parameter
    lambda v: v[:-1],                                          # unterminated quoted string
], ids=["scheme", "no-key", "no-challenge", "bad-challenge", "bad-key", "negative-max-age",
        "huge-max-age", "duplicate", "unterminated"])
def test_parse_challenge_header_rejects(spki, mutate):
    ch = tokens.TokenChallenge("issuer.example", origin_info=["pcc"])
    with pytest.raises(errors.FormatError):
        tokens.parse_challenge_header(mutate(tokens.challenge_header(ch, spki)))
