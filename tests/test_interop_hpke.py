"""HPKE interoperability: pcc.hpke against independent RFC 9180 implementations.

1. The PyPI package ``hpke`` (pure Python on ``cryptography``; skipped if it is not installed).
   It implements DHKEM(P-256, HKDF-SHA256) in modes base and auth with any of its KDFs and
   AEADs; its suite classes are composed here for every KDF x AEAD pair, export-only included.
   It has no X25519 KEM and no PSK modes.
2. For what the package lacks (DHKEM(X25519), modes psk and auth_psk), a small RFC 9180
   reference written here from the RFC text on ``cryptography``'s X25519, ECDH, HMAC and AEADs
   (no pcc code), used the same way.

Every case runs both ways: a pcc sender to an independent recipient and an independent sender
to a pcc recipient, three messages in sequence (so nonces advance alike) plus two exports.
"""
import hashlib
import hmac
import itertools
import struct

import pytest

hpke_pkg = pytest.importorskip("hpke")

from cryptography.hazmat.primitives.asymmetric import ec, x25519  # noqa: E402
from cryptography.hazmat.primitives.ciphers import aead as crypto_aead  # noqa: E402
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat  # noqa: E402

from conftest import load_vector  # noqa: E402
from pcc import hpke  # noqa: E402
from pcc.errors import DecryptError  # noqa: E402

P256, X25519 = 0x0010, 0x0020
KDFS = (0x0001, 0x0002, 0x0003)
AEADS = (0x0001, 0x0002, 0x0003, 0xFFFF)
EXPORT_ONLY = 0xFFFF
INFO = b"interop info"
PSK = bytes(range(32))
PSK_ID = b"interop psk id"
MESSAGES = [(b"", b"aad-0"), (b"prompt: what is HPKE?", b""), (bytes(range(256)) * 5, b"aad-2")]
EXPORTS = [(b"", 32), (b"exporter context", 77)]


# ---- the PyPI hpke package --------------------------------------------------------------------

_impl = hpke_pkg.hpke
_PKG_KDF = {0x0001: _impl.HKDF_SHA256, 0x0002: _impl.HKDF_SHA384, 0x0003: _impl.HKDF_SHA512}
_PKG_AEAD = {0x0001: getattr(_impl, "_AES_128_GCM", None),
             0x0002: getattr(_impl, "_AES_256_GCM", None),
             0x0003: getattr(_impl, "_ChaCha20Poly1305", None),
             0xFFFF: getattr(_impl, "_ExportOnlyAEAD", None)}


def pkg_suite(kdf, aead):
    """An ``hpke`` suite class for DHKEM(P-256) with kdf and aead, composed from its parts."""
    if _PKG_AEAD[aead] is None or not hasattr(_impl, "_Suite"):
        pytest.skip("this hpke package version does not expose its suite building blocks")
    return type(f"Suite_P256_{kdf:04x}_{aead:04x}", (_impl._Suite,),
                {"KEM": _impl.DHKEM_P256_HKDF_SHA256, "KDF": _PKG_KDF[kdf],
                 "AEAD": _PKG_AEAD[aead]})


def p256_private(sk: hpke.PrivateKey):
    return ec.derive_private_key(int.from_bytes(sk.private_bytes(), "big"), ec.SECP256R1())


def p256_public(raw: bytes):
    return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)


def p256_bytes(pub) -> bytes:
    return pub.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)


def pcc_send_all(ctx, aead):
    if aead == EXPORT_ONLY:
        return []
    return [ctx.seal(pt, aad) for pt, aad in MESSAGES]


PKG_CASES = [(kdf, aead, auth) for kdf in KDFS for aead in AEADS for auth in (False, True)]


def _ids(case):
    kdf, aead, auth = case
    return f"kdf{kdf:#06x}-aead{aead:#06x}-{'auth' if auth else 'base'}"


