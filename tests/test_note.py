"""C2SP signed notes, checkpoints, cosignatures and tlog-proof: vectors, negatives, properties."""
import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from hypothesis import HealthCheck, given, settings, strategies as st

from conftest import load_vector
from pcc import merkle, note
from pcc.errors import (FormatError, InvalidArgument, LimitError, PccError, UnsupportedError,
                        VerifyError)

V = load_vector("signed_note_c2sp.json")
GO = V["go_sumdb_note"]
TD = V["transparency_dev_checkpoint_parse"]
KEYS = TD["test_keys_from_log_note_test_go"]
RFC = load_vector("merkle_rfc9162.json")
DASH = "\u2014"


def key_id(name, raw_key):
    return int.from_bytes(hashlib.sha256(name.encode() + b"\n" + raw_key).digest()[:4], "big")


def b64line(line):
    """The decoded base64 of a signature line."""
    return base64.b64decode(line.rstrip("\n").split(" ")[-1])


def relined(line, raw):
    """line with its base64 replaced by raw."""
    head = line.rstrip("\n").rsplit(" ", 1)[0]
    return f"{head} {base64.b64encode(raw).decode()}\n"


# ---- C2SP signed-note examples ---------------------------------------------------------------

def test_c2sp_example_verifies():
    ex = V["c2sp_signed_note_examples"][0]
    v = note.Verifier.from_vkey(ex["verifier_key"])
    n = note.open(ex["note"], [v])
    assert n.text == ex["text"]
    assert n.verified_by == [v]
    assert [s.name for s in n.signatures] == ["example.com/foo"]
    assert v.key_id == 0x530D903A == n.signatures[0].key_id
    assert n.timestamps == {}
    # Independent Ed25519 check of the same signature.
    Ed25519PublicKey.from_public_bytes(v.public_key).verify(n.signatures[0].sig,
                                                             ex["text"].encode())


def test_c2sp_quasimodo_parse_only():
    ex = V["c2sp_signed_note_examples"][1]
    n = note.parse(ex["note"])
    assert n.text.count("\n") == 4 and "\n\n" in n.text
    assert n.text.startswith("Ognuno sta solo") and n.text.endswith("sera.\n")
    assert [(s.name, len(s.sig)) for s in n.signatures] == [("quasimodo.example/salvatore", 64)]
    assert n.verified_by == []
    assert n.format() == ex["note"]
    with pytest.raises(VerifyError):
        note.open(ex["note"], [])
    other = note.Verifier.from_vkey(V["c2sp_signed_note_examples"][0]["verifier_key"])
    with pytest.raises(VerifyError):
        note.open(ex["note"], [other])


def test_c2sp_checkpoint_example_parse():
    ex = V["c2sp_checkpoint_examples"][0]
    n = note.parse(ex["note"])
    cp = note.Checkpoint.parse(n.text)
    assert cp.origin == ex["origin"] and cp.size == ex["tree_size"]
    assert cp.root == base64.b64decode(ex["root_hash_b64"]) and cp.extensions == []
    assert cp.format() == n.text


def test_c2sp_cosignature_example_parse():
    ex = V["c2sp_checkpoint_examples"][1]
    n = note.parse(ex["note"])
    log_sig, wit = n.signatures
    assert wit.name == "witness.example.com/w1" and len(wit.sig) == 8 + 64
    assert wit.timestamp == 1679315147  # the spec's "time 1679315147"
    assert log_sig.timestamp is None
    assert note.Checkpoint.parse(n.text).size == 20852163


# ---- Go sumdb/note vectors --------------------------------------------------------------------

def test_go_skey_reproduces_signature():
    s = note.Signer.from_skey(GO["signer_key"])
    assert s.name == "PeterNeumann" and s.key_id == 0xC74F20A3
    assert s.vkey == GO["verifier_key"]
    assert s.skey == GO["signer_key"]
    assert note.sign(GO["text"], [s]) == GO["signed_note"]


def test_go_two_signatures():
    v1 = note.Verifier.from_vkey(GO["verifier_key"])
    v2 = note.Verifier.from_vkey(GO["second_verifier_key"])
    n = note.open(GO["note_with_two_sigs"], [v2, v1])
    assert n.verified_by == [v1, v2] and n.text == GO["text"]
    assert GO["note_with_two_sigs"] == GO["signed_note"] + GO["second_signature_line"]
    assert n.signatures[1].line == GO["second_signature_line"]


@pytest.mark.parametrize("i", range(len(GO["open_cases"])))
def test_go_open_cases(i):
    case = GO["open_cases"][i]
    vs = [note.Verifier.from_vkey(k) for k in case["verifiers"]]
    exp = case["expect"]
    if exp.startswith("ok"):
        n = note.open(case["note"], vs)
        want = int(exp.split(":")[1].split()[0])
        assert len(n.verified_by) == want
        assert len(n.signatures) == 2
    elif "malformed" in exp:
        with pytest.raises(FormatError):
            note.open(case["note"], vs)
    else:
        with pytest.raises(VerifyError):
            note.open(case["note"], vs)


def malformed_notes():
    out = []
    for m in GO["malformed_notes"]:
        if m.startswith("<0xff byte>"):
            out.append(b"\xff" + m[len("<0xff byte>"):].encode())
        else:
            out.append(m)
    return out


@pytest.mark.parametrize("msg", malformed_notes())
def test_go_malformed_notes(msg):
    v = note.Verifier.from_vkey(GO["verifier_key"])
    with pytest.raises(FormatError):
        note.parse(msg)
    with pytest.raises(FormatError):
        note.open(msg, [v])


def test_malformed_includes_raw_ff():
    assert any(isinstance(m, bytes) and m[:1] == b"\xff" for m in malformed_notes())


@pytest.mark.parametrize("case", GO["bad_verifier_keys"], ids=lambda c: c["why"])
def test_go_bad_vkeys(case):
    err = UnsupportedError if "algorithm" in case["why"] else FormatError
    with pytest.raises(err):
        note.Verifier.from_vkey(case["vkey"])


