"""HPKE (RFC 9180): the 128 RFC vectors both ways, round trips, and one test per way to be wrong.

Vectors whose KEM is not implemented (P-521 0x0012, X448 0x0021) must raise UnsupportedError.
"""
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import load_vector
from pcc import _core, errors, hpke

SUPPORTED_KEMS = (hpke.KEM_P256_SHA256, hpke.KEM_X25519_SHA256)
KDFS = (hpke.KDF_HKDF_SHA256, hpke.KDF_HKDF_SHA384, hpke.KDF_HKDF_SHA512)
AEADS = (hpke.AEAD_AES128GCM, hpke.AEAD_AES256GCM, hpke.AEAD_CHACHA20POLY1305)
NH = {hpke.KDF_HKDF_SHA256: 32, hpke.KDF_HKDF_SHA384: 48, hpke.KDF_HKDF_SHA512: 64}
VECTORS = load_vector("hpke_rfc9180.json")
X25519_WYCHEPROOF = load_vector("wycheproof/x25519_test.json")
h = bytes.fromhex

PSK = b"\x5a" * 32
PSK_ID = b"psk id"

# P-256 field prime p (an x-coordinate equal to p is not a field element).
P256_P = h("ffffffff00000001000000000000000000000000ffffffffffffffffffffffff")
# P-256 group order n.
P256_N = h("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551")


def _vid(v):
    return f"mode{v['mode']}-kem{v['kem_id']:#06x}-kdf{v['kdf_id']}-aead{v['aead_id']:#06x}"


def _mode_kwargs(v):
    kw = {}
    if "psk" in v:
        kw["psk"], kw["psk_id"] = h(v["psk"]), h(v["psk_id"])
    return kw


# ---- RFC 9180 Appendix A vectors -----------------------------------------------------------

def test_vector_file_is_complete():
    assert len(VECTORS) == 128
    supported = [v for v in VECTORS if v["kem_id"] in SUPPORTED_KEMS]
    assert len(supported) == 64
    assert sum(len(v["encryptions"]) for v in supported) == 48 * 257


@pytest.mark.parametrize("v", VECTORS, ids=_vid)
def test_rfc9180_sender(v):
    suite = hpke.Suite(kem=v["kem_id"], kdf=v["kdf_id"], aead=v["aead_id"])
    kw = _mode_kwargs(v)
    if v["kem_id"] not in SUPPORTED_KEMS:
        assert not suite.supported
        with pytest.raises(errors.UnsupportedError):
            hpke.setup_sender(suite, h(v["pkRm"]), h(v["info"]), ikm_e=h(v["ikmE"]), **kw)
        with pytest.raises(errors.UnsupportedError):
            hpke.PrivateKey.derive(v["kem_id"], h(v["ikmR"]))
        return
    assert suite.supported
    if "ikmS" in v:
        sk_s = hpke.PrivateKey.derive(v["kem_id"], h(v["ikmS"]))
        assert sk_s.public_bytes() == h(v["pkSm"])
        assert sk_s.private_bytes() == h(v["skSm"])
        kw["sk_s"] = sk_s
    enc, ctx = hpke.setup_sender(suite, h(v["pkRm"]), h(v["info"]), ikm_e=h(v["ikmE"]), **kw)
    assert enc == h(v["enc"]) == h(v["pkEm"])
    assert isinstance(ctx, hpke.SenderContext)
    for i, e in enumerate(v["encryptions"]):
        assert ctx.seq == i
        assert ctx.seal(h(e["pt"]), aad=h(e["aad"])) == h(e["ct"])
    for x in v["exports"]:
        assert ctx.export(h(x["exporter_context"]), x["L"]) == h(x["exported_value"])
    if v["aead_id"] == hpke.AEAD_EXPORT_ONLY:
        with pytest.raises(errors.UnsupportedError):
            ctx.seal(b"no AEAD")


@pytest.mark.parametrize("v", VECTORS, ids=_vid)
def test_rfc9180_recipient(v):
    suite = hpke.Suite(kem=v["kem_id"], kdf=v["kdf_id"], aead=v["aead_id"])
    kw = _mode_kwargs(v)
    if v["kem_id"] not in SUPPORTED_KEMS:
        with pytest.raises(errors.UnsupportedError):
            hpke.PrivateKey.from_bytes(v["kem_id"], h(v["skRm"]))
        return
    sk_r = hpke.PrivateKey.derive(v["kem_id"], h(v["ikmR"]))
    assert sk_r.kem == v["kem_id"]
    assert sk_r.public_bytes() == h(v["pkRm"])
    assert sk_r.private_bytes() == h(v["skRm"])
    # DeserializePrivateKey(skRm) gives the same key pair.
    assert hpke.PrivateKey.from_bytes(v["kem_id"], h(v["skRm"])).public_bytes() == h(v["pkRm"])
    # The ephemeral key DeriveKeyPair(ikmE) matches too.
    assert hpke.PrivateKey.derive(v["kem_id"], h(v["ikmE"])).private_bytes() == h(v["skEm"])
    if "pkSm" in v:
        kw["pk_s"] = h(v["pkSm"])
    ctx = hpke.setup_recipient(suite, h(v["enc"]), sk_r, h(v["info"]), **kw)
    assert isinstance(ctx, hpke.RecipientContext)
    for e in v["encryptions"]:
        assert ctx.open(h(e["ct"]), aad=h(e["aad"])) == h(e["pt"])
    assert ctx.seq == len(v["encryptions"])
    for x in v["exports"]:
        assert ctx.export(h(x["exporter_context"]), x["L"]) == h(x["exported_value"])