@pytest.mark.parametrize("case", PKG_CASES, ids=[_ids(c) for c in PKG_CASES])
def test_pcc_sender_to_hpke_package(case):
    kdf, aead, auth = case
    suite, S = hpke.Suite(P256, kdf, aead), pkg_suite(kdf, aead)
    sk_r = p256_private(hpke.PrivateKey.generate(P256))
    sk_s = hpke.PrivateKey.generate(P256) if auth else None
    enc, sctx = hpke.setup_sender(suite, p256_bytes(sk_r.public_key()), INFO, sk_s=sk_s)
    cts = pcc_send_all(sctx, aead)
    if auth:
        rctx = S.setup_auth_recv(enc, sk_r, INFO, p256_public(sk_s.public_bytes()))
    else:
        rctx = S.setup_recv(enc, sk_r, INFO)
    for (pt, aad), ct in zip(MESSAGES, cts):
        assert rctx.aead.open(aad, ct) == pt
    for ec_, length in EXPORTS:
        assert rctx.export(ec_, length) == sctx.export(ec_, length)


@pytest.mark.parametrize("case", PKG_CASES, ids=[_ids(c) for c in PKG_CASES])
def test_hpke_package_sender_to_pcc(case):
    kdf, aead, auth = case
    suite, S = hpke.Suite(P256, kdf, aead), pkg_suite(kdf, aead)
    sk_r = hpke.PrivateKey.generate(P256)
    pk_r = p256_public(sk_r.public_bytes())
    if auth:
        sk_s = ec.generate_private_key(ec.SECP256R1())
        enc, sctx = S.setup_auth_send(pk_r, INFO, sk_s)
        rctx = hpke.setup_recipient(suite, enc, sk_r, INFO, pk_s=p256_bytes(sk_s.public_key()))
    else:
        enc, sctx = S.setup_send(pk_r, INFO)
        rctx = hpke.setup_recipient(suite, enc, sk_r, INFO)
    if aead != EXPORT_ONLY:
        for pt, aad in MESSAGES:
            assert rctx.open(sctx.aead.seal(aad, pt), aad) == pt
        # and a tampered ciphertext from the package is refused by pcc
        ct = bytearray(sctx.aead.seal(b"", b"last"))
        ct[0] ^= 1
        with pytest.raises(DecryptError):
            rctx.open(bytes(ct))
    for ec_, length in EXPORTS:
        assert rctx.export(ec_, length) == sctx.export(ec_, length)


def test_hpke_package_predefined_suite_single_shot():
    """The package's own public single-shot API (no composed classes) against pcc."""
    S = hpke_pkg.Suite__DHKEM_P256_HKDF_SHA256__HKDF_SHA256__AES_128_GCM
    suite = hpke.Suite(P256, 0x0001, 0x0001)
    sk_r = hpke.PrivateKey.generate(P256)
    enc, ct = S.seal(p256_public(sk_r.public_bytes()), INFO, b"aad", b"hello gateway")
    assert hpke.open(suite, enc, sk_r, ct, INFO, aad=b"aad") == b"hello gateway"
    enc, ct = hpke.seal(suite, sk_r.public_bytes(), b"hello client", INFO, aad=b"aad")
    assert S.open(enc, p256_private(sk_r), INFO, b"aad", ct) == b"hello client"


# ---- an RFC 9180 reference for what the package lacks -------------------------------------

_HASH = {0x0001: hashlib.sha256, 0x0002: hashlib.sha384, 0x0003: hashlib.sha512}
_NK = {0x0001: 16, 0x0002: 32, 0x0003: 32, 0xFFFF: 0}


def _extract(h, salt, ikm):
    return hmac.new(salt or b"\0" * h().digest_size, ikm, h).digest()


def _expand(h, prk, info, length):
    out, t, i = b"", b"", 1
    while len(out) < length:
        t = hmac.new(prk, t + info + bytes([i]), h).digest()
        out, i = out + t, i + 1
    return out[:length]


def _lextract(h, sid, salt, label, ikm):
    return _extract(h, salt, b"HPKE-v1" + sid + label + ikm)