def test_go_vkey_substrings_and_increments_rejected():
    good = GO["verifier_key"]
    note.Verifier.from_vkey(good)
    bad = {good[i:j] for i in range(len(good)) for j in range(i, len(good) + 1)} - {good}
    for i in range(len(good)):
        bad.add(good[:i] + chr(ord(good[i]) + 1) + good[i + 1:])
    for b in sorted(bad):
        with pytest.raises(PccError):
            note.Verifier.from_vkey(b)


def test_go_tlog_tree_note():
    t = V["go_sumdb_tlog_tree_note"]
    cp = note.Checkpoint.parse(t["note_text"])
    assert (cp.origin, cp.size, cp.root.hex()) == ("go.sum database tree", t["tree_size"],
                                                   t["hash_hex"])
    assert merkle.leaf_hash(t["record"].encode()).hex() == t["hash_hex"]
    assert cp.format() == t["note_text"]
    wrong_origin, not_decimal, long_root = t["bad_texts"]
    assert note.Checkpoint.parse(wrong_origin).origin != "go.sum database tree"
    with pytest.raises(FormatError):
        note.Checkpoint.parse(not_decimal)
    with pytest.raises(FormatError):
        note.Checkpoint.parse(long_root)


# ---- transparency-dev checkpoint cases (lenient upstream, strict here) -----------------------

@pytest.mark.parametrize("case", TD["cases"], ids=lambda c: c["m"][:30])
def test_td_checkpoint_cases_rejected(case):
    with pytest.raises(FormatError):
        note.Checkpoint.parse(case["m"])
    if case["upstream"] == "valid":
        # Upstream accepts these only because it does not check the root length or blank
        # extension lines; say which rule rejects each.
        lines = case["m"].split("\n")
        root_ok = len(base64.b64decode(lines[2])) == 32
        blank_ext = "" in lines[3:-1]
        assert not root_ok or blank_ext


def test_td_case_with_real_root_passes():
    # The same shapes with a 32-byte root are fine, extension lines included.
    root = base64.b64encode(bytes(range(32))).decode()
    cp = note.Checkpoint.parse(f"Log\n9944\n{root}\nlots\nof\nlines\n")
    assert cp.extensions == ["lots", "of", "lines"] and cp.size == 9944
    with pytest.raises(FormatError):
        note.Checkpoint.parse(f"Log\n9944\n{root}\n\n\n\n")


@pytest.mark.parametrize("name", sorted(KEYS))
def test_td_test_keys(name):
    s = note.Signer.from_skey(KEYS[name]["skey"])
    assert s.vkey == KEYS[name]["vkey"] and s.name == name
    assert s.skey == KEYS[name]["skey"]


@pytest.mark.parametrize("case", V["derived_signed_checkpoints"]["cases"],
                         ids=lambda c: c["desc"][:60])
def test_derived_signed_checkpoints(case):
    vs = [note.Verifier.from_vkey(k) for k in case["verifier_keys"]]
    n = note.open(case["note"], vs)
    assert n.verified_by == vs
    cp = note.Checkpoint.parse(n.text)
    assert cp.origin == "Log"
    assert cp.root.hex() == RFC["roots_by_tree_size"][str(cp.size)]
    signers = [note.Signer.from_skey(KEYS[v.name]["skey"]) for v in vs]
    assert note.sign(cp.format(), signers) == case["note"]  # deterministic Ed25519
    # Unknown signer alone: rejected.
    unknown = note.Verifier.from_vkey(KEYS["Unknown"]["vkey"])
    with pytest.raises(VerifyError):
        note.open(case["note"], [unknown])


# ---- named negative tests -----------------------------------------------------------------------

LOG = note.Signer.from_skey(KEYS["Log"]["skey"])
KNOWN = note.Signer.from_skey(KEYS["Known"]["skey"])
TEXT = "hello\nworld\n"
SIGNED = note.sign(TEXT, [LOG])


def test_sign_open_roundtrip():
    n = note.open(SIGNED, [LOG.verifier])
    assert n.text == TEXT and n.verified_by == [LOG.verifier]
    assert note.open(SIGNED.encode(), [LOG]).verified_by == [LOG.verifier]  # bytes, a Signer


def test_open_wrong_key_same_name():
    impostor = note.Signer.generate("Log")
    assert impostor.key_id != LOG.key_id
    with pytest.raises(VerifyError):
        note.open(SIGNED, [impostor.verifier])


def test_open_tampered_text():
    with pytest.raises(VerifyError):
        note.open(SIGNED.replace("world", "w0rld"), [LOG.verifier])


def test_open_tampered_signature():
    line = SIGNED.split("\n\n")[1]
    raw = bytearray(b64line(line))
    raw[10] ^= 1
    with pytest.raises(VerifyError):
        note.open(TEXT + "\n" + relined(line, bytes(raw)), [LOG.verifier])


def test_open_truncated_signature():
    line = SIGNED.split("\n\n")[1]
    with pytest.raises(VerifyError):
        note.open(TEXT + "\n" + relined(line, b64line(line)[:40]), [LOG.verifier])


def test_open_duplicated_signature_line():
    line = SIGNED.split("\n\n")[1]
    with pytest.raises(VerifyError):
        note.open(SIGNED + line, [LOG.verifier])


def test_open_second_different_line_same_key():
    line = SIGNED.split("\n\n")[1]
    other = note.sign("other\n", [LOG]).split("\n\n")[1]
    with pytest.raises(VerifyError):
        note.open(SIGNED + other, [LOG.verifier])
    with pytest.raises(VerifyError):
        note.open(TEXT + "\n" + other + line, [LOG.verifier])


def test_open_unknown_signer_only():
    with pytest.raises(VerifyError):
        note.open(SIGNED, [KNOWN.verifier])
    with pytest.raises(VerifyError):
        note.open(SIGNED, [])


def test_open_unknown_lines_ignored_and_listed():
    signed = note.sign(TEXT, [KNOWN, LOG])
    n = note.open(signed, [LOG.verifier])
    assert n.verified_by == [LOG.verifier]
    assert [s.name for s in n.signatures] == ["Known", "Log"]


def test_open_id_collision_is_ignored():
    # Same name, another key ID: a different key, so the line is ignored.
    line = SIGNED.split("\n\n")[1]
    raw = b64line(line)
    fake = relined(line, (LOG.key_id ^ 1).to_bytes(4, "big") + raw[4:])
    n = note.open(TEXT + "\n" + fake + line, [LOG.verifier])
    assert n.verified_by == [LOG.verifier] and len(n.signatures) == 2