@pytest.mark.parametrize("v", [v for v in VECTORS if v["kem_id"] in SUPPORTED_KEMS
                               and v["aead_id"] != hpke.AEAD_EXPORT_ONLY], ids=_vid)
def test_rfc9180_single_shot_opens_first_vector_ct(v):
    suite = hpke.Suite(kem=v["kem_id"], kdf=v["kdf_id"], aead=v["aead_id"])
    kw = _mode_kwargs(v)
    if "pkSm" in v:
        kw["pk_s"] = h(v["pkSm"])
    sk_r = hpke.PrivateKey.from_bytes(v["kem_id"], h(v["skRm"]))
    e = v["encryptions"][0]
    assert hpke.open(suite, h(v["enc"]), sk_r, h(e["ct"]), h(v["info"]), h(e["aad"]),
                     **kw) == h(e["pt"])


# ---- the _sk_e test hook: the ephemeral key pair given (pcc_hpke_setup_sender_ephemeral) ----

def _first_vector(kem, mode):
    return next(v for v in VECTORS if v["kem_id"] == kem and v["mode"] == mode
                and v["aead_id"] != hpke.AEAD_EXPORT_ONLY)


# one base-mode vector per KEM, plus one auth_psk vector per KEM (every optional input at once)
SK_E_VECTORS = [_first_vector(kem, mode) for kem in SUPPORTED_KEMS
                for mode in (hpke.MODE_BASE, hpke.MODE_AUTH_PSK)]


@pytest.mark.parametrize("v", SK_E_VECTORS, ids=_vid)
@pytest.mark.parametrize("how", ["derive_ikmE", "from_skEm"])
def test_rfc9180_sender_with_given_ephemeral_key(v, how):
    suite = hpke.Suite(kem=v["kem_id"], kdf=v["kdf_id"], aead=v["aead_id"])
    kw = _mode_kwargs(v)
    if "ikmS" in v:
        kw["sk_s"] = hpke.PrivateKey.derive(v["kem_id"], h(v["ikmS"]))
    sk_e = (hpke.PrivateKey.derive(v["kem_id"], h(v["ikmE"])) if how == "derive_ikmE"
            else hpke.PrivateKey.from_bytes(v["kem_id"], h(v["skEm"])))
    enc, ctx = hpke.setup_sender(suite, h(v["pkRm"]), h(v["info"]), _sk_e=sk_e, **kw)
    assert enc == h(v["enc"])
    e = v["encryptions"][0]
    assert ctx.seal(h(e["pt"]), aad=h(e["aad"])) == h(e["ct"])
    x = v["exports"][0]
    assert ctx.export(h(x["exporter_context"]), x["L"]) == h(x["exported_value"])
    # the key is only read: it sets up the same context again
    enc2, ctx2 = hpke.setup_sender(suite, h(v["pkRm"]), h(v["info"]), _sk_e=sk_e, **kw)
    assert enc2 == enc and ctx2.seal(h(e["pt"]), aad=h(e["aad"])) == h(e["ct"])


def test_sk_e_of_another_kem_is_invalid(pair, p256):
    suite, sk = pair
    with pytest.raises(errors.InvalidArgument):
        hpke.setup_sender(suite, sk.public_bytes(), _sk_e=p256[1])


def test_sk_e_with_ikm_e_is_invalid(pair):
    suite, sk = pair
    eph = hpke.PrivateKey.generate(suite.kem)
    with pytest.raises(errors.InvalidArgument):
        hpke.setup_sender(suite, sk.public_bytes(), ikm_e=bytes(32), _sk_e=eph)
    with pytest.raises(errors.InvalidArgument):  # the core checks it too
        _core.hpke_setup_sender(suite.kem, suite.kdf, suite.aead, sk.public_bytes(),
                                ikm_e=bytes(32), sk_e=eph)


def test_sk_e_wrong_type(pair):
    suite, sk = pair
    with pytest.raises(TypeError):
        hpke.setup_sender(suite, sk.public_bytes(), _sk_e=sk.private_bytes())
    with pytest.raises(TypeError):
        _core.hpke_setup_sender(suite.kem, suite.kdf, suite.aead, sk.public_bytes(),
                                sk_e=sk.private_bytes())


