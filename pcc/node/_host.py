"""Launcher of the host process: ``python -m pcc.node._host CTRL_FD ENCLAVE_FD ARGS_JSON``.
The C loop takes the process over and never returns to Python."""
import json
import sys

from pcc import _core

if __name__ == "__main__":
    a = json.loads(sys.argv[3])
    _core.host_run(int(sys.argv[1]), int(sys.argv[2]), [tuple(m) for m in a["models"]],
                   layers=a["layers"], optional=a["optional"], max_payload=a["max_payload"],
                   max_workers=a["max_workers"], max_tokens=a["max_tokens"], probe=a["probe"],
                   pool=a["pool"], threads=a["threads"])