def test_open_verifier_types():
    with pytest.raises(TypeError):
        note.open(SIGNED, LOG.verifier)
    with pytest.raises(TypeError):
        note.open(SIGNED, ["Log+2271c621+AemuH5ooBpEPcr+W8onrjA1NfuzBVHdezakU81Ekarvs"])
    with pytest.raises(TypeError):
        note.open(12, [LOG.verifier])


def test_verify_error_has_no_detail():
    with pytest.raises(VerifyError) as e:
        note.open(SIGNED.replace("world", "w0rld"), [LOG.verifier])
    assert str(e.value) == "verification failed"


@pytest.mark.parametrize("msg", [
    "no blank line\n" + DASH + " Log AAAAAAAA\n",
    "text\n\n",
    "text\n\n" + DASH + " Log InHGIQ==",                         # no final newline
    "text\n\n- Log InHGIQAA\n",                                   # hyphen, not em dash
    "text\n\n" + DASH + "Log InHGIQAA\n",                          # no space after the dash
    "text\n\n" + DASH + " Log\n",                                  # no signature
    "text\n\n" + DASH + " Log \n",                                 # empty signature
    "text\n\n" + DASH + " Log InHGIQ\n",                           # unpadded base64
    "text\n\n" + DASH + " Log InHGIQ==\n",                         # 4 bytes: too short
    "text\n\n" + DASH + " Log InHGIQB=\n",                         # non-zero pad bits
    "text\n\n" + DASH + " Log InHG IQAA\n",                        # space inside base64
    "text\n\n" + DASH + " Lo+g InHGIQAA\n",                        # '+' in name
    "text\n\n" + DASH + "  InHGIQAA\n",                            # empty name
    "text\n\n" + DASH + " Lo\u00a0g InHGIQAA\n",                   # no-break space in name
    "text\n\n" + DASH + " Log InHGIQAA\r\n",                       # CRLF
    "te\x00xt\n\n" + DASH + " Log InHGIQAA\n",                     # NUL
    "text\n\n" + DASH + " Log InHGIQAA\n\n",                       # trailing blank line
    "text\n\n" + DASH + " Log InHGIQAA\nextra\n",                  # a non-signature line
])
def test_malformed_note_lines(msg):
    with pytest.raises(FormatError):
        note.parse(msg)


def test_surrogates_and_overlong_utf8():
    good = "text\n\n" + DASH + " Log InHGIQAB\n"
    with pytest.raises(FormatError):
        note.parse(b"\xc0\xaf" + good.encode())          # overlong '/'
    with pytest.raises(FormatError):
        note.parse(b"\xed\xa0\x80" + good.encode())      # UTF-8 encoded surrogate
    with pytest.raises(FormatError):
        note.parse("\ud800" + good)                      # unencodable str


def test_signature_count_limit():
    line = SIGNED.split("\n\n")[1]
    unknown = "".join(relined(line, (i + 1).to_bytes(4, "big") + b"\0" * 64) for i in range(99))
    n = note.open(TEXT + "\n" + unknown + line, [LOG.verifier])
    assert len(n.signatures) == 100
    with pytest.raises(FormatError):
        note.open(TEXT + "\n" + unknown + relined(line, b"\0\0\0\0\0") + line, [LOG.verifier])


def test_note_size_limit():
    big = "x" * (1 << 20) + "\n"
    with pytest.raises(LimitError):
        note.parse(big + "\n" + SIGNED.split("\n\n")[1])
    with pytest.raises(LimitError):
        note.sign(big, [LOG])


@pytest.mark.parametrize("text", ["no newline", "", "ctl\x07\n", "tab\tx\n", "\ud800\n",
                                  b"\xff\n", b"\x85\xa4type\n"])
def test_sign_bad_text(text):
    with pytest.raises(FormatError):
        note.sign(text, [LOG])


def test_sign_arguments():
    with pytest.raises(InvalidArgument):
        note.sign(TEXT, [])
    with pytest.raises(InvalidArgument):
        note.sign(TEXT, [LOG, LOG])
    with pytest.raises(TypeError):
        note.sign(TEXT, LOG)
    with pytest.raises(TypeError):
        note.sign(TEXT, [LOG.verifier])


def test_sign_appends_and_replaces():
    n = note.parse(note.sign(TEXT, [LOG]))
    both = note.sign(n, [KNOWN])
    assert [s.name for s in note.parse(both).signatures] == ["Log", "Known"]
    assert note.open(both, [LOG.verifier, KNOWN.verifier]).verified_by == [LOG.verifier,
                                                                          KNOWN.verifier]
    again = note.sign(note.parse(both), [LOG])
    assert [s.name for s in note.parse(again).signatures] == ["Known", "Log"]
    assert note.open(again, [LOG, KNOWN]).text == TEXT


def test_add_signatures():
    a = note.sign(TEXT, [LOG])
    b_line = note.sign(TEXT, [KNOWN]).split("\n\n")[1]
    both = note.add_signatures(a, [b_line])
    assert both == note.sign(note.parse(a), [KNOWN])
    assert note.add_signatures(both, [b_line]) == both  # replaced, not duplicated
    assert note.add_signatures(both, []) == both
    with pytest.raises(FormatError):
        note.add_signatures(a, ["not a signature line"])
    with pytest.raises(InvalidArgument):
        note.add_signatures(a, [b_line, b_line])


# ---- keys ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["", "a b", "a+b", "a\u2003b", "a\tb", "\x01", "a\u3000"])
def test_generate_bad_names(name):
    with pytest.raises(InvalidArgument):
        note.Signer.generate(name)


def test_generate_roundtrip():
    s = note.Signer.generate("example.com/log42")
    raw = base64.b64decode(s.vkey.split("+", 2)[2])
    assert raw[0] == 1 and raw[1:] == s.public_key
    assert s.key_id == key_id(s.name, raw) == s.verifier.key_id
    assert s.skey.startswith(f"PRIVATE+KEY+example.com/log42+{s.key_id:08x}+")
    assert note.Signer.from_skey(s.skey).vkey == s.vkey
    assert "PRIVATE" not in repr(s)
    assert note.Signer.generate("π/ü") is not None  # non-ASCII names are fine