def test_sk_e_is_the_recipients_peer(pair):
    suite, sk = pair
    eph = hpke.PrivateKey.generate(suite.kem)
    enc, s = hpke.setup_sender(suite, sk.public_bytes(), b"i", _sk_e=eph)
    assert enc == eph.public_bytes()
    assert hpke.setup_recipient(suite, enc, sk, b"i").open(s.seal(b"m")) == b"m"


# ---- the key accessor shared with other modules (pcc_py_hpke_key) ---------------------------

def test_core_takes_the_private_key_wrapper_or_the_core_key(pair):
    suite, sk = pair
    for k in (sk, sk._key):
        enc, s = _core.hpke_setup_sender(suite.kem, suite.kdf, suite.aead, sk.public_bytes())
        r = _core.hpke_setup_recipient(suite.kem, suite.kdf, suite.aead, enc, k)
        assert r.open(s.seal(b"m")) == b"m"


def test_core_refuses_a_lookalike_wrapper(pair):
    suite, sk = pair

    class Lookalike:
        _key = sk._key

    enc, _ = hpke.setup_sender(suite, sk.public_bytes())
    with pytest.raises(TypeError):
        _core.hpke_setup_recipient(suite.kem, suite.kdf, suite.aead, enc, Lookalike())


def test_private_key_is_immutable(pair):
    suite, sk = pair
    other = hpke.PrivateKey.generate(suite.kem)
    with pytest.raises(AttributeError):
        sk._key = other._key
    with pytest.raises(AttributeError):
        del sk._key
    with pytest.raises(AttributeError):
        sk.__init__(other._key)
    assert sk._key is not other._key and sk.public_bytes() != other.public_bytes()


def test_uninitialised_private_key_is_type_error(pair):
    suite, sk = pair
    enc, _ = hpke.setup_sender(suite, sk.public_bytes())
    with pytest.raises(TypeError):
        _core.hpke_setup_recipient(suite.kem, suite.kdf, suite.aead, enc,
                                   hpke.PrivateKey.__new__(hpke.PrivateKey))


# ---- round trips over every supported suite and mode ---------------------------------------

ALL_SUITES = [hpke.Suite(kem, kdf, aead) for kem in SUPPORTED_KEMS for kdf in KDFS
              for aead in AEADS + (hpke.AEAD_EXPORT_ONLY,)]


@pytest.mark.parametrize("mode", [hpke.MODE_BASE, hpke.MODE_PSK, hpke.MODE_AUTH,
                                  hpke.MODE_AUTH_PSK])
@pytest.mark.parametrize("suite", ALL_SUITES, ids=lambda s: f"{s.kem:#x}-{s.kdf}-{s.aead:#x}")
def test_roundtrip_every_suite_and_mode(suite, mode):
    sk_r = hpke.PrivateKey.generate(suite.kem)
    s_kw, r_kw = {}, {}
    if mode & hpke.MODE_PSK:
        s_kw.update(psk=PSK, psk_id=PSK_ID)
        r_kw.update(psk=PSK, psk_id=PSK_ID)
    if mode & hpke.MODE_AUTH:
        sk_s = hpke.PrivateKey.generate(suite.kem)
        s_kw["sk_s"] = sk_s
        r_kw["pk_s"] = sk_s.public_bytes()
    enc, s = hpke.setup_sender(suite, sk_r.public_bytes(), b"info", **s_kw)
    r = hpke.setup_recipient(suite, enc, sk_r, b"info", **r_kw)
    assert s.suite == r.suite == suite
    assert s.export(b"ctx", 2 * NH[suite.kdf]) == r.export(b"ctx", 2 * NH[suite.kdf])
    if suite.aead == hpke.AEAD_EXPORT_ONLY:
        with pytest.raises(errors.UnsupportedError):
            s.seal(b"x")
        with pytest.raises(errors.UnsupportedError):
            r.open(b"x" * 32)
        with pytest.raises(errors.UnsupportedError):
            hpke.seal(suite, sk_r.public_bytes(), b"x", **s_kw)
        return
    for msg in (b"", b"a", b"m" * 1000, bytes(5000)):
        assert r.open(s.seal(msg, aad=b"ad"), aad=b"ad") == msg
    enc, ct = hpke.seal(suite, sk_r.public_bytes(), b"single", b"info", b"aad", **s_kw)
    assert hpke.open(suite, enc, sk_r, ct, b"info", b"aad", **r_kw) == b"single"


def test_roundtrip_accepts_bytearray_and_memoryview():
    suite = hpke.Suite()
    sk = hpke.PrivateKey.generate(suite.kem)
    enc, s = hpke.setup_sender(suite, bytearray(sk.public_bytes()), memoryview(b"i"))
    r = hpke.setup_recipient(suite, memoryview(enc), sk, bytearray(b"i"))
    assert r.open(bytearray(s.seal(memoryview(b"pt"), bytearray(b"a"))), b"a") == b"pt"


