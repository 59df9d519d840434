"""Provisioning and measurement benchmark.

Figures (medians of several repeats), each beside a baseline measured in the same run:

- node certificates issued per second by ``pcc.provision.CA.issue`` (request parse and
  self-signature check, a certificate with four extensions, ECDSA P-384 signature, check of that
  signature), vs the `cryptography` package doing the same work (verify the request, build and
  sign an equivalent certificate, verify it). Both run OpenSSL, but `cryptography` ships its
  own, newer build; on OpenSSL 3.0 one P-384 signature costs about 3 ms and a verification
  about 2.7 ms, so the ratio mostly measures the two libcrypto builds;
- the tree manifest digest of the installed ``pcc`` package, vs hashing the same files' bytes
  with one hashlib SHA-384 (the floor: reading and hashing every byte once);
- the model digest of a 256 MiB file, vs ``hashlib.file_digest`` of the same file.

Run: ``PYTHONPATH=. python benchmarks/bench_provision.py [--repeats N]``.
"""
from __future__ import annotations

import argparse
import datetime
import hashlib
import os
import pathlib
import statistics
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402

from pcc import _measure, provision  # noqa: E402
from pcc.transparency import release  # noqa: E402


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def bench_issue(repeats: int, n: int = 50) -> None:
    ca = provision.CA.generate("bench root")
    ca.add_serial("SN-1")
    key = ec.generate_private_key(ec.SECP384R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.SERIAL_NUMBER, "SN-1")]))
           .sign(key, hashes.SHA384()))
    csr_der = csr.public_bytes(serialization.Encoding.DER)
    root_key = ec.generate_private_key(ec.SECP384R1())
    root_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench root")])
    now = datetime.datetime.now(datetime.timezone.utc)

    def ours():
        for _ in range(n):
            ca.issue(csr_der)

    root_cert = (x509.CertificateBuilder().subject_name(root_name).issuer_name(root_name)
                 .public_key(root_key.public_key()).serial_number(1).not_valid_before(now)
                 .not_valid_after(now + datetime.timedelta(days=1))
                 .sign(root_key, hashes.SHA384()))

    def baseline():
        for _ in range(n):
            assert csr.is_signature_valid
            (x509.CertificateBuilder().subject_name(csr.subject).issuer_name(root_name)
             .public_key(csr.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=30))
             .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
             .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False,
                                          False), critical=True)
             .add_extension(x509.SubjectKeyIdentifier.from_public_key(csr.public_key()),
                            critical=False)
             .sign(root_key, hashes.SHA384())).verify_directly_issued_by(root_cert)

    a, b = median_time(ours, repeats), median_time(baseline, repeats)
    print(f"issue: pcc {n / a:8.0f} certs/s   cryptography (same work) {n / b:8.0f} certs/s"
          f"   ratio {b / a:.2f}")


def bench_tree(repeats: int) -> None:
    pkg = release.installed_package_dir()
    files = sorted(p for p in pkg.rglob("*") if p.is_file() and "__pycache__" not in p.parts
                   and not p.name.endswith(".pyc"))
    size = sum(p.stat().st_size for p in files)

    def baseline():
        h = hashlib.sha384()
        for p in files:
            h.update(p.read_bytes())
        return h.digest()

    a = median_time(lambda: _measure.tree_manifest_digest(pkg), repeats)
    b = median_time(baseline, repeats)
    print(f"tree manifest of {pkg} ({len(files)} files, {size / 2**20:.1f} MiB): "
          f"{a * 1000:.1f} ms   one SHA-384 over the bytes {b * 1000:.1f} ms   ratio {a / b:.2f}")


def bench_model(repeats: int) -> None:
    with tempfile.NamedTemporaryFile(suffix=".gguf") as f:
        block = os.urandom(1 << 20)
        for _ in range(256):
            f.write(block)
        f.flush()

        def baseline():
            with open(f.name, "rb") as fh:
                return hashlib.file_digest(fh, "sha384").digest()

        a = median_time(lambda: _measure.model_digest(f.name), repeats)
        b = median_time(baseline, repeats)
        print(f"model digest of 256 MiB: {256 / a:.0f} MiB/s   hashlib.file_digest "
              f"{256 / b:.0f} MiB/s   ratio {b / a:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    bench_issue(args.repeats)
    bench_tree(args.repeats)
    bench_model(args.repeats)


if __name__ == "__main__":
    main()
