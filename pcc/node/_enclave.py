"""Launcher of the enclave process: ``python -m pcc.node._enclave CTRL_FD HOST_FD LIFETIME
[debug]`` (debug: the bundle says so; only for a node running probe workers in tests).
The C loop takes the process over and never returns to Python."""
import sys

from pcc import _core

if __name__ == "__main__":
    _core.enclave_run(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]),
                      debug=sys.argv[4:] == ["debug"])
