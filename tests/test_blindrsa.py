"""RSA blind signatures (RFC 9474): RFC vectors, Wycheproof RSA-PSS, named negative tests.

Vectors: tests/vectors/blindrsa_rfc9474.json (RFC 9474 Appendix A; vector 4 follows the RFC
text, see its "caution") and tests/vectors/wycheproof/rsa_pss_*_test.json (C2SP/wycheproof).
Key generation is slow, so the keys are module-scoped fixtures.
"""
import json
import threading

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import VECTORS, load_vector
from pcc import blindrsa, errors

RFC = load_vector("blindrsa_rfc9474.json")
WYCHEPROOF_FILES = sorted(p.name for p in (VECTORS / "wycheproof").glob("rsa_pss_*_test.json"))

PSS_R = blindrsa.Variant.from_name("RSABSSA-SHA384-PSS-Randomized")
PSSZERO_R = blindrsa.Variant.from_name("RSABSSA-SHA384-PSSZERO-Randomized")
PSS_D = blindrsa.Variant.from_name("RSABSSA-SHA384-PSS-Deterministic")
PSSZERO_D = blindrsa.Variant.from_name("RSABSSA-SHA384-PSSZERO-Deterministic")
ALL = [PSS_R, PSSZERO_R, PSS_D, PSSZERO_D]


def h(s):
    return bytes.fromhex(s)


def pkcs8_from_numbers(p, q, n, e, d):
    """PKCS#8 DER of the RFC key, built with `cryptography` (independent of pcc)."""
    priv = rsa.RSAPrivateNumbers(
        p, q, d, rsa.rsa_crt_dmp1(d, p), rsa.rsa_crt_dmq1(d, q), rsa.rsa_crt_iqmp(p, q),
        rsa.RSAPublicNumbers(e, n)).private_key()
    return priv.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption())


# --- minimal DER helpers, to build hostile SPKIs by hand ---

def der_len(n):
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def tlv(tag, content):
    return bytes([tag]) + der_len(len(content)) + content