@pytest.mark.parametrize("skey", [
    "PRIVATE+KEY+PeterNeumann+c74f20a3",
    "PRIVATE+KEY+PeterNeumann+c74f20a4+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",  # wrong id
    "PRIVATE+KEY+PeterNeumann+c74f20a+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",   # short id
    "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDF",   # b64
    "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKA==",  # short
    "PRIVATE+KEY+Peter Neumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",
    "PRIVATE+KEX+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",
    "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",              # a vkey
])
def test_bad_skeys(skey):
    with pytest.raises(FormatError):
        note.Signer.from_skey(skey)


def test_skey_types():
    c = note.Cosigner.generate("w.example")
    with pytest.raises(UnsupportedError):
        note.Signer.from_skey(c.skey)           # a 0x04 skey is not a note signer
    with pytest.raises(TypeError):
        note.Signer.from_skey(c.skey.encode())


def test_vkey_uppercase_hex_and_bytes():
    v = GO["verifier_key"].replace("c74f20a3", "C74F20A3")
    assert note.Verifier.from_vkey(v).key_id == 0xC74F20A3
    with pytest.raises(TypeError):
        note.Verifier.from_vkey(GO["verifier_key"].encode())


def test_vkey_other_known_types_unsupported():
    for alg, size in [(2, 65), (6, 1312), (0xFF, 40)]:
        raw = bytes([alg]) + b"\x07" * size
        vkey = f"k+{key_id('k', raw):08x}+{base64.b64encode(raw).decode()}"
        with pytest.raises(UnsupportedError):
            note.Verifier.from_vkey(vkey)


def test_verifier_equality():
    a = note.Verifier.from_vkey(GO["verifier_key"])
    b = note.Verifier.from_vkey(GO["verifier_key"])
    assert a == b and hash(a) == hash(b) and a != note.Verifier.from_vkey(GO["second_verifier_key"])
    with pytest.raises(TypeError):
        note.Verifier("x")


# ---- cosignatures ------------------------------------------------------------------------------

W1 = note.Cosigner.generate("witness1.example")
W2 = note.Cosigner.generate("witness2.example")
TREE = merkle.Tree()
TREE.append_many([bytes.fromhex(h) for h in RFC["leaf_inputs_hex"]])
CP = note.Checkpoint("Log", 8, TREE.root())
CP_SIGNED = note.sign(CP.format(), [LOG])
T1, T2 = 1679315147, 1700000000


def test_cosigner_keys():
    raw = base64.b64decode(W1.vkey.split("+", 2)[2])
    assert raw[0] == 4 and W1.alg == note.ALG_COSIGNATURE_V1
    assert W1.key_id == key_id(W1.name, raw)
    v = note.Verifier.from_vkey(W1.vkey)
    assert v.is_cosigner and v == W1.verifier
    assert note.Cosigner.from_skey(W1.skey).vkey == W1.vkey
    assert base64.b64decode(W1.skey.split("+", 4)[4])[0] == 4


def test_cosigner_from_ed25519_skey():
    c = note.Cosigner.from_skey(KEYS["Log"]["skey"])
    assert c.public_key == LOG.public_key and c.name == "Log"
    assert c.key_id == key_id("Log", b"\x04" + LOG.public_key) != LOG.key_id


def test_cosign_roundtrip_and_message():
    line = note.cosign(CP.format(), W1, T1)
    assert line.startswith(f"{DASH} witness1.example ") and line.endswith("\n")
    raw = b64line(line)
    assert int.from_bytes(raw[:4], "big") == W1.key_id
    assert int.from_bytes(raw[4:12], "big") == T1 and len(raw) == 4 + 8 + 64
    msg = f"cosignature/v1\ntime {T1}\n".encode() + CP.format().encode()
    Ed25519PublicKey.from_public_bytes(W1.public_key).verify(raw[12:], msg)
    assert note.verify_cosignature(CP, line, W1.verifier) == T1
    assert note.cosign(CP, W1, T1) == line == note.cosign(note.parse(CP_SIGNED), W1, T1)


def test_cosigned_note_open():
    signed = note.add_signatures(CP_SIGNED, [note.cosign(CP, W1, T1), note.cosign(CP, W2, T2)])
    n = note.open(signed, [LOG.verifier, W1.verifier, W2.verifier])
    assert n.verified_by == [LOG.verifier, W1.verifier, W2.verifier]
    assert n.timestamps == {W1.verifier: T1, W2.verifier: T2}
    assert note.open(signed, [W2.verifier]).timestamps == {W2.verifier: T2}
    # Cosigners passed to sign() cosign at the given time.
    s2 = note.sign(CP.format(), [LOG, W1], timestamp=T2)
    assert note.open(s2, [LOG, W1]).timestamps == {W1.verifier: T2}


def test_cosignature_tampered_timestamp():
    line = note.cosign(CP, W1, T1)
    raw = bytearray(b64line(line))
    raw[11] ^= 1
    with pytest.raises(VerifyError):
        note.verify_cosignature(CP, relined(line, bytes(raw)), W1.verifier)


def test_cosignature_tampered_checkpoint():
    line = note.cosign(CP, W1, T1)
    with pytest.raises(VerifyError):
        note.verify_cosignature(note.Checkpoint("Log", 7, TREE.root(7)), line, W1.verifier)


def test_cosignature_wrong_witness():
    line = note.cosign(CP, W1, T1)
    with pytest.raises(VerifyError):
        note.verify_cosignature(CP, line, W2.verifier)


def test_cosignature_is_not_a_plain_signature():
    # The same seed as a plain Ed25519 key has another key ID: the line is not its signature.
    c = note.Cosigner.from_skey(KEYS["Log"]["skey"])
    signed = note.add_signatures(note.sign(CP.format(), [KNOWN]), [note.cosign(CP, c, T1)])
    with pytest.raises(VerifyError):
        note.open(signed, [LOG.verifier])
    with pytest.raises(InvalidArgument):
        note.verify_cosignature(CP, note.cosign(CP, c, T1), LOG.verifier)


