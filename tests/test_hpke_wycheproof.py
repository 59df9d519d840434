"""Wycheproof vectors for the primitives HPKE is built from (tests/vectors/wycheproof/).

X25519 (all-zero shared secrets must be rejected), AES-GCM (96-bit IV, 128-bit tag, 128/256-bit
keys; other IV sizes must be refused), ChaCha20-Poly1305, HKDF-SHA256 and HKDF-SHA384. The
Wycheproof set here has no HKDF-SHA512 file; SHA-512 is covered by the RFC 9180 vectors.
"""
import pytest

from conftest import load_vector
from pcc import _core, errors, hpke

h = bytes.fromhex


def _cases(name, keep=lambda g: True):
    data = load_vector(f"wycheproof/{name}")
    out = []
    for g in data["testGroups"]:
        if keep(g):
            out.extend((g, t) for t in g["tests"])
    return data, out


def _ids(cases):
    return [f"tc{t['tcId']}" for _, t in cases]


# ---- X25519 --------------------------------------------------------------------------------

X_DATA, X_CASES = _cases("x25519_test.json")


def test_x25519_file_counts():
    assert X_DATA["numberOfTests"] == len(X_CASES) == 518
    assert sum("ZeroSharedSecret" in t["flags"] for _, t in X_CASES) > 0


@pytest.mark.parametrize("g,t", X_CASES, ids=_ids(X_CASES))
def test_x25519(g, t):
    assert g["curve"] == "curve25519"
    sk, pk, shared = h(t["private"]), h(t["public"]), h(t["shared"])
    zero = shared == bytes(32)
    assert zero == ("ZeroSharedSecret" in t["flags"])
    if t["result"] == "invalid" or zero:
        # RFC 9180 §7.1.4 / RFC 7748 §6.1: an all-zero output is refused.
        with pytest.raises(errors.FormatError):
            _core.x25519(sk, pk)
        return
    assert t["result"] in ("valid", "acceptable")
    assert _core.x25519(sk, pk) == shared


def test_x25519_wrong_lengths():
    with pytest.raises(errors.FormatError):
        _core.x25519(bytes(31), bytes(32))
    with pytest.raises(errors.FormatError):
        _core.x25519(bytes(32), bytes(33))


# ---- AES-GCM -------------------------------------------------------------------------------

AES_IDS = {128: hpke.AEAD_AES128GCM, 256: hpke.AEAD_AES256GCM}
G_DATA, G_CASES = _cases("aes_gcm_test.json", lambda g: g["ivSize"] == 96 and
                         g["tagSize"] == 128 and g["keySize"] in AES_IDS)
_, G_OTHER_IV = _cases("aes_gcm_test.json", lambda g: g["ivSize"] != 96 and g["keySize"] in AES_IDS)


def test_aes_gcm_filter_counts():
    assert len(G_CASES) == 67 + 66
    assert sum(t["result"] == "invalid" for _, t in G_CASES) == 54


def _aead_case(aead, t):
    key, iv, aad, msg = h(t["key"]), h(t["iv"]), h(t["aad"]), h(t["msg"])
    ct = h(t["ct"]) + h(t["tag"])
    if t["result"] == "valid":
        assert _core.aead_seal(aead, key, iv, aad, msg) == ct
        assert _core.aead_open(aead, key, iv, aad, ct) == msg
    else:
        assert t["result"] == "invalid"
        with pytest.raises(errors.DecryptError) as ei:
            _core.aead_open(aead, key, iv, aad, ct)
        assert str(ei.value) == "decryption failed"


@pytest.mark.parametrize("g,t", G_CASES, ids=_ids(G_CASES))
def test_aes_gcm(g, t):
    _aead_case(AES_IDS[g["keySize"]], t)


@pytest.mark.parametrize("g,t", G_OTHER_IV, ids=_ids(G_OTHER_IV))
def test_aes_gcm_other_iv_sizes_refused(g, t):
    aead = AES_IDS[g["keySize"]]
    with pytest.raises(errors.InvalidArgument):
        _core.aead_open(aead, h(t["key"]), h(t["iv"]), h(t["aad"]), h(t["ct"]) + h(t["tag"]))
    with pytest.raises(errors.InvalidArgument):
        _core.aead_seal(aead, h(t["key"]), h(t["iv"]), h(t["aad"]), h(t["msg"]))