def test_default_suite_is_design_default():
    assert hpke.Suite() == hpke.Suite(kem=0x0020, kdf=0x0001, aead=0x0001)


def test_fresh_ephemeral_and_nonce_per_message():
    suite = hpke.Suite()
    sk = hpke.PrivateKey.generate(suite.kem)
    enc1, s = hpke.setup_sender(suite, sk.public_bytes())
    enc2, _ = hpke.setup_sender(suite, sk.public_bytes())
    assert enc1 != enc2
    assert s.seal(b"same") != s.seal(b"same")
    assert s.seq == 2


def test_export_lengths():
    suite = hpke.Suite(kdf=hpke.KDF_HKDF_SHA384)
    sk = hpke.PrivateKey.generate(suite.kem)
    enc, s = hpke.setup_sender(suite, sk.public_bytes())
    r = hpke.setup_recipient(suite, enc, sk)
    assert s.export(b"", 0) == b""
    assert s.export(b"e", 255 * 48) == r.export(b"e", 255 * 48)
    # LabeledExpand binds L: a shorter export is not a prefix of a longer one.
    assert s.export(b"e", 10) != s.export(b"e", 11)[:10]
    assert s.export(b"e", 10) != s.export(b"f", 10)


def test_key_serialization_roundtrip():
    for kem in SUPPORTED_KEMS:
        sk = hpke.PrivateKey.generate(kem)
        again = hpke.PrivateKey.from_bytes(kem, sk.private_bytes())
        assert again.public_bytes() == sk.public_bytes()
        assert len(sk.private_bytes()) == 32
        assert hpke.kem_sizes(kem) == (len(sk.public_bytes()),) * 2 + (32,)
        assert "PrivateKey" in repr(sk) and sk.private_bytes().hex() not in repr(sk)


def test_p256_public_key_is_uncompressed():
    pk = hpke.PrivateKey.generate(hpke.KEM_P256_SHA256).public_bytes()
    assert len(pk) == 65 and pk[0] == 0x04


# ---- wrong key, info, aad, psk, sender, ciphertext ------------------------------------------

@pytest.fixture(scope="module")
def pair():
    suite = hpke.Suite()
    sk = hpke.PrivateKey.generate(suite.kem)
    return suite, sk


def _sealed(suite, sk, msg=b"attack at dawn", info=b"info", aad=b"aad", **kw):
    enc, s = hpke.setup_sender(suite, sk.public_bytes(), info, **kw)
    return enc, s.seal(msg, aad=aad)


def test_wrong_recipient_key(pair):
    suite, sk = pair
    enc, ct = _sealed(suite, sk)
    other = hpke.PrivateKey.generate(suite.kem)
    with pytest.raises(errors.DecryptError) as ei:
        hpke.setup_recipient(suite, enc, other, b"info").open(ct, aad=b"aad")
    assert str(ei.value) == "decryption failed"


def test_wrong_info(pair):
    suite, sk = pair
    enc, ct = _sealed(suite, sk)
    with pytest.raises(errors.DecryptError):
        hpke.setup_recipient(suite, enc, sk, b"inf0").open(ct, aad=b"aad")


def test_wrong_aad(pair):
    suite, sk = pair
    enc, ct = _sealed(suite, sk)
    r = hpke.setup_recipient(suite, enc, sk, b"info")
    with pytest.raises(errors.DecryptError):
        r.open(ct, aad=b"aae")
    assert r.seq == 0  # a failed open does not advance
    assert r.open(ct, aad=b"aad") == b"attack at dawn"


def test_wrong_enc_of_right_form(pair):
    suite, sk = pair
    _, ct = _sealed(suite, sk)
    enc2, _ = _sealed(suite, sk)
    with pytest.raises(errors.DecryptError):
        hpke.setup_recipient(suite, enc2, sk, b"info").open(ct, aad=b"aad")


def test_wrong_psk_and_psk_id(pair):
    suite, sk = pair
    enc, ct = _sealed(suite, sk, psk=PSK, psk_id=PSK_ID)
    for psk, psk_id in ((b"\x5b" * 32, PSK_ID), (PSK, b"psk ie")):
        with pytest.raises(errors.DecryptError):
            hpke.setup_recipient(suite, enc, sk, b"info", psk=psk, psk_id=psk_id).open(
                ct, aad=b"aad")
    with pytest.raises(errors.DecryptError):  # base mode against a psk-mode message
        hpke.setup_recipient(suite, enc, sk, b"info").open(ct, aad=b"aad")