def der_uint(x):
    b = x.to_bytes(max(1, (x.bit_length() + 7) // 8), "big")
    if b[0] & 0x80:
        b = b"\x00" + b
    return tlv(0x02, b)


ALG_RSA = h("300d06092a864886f70d0101010500")
ALG_PSS = h("303d06092a864886f70d01010a3030a00d300b0609608648016503040202a11a301806092a864886f70d"
            "010108300b0609608648016503040202a203020130")
ALG_PSS_NULL = h("304106092a864886f70d01010a3034a00f300d06096086480165030402020500a11c301a06092a8648"
                 "86f70d010108300d06096086480165030402020500a203020130")


def spki(n, e, alg=ALG_RSA):
    rsapub = tlv(0x30, der_uint(n) + der_uint(e))
    return tlv(0x30, alg + tlv(0x03, b"\x00" + rsapub))


# --- fixtures ---

@pytest.fixture(scope="module")
def sk():
    return blindrsa.PrivateKey.generate(bits=2048)


@pytest.fixture(scope="module")
def pk(sk):
    return sk.public_key()


@pytest.fixture(scope="module")
def other_sk():
    return blindrsa.PrivateKey.generate(bits=2048)


@pytest.fixture(scope="module")
def rfc_sk():
    v = RFC["vectors"][0]
    return blindrsa.PrivateKey.from_der(pkcs8_from_numbers(
        *(int(v[k], 16) for k in ("p", "q", "n", "e", "d"))))


def issue(v, sk, pk, msg=b"hello"):
    """Run the whole protocol; returns (prepared, blinded, blind_sig, state, sig)."""
    prepared = blindrsa.prepare(v, msg)
    blinded, state = blindrsa.blind(v, pk, prepared)
    blind_sig = sk.blind_sign(v, blinded)
    sig = blindrsa.finalize(v, pk, prepared, blind_sig, state)
    return prepared, blinded, blind_sig, state, sig


# --- variants ---

def test_variant_names_and_parameters():
    got = [(v.name, v.salt_len, v.randomized) for v in blindrsa.Variant.all()]
    assert got == [
        ("RSABSSA-SHA384-PSS-Randomized", 48, True),
        ("RSABSSA-SHA384-PSSZERO-Randomized", 0, True),
        ("RSABSSA-SHA384-PSS-Deterministic", 48, False),
        ("RSABSSA-SHA384-PSSZERO-Deterministic", 0, False),
    ]


@pytest.mark.parametrize("name", ["RSABSSA-SHA256-PSS-Randomized", "rsabssa-sha384-pss-randomized",
                                  "RSABSSA-SHA384-PSS-Randomized ", ""])
def test_unknown_variant_name(name):
    with pytest.raises(errors.UnsupportedError):
        blindrsa.Variant.from_name(name)


# --- RFC 9474 Appendix A ---

@pytest.mark.parametrize("vec", RFC["vectors"], ids=[v["name"] for v in RFC["vectors"]])
def test_rfc9474_vector(vec, rfc_sk):
    v = blindrsa.Variant.from_name(vec["name"])
    assert (v.salt_len, v.randomized) == (vec["sLen"], vec["randomized"])
    n, e = int(vec["n"], 16), int(vec["e"], 16)
    pk = rfc_sk.public_key()
    assert (pk.n, pk.e, pk.bits, pk.modulus_len) == (n, e, 4096, 512)

    prefix = h(vec["msg_prefix"]) if v.randomized else None
    prepared = blindrsa.prepare(v, h(vec["msg"]), prefix=prefix)
    assert prepared == h(vec["prepared_msg"])

    r = pow(int(vec["inv"], 16), -1, n)  # the vectors give inv = r^-1 mod n
    blinded, state = blindrsa.blind(v, pk, prepared, salt=h(vec["salt"]) if v.salt_len else None,
                                    r=r)
    assert blinded == h(vec["blinded_msg"])
    blind_sig = rfc_sk.blind_sign(v, blinded)
    assert blind_sig == h(vec["blind_sig"])
    sig = blindrsa.finalize(v, pk, prepared, blind_sig, state)
    assert sig == h(vec["sig"])
    assert pow(int.from_bytes(sig, "big"), e, n).to_bytes(512, "big") == h(vec["encoded_msg"])
    assert blindrsa.verify(v, pk, prepared, sig) is None


def test_rfc_key_der_round_trips(rfc_sk):
    pk = rfc_sk.public_key()
    v = RFC["vectors"][0]
    ref = rsa.RSAPublicNumbers(int(v["e"], 16), int(v["n"], 16)).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert pk.to_der() == ref
    assert blindrsa.PublicKey.from_der(ref) == pk
    pss = pk.to_der(pss_oid=True)
    assert pss.startswith(h("30820252") + ALG_PSS)
    assert blindrsa.PublicKey.from_der(pss) == pk
    assert blindrsa.PublicKey.from_der(pss).to_der() == ref
    again = blindrsa.PrivateKey.from_der(rfc_sk.to_der())
    assert again.public_key() == pk


# --- Wycheproof RSASSA-PSS through the generic verifier ---

@pytest.mark.parametrize("name", WYCHEPROOF_FILES)
def test_wycheproof_rsa_pss(name):
    data = load_vector(f"wycheproof/{name}")
    seen = {"valid": 0, "invalid": 0, "acceptable": 0}
    for g in data["testGroups"]:
        der = h(g["publicKeyDer"])
        pk = blindrsa.PublicKey.from_der(der)
        assert pk.to_der() == der and pk.bits == g["keySize"]
        for t in g["tests"]:
            try:
                blindrsa.verify_pss(pk, h(t["msg"]), h(t["sig"]), hash=g["sha"],
                                    mgf1_hash=g["mgfSha"], salt_len=g["sLen"])
                ok = True
            except errors.VerifyError:
                ok = False
            seen[t["result"]] += 1
            if t["result"] == "valid":
                assert ok, (t["tcId"], t["comment"])
            elif t["result"] == "invalid":
                assert not ok, (t["tcId"], t["comment"])
            # "acceptable" would be allowed either way; none of these files has one.
    assert seen["valid"] + seen["invalid"] + seen["acceptable"] == data["numberOfTests"]
    assert seen["acceptable"] == 0


def test_wycheproof_sha384_48_matches_variant_verify():
    """The PSS variants' verify() is the generic verifier with SHA-384/MGF1-SHA-384/48."""
    data = load_vector("wycheproof/rsa_pss_2048_sha384_mgf1_48_test.json")
    g = data["testGroups"][0]
    pk = blindrsa.PublicKey.from_der(h(g["publicKeyDer"]))
    for t in g["tests"][:40]:
        ok = True
        try:
            blindrsa.verify(PSS_D, pk, h(t["msg"]), h(t["sig"]))
        except errors.VerifyError:
            ok = False
        assert ok == (t["result"] == "valid"), t["tcId"]


def test_verify_pss_unknown_hash(pk):
    with pytest.raises(errors.UnsupportedError):
        blindrsa.verify_pss(pk, b"m", b"\x00" * 256, hash="MD5")
    with pytest.raises(errors.InvalidArgument):
        blindrsa.verify_pss(pk, b"m", b"\x00" * 256, salt_len=-1)


# --- round trips ---

@pytest.mark.parametrize("v", ALL, ids=lambda v: v.name)
def test_round_trip_2048(v, sk, pk):
    prepared, blinded, blind_sig, _, sig = issue(v, sk, pk, b"a message")
    assert len(blinded) == len(blind_sig) == len(sig) == 256
    assert prepared == (prepared[:32] + b"a message" if v.randomized else b"a message")
    assert blindrsa.verify(v, pk, prepared, sig) is None


def test_round_trip_empty_message(sk, pk):
    _, _, _, _, sig = issue(PSS_D, sk, pk, b"")
    blindrsa.verify(PSS_D, pk, b"", sig)


def test_blinding_is_randomized(sk, pk):
    prepared = blindrsa.prepare(PSSZERO_D, b"same")
    b1, _ = blindrsa.blind(PSSZERO_D, pk, prepared)
    b2, _ = blindrsa.blind(PSSZERO_D, pk, prepared)
    assert b1 != b2  # fresh r each time
    p1, p2 = blindrsa.prepare(PSS_R, b"m"), blindrsa.prepare(PSS_R, b"m")
    assert p1 != p2 and p1[32:] == p2[32:] == b"m"


def test_deterministic_psszero_signature_is_unique(sk, pk):
    """PSSZERO-Deterministic signatures depend only on the message (no salt, no prefix)."""
    sig1 = issue(PSSZERO_D, sk, pk, b"m")[4]
    sig2 = issue(PSSZERO_D, sk, pk, b"m")[4]
    assert sig1 == sig2


def test_private_key_export_import(sk, pk):
    der = sk.to_der()
    sk2 = blindrsa.PrivateKey.from_der(der)
    assert sk2.public_key() == pk and sk2.bits == 2048
    prepared, blinded, _, state, _ = issue(PSS_D, sk, pk)
    sig = blindrsa.finalize(PSS_D, pk, prepared, sk2.blind_sign(PSS_D, blinded), state)
    blindrsa.verify(PSS_D, pk, prepared, sig)


def test_concurrent_signing_threads(sk, pk):
    """blind_sign releases the GIL; results stay correct under concurrent use."""
    prepared = blindrsa.prepare(PSS_D, b"thread")
    jobs = [blindrsa.blind(PSS_D, pk, prepared) for _ in range(8)]
    out = [None] * len(jobs)

    def work(i):
        out[i] = sk.blind_sign(PSS_D, jobs[i][0])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for (blinded, state), bs in zip(jobs, out):
        blindrsa.verify(PSS_D, pk, prepared, blindrsa.finalize(PSS_D, pk, prepared, bs, state))


# --- named negative tests ---

def test_wrong_message(sk, pk):
    prepared, _, blind_sig, state, sig = issue(PSS_D, sk, pk, b"message")
    with pytest.raises(errors.VerifyError):
        blindrsa.verify(PSS_D, pk, b"messagf", sig)
    with pytest.raises(errors.VerifyError):
        blindrsa.finalize(PSS_D, pk, b"other message", blind_sig, state)


def test_wrong_key(sk, pk, other_sk):
    other_pk = other_sk.public_key()
    prepared, blinded, blind_sig, state, sig = issue(PSS_D, sk, pk)
    with pytest.raises(errors.VerifyError):
        blindrsa.verify(PSS_D, other_pk, prepared, sig)
    # the wrong signer (given a blinded message below its modulus too): finalize refuses
    while int.from_bytes(blinded, "big") >= other_pk.n:
        blinded, state = blindrsa.blind(PSS_D, pk, prepared)
    with pytest.raises(errors.VerifyError):
        blindrsa.finalize(PSS_D, pk, prepared, other_sk.blind_sign(PSS_D, blinded), state)
    blind_sig = sk.blind_sign(PSS_D, blinded)
    # the right signer, unblinded against the wrong key
    with pytest.raises(errors.VerifyError):
        blindrsa.finalize(PSS_D, other_pk, prepared, blind_sig, state)


def test_prefix_dropped(sk, pk):
    for v in (PSS_R, PSSZERO_R):
        prepared, _, _, _, sig = issue(v, sk, pk, b"msg")
        with pytest.raises(errors.VerifyError):
            blindrsa.verify(v, pk, b"msg", sig)  # the bare message is not what was signed
        with pytest.raises(errors.VerifyError):
            blindrsa.verify(v, pk, prepared[1:], sig)


def test_signature_not_below_n(sk, pk):
    prepared, _, _, _, sig = issue(PSS_D, sk, pk)
    n = pk.n
    with pytest.raises(errors.VerifyError):
        blindrsa.verify(PSS_D, pk, prepared, n.to_bytes(256, "big"))
    plus_n = int.from_bytes(sig, "big") + n
    if plus_n < 1 << 2048:  # sig + n is the same residue; it must still be refused
        with pytest.raises(errors.VerifyError):
            blindrsa.verify(PSS_D, pk, prepared, plus_n.to_bytes(256, "big"))
    with pytest.raises(errors.VerifyError):
        blindrsa.verify(PSS_D, pk, prepared, b"\xff" * 256)


def test_truncated_or_padded_signature(sk, pk):
    prepared, _, _, _, sig = issue(PSS_D, sk, pk)
    for bad in (sig[:-1], sig[1:], b"", sig + b"\x00", b"\x00" + sig):
        with pytest.raises(errors.VerifyError):
            blindrsa.verify(PSS_D, pk, prepared, bad)


def test_blinded_message_not_below_n(sk, pk):
    n = pk.n
    for bad in (n, n + 1, (1 << 2048) - 1):
        with pytest.raises(errors.FormatError):
            sk.blind_sign(PSS_D, bad.to_bytes(256, "big"))


def test_blinded_message_wrong_length(sk, pk):
    blinded, _ = blindrsa.blind(PSS_D, pk, b"m")
    for bad in (blinded[:-1], blinded + b"\x00", b"\x00" + blinded, b""):
        with pytest.raises(errors.FormatError):
            sk.blind_sign(PSS_D, bad)


def test_pss_psszero_mix_up(sk, pk):
    prepared, blinded, blind_sig, state, sig = issue(PSS_D, sk, pk)
    with pytest.raises(errors.VerifyError):
        blindrsa.verify(PSSZERO_D, pk, prepared, sig)
    _, _, _, _, sig0 = issue(PSSZERO_D, sk, pk)
    with pytest.raises(errors.VerifyError):
        blindrsa.verify(PSS_D, pk, prepared, sig0)
    # a state is bound to its variant
    with pytest.raises(errors.InvalidArgument):
        blindrsa.finalize(PSSZERO_D, pk, prepared, blind_sig, state)


def test_randomized_deterministic_mix_up(sk, pk):
    prepared, blinded, blind_sig, state, sig = issue(PSS_R, sk, pk, b"msg")
    # verifying as Deterministic means verifying the bare message: refused
    with pytest.raises(errors.VerifyError):
        blindrsa.verify(PSS_D, pk, b"msg", sig)
    with pytest.raises(errors.InvalidArgument):
        blindrsa.finalize(PSS_D, pk, prepared, blind_sig, state)
    with pytest.raises(errors.InvalidArgument):
        blindrsa.prepare(PSS_D, b"msg", prefix=b"\x00" * 32)


def test_tampered_blind_sig_fails_finalize(sk, pk):
    prepared, _, blind_sig, state, _ = issue(PSS_R, sk, pk)
    for i in (0, 100, 255):
        bad = bytearray(blind_sig)
        bad[i] ^= 0x01
        with pytest.raises(errors.VerifyError):
            blindrsa.finalize(PSS_R, pk, prepared, bytes(bad), state)
    with pytest.raises(errors.VerifyError):
        blindrsa.finalize(PSS_R, pk, prepared, pk.n.to_bytes(256, "big"), state)
    with pytest.raises(errors.FormatError):
        blindrsa.finalize(PSS_R, pk, prepared, blind_sig[:-1], state)
    # the untampered one still works afterwards
    blindrsa.finalize(PSS_R, pk, prepared, blind_sig, state)


def test_state_from_another_key_size(sk, pk, rfc_sk):
    _, state = blindrsa.blind(PSS_D, rfc_sk.public_key(), b"m")
    with pytest.raises(errors.InvalidArgument):
        blindrsa.finalize(PSS_D, pk, b"m", b"\x01" * 256, state)


@pytest.mark.parametrize("bits", [0, 1024, 2047, 4097, 8192])
def test_wrong_size_key_generation_rejected(bits):
    with pytest.raises(errors.UnsupportedError):
        blindrsa.PrivateKey.generate(bits=bits)


def test_wrong_size_keys_rejected_on_import():
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(errors.UnsupportedError):
        blindrsa.PrivateKey.from_der(small.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
    with pytest.raises(errors.UnsupportedError):
        blindrsa.PublicKey.from_der(small.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo))
    # public keys need no primes: odd moduli of 2047 and 4097 bits
    for bits in (2047, 4097):
        with pytest.raises(errors.UnsupportedError):
            blindrsa.PublicKey.from_der(spki((1 << (bits - 1)) | 1, 65537))
    for bits in (2048, 4096):
        assert blindrsa.PublicKey.from_der(spki((1 << (bits - 1)) | 1, 65537)).bits == bits


@pytest.mark.parametrize("e", [1, 2, 65536, (1 << 64) + 1])
def test_bad_public_exponent_rejected(e):
    with pytest.raises(errors.UnsupportedError):
        blindrsa.PublicKey.from_der(spki((1 << 2047) | 1, e))


def test_even_modulus_rejected():
    with pytest.raises(errors.FormatError):
        blindrsa.PublicKey.from_der(spki(1 << 2047, 65537))


def test_spki_forms(pk):
    n, e = pk.n, pk.e
    assert blindrsa.PublicKey.from_der(spki(n, e, ALG_PSS)) == pk
    assert blindrsa.PublicKey.from_der(spki(n, e, ALG_PSS_NULL)) == pk
    assert pk.to_der(pss_oid=True) == spki(n, e, ALG_PSS)
    assert pk.to_der() == spki(n, e)


def test_spki_trailing_or_truncated_rejected(pk):
    der = pk.to_der(pss_oid=True)
    for bad in (der + b"\x00", der[:-1], der[:10], b"", b"\x30\x00"):
        with pytest.raises((errors.FormatError, errors.InvalidArgument)):
            blindrsa.PublicKey.from_der(bad)


def test_spki_other_pss_parameters_rejected(pk):
    n, e = pk.n, pk.e
    sha256 = ALG_PSS.replace(h("608648016503040202"), h("608648016503040201"))
    salt32 = ALG_PSS[:-1] + b"\x20"
    for alg in (sha256, salt32):
        with pytest.raises(errors.UnsupportedError):
            blindrsa.PublicKey.from_der(spki(n, e, alg))


def test_spki_rsa_without_null_parameters_rejected(pk):
    alg = h("300b06092a864886f70d010101")
    with pytest.raises(errors.FormatError):
        blindrsa.PublicKey.from_der(spki(pk.n, pk.e, alg))


def test_spki_non_rsa_rejected():
    from cryptography.hazmat.primitives.asymmetric import ec
    der = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    with pytest.raises(errors.UnsupportedError):
        blindrsa.PublicKey.from_der(der)


def test_pkcs8_corrupted_key_rejected(sk):
    der = sk.to_der()
    for off in (len(der) // 3, len(der) // 2, len(der) - 10):
        bad = bytearray(der)
        bad[off] ^= 0x04
        with pytest.raises(errors.FormatError):
            blindrsa.PrivateKey.from_der(bytes(bad))
    with pytest.raises(errors.FormatError):
        blindrsa.PrivateKey.from_der(der + b"\x00")
    with pytest.raises(errors.FormatError):
        blindrsa.PrivateKey.from_der(der[:-1])
    with pytest.raises(errors.FormatError):  # an SPKI is not a private key
        blindrsa.PrivateKey.from_der(sk.public_key().to_der())


def test_test_hooks_validated(pk):
    with pytest.raises(errors.InvalidArgument):
        blindrsa.blind(PSS_D, pk, b"m", salt=b"\x00" * 47)
    with pytest.raises(errors.InvalidArgument):
        blindrsa.blind(PSSZERO_D, pk, b"m", salt=b"\x00")
    for r in (0, pk.n, pk.n + 1):
        with pytest.raises(errors.InvalidArgument):
            blindrsa.blind(PSS_D, pk, b"m", r=r)
    with pytest.raises(errors.InvalidArgument):
        blindrsa.prepare(PSS_R, b"m", prefix=b"\x00" * 31)


def test_r_sharing_a_factor_with_n_rejected(rfc_sk):
    p = int(RFC["vectors"][0]["p"], 16)
    with pytest.raises(errors.InvalidArgument):
        blindrsa.blind(PSS_D, rfc_sk.public_key(), b"m", r=p)
    with pytest.raises(errors.InvalidArgument):
        blindrsa.blind(PSS_D, rfc_sk.public_key(), b"m", r=3 * p)


def test_wrong_python_types(sk, pk):
    with pytest.raises(TypeError):
        blindrsa.prepare("RSABSSA-SHA384-PSS-Randomized", b"m")
    with pytest.raises(TypeError):
        blindrsa.prepare(PSS_R, "text")
    with pytest.raises(TypeError):
        blindrsa.blind(PSS_D, sk, b"m")
    with pytest.raises(TypeError):
        blindrsa.PublicKey(b"not a key")


def test_no_secret_in_repr(sk):
    assert repr(sk) == "<blindrsa.PrivateKey 2048 bits>"
    _, state = blindrsa.blind(PSS_D, sk.public_key(), b"m")
    assert repr(state) == "<blindrsa.BlindingState>"


# --- hostile DER (property tests) ---

@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=700))
def test_spki_fuzz_random_bytes(data):
    try:
        blindrsa.PublicKey.from_der(data)
    except (errors.FormatError, errors.UnsupportedError, errors.InvalidArgument):
        pass


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_spki_fuzz_mutations(pk, data):
    der = bytearray(pk.to_der(pss_oid=data.draw(st.booleans())))
    i = data.draw(st.integers(0, len(der) - 1))
    der[i] ^= data.draw(st.integers(1, 255))
    cut = data.draw(st.integers(0, len(der)))
    try:
        got = blindrsa.PublicKey.from_der(bytes(der[:cut]))
    except (errors.FormatError, errors.UnsupportedError, errors.InvalidArgument):
        return
    # anything accepted must be a canonical encoding of some valid key
    assert got.to_der(pss_oid=True) == bytes(der[:cut]) or got.to_der() == bytes(der[:cut])


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_pkcs8_fuzz_mutations(sk, data):
    der = bytearray(sk.to_der())
    i = data.draw(st.integers(0, len(der) - 1))
    der[i] ^= data.draw(st.integers(1, 255))
    try:
        got = blindrsa.PrivateKey.from_der(bytes(der))
    except (errors.FormatError, errors.UnsupportedError):
        return
    # A mutation that still imports (say, of the PKCS#8 version field) must still be a
    # consistent key: it signs, and its signatures verify under its own public key.
    gpk = got.public_key()
    prepared, _, _, _, sig = issue(PSS_D, got, gpk)
    blindrsa.verify(PSS_D, gpk, prepared, sig)
