"""The tests' software TPMs: pcc._swtpm (swtpm manufactured with a local manufacturer CA)."""
import os

from pcc._swtpm import SHUTDOWN, LocalCA, Swtpm, missing_tools  # noqa: F401

# tpm2-tss logs every failed command at ERROR level on stderr; the tests make TPMs fail on purpose.
os.environ.setdefault("TSS2_LOG", "all+NONE")