def _lexpand(h, sid, prk, label, info, length):
    return _expand(h, prk, struct.pack(">H", length) + b"HPKE-v1" + sid + label + info, length)


class RefKem:
    """DHKEM(X25519 | P-256, HKDF-SHA256), RFC 9180 §4.1."""

    def __init__(self, kem):
        self.kem, self.sid = kem, b"KEM" + struct.pack(">H", kem)

    def generate(self):
        if self.kem == X25519:
            return x25519.X25519PrivateKey.generate()
        return ec.generate_private_key(ec.SECP256R1())

    def ser(self, pub):
        if self.kem == X25519:
            return pub.public_bytes(Encoding.Raw, PublicFormat.Raw)
        return p256_bytes(pub)

    def deser(self, raw):
        if self.kem == X25519:
            return x25519.X25519PublicKey.from_public_bytes(raw)
        return p256_public(raw)

    def private_from(self, sk: hpke.PrivateKey):
        if self.kem == X25519:
            return x25519.X25519PrivateKey.from_private_bytes(sk.private_bytes())
        return p256_private(sk)

    def dh(self, sk, pk):
        return sk.exchange(pk) if self.kem == X25519 else sk.exchange(ec.ECDH(), pk)

    def _shared(self, dh, kem_context):
        prk = _lextract(hashlib.sha256, self.sid, b"", b"eae_prk", dh)
        return _lexpand(hashlib.sha256, self.sid, prk, b"shared_secret", kem_context, 32)

    def encap(self, pk_r, sk_s=None):
        sk_e = self.generate()
        enc = self.ser(sk_e.public_key())
        dh = self.dh(sk_e, pk_r) + (self.dh(sk_s, pk_r) if sk_s else b"")
        ctx = enc + self.ser(pk_r) + (self.ser(sk_s.public_key()) if sk_s else b"")
        return self._shared(dh, ctx), enc

    def decap(self, enc, sk_r, pk_s=None):
        dh = self.dh(sk_r, self.deser(enc)) + (self.dh(sk_r, pk_s) if pk_s else b"")
        ctx = enc + self.ser(sk_r.public_key()) + (self.ser(pk_s) if pk_s else b"")
        return self._shared(dh, ctx)


class RefContext:
    """KeySchedule and the encryption context of RFC 9180 §5."""

    def __init__(self, kem, kdf, aead, mode, shared, info, psk=b"", psk_id=b""):
        h, self.h, self.aead = _HASH[kdf], _HASH[kdf], aead
        self.sid = b"HPKE" + struct.pack(">HHH", kem, kdf, aead)
        ksc = (bytes([mode]) + _lextract(h, self.sid, b"", b"psk_id_hash", psk_id)
               + _lextract(h, self.sid, b"", b"info_hash", info))
        secret = _lextract(h, self.sid, shared, b"secret", psk)
        self.key = _lexpand(h, self.sid, secret, b"key", ksc, _NK[aead])
        self.nonce = _lexpand(h, self.sid, secret, b"base_nonce", ksc, 12 if aead != EXPORT_ONLY else 0)
        self.exp = _lexpand(h, self.sid, secret, b"exp", ksc, h().digest_size)
        self.seq = 0

    def _cipher(self):
        return (crypto_aead.ChaCha20Poly1305(self.key) if self.aead == 0x0003
                else crypto_aead.AESGCM(self.key))

    def _next(self):
        n = bytes(a ^ b for a, b in zip(self.nonce, self.seq.to_bytes(12, "big")))
        self.seq += 1
        return n

    def seal(self, pt, aad):
        return self._cipher().encrypt(self._next(), pt, aad)

    def open(self, ct, aad):
        return self._cipher().decrypt(self._next(), ct, aad)

    def export(self, ec_, length):
        return _lexpand(self.h, self.sid, self.exp, b"sec", ec_, length)


REF_CASES = [(kem, kdf, aead, mode) for kem in (X25519, P256) for kdf in KDFS for aead in AEADS
             for mode in range(4) if kem == X25519 or mode in (1, 3)]


