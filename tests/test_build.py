"""The build fails closed: a library pkg-config cannot find stops it with the Debian package."""
import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_missing_library_names_the_debian_package(tmp_path):
    env = dict(os.environ, PKG_CONFIG_LIBDIR=str(tmp_path), PKG_CONFIG_PATH=str(tmp_path))
    r = subprocess.run([sys.executable, "setup.py", "build_ext", "--build-lib", str(tmp_path / "b"),
                        "--build-temp", str(tmp_path / "t")],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode != 0
    assert "apt-get install libssl-dev" in r.stderr
    assert not list(tmp_path.glob("b/**/*.so"))  # nothing half-built
