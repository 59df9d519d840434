"""Plain Ed25519 signatures over arbitrary bytes (publisher signatures over log leaves).

INTERIM: ``pcc.note`` signs and verifies only note text (UTF-8, newline-terminated), while a
``POST /add`` signature covers the raw msgpack leaf. Until ``pcc.note`` exposes raw Ed25519
(``Signer.sign_raw`` / ``Verifier.verify_raw`` in the C core), this module calls the same
OpenSSL libcrypto the C core links (EVP, Ed25519) through ctypes; the GIL is released during
the calls. Keys come from signed-note skey/vkey text, so they are the same keys ``pcc.note``
uses.
"""
from __future__ import annotations

import base64
import binascii
import ctypes
import ctypes.util
import threading

from pcc.errors import CryptoError, FormatError

EVP_PKEY_ED25519 = 1087          # NID_ED25519
SIG_LEN = 64

_lib = None
_lib_lock = threading.Lock()


def _crypto():
    global _lib
    with _lib_lock:
        if _lib is None:
            name = ctypes.util.find_library("crypto") or "libcrypto.so.3"
            lib = ctypes.CDLL(name)
            vp, cp, sz = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t
            lib.EVP_PKEY_new_raw_public_key.restype = vp
            lib.EVP_PKEY_new_raw_public_key.argtypes = [ctypes.c_int, vp, cp, sz]
            lib.EVP_PKEY_new_raw_private_key.restype = vp
            lib.EVP_PKEY_new_raw_private_key.argtypes = [ctypes.c_int, vp, cp, sz]
            lib.EVP_PKEY_free.argtypes = [vp]
            lib.EVP_MD_CTX_new.restype = vp
            lib.EVP_MD_CTX_free.argtypes = [vp]
            lib.EVP_DigestVerifyInit.argtypes = [vp, vp, vp, vp, vp]
            lib.EVP_DigestVerify.argtypes = [vp, cp, sz, cp, sz]
            lib.EVP_DigestSignInit.argtypes = [vp, vp, vp, vp, vp]
            lib.EVP_DigestSign.argtypes = [vp, ctypes.c_char_p, ctypes.POINTER(sz), cp, sz]
            lib.ERR_clear_error.argtypes = []
            _lib = lib
    return _lib


def verify(public_key: bytes, message: bytes, sig: bytes) -> bool:
    """Whether ``sig`` is a valid Ed25519 signature (RFC 8032) of ``message`` by
    ``public_key`` (32 bytes)."""
    if len(public_key) != 32 or len(sig) != SIG_LEN:
        return False
    lib = _crypto()
    pkey = lib.EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, None, bytes(public_key), 32)
    if not pkey:
        lib.ERR_clear_error()
        return False
    ctx = lib.EVP_MD_CTX_new()
    try:
        if not ctx or lib.EVP_DigestVerifyInit(ctx, None, None, None, pkey) != 1:
            raise CryptoError("Ed25519 verify initialisation failed")
        msg = bytes(message)
        return lib.EVP_DigestVerify(ctx, bytes(sig), SIG_LEN, msg, len(msg)) == 1
    finally:
        lib.EVP_MD_CTX_free(ctx)
        lib.EVP_PKEY_free(pkey)
        lib.ERR_clear_error()


def sign(seed: bytes, message: bytes) -> bytes:
    """The Ed25519 signature of ``message`` with the 32-byte private ``seed``."""
    if len(seed) != 32:
        raise FormatError("Ed25519 seed must be 32 bytes")
    lib = _crypto()
    pkey = lib.EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, None, bytes(seed), 32)
    if not pkey:
        lib.ERR_clear_error()
        raise CryptoError("Ed25519 key import failed")
    ctx = lib.EVP_MD_CTX_new()
    try:
        out = ctypes.create_string_buffer(SIG_LEN)
        n = ctypes.c_size_t(SIG_LEN)
        msg = bytes(message)
        if not ctx or lib.EVP_DigestSignInit(ctx, None, None, None, pkey) != 1 or \
                lib.EVP_DigestSign(ctx, out, ctypes.byref(n), msg, len(msg)) != 1 or \
                n.value != SIG_LEN:
            raise CryptoError("Ed25519 signing failed")
        return out.raw
    finally:
        lib.EVP_MD_CTX_free(ctx)
        lib.EVP_PKEY_free(pkey)
        lib.ERR_clear_error()


def seed_from_skey(skey: str) -> bytes:
    """The 32-byte seed of a Go-format skey ``PRIVATE+KEY+name+id+base64(type || seed)``
    (type 0x01 or 0x04)."""
    parts = skey.strip().split("+", 4)
    if len(parts) != 5 or parts[0] != "PRIVATE" or parts[1] != "KEY":
        raise FormatError("not an skey")
    try:
        raw = base64.b64decode(parts[4], validate=True)
    except (binascii.Error, ValueError):
        raise FormatError("skey: bad base64") from None
    if len(raw) != 33 or raw[0] not in (0x01, 0x04):
        raise FormatError("skey: not an Ed25519 key")
    return raw[1:]
