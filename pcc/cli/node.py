"""``pcc node``: run a compute node (``serve``) and print the configuration it measures
(``measured-config``, what a release logs as its ``node-config`` component)."""
from __future__ import annotations

import json

from pcc.cli._common import EXIT_OK, _guard, _serve, add_commands


def cmd_node_serve(args) -> int:
    """``node serve``: boot the node (trust cache, CA, lock, attest), then serve it."""
    from pcc import _core
    from pcc.node import create_app, load_config
    cfg = load_config(args.config)
    if args.enclave is not None or args.tpm_device is not None:
        cfg = cfg.with_enclave(args.enclave or ("tpm" if args.tpm_device else cfg.backend),
                               args.tpm_device)
    _core.node_harden()       # this process too: not dumpable, no core files
    app = create_app(cfg, testing_probe=args.testing_probe_workers)
    host = args.host or cfg.host
    port = cfg.port if args.port is None else args.port
    models = ", ".join(n for n, _ in cfg.models)
    enclave = cfg.backend + (f" ({cfg.tpm})" if cfg.backend == "tpm" else "")
    if cfg.release_log is None:
        release = f"from files, read again every {cfg.release_refresh_s}s"
    else:
        which = (f"leaf {cfg.release_index}" if cfg.release_index is not None else
                 f"{cfg.release_name} {cfg.release_version}")
        release = f"{which} from {cfg.release_log}, proof refreshed every {cfg.release_refresh_s}s"
    lines = [f"serial     {cfg.serial}", f"models     {models}", f"release    {release}",
             f"enclave    {enclave}",
             "endpoints  GET /v1/attestation, POST /v1/invoke, GET /healthz, GET /metrics"]
    return _serve(app, host, port, lines)


def cmd_node_measured_config(args) -> int:
    """``node measured-config``: print the frozen configuration as JSON."""
    from pcc.node import load_config
    print(json.dumps(load_config(args.config).measured(), sort_keys=True, indent=1))
    return EXIT_OK


def register(subparsers) -> None:
    """Add this command group to the top-level sub-parsers."""
    np_ = subparsers.add_parser("node", help="compute node (enclave, host, workers, service)")
    nsub = add_commands(np_, "node_cmd")
    p = nsub.add_parser("serve", help="boot the node and serve /v1/attestation, /v1/invoke, "
                                      "/healthz and /metrics")
    p.add_argument("--config", required=True, help="node.json (see docs/node.md)")
    p.add_argument("--host", default=None, help="address to listen on (default: node.json host)")
    p.add_argument("--port", type=int, default=None,
                   help="port to listen on (default: node.json port; 0 for a free one)")
    p.add_argument("--enclave", choices=("sim", "tpm"), default=None,
                   help="enclave backend (default: node.json enclave.backend, else sim): tpm keeps "
                        "the identity key and the registers in a TPM 2.0")
    p.add_argument("--tpm-device", default=None, metavar="TCTI",
                   help="the TPM for --enclave tpm, as a tpm2-tss TCTI string: "
                        "device:/dev/tpmrm0 or swtpm:host=127.0.0.1,port=2321 (default: "
                        "node.json enclave.tpm)")
    p.add_argument("--testing-probe-workers", action="store_true",
                   help="tests only: workers report what their sandbox refuses instead of running "
                        "the model; the bundle says debug, so clients refuse the node")
    p.set_defaults(func=_guard(cmd_node_serve))
    p = nsub.add_parser("measured-config",
                        help="print the frozen configuration the node measures (give it to "
                             "`pcc release publish --config`)")
    p.add_argument("--config", required=True, help="node.json")
    p.set_defaults(func=_guard(cmd_node_measured_config))
