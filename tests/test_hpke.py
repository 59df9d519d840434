"""HPKE (RFC 9180): all 128 RFC vectors, C core through pcc._core."""
import pytest

from conftest import load_vector
from pcc import _core, errors

SUPPORTED_KEMS = (0x0010, 0x0020)
VECTORS = load_vector("hpke_rfc9180.json")
h = bytes.fromhex


def _vid(v):
    return f"mode{v['mode']}-kem{v['kem_id']:#06x}-kdf{v['kdf_id']}-aead{v['aead_id']:#06x}"


@pytest.mark.parametrize("v", VECTORS, ids=_vid)
def test_rfc9180_vector_core(v):
    kem, kdf, aead = v["kem_id"], v["kdf_id"], v["aead_id"]
    psk = h(v["psk"]) if "psk" in v else None
    psk_id = h(v["psk_id"]) if "psk_id" in v else None
    if kem not in SUPPORTED_KEMS:
        with pytest.raises(errors.UnsupportedError):
            _core.hpke_key_derive(kem, h(v["ikmR"]))
        return
    sk_r = _core.hpke_key_derive(kem, h(v["ikmR"]))
    assert sk_r.public_bytes() == h(v["pkRm"])
    assert sk_r.private_bytes() == h(v["skRm"])
    sk_s = _core.hpke_key_derive(kem, h(v["ikmS"])) if "ikmS" in v else None
    enc, s = _core.hpke_setup_sender(kem, kdf, aead, h(v["pkRm"]), h(v["info"]), psk, psk_id,
                                     sk_s, h(v["ikmE"]))
    assert enc == h(v["enc"])
    r = _core.hpke_setup_recipient(kem, kdf, aead, enc, sk_r, h(v["info"]), psk, psk_id,
                                   sk_s.public_bytes() if sk_s else None)
    for e in v["encryptions"]:
        ct = s.seal(h(e["pt"]), h(e["aad"]))
        assert ct == h(e["ct"])
        assert r.open(ct, h(e["aad"])) == h(e["pt"])
    for x in v["exports"]:
        assert s.export(h(x["exporter_context"]), x["L"]) == h(x["exported_value"])
        assert r.export(h(x["exporter_context"]), x["L"]) == h(x["exported_value"])