def test_cosignature_over_non_checkpoint():
    with pytest.raises(FormatError):
        note.cosign("not a checkpoint\n", W1, T1)
    with pytest.raises(FormatError):
        note.cosign(CP_SIGNED, W1, T1)  # a signed note, not a checkpoint body
    with pytest.raises(FormatError):
        note.verify_cosignature(b"\xff" + CP.format().encode(), note.cosign(CP, W1, T1),
                                W1.verifier)
    # A cosigner's line under a note that is not a checkpoint never verifies.
    raw = b64line(note.cosign(CP, W1, T1))
    bogus = "hello\n\n" + relined(f"{DASH} witness1.example x\n", raw)
    with pytest.raises(VerifyError):
        note.open(bogus, [W1.verifier])


@pytest.mark.parametrize("ts", [-1, 2**63, 2**64])
def test_cosign_timestamp_range(ts):
    with pytest.raises(InvalidArgument):
        note.cosign(CP, W1, ts)


def test_cosignature_huge_timestamp_rejected_on_verify():
    line = note.cosign(CP, W1, T1)
    raw = bytearray(b64line(line))
    raw[4] = 0x80  # timestamp >= 2^63 (and the signature no longer matches anyway)
    with pytest.raises(VerifyError):
        note.verify_cosignature(CP, relined(line, bytes(raw)), W1.verifier)


def test_cosign_needs_cosigner():
    with pytest.raises(TypeError):
        note.cosign(CP, LOG, T1)
    with pytest.raises(TypeError):
        note.cosign(CP, W1, "now")


# ---- checkpoints --------------------------------------------------------------------------------

def test_checkpoint_roundtrip():
    cp = note.Checkpoint("example.com/log", 12345, b"\x01" * 32, ["ext one", "two"])
    text = cp.format()
    root = base64.b64encode(bytes([1]) * 32).decode()
    assert text == f"example.com/log\n12345\n{root}\next one\ntwo\n"
    assert note.Checkpoint.parse(text) == cp
    assert note.Checkpoint.parse(text.encode()) == cp


@pytest.mark.parametrize("args", [
    ("", 1, b"\0" * 32), ("a\nb", 1, b"\0" * 32), ("o", -1, b"\0" * 32), ("o", 2**64, b"\0" * 32),
    ("o", 1, b"\0" * 31), ("o", 1, b"\0" * 32, [""]), ("o", 1, b"\0" * 32, ["a\nb"]),
    ("o\x01", 1, b"\0" * 32), ("o", 1, b"\0" * 32, ["tab\there"]),
])
def test_checkpoint_bad_fields(args):
    with pytest.raises(InvalidArgument):
        note.Checkpoint(*args)


R32 = base64.b64encode(bytes(range(32))).decode()


@pytest.mark.parametrize("text", [
    f"o\n01\n{R32}\n", f"o\n+1\n{R32}\n", f"o\n-0\n{R32}\n", f"o\n1 \n{R32}\n", f"o\n\n{R32}\n",
    f"o\n18446744073709551616\n{R32}\n", f"o\n1\n{R32[:-1]}\n", f"o\n1\n{R32}", f"o\n1\n{R32} \n",
    f"o\n1\n{R32}\n\n", f"o\n1\n{R32}\next\n\n", f"\n1\n{R32}\n", "o\n1\n", "o\n",
    f"o\n1\n{R32[:-2]}9=\n", f"o\r\n1\n{R32}\n", f"o\n1\n{base64.b64encode(bytes(33)).decode()}\n",
])
def test_checkpoint_strict_rejects(text):
    with pytest.raises(FormatError):
        note.Checkpoint.parse(text)


def test_checkpoint_max_size():
    cp = note.Checkpoint.parse(f"o\n18446744073709551615\n{R32}\n")
    assert cp.size == 2**64 - 1 and note.Checkpoint.parse(f"o\n0\n{R32}\n").size == 0


# ---- tlog-proof ----------------------------------------------------------------------------------

def cosigned(cp=CP, witnesses=((W1, T1), (W2, T2)), log=LOG):
    signed = note.sign(cp.format(), [log])
    return note.add_signatures(signed, [note.cosign(cp, w, t) for w, t in witnesses])


SIGNED_CP = cosigned()
LEAF5 = bytes.fromhex(RFC["leaf_inputs_hex"][5])
PROOF5 = note.format_proof(5, TREE.inclusion_proof(5), SIGNED_CP)


def test_proof_format_exact():
    hashes = TREE.inclusion_proof(5)
    want = ("c2sp.org/tlog-proof@v1\nindex 5\n"
            + "".join(base64.b64encode(h).decode() + "\n" for h in hashes) + "\n" + SIGNED_CP)
    assert PROOF5 == want
    with_extra = note.format_proof(5, hashes, SIGNED_CP, extra=b"hello")
    assert with_extra.split("\n")[:3] == ["c2sp.org/tlog-proof@v1", "extra aGVsbG8=", "index 5"]
    assert note.format_proof(5, hashes, SIGNED_CP, extra=b"").split("\n")[1] == "extra "


def test_proof_parse_roundtrip():
    p = note.parse_proof(PROOF5)
    assert p == note.Proof(5, TREE.inclusion_proof(5), SIGNED_CP, None)
    p2 = note.parse_proof(note.format_proof(0, TREE.inclusion_proof(0), SIGNED_CP, b"\0xtra"))
    assert p2.extra == b"\0xtra" and p2.index == 0
    assert note.parse_proof(note.format_proof(0, [], SIGNED_CP, b"")).extra == b""


def test_proof_verify():
    r = note.verify_proof(LEAF5, PROOF5, LOG.verifier, [W1.verifier, W2.verifier], 2)
    index, cp, stamps = r
    assert index == 5 and cp == CP and stamps == {W1.verifier: T1, W2.verifier: T2}
    assert note.verify_proof(merkle.leaf_hash(LEAF5), PROOF5, LOG, [W1], 1,
                             leaf_is_hash=True).index == 5
    assert note.verify_proof(LEAF5, note.parse_proof(PROOF5), LOG.verifier).timestamps == {}


def test_proof_tampered_index():
    bad = PROOF5.replace("index 5\n", "index 4\n")
    with pytest.raises(VerifyError):
        note.verify_proof(LEAF5, bad, LOG.verifier, [W1.verifier], 1)


def test_proof_index_beyond_size():
    bad = note.format_proof(8, TREE.inclusion_proof(5), SIGNED_CP)
    with pytest.raises(VerifyError):
        note.verify_proof(LEAF5, bad, LOG.verifier)