def test_wrong_sender_key(pair):
    suite, sk = pair
    sk_s = hpke.PrivateKey.generate(suite.kem)
    enc, ct = _sealed(suite, sk, sk_s=sk_s)
    other = hpke.PrivateKey.generate(suite.kem).public_bytes()
    with pytest.raises(errors.DecryptError):
        hpke.setup_recipient(suite, enc, sk, b"info", pk_s=other).open(ct, aad=b"aad")
    with pytest.raises(errors.DecryptError):  # base mode against an auth-mode message
        hpke.setup_recipient(suite, enc, sk, b"info").open(ct, aad=b"aad")
    assert hpke.setup_recipient(suite, enc, sk, b"info", pk_s=sk_s.public_bytes()).open(
        ct, aad=b"aad") == b"attack at dawn"


def test_truncated_ciphertext(pair):
    suite, sk = pair
    enc, ct = _sealed(suite, sk, b"short")
    r = hpke.setup_recipient(suite, enc, sk, b"info")
    for n in range(len(ct)):
        with pytest.raises(errors.DecryptError):
            r.open(ct[:n], aad=b"aad")
    with pytest.raises(errors.DecryptError):
        r.open(ct + b"\x00", aad=b"aad")
    assert r.open(ct, aad=b"aad") == b"short"


@pytest.mark.parametrize("aead", AEADS)
def test_every_bit_flip_is_rejected(aead):
    suite = hpke.Suite(aead=aead)
    sk = hpke.PrivateKey.generate(suite.kem)
    enc, ct = _sealed(suite, sk, b"tiny msg")
    r = hpke.setup_recipient(suite, enc, sk, b"info")
    for i in range(len(ct)):
        for bit in range(8):
            bad = bytearray(ct)
            bad[i] ^= 1 << bit
            with pytest.raises(errors.DecryptError):
                r.open(bytes(bad), aad=b"aad")
    assert r.seq == 0
    assert r.open(ct, aad=b"aad") == b"tiny msg"


def test_messages_out_of_order(pair):
    suite, sk = pair
    enc, s = hpke.setup_sender(suite, sk.public_bytes())
    c0, c1 = s.seal(b"zero"), s.seal(b"one")
    r = hpke.setup_recipient(suite, enc, sk)
    with pytest.raises(errors.DecryptError):
        r.open(c1)
    assert r.open(c0) == b"zero" and r.open(c1) == b"one"


def test_replayed_message_is_rejected(pair):
    suite, sk = pair
    enc, s = hpke.setup_sender(suite, sk.public_bytes())
    c0 = s.seal(b"zero")
    r = hpke.setup_recipient(suite, enc, sk)
    assert r.open(c0) == b"zero"
    with pytest.raises(errors.DecryptError):
        r.open(c0)


# ---- bad enc / public keys ------------------------------------------------------------------

def _low_order_x25519_points():
    pts = set()
    for g in X25519_WYCHEPROOF["testGroups"]:
        for t in g["tests"]:
            if "ZeroSharedSecret" in t["flags"]:
                pts.add(h(t["public"]))
    return sorted(pts)


LOW_ORDER = _low_order_x25519_points()


def test_low_order_points_found():
    assert len(LOW_ORDER) >= 10
    assert bytes(32) in LOW_ORDER


@pytest.mark.parametrize("point", LOW_ORDER, ids=lambda p: p.hex()[:16])
def test_x25519_low_order_enc_rejected(pair, point):
    suite, sk = pair
    with pytest.raises(errors.FormatError):
        hpke.setup_recipient(suite, point, sk)
    with pytest.raises(errors.FormatError):
        hpke.setup_sender(suite, point)
    with pytest.raises(errors.FormatError):
        hpke.open(suite, point, sk, bytes(32))
    enc, _ = hpke.setup_sender(suite, sk.public_bytes())
    with pytest.raises(errors.FormatError):  # low-order sender key in auth mode
        hpke.setup_recipient(suite, enc, sk, pk_s=point)


@pytest.mark.parametrize("n", [0, 1, 31, 33, 64, 65])
def test_x25519_enc_wrong_length(pair, n):
    suite, sk = pair
    with pytest.raises(errors.FormatError):
        hpke.setup_recipient(suite, b"\x09" * n, sk)
    with pytest.raises(errors.FormatError):
        hpke.setup_sender(suite, b"\x09" * n)


@pytest.fixture(scope="module")
def p256():
    suite = hpke.Suite(kem=hpke.KEM_P256_SHA256)
    return suite, hpke.PrivateKey.generate(suite.kem)


def _p256_bad_points(pk):
    x, y = pk[1:33], pk[33:]
    flipped = bytearray(pk)
    flipped[-1] ^= 1
    return {
        "off_curve": bytes(flipped),
        "compressed": bytes([2 + (y[-1] & 1)]) + x,
        "compressed_len65": bytes([2 + (y[-1] & 1)]) + x + y,
        "hybrid_prefix": bytes([6 + (y[-1] & 1)]) + x + y,
        "infinity": b"\x00",
        "zero_point": b"\x04" + bytes(64),
        "x_equals_p": b"\x04" + P256_P + y,
        "too_short": pk[:64],
        "too_long": pk + b"\x00",
        "empty": b"",
    }


