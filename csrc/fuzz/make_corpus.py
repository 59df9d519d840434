"""Write the seed corpora of the libFuzzer harnesses (csrc/fuzz/corpus/<name>/) from the RFC
examples in tests/vectors/ (and a few inputs built with pcc itself where an example needs the
harness's fixed keys). Run from the repository root after building the extension:

    PYTHONPATH=. python csrc/fuzz/make_corpus.py

The files are committed; rerun only to change them.
"""
import base64
import json
import pathlib

from pcc import hpke, merkle, note, ohttp

ROOT = pathlib.Path(__file__).resolve().parents[2]
VEC = ROOT / "tests" / "vectors"
OUT = ROOT / "csrc" / "fuzz" / "corpus"


def load(name):
    with open(VEC / name, encoding="utf-8") as f:
        return json.load(f)


def write(fuzzer, name, data):
    d = OUT / fuzzer
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data)


def bhttp_seeds():
    v = load("bhttp_rfc9292.json")
    for ex in v["examples"]:
        write("bhttp", ex["name"], bytes.fromhex(ex["hex"]))
    o = load("ohttp_rfc9458.json")["rfc_values"]
    write("bhttp", "rfc9458_request", bytes.fromhex(o["request_bhttp"]))
    write("bhttp", "rfc9458_response", bytes.fromhex(o["response_bhttp"]))


def ohttp_seeds():
    o = load("ohttp_rfc9458.json")["rfc_values"]
    cfg = bytes.fromhex(o["key_config"])
    write("ohttp", "0_configs_rfc9458", b"\x00" + len(cfg).to_bytes(2, "big") + cfg)
    write("ohttp", "1_config_rfc9458", b"\x01" + cfg)
    write("ohttp", "2_request_rfc9458", b"\x02" + bytes.fromhex(o["encapsulated_request"]))
    write("ohttp", "3_response_rfc9458", b"\x03" + bytes.fromhex(o["encapsulated_response"]))
    # the harness's P-256 key (DeriveKeyPair of 32 bytes 0x42) as key_id 2, both its suites
    sk = hpke.PrivateKey.derive(0x0010, b"\x42" * 32)
    p256 = ohttp.KeyConfig(2, 0x0010, sk.public_bytes(), [(1, 1), (3, 2)])
    both = ohttp.encode_key_configs([ohttp.KeyConfig.decode(cfg), p256])
    write("ohttp", "0_configs_two", b"\x00" + both)
    request = bytes.fromhex(o["request_bhttp"])
    for kdf, aead in [(1, 1), (3, 2)]:
        enc, _ = ohttp.encapsulate_request(p256, request, kdf=kdf, aead=aead,
                                           ikm_e=bytes(range(32)))
        write("ohttp", f"2_request_p256_{kdf}_{aead}", b"\x02" + enc)


def ohttp_chunked_seeds():
    v = load("ohttp_chunked_draft.json")["values"]
    req = bytes.fromhex(v["request_header"]) + b"".join(bytes.fromhex(c) for c in v["request_chunks"])
    resp = bytes.fromhex(v["response_nonce"]) + b"".join(bytes.fromhex(c) for c in v["response_chunks"])
    write("ohttp_chunked", "0_request_draft", b"\x00\x07" + req)
    write("ohttp_chunked", "0_request_draft_bytewise", b"\x00\x00" + req)
    write("ohttp_chunked", "1_response_draft", b"\x01\x03" + resp)
    write("ohttp_chunked", "2_round_trip", b"\x02\x09" + bytes.fromhex(v["request_bhttp"]) * 9)
    write("ohttp_chunked", "2_round_trip_empty", b"\x02\x01")


def note_seeds():
    v = load("signed_note_c2sp.json")
    g = v["go_sumdb_note"]
    write("note", "go_signed_note", g["signed_note"].encode())
    write("note", "go_two_sigs", g["note_with_two_sigs"].encode())
    write("note", "go_vkey", g["verifier_key"].encode())
    write("note", "c2sp_example", v["c2sp_signed_note_examples"][0]["note"].encode())
    for i, ex in enumerate(v["c2sp_checkpoint_examples"]):
        write("note", f"c2sp_checkpoint_{i}", ex["note"].encode())
    cp_signed = v["c2sp_checkpoint_examples"][0]["note"]
    cp_text = cp_signed[: cp_signed.index("\n\n") + 1]
    write("note", "checkpoint_text", cp_text.encode())
    hashes = [bytes([i]) * 32 for i in range(3)]
    write("note", "tlog_proof", note.format_proof(7, hashes, cp_signed).encode())
    write("note", "tlog_proof_extra",
          note.format_proof(7, hashes[:1], cp_signed, extra=b"extra data").encode())
    write("note", "base64", base64.b64encode(b"\x00\x01\xfe\xff\x80").rstrip(b"\n"))


def merkle_seeds():
    tree = merkle.Tree()
    for i in range(300):
        tree.append(i.to_bytes(4, "big"))
    for index, size in [(0, 1), (5, 8), (6, 7), (150, 300), (299, 300)]:
        proof = b"".join(tree.inclusion_proof(index, size))
        write("merkle", f"incl_{index}_{size}",
              b"\x00" + index.to_bytes(2, "big") + size.to_bytes(2, "big") + proof)
    for s1, s2 in [(1, 8), (6, 8), (7, 300), (128, 256), (300, 300)]:
        proof = b"".join(tree.consistency_proof(s1, s2))
        write("merkle", f"cons_{s1}_{s2}",
              b"\x01" + s1.to_bytes(2, "big") + s2.to_bytes(2, "big") + proof)
    write("merkle", "wide_incl", b"\x02" + (2**63).to_bytes(8, "big") +
          (2**64 - 1).to_bytes(8, "big") + bytes(64 * 32))
    write("merkle", "wide_cons", b"\x03" + (2**40 + 1).to_bytes(8, "big") +
          (2**64 - 1).to_bytes(8, "big") + bytes(65 * 32))