def test_proof_tampered_hash():
    hashes = TREE.inclusion_proof(5)
    hashes[1] = bytes([hashes[1][0] ^ 1]) + hashes[1][1:]
    with pytest.raises(VerifyError):
        note.verify_proof(LEAF5, note.format_proof(5, hashes, SIGNED_CP), LOG.verifier)
    with pytest.raises(VerifyError):
        note.verify_proof(LEAF5, note.format_proof(5, hashes[:-1], SIGNED_CP), LOG.verifier)


def test_proof_wrong_leaf():
    with pytest.raises(VerifyError):
        note.verify_proof(LEAF5 + b"x", PROOF5, LOG.verifier)
    with pytest.raises(FormatError):
        note.verify_proof(b"short", PROOF5, LOG.verifier, leaf_is_hash=True)


def test_proof_tampered_checkpoint():
    bad = PROOF5.replace("\nLog\n8\n", "\nLog\n9\n")
    with pytest.raises(VerifyError):
        note.verify_proof(LEAF5, bad, LOG.verifier)


def test_proof_missing_quorum():
    one = note.format_proof(5, TREE.inclusion_proof(5), cosigned(witnesses=((W1, T1),)))
    note.verify_proof(LEAF5, one, LOG.verifier, [W1.verifier, W2.verifier], 1)
    with pytest.raises(VerifyError):
        note.verify_proof(LEAF5, one, LOG.verifier, [W1.verifier, W2.verifier], 2)
    none = note.format_proof(5, TREE.inclusion_proof(5), note.sign(CP.format(), [LOG]))
    with pytest.raises(VerifyError):
        note.verify_proof(LEAF5, none, LOG.verifier, [W1.verifier], 1)


def test_proof_log_key_does_not_count_as_witness():
    with pytest.raises(InvalidArgument):
        note.verify_proof(LEAF5, PROOF5, LOG.verifier, [LOG.verifier], 1)


def test_proof_bad_witness_signature():
    w3 = note.Cosigner.generate("witness1.example")  # same name, another key: ignored
    assert note.verify_proof(LEAF5, PROOF5, LOG, [w3, W2], 1).timestamps == {W2.verifier: T2}
    line = note.cosign(CP, W1, T1)
    raw = bytearray(b64line(line))
    raw[-1] ^= 1
    bad = note.format_proof(5, TREE.inclusion_proof(5),
                            note.add_signatures(SIGNED_CP, [relined(line, bytes(raw))]))
    with pytest.raises(VerifyError):
        note.verify_proof(LEAF5, bad, LOG.verifier, [W1.verifier, W2.verifier], 1)


def test_proof_wrong_log_key():
    other = note.Signer.generate("Log")
    with pytest.raises(VerifyError):
        note.verify_proof(LEAF5, PROOF5, other.verifier, [W1.verifier], 1)
    with pytest.raises(VerifyError):  # signed by a witness only, not the log
        note.verify_proof(LEAF5, PROOF5, KNOWN.verifier, [W1.verifier], 1)


def test_proof_origin():
    with pytest.raises(VerifyError):
        note.verify_proof(LEAF5, PROOF5, LOG.verifier, origin="example.com/other")
    renamed = note.Checkpoint("example.com/log", 8, TREE.root())
    p = note.format_proof(5, TREE.inclusion_proof(5), cosigned(renamed))
    with pytest.raises(VerifyError):
        note.verify_proof(LEAF5, p, LOG.verifier)
    assert note.verify_proof(LEAF5, p, LOG.verifier, origin="example.com/log").index == 5


def test_proof_quorum_arguments():
    with pytest.raises(InvalidArgument):
        note.verify_proof(LEAF5, PROOF5, LOG.verifier, [W1.verifier], 2)
    with pytest.raises(InvalidArgument):
        note.verify_proof(LEAF5, PROOF5, LOG.verifier, [W1.verifier], -1)
    with pytest.raises(TypeError):
        note.verify_proof(LEAF5, PROOF5, LOG.verifier, W1.verifier, 1)


@pytest.mark.parametrize("mutate", [
    lambda p: p.replace("c2sp.org/tlog-proof@v1", "c2sp.org/tlog-proof@v2"),
    lambda p: p.split("\n", 1)[1],                                          # no header
    lambda p: p.replace("index 5", "index 05"),
    lambda p: p.replace("index 5", "index -5"),
    lambda p: p.replace("index 5", "index  5"),
    lambda p: p.replace("index 5", "index 18446744073709551616"),
    lambda p: p.replace("index 5\n", ""),
    lambda p: p.replace("index 5\n", "index 5\nextra aGk=\n"),              # extra after index
    lambda p: p.replace("c2sp.org/tlog-proof@v1\n", "c2sp.org/tlog-proof@v1\nextra aGk\n"),
    lambda p: p.replace("\n\nLog\n", "\nLog\n", 1),                          # no blank line
    lambda p: p[:p.index("\n\nLog\n") + 2],                                  # no checkpoint
    lambda p: p.replace("\n\nLog\n", "\n\nLog\n8\n", 1),                     # not a checkpoint
    lambda p: p[:p.index("\n\nLog\n") + 2] + CP.format(),                    # unsigned
    lambda p: p.replace("=\n", "\n", 1),                                     # bad base64 hash
    lambda p: p.replace("index 5\n", "index 5\n" + base64.b64encode(b"x" * 31).decode() + "\n"),
    lambda p: p.replace("\n", "\r\n"),
    lambda p: p.rstrip("\n"),
    lambda p: p.replace("index 5\n", "index 5\n" + (base64.b64encode(b"x" * 32).decode()
                                                    + "\n") * 62),           # 65 hashes
])
def test_proof_malformed(mutate):
    bad = mutate(PROOF5)
    assert bad != PROOF5
    with pytest.raises(FormatError):
        note.parse_proof(bad)
    with pytest.raises(FormatError):
        note.verify_proof(LEAF5, bad, LOG.verifier)


def test_proof_64_hashes_parse():
    many = [bytes([i]) * 32 for i in range(64)]
    assert note.parse_proof(note.format_proof(1, many, SIGNED_CP)).hashes == many
    with pytest.raises(InvalidArgument):
        note.format_proof(1, many + many[:1], SIGNED_CP)