@pytest.mark.parametrize("case", ["off_curve", "compressed", "compressed_len65", "hybrid_prefix",
                                  "infinity", "zero_point", "x_equals_p", "too_short",
                                  "too_long", "empty"])
def test_p256_bad_enc_rejected(p256, case):
    suite, sk = p256
    bad = _p256_bad_points(sk.public_bytes())[case]
    with pytest.raises(errors.FormatError):
        hpke.setup_recipient(suite, bad, sk)
    with pytest.raises(errors.FormatError):
        hpke.setup_sender(suite, bad)
    enc, _ = hpke.setup_sender(suite, sk.public_bytes())
    with pytest.raises(errors.FormatError):
        hpke.setup_recipient(suite, enc, sk, pk_s=bad)


def test_p256_private_key_range():
    kem = hpke.KEM_P256_SHA256
    n_plus_1 = (int.from_bytes(P256_N, "big") + 1).to_bytes(32, "big")
    for raw in (bytes(32), P256_N, n_plus_1, b"\xff" * 32):
        with pytest.raises(errors.FormatError):
            hpke.PrivateKey.from_bytes(kem, raw)
    n_minus_1 = (int.from_bytes(P256_N, "big") - 1).to_bytes(32, "big")
    assert len(hpke.PrivateKey.from_bytes(kem, n_minus_1).public_bytes()) == 65
    assert len(hpke.PrivateKey.from_bytes(kem, bytes(31) + b"\x01").public_bytes()) == 65


@pytest.mark.parametrize("kem", SUPPORTED_KEMS)
@pytest.mark.parametrize("n", [0, 31, 33])
def test_private_key_wrong_length(kem, n):
    with pytest.raises(errors.FormatError):
        hpke.PrivateKey.from_bytes(kem, b"\x01" * n)


def test_derive_short_ikm():
    with pytest.raises(errors.InvalidArgument):
        hpke.PrivateKey.derive(hpke.KEM_X25519_SHA256, b"short")


def test_key_of_other_kem(pair, p256):
    suite, sk = pair
    _, psk = p256
    enc, _ = hpke.setup_sender(suite, sk.public_bytes())
    with pytest.raises(errors.InvalidArgument):
        hpke.setup_recipient(suite, enc, psk)
    with pytest.raises(errors.InvalidArgument):
        hpke.setup_sender(suite, sk.public_bytes(), sk_s=psk)


# ---- mode inputs ---------------------------------------------------------------------------

def test_psk_without_psk_id(pair):
    suite, sk = pair
    with pytest.raises(errors.InvalidArgument):
        hpke.setup_sender(suite, sk.public_bytes(), psk=PSK)
    enc, _ = hpke.setup_sender(suite, sk.public_bytes())
    with pytest.raises(errors.InvalidArgument):
        hpke.setup_recipient(suite, enc, sk, psk=PSK)
    with pytest.raises(errors.InvalidArgument):
        hpke.seal(suite, sk.public_bytes(), b"x", psk=PSK)


def test_psk_id_without_psk(pair):
    suite, sk = pair
    with pytest.raises(errors.InvalidArgument):
        hpke.setup_sender(suite, sk.public_bytes(), psk_id=PSK_ID)
    enc, _ = hpke.setup_sender(suite, sk.public_bytes())
    with pytest.raises(errors.InvalidArgument):
        hpke.open(suite, enc, sk, bytes(20), psk_id=PSK_ID)


def test_empty_psk_or_psk_id(pair):
    suite, sk = pair
    with pytest.raises(errors.InvalidArgument):
        hpke.setup_sender(suite, sk.public_bytes(), psk=b"", psk_id=PSK_ID)
    with pytest.raises(errors.InvalidArgument):
        hpke.setup_sender(suite, sk.public_bytes(), psk=PSK, psk_id=b"")


def test_short_psk(pair):
    suite, sk = pair
    with pytest.raises(errors.InvalidArgument):
        hpke.setup_sender(suite, sk.public_bytes(), psk=b"k" * 31, psk_id=PSK_ID)


def test_core_enforces_psk_rules_too(pair):
    suite, sk = pair
    for psk, psk_id in ((PSK, None), (None, PSK_ID), (b"k" * 31, PSK_ID), (b"", PSK_ID)):
        with pytest.raises(errors.InvalidArgument):
            _core.hpke_setup_sender(suite.kem, suite.kdf, suite.aead, sk.public_bytes(), b"",
                                    psk, psk_id)


# ---- unsupported ids, wrong types ----------------------------------------------------------

@pytest.mark.parametrize("ids", [(0x0011, 1, 1), (0x0012, 1, 1), (0x0021, 1, 1), (0, 1, 1),
                                 (0x0020, 0, 1), (0x0020, 4, 1), (0x0020, 1, 0),
                                 (0x0020, 1, 4), (0x0020, 1, 0xFFFE)])