def der_of_pem(pem):
    body = "".join(l for l in pem.splitlines() if l and not l.startswith("-----"))
    return base64.b64decode(body)


def blindrsa_seeds():
    from pcc import blindrsa

    pp = load("privacypass_rfc9578.json")["vectors"][0]
    spki = bytes.fromhex(pp["pk_s"])
    write("blindrsa", "spki_rfc9578_pss", b"\x00" + spki)
    pk = blindrsa.PublicKey.from_der(spki)
    write("blindrsa", "spki_rfc9578_rsaenc", b"\x00" + pk.to_der(pss_oid=False))
    write("blindrsa", "pkcs8_rfc9578", b"\x01" + der_of_pem(bytes.fromhex(pp["sk_s"]).decode()))
    v = load("blindrsa_rfc9474.json")["vectors"][0]
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    n, e = int(v["n"], 16), int(v["e"], 16)
    key = rsa.RSAPublicNumbers(e, n).public_key()
    der = key.public_bytes(serialization.Encoding.DER,
                           serialization.PublicFormat.SubjectPublicKeyInfo)
    write("blindrsa", "spki_rfc9474_4096", b"\x00" + der)


def tpm_seeds():
    v = load("tpm_swtpm_quote.json")
    write("tpm", "attest_swtpm", b"\x00" + bytes.fromhex(v["attest"]))
    write("tpm", "signature_swtpm", b"\x01" + bytes.fromhex(v["signature"]))
    write("tpm", "ak_public_swtpm", b"\x02" + bytes.fromhex(v["ak_public"]))


def provision_seeds():
    """Certificate requests (selector byte 0): P-384 with a serial, and a P-256 one."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    for name, curve in (("csr_p384", ec.SECP384R1()), ("csr_p256", ec.SECP256R1())):
        key = ec.generate_private_key(curve)
        csr = (x509.CertificateSigningRequestBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.SERIAL_NUMBER, "SN-0001")]))
               .sign(key, hashes.SHA384()))
        write("provision", name, b"\x00" + csr.public_bytes(serialization.Encoding.DER))
    # a key file (selector byte 1) that does not belong to the harness's root
    from pcc import provision
    import os
    r, w = os.pipe()
    provision.CA.generate("seed")._core.write_key(w)
    os.close(w)
    write("provision", "key_other", b"\x01" + os.read(r, 4096))
    os.close(r)


def gguf_seeds():
    import struct
    import sys

    sys.path.insert(0, str(ROOT / "tests"))
    import gguf_build as gb
    from llm_tiny import TinyConfig, _vocab

    write("gguf", "valid_small", gb.valid_small())
    tokens, types, merges = _vocab(TinyConfig())
    kvs = [
        gb.kv("general.architecture", gb.STR, "llama"),
        gb.kv("tokenizer.ggml.model", gb.STR, "gpt2"),
        gb.kv("tokenizer.ggml.pre", gb.STR, "smollm"),
        gb.kv("tokenizer.ggml.tokens", gb.ARR, (gb.STR, tokens)),
        gb.kv("tokenizer.ggml.token_type", gb.ARR, (gb.I32, types)),
        gb.kv("tokenizer.ggml.merges", gb.ARR, (gb.STR, merges)),
        gb.kv("tokenizer.ggml.bos_token_id", gb.U32, len(tokens) - 3),
        gb.kv("tokenizer.ggml.eos_token_id", gb.U32, len(tokens) - 2),
        gb.kv("tokenizer.ggml.add_bos_token", gb.BOOL, 0),
    ]
    write("gguf", "tokenizer_smollm", gb.build(kvs, []))
    tensor = struct.pack("<4f", 1.0, -2.0, 0.5, 0.25)
    write("gguf", "tokenizer_and_tensor",
          gb.build(kvs, [gb.tinfo("output_norm.weight", [4], 0, 0)], tensor))


def tokenizer_seeds():
    import struct

    texts = [b"Hello world, the rain in Spain", b"<|im_start|>user\nhi there<|im_end|>\n",
             "caf\u00e9 \U0001F600 \u4f60\u597d 12345 3.14".encode(), b"\xff\xfe\x80 ok \xc3",
             b"<tool>  two  spaces\t\ttabs\r\n", b"<|endoftext|><|im_end"]
    for i, text in enumerate(texts):
        for flags in (0, 1, 2, 3):
            write("tokenizer", f"text{i}_{flags}", bytes([flags]) + text)
    ids = [0, 1, 255, 256, 300, 399, 400, 403, 404, -1, 2**31 - 1, 187, 188]
    raw = b"".join(struct.pack("<i", x) for x in ids)
    for flags in (4, 5, 6, 7):
        write("tokenizer", f"ids_{flags}", bytes([flags]) + raw)


if __name__ == "__main__":
    provision_seeds()
    gguf_seeds()
    tokenizer_seeds()
    bhttp_seeds()
    ohttp_seeds()
    ohttp_chunked_seeds()
    note_seeds()
    merkle_seeds()
    blindrsa_seeds()
    tpm_seeds()
    for d in sorted(OUT.iterdir()):
        print(d.name, len(list(d.iterdir())), "files")