def test_format_proof_arguments():
    with pytest.raises(InvalidArgument):
        note.format_proof(5, [b"x" * 31], SIGNED_CP)
    with pytest.raises(InvalidArgument):
        note.format_proof(5, [], CP.format())  # not a signed note
    with pytest.raises(InvalidArgument):
        note.format_proof(-1, [], SIGNED_CP)
    with pytest.raises(TypeError):
        note.format_proof(5, [], SIGNED_CP, extra="text")


# ---- plain Ed25519 (sign_raw / verify_raw) -----------------------------------------------------

WYCHEPROOF = load_vector("wycheproof/ed25519_test.json")
WP_CASES = [(g["publicKey"]["pk"], t) for g in WYCHEPROOF["testGroups"] for t in g["tests"]]

# RFC 8032 §7.1 TEST 1, 2, 3: (secret key = seed, public key, message, signature)
RFC8032 = {
    "TEST 1": ("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
               "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
               "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33b"
               "acc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"),
    "TEST 2": ("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
               "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
               "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e1599"
               "6e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"),
    "TEST 3": ("c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
               "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
               "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f2"
               "90ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"),
}


def go_skey(name, seed, pub, alg=0x01):
    """A Go-format skey built from a raw Ed25519 seed (key ID from the given public key)."""
    kid = key_id(name, bytes([alg]) + pub)
    return f"PRIVATE+KEY+{name}+{kid:08x}+{base64.b64encode(bytes([alg]) + seed).decode()}"


def go_vkey(name, pub, alg=0x01):
    """A Go-format vkey built from a raw Ed25519 public key."""
    kid = key_id(name, bytes([alg]) + pub)
    return f"{name}+{kid:08x}+{base64.b64encode(bytes([alg]) + pub).decode()}"


@pytest.mark.parametrize("test", sorted(RFC8032))
def test_rfc8032_sign_raw(test):
    seed, pub, msg, sig = (bytes.fromhex(x) for x in RFC8032[test])
    s = note.Signer.from_skey(go_skey("rfc8032.example", seed, pub))
    assert s.public_key == pub                     # C derived the RFC's public key from the seed
    got = s.sign_raw(msg)
    assert got == sig                              # deterministic: byte-exact
    v = note.Verifier.from_vkey(go_vkey("rfc8032.example", pub))
    assert v.verify_raw(msg, sig) is None
    assert s.verifier.verify_raw(bytearray(msg), memoryview(sig)) is None
    with pytest.raises(VerifyError):
        v.verify_raw(msg + b"\x00", sig)
    # independent check of the same signature
    Ed25519PublicKey.from_public_bytes(pub).verify(got, msg)


@pytest.mark.parametrize("test", sorted(RFC8032))
def test_rfc8032_cosigner_sign_raw(test):
    """A type 0x04 key (from a 0x04 skey) signs raw bytes with the same seed."""
    seed, pub, msg, sig = (bytes.fromhex(x) for x in RFC8032[test])
    c = note.Cosigner.from_skey(go_skey("w.example", seed, pub, 0x04))
    assert c.sign_raw(msg) == sig
    note.Verifier.from_vkey(go_vkey("w.example", pub, 0x04)).verify_raw(msg, sig)


@pytest.mark.parametrize("pk,case", WP_CASES, ids=[str(t["tcId"]) for _, t in WP_CASES])
def test_wycheproof_verify_raw(pk, case):
    v = note.Verifier.from_vkey(go_vkey("wycheproof", bytes.fromhex(pk)))
    msg, sig = bytes.fromhex(case["msg"]), bytes.fromhex(case["sig"])
    if case["result"] == "valid":
        assert v.verify_raw(msg, sig) is None
    else:
        with pytest.raises(VerifyError) as e:
            v.verify_raw(msg, sig)
        assert str(e.value) == "verification failed", case["comment"]


def test_wycheproof_covers_both_results():
    assert {c["result"] for _, c in WP_CASES} == {"valid", "invalid"} and len(WP_CASES) == 151


RAW_SIGNER = note.Signer.generate("publisher.example")
LEAF = b"\x85\xa4type\xa7release" + bytes(range(256))  # binary: msgpack-like, not note text


def test_sign_raw_roundtrip_binary_and_large():
    v = RAW_SIGNER.verifier
    # empty, binary, a maximal leaf, and beyond the 1 MiB note limit (raw messages have none)
    for msg in (b"", LEAF, b"\x00" * 65535, b"x" * ((1 << 20) + 1)):
        sig = RAW_SIGNER.sign_raw(msg)
        assert isinstance(sig, bytes) and len(sig) == 64
        v.verify_raw(msg, sig)
        Ed25519PublicKey.from_public_bytes(v.public_key).verify(sig, msg)


@pytest.mark.parametrize("mutate", [
    pytest.param(lambda m, s: (m + b"x", s), id="message-appended"),
    pytest.param(lambda m, s: (m[:-1], s), id="message-truncated"),
    pytest.param(lambda m, s: (bytes([m[0] ^ 1]) + m[1:], s), id="message-bit-flip"),
    pytest.param(lambda m, s: (m, s[:63]), id="sig-63-bytes"),
    pytest.param(lambda m, s: (m, s + b"\x00"), id="sig-65-bytes"),
    pytest.param(lambda m, s: (m, b""), id="sig-empty"),
    pytest.param(lambda m, s: (m, bytes([s[0] ^ 1]) + s[1:]), id="sig-R-bit-flip"),
    pytest.param(lambda m, s: (m, s[:32] + bytes([s[32] ^ 1]) + s[33:]), id="sig-S-bit-flip"),
    pytest.param(lambda m, s: (m, b"\x00" * 64), id="sig-zero"),
    pytest.param(lambda m, s: (m, s[:32] + (int.from_bytes(s[32:], "little") + (
        2**252 + 27742317777372353535851937790883648493)).to_bytes(32, "little")),
        id="sig-S-plus-L"),
])
def test_verify_raw_rejects(mutate):
    sig = RAW_SIGNER.sign_raw(LEAF)
    msg, bad = mutate(LEAF, sig)
    with pytest.raises(VerifyError) as e:
        RAW_SIGNER.verifier.verify_raw(msg, bad)
    assert str(e.value) == "verification failed"