def test_unsupported_ids(pair, ids):
    _, sk = pair
    suite = hpke.Suite(*ids)
    assert not suite.supported
    with pytest.raises(errors.UnsupportedError):
        suite.check()
    with pytest.raises(errors.UnsupportedError):
        hpke.setup_sender(suite, sk.public_bytes())
    with pytest.raises(errors.UnsupportedError):
        hpke.setup_recipient(suite, sk.public_bytes(), sk)
    with pytest.raises(errors.UnsupportedError):
        hpke.seal(suite, sk.public_bytes(), b"x")


@pytest.mark.parametrize("kem", [0x0011, 0x0012, 0x0021, 0x9999])
def test_unsupported_kem_keys(kem):
    with pytest.raises(errors.UnsupportedError):
        hpke.PrivateKey.generate(kem)
    with pytest.raises(errors.UnsupportedError):
        hpke.PrivateKey.derive(kem, bytes(32))
    with pytest.raises(errors.UnsupportedError):
        hpke.PrivateKey.from_bytes(kem, bytes(32))
    with pytest.raises(errors.UnsupportedError):
        hpke.kem_sizes(kem)


def test_suite_id_range_and_type():
    with pytest.raises(errors.InvalidArgument):
        hpke.Suite(kem=0x10000)
    with pytest.raises(errors.InvalidArgument):
        hpke.Suite(aead=-1)
    with pytest.raises(TypeError):
        hpke.Suite(kdf="1")
    with pytest.raises(TypeError):
        hpke.Suite(kdf=True)


def test_wrong_python_types(pair):
    suite, sk = pair
    with pytest.raises(TypeError):
        hpke.setup_sender((0x20, 1, 1), sk.public_bytes())
    with pytest.raises(TypeError):
        hpke.setup_sender(suite, "not bytes")
    with pytest.raises(TypeError):
        hpke.setup_recipient(suite, sk.public_bytes(), sk.private_bytes())
    with pytest.raises(TypeError):
        hpke.setup_sender(suite, sk.public_bytes(), sk_s=sk.private_bytes())
    enc, s = hpke.setup_sender(suite, sk.public_bytes())
    with pytest.raises(TypeError):
        s.seal("text")
    with pytest.raises(TypeError):
        s.export(b"", 1.5)
    with pytest.raises(TypeError):
        hpke.PrivateKey(b"raw")


def test_export_too_long(pair):
    suite, sk = pair
    enc, s = hpke.setup_sender(suite, sk.public_bytes())
    with pytest.raises(errors.InvalidArgument):
        s.export(b"", 255 * 32 + 1)
    with pytest.raises(errors.InvalidArgument):
        s.export(b"", -1)


def test_export_only_seal_and_open_refused(pair):
    _, sk = pair
    suite = hpke.Suite(aead=hpke.AEAD_EXPORT_ONLY)
    enc, s = hpke.setup_sender(suite, sk.public_bytes())
    r = hpke.setup_recipient(suite, enc, sk)
    with pytest.raises(errors.UnsupportedError):
        s.seal(b"x")
    with pytest.raises(errors.UnsupportedError):
        r.open(bytes(17))
    with pytest.raises(errors.UnsupportedError):
        hpke.seal(suite, sk.public_bytes(), b"x")
    assert s.seq == 0 and r.seq == 0
    assert s.export(b"x", 32) == r.export(b"x", 32)


def test_role_is_enforced_in_core(pair):
    suite, sk = pair
    enc, s = hpke.setup_sender(suite, sk.public_bytes())
    r = hpke.setup_recipient(suite, enc, sk)
    assert s._ctx.is_sender and not r._ctx.is_sender
    with pytest.raises(errors.UnsupportedError):
        r._ctx.seal(b"x")
    with pytest.raises(errors.UnsupportedError):
        s._ctx.open(s.seal(b"x"))
    assert not hasattr(s, "open") and not hasattr(r, "seal")


# ---- sequence number -----------------------------------------------------------------------

def test_sequence_number_overflow(pair):
    suite, sk = pair
    _, s, r = hpke._testing_pair_at(suite, sk, 2**64 - 1)
    with pytest.raises(errors.StateError):
        s.seal(b"x")
    assert s.seq == 2**64 - 1
    _, s, r = hpke._testing_pair_at(suite, sk, 2**64 - 2)
    ct = s.seal(b"last")  # nonce = base_nonce XOR (2^64 - 2)
    assert s.seq == 2**64 - 1
    with pytest.raises(errors.StateError):
        s.seal(b"x")
    assert r.open(ct) == b"last"
    with pytest.raises(errors.StateError):
        r.open(ct)


def test_testing_pair_checks_range(pair):
    suite, sk = pair
    for bad in (-1, 2**64):
        with pytest.raises(errors.InvalidArgument):
            hpke._testing_pair_at(suite, sk, bad)
    with pytest.raises(TypeError):
        hpke._testing_pair_at(suite, sk, "1")


