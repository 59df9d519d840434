"""``pcc ca``: the provisioning CA (root, inventory of hardware serials, node certificates)."""
from __future__ import annotations

import argparse
import base64
import pathlib

from pcc.cli._common import EXIT_OK, _err, _guard

_CSR_HEAD = b"-----BEGIN CERTIFICATE REQUEST-----"
_CSR_TAIL = b"-----END CERTIFICATE REQUEST-----"


def _read_csr(path: pathlib.Path) -> bytes:
    """A certificate request file, DER or PEM (``CERTIFICATE REQUEST``)."""
    from pcc.errors import FormatError
    data = path.read_bytes()
    text = data.strip()
    if text.startswith(_CSR_HEAD):
        if not text.endswith(_CSR_TAIL):
            raise FormatError(f"{path}: PEM certificate request without its END line")
        try:
            return base64.b64decode(b"".join(text[len(_CSR_HEAD):-len(_CSR_TAIL)].split()),
                                    validate=True)
        except ValueError:
            raise FormatError(f"{path}: bad base64 in the PEM certificate request") from None
    return data


def cmd_init(args) -> int:
    """``ca init``: make a new root in a new directory."""
    from pcc import provision
    d = pathlib.Path(args.dir)
    if (d / provision.ROOT_FILE).exists() or (d / provision.KEY_FILE).exists():
        return _err(f"{d} already holds a CA ({provision.ROOT_FILE} exists); use another "
                    "--dir, or remove it if you really mean to replace that root")
    ca = provision.CA.generate(args.name, days=args.days)
    ca.save(d)
    print(f"provisioning root {args.name!r} written to {d / provision.ROOT_FILE} "
          f"(key {d / provision.KEY_FILE}, mode 0600)")
    print(f"root sha256 {ca.root_fingerprint}")
    return EXIT_OK


def cmd_add_serial(args) -> int:
    """``ca add-serial``: add hardware serials to the inventory."""
    from pcc import provision
    with provision.CA.locked(args.dir):
        ca = provision.CA.load(args.dir)
        for serial in args.serial:
            if ca.add_serial(serial):
                print(f"added {serial}")
            else:
                print(f"{serial} is already in the inventory")
        ca.save(args.dir)
    return EXIT_OK


def cmd_remove_serial(args) -> int:
    """``ca remove-serial``: remove hardware serials from the inventory."""
    from pcc import provision
    with provision.CA.locked(args.dir):
        ca = provision.CA.load(args.dir)
        for serial in args.serial:
            print(f"removed {serial}" if ca.remove_serial(serial)
                  else f"{serial} was not in the inventory")
        ca.save(args.dir)
    return EXIT_OK


def cmd_add_manufacturer_root(args) -> int:
    """``ca add-manufacturer-root``: trust a TPM manufacturer's root for EK certificates."""
    from pcc import provision
    text = pathlib.Path(args.pem).read_bytes()
    with provision.CA.locked(args.dir):
        ca = provision.CA.load(args.dir)
        print("added" if ca.add_manufacturer_root(text) else "already present",
              f"manufacturer root {args.pem}")
        ca.save(args.dir)
    return EXIT_OK


def cmd_list(args) -> int:
    """``ca list``: print the inventory, one serial a line."""
    from pcc import provision
    for serial in provision.CA.load(args.dir).serials:
        print(serial)
    return EXIT_OK


def cmd_issue(args) -> int:
    """``ca issue``: check a node's certificate request and write its certificate."""
    from pcc import provision
    ca = provision.CA.load(args.dir)
    csr_path = pathlib.Path(args.csr)
    csr = _read_csr(csr_path)
    cert = ca.issue(csr, days=args.days)
    out = pathlib.Path(args.out) if args.out else csr_path.with_suffix(".crt")
    data = provision.der_to_pem(cert).encode("ascii") if args.pem else cert
    provision._write_atomic(out, provision._write_bytes(data), 0o644)
    serial = provision.csr_serial(csr)
    print(f"certificate for serial {serial} valid {args.days} days written to {out}")
    return EXIT_OK


def register(subparsers) -> None:
    """Add this command group to the top-level sub-parsers."""
    from pcc import provision
    cp = subparsers.add_parser(
        "ca", help="provisioning CA: root, inventory of serials, node certificates",
        description="The provisioning CA certifies node identity keys for the machines in its "
                    "inventory. Its directory holds root.key (0600), root.pem and "
                    "inventory.json.")
    cs = cp.add_subparsers(dest="ca_cmd", required=True, metavar="COMMAND")

    def dir_arg(p):
        p.add_argument("--dir", required=True, metavar="DIR", help="the CA directory")

    p = cs.add_parser("init", help="create a new P-384 root in DIR",
                      description="Generate a P-384 root key and its self-signed certificate "
                                  "and save them, with an empty inventory, in DIR.")
    dir_arg(p)
    p.add_argument("--name", required=True, help="common name of the root certificate")
    p.add_argument("--days", type=int, default=provision.ROOT_DAYS,
                   help=f"validity of the root certificate in days (default: {provision.ROOT_DAYS})")
    p.set_defaults(func=_guard(cmd_init))

    p = cs.add_parser("add-serial", help="add hardware serials to the inventory")
    dir_arg(p)
    p.add_argument("serial", nargs="+", metavar="SERIAL",
                   help="hardware serial: 1-64 characters A-Z a-z 0-9 - . :")
    p.set_defaults(func=_guard(cmd_add_serial))

    p = cs.add_parser("remove-serial", help="remove hardware serials from the inventory")
    dir_arg(p)
    p.add_argument("serial", nargs="+", metavar="SERIAL", help="hardware serial")
    p.set_defaults(func=_guard(cmd_remove_serial))

    p = cs.add_parser("add-manufacturer-root",
                      help="trust a TPM manufacturer's root for EK certificates",
                      description="Add a TPM manufacturer's root certificate (PEM) to the CA's "
                                  "inventory of EK trust anchors (tpm-manufacturers.pem). The CA "
                                  "certifies a TPM attestation key only for a TPM whose EK "
                                  "certificate chains to one of them.")
    dir_arg(p)
    p.add_argument("pem", metavar="PEM", help="the manufacturer's root certificate, PEM")
    p.set_defaults(func=_guard(cmd_add_manufacturer_root))

    p = cs.add_parser("list", help="print the inventory")
    dir_arg(p)
    p.set_defaults(func=_guard(cmd_list))

    p = cs.add_parser("issue", help="certify a node's key from its certificate request",
                      description="Check a PKCS#10 request (EC P-384 key, ECDSA-SHA384 "
                                  "self-signature, subject serialNumber in the inventory) and "
                                  "write the node certificate signed by the root.")
    dir_arg(p)
    p.add_argument("csr", metavar="CSR_FILE", help="certificate request, DER or PEM")
    p.add_argument("--out", metavar="CERT",
                   help="where to write the certificate (default: CSR_FILE with suffix .crt)")
    p.add_argument("--days", type=int, default=provision.NODE_DAYS,
                   help=f"validity of the node certificate in days (default: {provision.NODE_DAYS})")
    p.add_argument("--pem", action="store_true", help="write PEM instead of DER (default: DER)")
    p.set_defaults(func=_guard(cmd_issue))
