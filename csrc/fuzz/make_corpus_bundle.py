"""Write the seed corpus of fuzz_bundle (csrc/fuzz/corpus/bundle/) with the harness's fixed test
keys: a whole bundle that passes (first byte even), Bodies that pass (first byte odd; 3 also asks
for the model) and Bodies broken in one way each. Run from the repository root after building
the extension:

    PYTHONPATH=.:tests python csrc/fuzz/make_corpus_bundle.py
"""
import datetime
import hashlib
import pathlib

import msgpack
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pcc import attest, merkle
from pcc.transparency import _note as tlognote, leaves

OUT = pathlib.Path(__file__).resolve().parent / "corpus" / "bundle"
NOW = 1_800_000_000
ROOT_PKCS8 = bytes.fromhex(
    "3081b6020100301006072a8648ce3d020106052b8104002204819e30819b020101043079ede74c89c134b345a5"
    "02b08e247d66769264ee7b470850f4fcbdf7e51408b6a161bfa2db58f8abc6b3a1e31beab2faa16403620004c9"
    "2164d452a8026210593d98d4ebcb2e287b1c818bce3630b4733df859a1a0cbe2538f3bfba1e2992da795d2a163"
    "0ef3b3e255fb9e0c805154ec39816917b33d9b2f3dfa01ac50aa3bcf316d0c3255db75488a70ecf97beb7c7a29"
    "ec10fd1390")
NODE_PKCS8 = bytes.fromhex(
    "3081b6020100301006072a8648ce3d020106052b8104002204819e30819b020101043038b9c84eeb241d944275"
    "13af1ade9e1731aea9c562a2db809f8698fb071c2dc12c8bc3c5f9e13c73fb2c161397dba2d2a16403620004eb"
    "811be2efd6ffcbe513b05dcd2b85f7560e53326e4a78f6b080a6584921b3b3a2df8d65ae881ea9a50d87228be845"
    "4a87dfe38343e4ade1a6562134c5e28c473261a1e794d444fb709005b293acff8314db6582f94a41ce0d36b7ac29"
    "f1dac6")
LOG_SKEY = "PRIVATE+KEY+fuzz.example/log+3d50fca4+AaX7p2ChdQgBchy8+aknh8m0rUth/sLSD7jbVwLO8ctB"
WIT_SKEYS = ["PRIVATE+KEY+fuzz-w0+3b897954+BIYaVKAO/z+Fwi2cuMkC1PSsVDsVqXZWvcIxWJq9Fykj",
             "PRIVATE+KEY+fuzz-w1+cc0860e7+BP3EnK/yXfVSJHjkILMcoRSliUfj8n7iuBS0wILC/f3z"]


def main():
    root = serialization.load_der_private_key(ROOT_PKCS8, None)
    node = serialization.load_der_private_key(NODE_PKCS8, None)
    spki = node.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    fuzz_root = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fuzz root")])
    t = lambda s: datetime.datetime.fromtimestamp(s, datetime.timezone.utc)  # noqa: E731
    leaf = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fuzz node")]))
            .issuer_name(fuzz_root).public_key(node.public_key()).serial_number(2)
            .not_valid_before(t(NOW - 86400)).not_valid_after(t(NOW + 365 * 86400))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False,
                                         False), critical=True)
            .sign(root, hashes.SHA384())).public_bytes(serialization.Encoding.DER)
    comps = [("pcc", "code", hashlib.sha384(b"c").digest()),
             ("fuzz-model", "model", hashlib.sha384(b"m").digest()),
             ("node-config", "config", hashlib.sha384(b"k").digest())]
    events = [(0, "pcc", comps[0][2]), (1, "fuzz-model", comps[1][2]),
              (2, "node-config", comps[2][2])]
    release = leaves.release("pcc", "1.0", NOW - 86400, comps)
    tree = merkle.Tree()
    tree.append_many([b"x", release, b"y"])
    text = tlognote.checkpoint_text("fuzz.example/log", 3, tree.root())
    signed = tlognote.sign_checkpoint(tlognote.load_signer(LOG_SKEY), text)
    lines = list(signed.lines) + [tlognote.cosign(tlognote.load_signer(s), text, NOW - 600)
                                  for s in WIT_SKEYS]
    proof = tlognote.format_proof(1, tree.inclusion_proof(1),
                                  tlognote.SignedNote(text, tuple(lines)).format())

    def body(**over):
        b = {"v": 1, "node_id": hashlib.sha256(spki).digest(), "serial": "FUZZ-1",
             "boot": bytes(16), "issued": NOW - 60, "registers": attest.replay(events),
             "events": [{"reg": r, "name": n, "sha384": d} for r, n, d in events],
             "modes": {"restricted": True, "ephemeral_data": True, "debug": False,
                       "sandbox": {"seccomp": True, "landlock": True, "netns": True}},
             "hpke": {"kem": 32, "kdf": 1, "aead": 1, "pk": bytes(32), "key_id": bytes(8),
                      "not_after": NOW + 3600},
             "models": ["fuzz-model"], "release": release, "tlog_proof": proof}
        b.update(over)
        return msgpack.packb(b, use_bin_type=True)

    good = body()
    sig = node.sign(good, ec.ECDSA(hashes.SHA384()))
    bundle = msgpack.packb({"body": good, "sig": sig, "chain": [leaf]}, use_bin_type=True)
    OUT.mkdir(parents=True, exist_ok=True)
    seeds = {
        "bundle_valid": b"\x00" + bundle,
        "body_valid": b"\x01" + good,
        "body_valid_model": b"\x03" + good,
        "body_tpm": b"\x01" + body(tpm={"quote": b"q"}),
        "body_debug": b"\x01" + body(modes={"restricted": True, "ephemeral_data": True,
                                            "debug": True, "sandbox": {"seccomp": True,
                                                                       "landlock": True,
                                                                       "netns": True}}),
        "body_stale": b"\x01" + body(issued=NOW - 3 * 86400),
        "body_other_model": b"\x03" + body(models=["other"]),
        "body_bad_registers": b"\x01" + body(registers=[bytes(48)] * 3),
    }
    for name, data in seeds.items():
        (OUT / name).write_bytes(data)


if __name__ == "__main__":
    main()