def _ref_id(case):
    kem, kdf, aead, mode = case
    return f"kem{kem:#06x}-kdf{kdf:#06x}-aead{aead:#06x}-mode{mode}"


def _psk_args(mode):
    return (PSK, PSK_ID) if mode & 1 else (b"", b"")


@pytest.mark.parametrize("case", REF_CASES, ids=[_ref_id(c) for c in REF_CASES])
def test_reference_round_trips(case):
    kem, kdf, aead, mode = case
    ref, suite = RefKem(kem), hpke.Suite(kem, kdf, aead)
    psk, psk_id = _psk_args(mode)
    pcc_psk = {"psk": psk, "psk_id": psk_id} if mode & 1 else {}
    auth = bool(mode & 2)

    # pcc sender -> reference recipient
    sk_r = hpke.PrivateKey.generate(kem)
    sk_s = hpke.PrivateKey.generate(kem) if auth else None
    enc, sctx = hpke.setup_sender(suite, sk_r.public_bytes(), INFO, sk_s=sk_s, **pcc_psk)
    shared = ref.decap(enc, ref.private_from(sk_r), ref.deser(sk_s.public_bytes()) if auth else None)
    rctx = RefContext(kem, kdf, aead, mode, shared, INFO, psk, psk_id)
    for (pt, aad), ct in zip(MESSAGES, pcc_send_all(sctx, aead)):
        assert rctx.open(ct, aad) == pt
    for ec_, length in EXPORTS:
        assert rctx.export(ec_, length) == sctx.export(ec_, length)

    # reference sender -> pcc recipient
    ref_sk_s = ref.generate() if auth else None
    shared, enc = ref.encap(ref.deser(sk_r.public_bytes()), ref_sk_s)
    sctx2 = RefContext(kem, kdf, aead, mode, shared, INFO, psk, psk_id)
    pk_s = ref.ser(ref_sk_s.public_key()) if auth else None
    rctx2 = hpke.setup_recipient(suite, enc, sk_r, INFO, pk_s=pk_s, **pcc_psk)
    if aead != EXPORT_ONLY:
        for pt, aad in MESSAGES:
            assert rctx2.open(sctx2.seal(pt, aad), aad) == pt
    for ec_, length in EXPORTS:
        assert rctx2.export(ec_, length) == sctx2.export(ec_, length)


def test_reference_matches_rfc9180_vector():
    """The reference itself reproduces an RFC 9180 Appendix A vector (A.2.4, auth_psk X25519),
    so agreement with it means agreement with the RFC, not with a shared mistake."""
    v = next(x for x in load_vector("hpke_rfc9180.json")
             if (x["mode"], x["kem_id"], x["kdf_id"], x["aead_id"]) == (3, X25519, 1, 3))
    ref = RefKem(X25519)
    sk_r = x25519.X25519PrivateKey.from_private_bytes(bytes.fromhex(v["skRm"]))
    pk_s = ref.deser(bytes.fromhex(v["pkSm"]))
    shared = ref.decap(bytes.fromhex(v["enc"]), sk_r, pk_s)
    assert shared.hex() == v["shared_secret"]
    ctx = RefContext(X25519, 1, 3, 3, shared, bytes.fromhex(v["info"]), bytes.fromhex(v["psk"]),
                     bytes.fromhex(v["psk_id"]))
    assert ctx.key.hex() == v["key"] and ctx.nonce.hex() == v["base_nonce"]
    e = v["encryptions"][0]
    assert ctx.open(bytes.fromhex(e["ct"]), bytes.fromhex(e["aad"])).hex() == e["pt"]


def test_matrix_is_complete():
    """Every KDF and AEAD pcc implements is covered with P-256 (package) and X25519 (reference),
    in all four modes across the two."""
    covered = {(P256, kdf, aead, 2 if auth else 0) for kdf, aead, auth in PKG_CASES}
    covered |= set(REF_CASES)
    want = set(itertools.product((X25519, P256), KDFS, AEADS, range(4)))
    assert want == covered