def test_nonce_uses_seq(pair):
    # A ciphertext made at seq 2^40 opens only for a recipient at 2^40, not one at 0.
    suite, sk = pair
    enc, s, r = hpke._testing_pair_at(suite, sk, 1 << 40)
    ct = s.seal(b"m")
    with pytest.raises(errors.DecryptError):
        hpke.setup_recipient(suite, enc, sk).open(ct)
    assert r.open(ct) == b"m" and r.seq == (1 << 40) + 1


def test_no_public_way_to_move_a_sequence_number(pair):
    suite, sk = pair
    enc, s = hpke.setup_sender(suite, sk.public_bytes())
    r = hpke.setup_recipient(suite, enc, sk)
    for ctx in (s, r, s._ctx, r._ctx):
        assert not any("seq" in name and name != "seq" for name in dir(ctx))
        with pytest.raises(AttributeError):
            ctx.seq = 5


def test_testing_pair_sender_has_a_fresh_key(pair):
    suite, sk = pair
    a = hpke._testing_pair_at(suite, sk, 7)
    b = hpke._testing_pair_at(suite, sk, 7)
    assert a[0] != b[0] and a[1].seal(b"m") != b[1].seal(b"m")


# ---- threads -------------------------------------------------------------------------------

def test_threads_share_one_context(pair):
    suite, sk = pair
    enc, s = hpke.setup_sender(suite, sk.public_bytes())
    n_threads, per_thread = 8, 40
    out, errs = [], []
    lock = threading.Lock()

    def worker(t):
        try:
            for i in range(per_thread):
                msg = f"{t}:{i}:".encode() + (b"x" * (4096 if i % 4 == 0 else 16))
                ct = s.seal(msg, aad=b"t")
                with lock:
                    out.append((msg, ct))
        except Exception as e:  # pragma: no cover - reported below
            errs.append(e)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errs
    total = n_threads * per_thread
    assert s.seq == total
    assert len({ct for _, ct in out}) == total
    # Every ciphertext opens at exactly one sequence number: recover the order.
    r = hpke.setup_recipient(suite, enc, sk)
    pending = dict((ct, msg) for msg, ct in out)
    while pending:
        for ct in list(pending):
            try:
                pt = r.open(ct, aad=b"t")
            except errors.DecryptError:
                continue
            assert pt == pending.pop(ct)
            break
        else:
            pytest.fail(f"no ciphertext opens at seq {r.seq}")
    assert r.seq == total


def test_threads_share_one_private_key(p256, pair):
    # The gateway pattern: many threads open single-shot messages to one long-lived key.
    jobs = []
    for suite, sk in (pair, p256):
        for i in range(30):
            enc, ct = hpke.seal(suite, sk.public_bytes(), b"msg %d" % i, b"info")
            jobs.append((suite, sk, enc, ct, b"msg %d" % i))
    errs = []

    def worker(part):
        try:
            for suite, sk, enc, ct, want in part:
                assert hpke.open(suite, enc, sk, ct, b"info") == want
        except Exception as e:  # pragma: no cover - reported below
            errs.append(e)

    threads = [threading.Thread(target=worker, args=(jobs[t::4],)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errs


# ---- property tests ------------------------------------------------------------------------

@settings(max_examples=50, deadline=None)
@given(pt=st.binary(max_size=300), aad=st.binary(max_size=64), info=st.binary(max_size=64))
def test_property_roundtrip(pair, pt, aad, info):
    suite, sk = pair
    enc, ct = hpke.seal(suite, sk.public_bytes(), pt, info, aad)
    assert len(ct) == len(pt) + hpke.TAG_LEN
    assert hpke.open(suite, enc, sk, ct, info, aad) == pt


@settings(max_examples=200, deadline=None)
@given(enc=st.binary(max_size=80))
def test_fuzz_enc_only_clean_errors(pair, p256, enc):
    for suite, sk in (pair, p256):
        try:
            hpke.open(suite, enc, sk, bytes(20))
        except (errors.FormatError, errors.DecryptError):
            pass
        else:  # pragma: no cover
            pytest.fail("random enc opened a random ciphertext")


# ---- secure slots --------------------------------------------------------------------------

def test_many_live_contexts_and_keys(pair):
    # More than one 64-slot slab of keys and contexts alive at once, then released and reused.
    suite, sk = pair
    senders = [hpke.setup_sender(suite, sk.public_bytes()) for _ in range(150)]
    keys = [hpke.PrivateKey.generate(suite.kem) for _ in range(70)]
    recipients = [hpke.setup_recipient(suite, enc, sk) for enc, _ in senders]
    for (_, s), r in zip(senders, recipients):
        assert r.open(s.seal(b"m")) == b"m"
    assert len({k.public_bytes() for k in keys}) == 70
    del senders, recipients, keys
    enc, s = hpke.setup_sender(suite, sk.public_bytes())
    assert hpke.setup_recipient(suite, enc, sk).open(s.seal(b"again")) == b"again"