def test_verify_raw_wrong_key_same_name():
    other = note.Signer.generate(RAW_SIGNER.name)
    with pytest.raises(VerifyError):
        other.verifier.verify_raw(LEAF, RAW_SIGNER.sign_raw(LEAF))


def test_raw_types():
    v = RAW_SIGNER.verifier
    sig = RAW_SIGNER.sign_raw(LEAF)
    for bad in ("text", None, 1, [1]):
        with pytest.raises(TypeError):
            RAW_SIGNER.sign_raw(bad)
        with pytest.raises(TypeError):
            v.verify_raw(bad, sig)
        with pytest.raises(TypeError):
            v.verify_raw(LEAF, bad)
    assert not hasattr(v, "sign_raw")


def test_core_verifier_key_cannot_sign_raw():
    with pytest.raises(PccError) as e:
        RAW_SIGNER.verifier._k.sign_raw(LEAF)
    assert not isinstance(e.value, VerifyError)


def test_raw_signature_of_note_text_is_a_note_signature():
    """Why sign_raw carries a WARNING: Ed25519 over note text is that note's signature."""
    text = "example.com/raw\n1\n" + base64.b64encode(b"\x00" * 32).decode() + "\n"
    signed = note.sign(text, [RAW_SIGNER])
    assert note.parse(signed).signatures[0].sig == RAW_SIGNER.sign_raw(text.encode())


def test_raw_signature_is_not_a_cosignature():
    c = note.Cosigner.generate("w.example/raw")
    text = CP.format()
    line = note.cosign(text, c, 1700000000)
    cosig = note.parse(text + "\n" + line).signatures[0].sig
    assert c.sign_raw(text.encode()) != cosig[8:]  # a cosignature covers a header too
    with pytest.raises(VerifyError):
        c.verifier.verify_raw(text.encode(), cosig[8:])
    c.verifier.verify_raw(f"cosignature/v1\ntime 1700000000\n{text}".encode(), cosig[8:])


def test_raw_sign_verify_threads():
    """Concurrent raw signing and verification with the GIL released give the same answers."""
    import concurrent.futures
    msgs = [LEAF + i.to_bytes(2, "big") for i in range(64)]
    want = [RAW_SIGNER.sign_raw(m) for m in msgs]
    v = RAW_SIGNER.verifier

    def work(i):
        sig = RAW_SIGNER.sign_raw(msgs[i])
        v.verify_raw(msgs[i], sig)
        return sig

    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        assert list(ex.map(work, range(64))) == want


@settings(max_examples=60, deadline=None)
@given(msg=st.binary(max_size=2000))
def test_sign_raw_property(msg):
    sig = RAW_SIGNER.sign_raw(msg)
    RAW_SIGNER.verifier.verify_raw(msg, sig)
    Ed25519PublicKey.from_public_bytes(RAW_SIGNER.public_key).verify(sig, msg)


# ---- properties -----------------------------------------------------------------------------------

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SAMPLES = [GO["note_with_two_sigs"], SIGNED_CP, PROOF5, CP.format(),
           V["c2sp_checkpoint_examples"][1]["note"]]


@FUZZ
@given(data=st.data())
def test_fuzz_parsers_never_crash(data):
    base = data.draw(st.sampled_from(SAMPLES)).encode()
    pos = data.draw(st.integers(0, len(base)))
    cut = data.draw(st.integers(0, 8))
    ins = data.draw(st.binary(max_size=8) | st.sampled_from([b"\n", b"\n\n", b" ", b"+", b"="]))
    msg = base[:pos] + ins + base[pos + cut:]
    for fn in (note.parse, note.parse_proof, note.Checkpoint.parse):
        try:
            fn(msg)
        except (FormatError, LimitError):
            pass
    try:
        note.open(msg, [LOG, KNOWN, W1, W2, note.Verifier.from_vkey(GO["verifier_key"])])
    except (FormatError, VerifyError):
        pass


@FUZZ
@given(msg=st.binary(max_size=300))
def test_fuzz_random_bytes(msg):
    for fn in (note.parse, note.parse_proof, note.Checkpoint.parse):
        try:
            fn(msg)
        except (FormatError, LimitError):
            pass


NAME = st.text(st.characters(blacklist_categories=["Cc", "Cs", "Zs", "Zl", "Zp"],
                             blacklist_characters="+\u0085"), min_size=1, max_size=20)
LINE = st.text(st.characters(blacklist_categories=["Cc", "Cs"]), min_size=1, max_size=20)


@FUZZ
@given(origin=LINE, size=st.integers(0, 2**64 - 1), root=st.binary(min_size=32, max_size=32),
       ext=st.lists(LINE, max_size=3))
def test_checkpoint_roundtrip_property(origin, size, root, ext):
    cp = note.Checkpoint(origin, size, root, ext)
    assert note.Checkpoint.parse(cp.format()) == cp


@settings(max_examples=40, deadline=None)
@given(name=NAME, text=LINE, ts=st.integers(0, 2**63 - 1))
def test_sign_open_property(name, text, ts):
    s = note.Signer.generate(name)
    c = note.Cosigner.generate(name)
    body = text + "\n"
    n = note.open(note.sign(body, [s]), [s.verifier])
    assert n.text == body and n.verified_by == [s.verifier]
    cp = note.Checkpoint(text, ts, bytes(32))
    assert note.verify_cosignature(cp, note.cosign(cp, c, ts), c.verifier) == ts


def test_open_survives_verifier_list_cleared_by_another_thread():
    """Regression: note_open once used the verifier keys with the GIL released after the caller's
    list could drop them (use after free under ASan)."""
    import random
    import threading
    import time

    from pcc import _core

    signer = note.Signer.generate("race.example")
    signed = note.sign("hello\n", [signer]).encode()
    rnd = random.Random(11)
    for _ in range(200):
        keys = [note.Verifier.from_vkey(signer.vkey)._k for _ in range(8)]
        t = threading.Thread(target=lambda: (time.sleep(rnd.random() / 2000), keys.clear()))
        t.start()
        try:
            _core.note_open(signed, keys)
        except Exception as e:  # an empty list may legitimately refuse; it must not crash
            assert isinstance(e, PccError), e
        t.join()
