"""A test world for attestation: a provisioning CA (root, intermediate) made with `cryptography`,
a node key and certificate, a transparency log with three witnesses holding a release leaf, and
an independent bundle builder (msgpack + cryptography, no pcc code) so tests can build any
bundle, valid or broken in exactly one way."""
from __future__ import annotations

import datetime
import hashlib
from dataclasses import dataclass, field

import msgpack
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from pcc import attest, merkle
from pcc.transparency import _note as tlognote, leaves

NOW = 1_800_000_000
ORIGIN = "log.example/attest"
DAY = 86400


def ts(t: int) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc)


def name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_cert(subject_key, issuer_key, subject: str, issuer: str, *, ca: bool,
              pathlen: int | None = None, not_before: int = NOW - DAY,
              not_after: int = NOW + 365 * DAY, digital_signature: bool = True,
              basic_constraints: bool = True, hash_alg=None, key_usage: bool = True) -> bytes:
    pub = subject_key.public_key()
    b = (x509.CertificateBuilder().subject_name(name(subject)).issuer_name(name(issuer))
         .public_key(pub).serial_number(x509.random_serial_number())
         .not_valid_before(ts(not_before)).not_valid_after(ts(not_after)))
    if basic_constraints:
        b = b.add_extension(x509.BasicConstraints(ca=ca, path_length=pathlen if ca else None),
                            critical=True)
    if key_usage:
        b = b.add_extension(x509.KeyUsage(
            digital_signature=digital_signature, content_commitment=False,
            key_encipherment=False, data_encipherment=False,
            key_agreement=not digital_signature and not ca,
            key_cert_sign=ca, crl_sign=ca, encipher_only=False, decipher_only=False),
            critical=True)
    b = b.add_extension(x509.SubjectKeyIdentifier.from_public_key(pub), critical=False)
    cert = b.sign(issuer_key, hash_alg or hashes.SHA384())
    return cert.public_bytes(serialization.Encoding.DER)


def p384():
    return ec.generate_private_key(ec.SECP384R1())


def spki_der(key) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


def pem(der: bytes) -> str:
    return x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM).decode()


CODE = hashlib.sha384(b"code tree manifest").digest()
MODEL = hashlib.sha384(b"gguf bytes").digest()
CONFIG = hashlib.sha384(b"canonical config").digest()
EVENTS = [(0, "pcc", CODE), (1, "smollm2-135m", MODEL), (2, "node-config", CONFIG)]
COMPONENTS = [("pcc", "code", CODE), ("smollm2-135m", "model", MODEL),
              ("node-config", "config", CONFIG)]


def make_log(leaf_list, index, *, log_sk, wit_sks, stamp, origin=ORIGIN):
    tree = merkle.Tree()
    tree.append_many(leaf_list)
    text = tlognote.checkpoint_text(origin, len(leaf_list), tree.root())
    signed = tlognote.sign_checkpoint(tlognote.load_signer(log_sk), text)
    lines = list(signed.lines)
    for sk, t in zip(wit_sks, stamp if isinstance(stamp, list) else [stamp] * len(wit_sks)):
        lines.append(tlognote.cosign(tlognote.load_signer(sk), text, t))
    note_text = tlognote.SignedNote(text, tuple(lines)).format()
    return tlognote.format_proof(index, tree.inclusion_proof(index), note_text)


@dataclass
class World:
    root_key: object = field(default_factory=p384)
    inter_key: object = field(default_factory=p384)
    node_key: object = field(default_factory=p384)

    def __post_init__(self):
        self.root = make_cert(self.root_key, self.root_key, "pcc test root", "pcc test root",
                              ca=True, pathlen=1)
        self.inter = make_cert(self.inter_key, self.root_key, "pcc test intermediate",
                               "pcc test root", ca=True, pathlen=0)
        self.leaf = make_cert(self.node_key, self.inter_key, "node-1", "pcc test intermediate",
                              ca=False)
        self.chain = [self.leaf, self.inter]
        self.log_sk, self.log_vk = tlognote.generate(ORIGIN)
        self.wits = [tlognote.generate(f"w{i}.example", cosigner=True) for i in range(3)]
        self.release = leaves.release("pcc", "1.0.0", NOW - DAY, COMPONENTS)
        self.other_leaves = [leaves.release("pcc", f"0.{i}", NOW - 9 * DAY, COMPONENTS[:1])
                             for i in range(5)]
        self.leaves = self.other_leaves[:3] + [self.release] + self.other_leaves[3:]
        self.proof = self.log_proof()
        self.node_id = hashlib.sha256(spki_der(self.node_key)).digest()
        self.hpke_pk = bytes(range(32))
        self.key_id = b"K" * 8

    def log_proof(self, *, stamp=NOW - 600, wit_sks=None, index=3, leaf_list=None, **kw):
        sks = [s for s, _ in self.wits] if wit_sks is None else wit_sks
        return make_log(self.leaves if leaf_list is None else leaf_list, index,
                        log_sk=self.log_sk, wit_sks=sks, stamp=stamp, **kw)

    def trust(self, *, quorum=2, max_age=DAY, relax=(), roots=None, wit_vks=None):
        return attest.Trust(provisioning_roots=[pem(self.root)] if roots is None else roots,
                            log_vkey=self.log_vk,
                            witness_vkeys=[v for _, v in self.wits] if wit_vks is None else wit_vks,
                            quorum=quorum, max_checkpoint_age_s=max_age, relax=relax)

    def body(self, **over) -> dict:
        regs = attest.replay(EVENTS)
        b = {"v": 1, "node_id": self.node_id, "serial": "SN-0001", "boot": b"\x01" * 16,
             "issued": NOW - 60, "registers": regs,
             "events": [{"reg": r, "name": n, "sha384": d} for r, n, d in EVENTS],
             "modes": {"restricted": True, "ephemeral_data": True, "debug": False,
                       "sandbox": {"seccomp": True, "landlock": True, "netns": True}},
             "hpke": {"kem": 0x20, "kdf": 1, "aead": 1, "pk": self.hpke_pk,
                      "key_id": self.key_id, "not_after": NOW + DAY},
             "models": ["smollm2-135m"], "release": self.release, "tlog_proof": self.proof}
        b.update(over)
        return b

    def bundle(self, body=None, *, body_bytes=None, key=None, chain=None, sign_over=None,
               outer=None) -> bytes:
        """The independent builder: msgpack-encode body, sign with cryptography."""
        if body_bytes is None:
            body_bytes = msgpack.packb(self.body() if body is None else body, use_bin_type=True)
        k = self.node_key if key is None else key
        msg = body_bytes if sign_over is None else sign_over
        if isinstance(k, ec.EllipticCurvePrivateKey):
            sig = k.sign(msg, ec.ECDSA(hashes.SHA384()))
        else:
            from cryptography.hazmat.primitives.asymmetric import padding
            sig = k.sign(msg, padding.PKCS1v15(), hashes.SHA384())[:100]
        m = {"body": body_bytes, "sig": sig, "chain": self.chain if chain is None else chain}
        if outer:
            m.update(outer)
        return msgpack.packb(m, use_bin_type=True)


def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def p256():
    return ec.generate_private_key(ec.SECP256R1())