# ---- ChaCha20-Poly1305 ---------------------------------------------------------------------

C_DATA, C_CASES = _cases("chacha20_poly1305_test.json", lambda g: g["ivSize"] == 96)
_, C_OTHER_IV = _cases("chacha20_poly1305_test.json", lambda g: g["ivSize"] != 96)


def test_chacha_counts():
    assert len(C_CASES) + len(C_OTHER_IV) == C_DATA["numberOfTests"] == 325


@pytest.mark.parametrize("g,t", C_CASES, ids=_ids(C_CASES))
def test_chacha20_poly1305(g, t):
    _aead_case(hpke.AEAD_CHACHA20POLY1305, t)


@pytest.mark.parametrize("g,t", C_OTHER_IV, ids=_ids(C_OTHER_IV))
def test_chacha20_poly1305_other_nonce_sizes_refused(g, t):
    assert t["result"] == "invalid"
    with pytest.raises(errors.InvalidArgument):
        _core.aead_open(hpke.AEAD_CHACHA20POLY1305, h(t["key"]), h(t["iv"]), h(t["aad"]),
                        h(t["ct"]) + h(t["tag"]))


def test_aead_wrong_key_length_and_export_only():
    with pytest.raises(errors.InvalidArgument):
        _core.aead_seal(hpke.AEAD_AES128GCM, bytes(32), bytes(12), b"", b"x")
    with pytest.raises(errors.UnsupportedError):
        _core.aead_seal(hpke.AEAD_EXPORT_ONLY, bytes(16), bytes(12), b"", b"x")
    with pytest.raises(errors.UnsupportedError):
        _core.aead_seal(0x0004, bytes(16), bytes(12), b"", b"x")
    with pytest.raises(errors.DecryptError):
        _core.aead_open(hpke.AEAD_AES128GCM, bytes(16), bytes(12), b"", bytes(15))


def test_aead_bulk_roundtrip():
    # Above the GIL-release threshold.
    msg = bytes(range(256)) * 64
    ct = _core.aead_seal(hpke.AEAD_AES256GCM, bytes(32), bytes(12), b"a", msg)
    assert _core.aead_open(hpke.AEAD_AES256GCM, bytes(32), bytes(12), b"a", ct) == msg


# ---- HKDF ----------------------------------------------------------------------------------

HKDF_FILES = {"hkdf_sha256_test.json": hpke.KDF_HKDF_SHA256,
              "hkdf_sha384_test.json": hpke.KDF_HKDF_SHA384}
HKDF_CASES = []
for _name, _kdf in HKDF_FILES.items():
    _data, _cs = _cases(_name)
    assert len(_cs) == _data["numberOfTests"]
    HKDF_CASES.extend((_kdf, t) for _, t in _cs)


@pytest.mark.parametrize("kdf,t", HKDF_CASES,
                         ids=[f"kdf{k}-tc{t['tcId']}" for k, t in HKDF_CASES])
def test_hkdf(kdf, t):
    prk = _core.hkdf_extract(kdf, h(t["salt"]), h(t["ikm"]))
    if t["result"] == "valid":
        assert _core.hkdf_expand(kdf, prk, h(t["info"]), t["size"]) == h(t["okm"])
    else:
        assert "SizeTooLarge" in t["flags"]
        with pytest.raises(errors.InvalidArgument):
            _core.hkdf_expand(kdf, prk, h(t["info"]), t["size"])


def test_hkdf_counts():
    assert len(HKDF_CASES) == 86 + 83


def test_hkdf_unsupported_and_sha512():
    with pytest.raises(errors.UnsupportedError):
        _core.hkdf_extract(0x0004, b"", b"x")
    # RFC 5869 A.1-style sanity for SHA-512 lengths.
    prk = _core.hkdf_extract(hpke.KDF_HKDF_SHA512, b"salt", b"ikm")
    assert len(prk) == 64
    assert len(_core.hkdf_expand(hpke.KDF_HKDF_SHA512, prk, b"", 255 * 64)) == 255 * 64
    with pytest.raises(errors.InvalidArgument):
        _core.hkdf_expand(hpke.KDF_HKDF_SHA512, prk, b"", 255 * 64 + 1)
