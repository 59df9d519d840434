"""Launcher of the enclave process: ``python -m pcc.node._enclave CTRL_FD HOST_FD LIFETIME
[debug] [tpm=TCTI]`` (debug: the bundle says so; only for a node running probe workers in tests;
tpm=TCTI: backend tpm on the TPM that tpm2-tss TCTI string names, else backend sim).
The C loop takes the process over and never returns to Python."""
import sys

from pcc import _core

if __name__ == "__main__":
    rest = sys.argv[4:]
    tcti = next((a[4:] for a in rest if a.startswith("tpm=")), None)
    _core.enclave_run(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]),
                      debug="debug" in rest, tpm=tcti)
