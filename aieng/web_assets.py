"""The browser scripts the built site and slides use, kept locally so the pages work with no network.

    ASSETS                  pinned npm packages: version, the registry's sha512 integrity, files to keep
    fetch(name)             the package's kept files under .cache/web/<name>-<version>/ (downloads once)
    copy_assets(dest, ...)  copy those files into a built site (dest/_static/<name>/...)

mermaid draws the diagrams in Markdown cells, MathJax the formulas, reveal.js runs the slides.
Each comes from its npm tarball, fetched once from the npm registry and checked against the pinned
integrity before anything is unpacked; after that, building is offline. The pages then load them by
a relative path, never from a CDN (tests/test_site.py and tests/test_slides.py check it).
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import shutil
import tarfile
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from aieng.errors import AiengError
from aieng.files import ROOT, write_atomic

__all__ = ["Asset", "ASSETS", "CACHE", "fetch", "copy_assets", "AssetError"]

CACHE = ROOT / ".cache" / "web"
_REGISTRY = "https://registry.npmjs.org"


class AssetError(AiengError, RuntimeError):
    """A browser script could not be fetched or did not match its pinned checksum."""


@dataclass(frozen=True)
class Asset:
    """One npm package: version, sha512 integrity as the registry states it, and the files (or folders) to keep."""

    name: str
    version: str
    integrity: str
    keep: tuple[str, ...]

    @property
    def tarball_url(self) -> str:
        return f"{_REGISTRY}/{self.name}/-/{self.name}-{self.version}.tgz"

    @property
    def folder(self) -> Path:
        return CACHE / f"{self.name}-{self.version}"


ASSETS: dict[str, Asset] = {asset.name: asset for asset in (
    Asset("mermaid", "11.10.0",
          "sha512-oQsFzPBy9xlpnGxUqLbVY8pvknLlsNIJ0NWwi8SUJjhbP1IT0E0o1lfhU4iYV3ubpy+xkzkaOyDUQMn06vQElQ==",
          ("dist/mermaid.min.js", "LICENSE")),
    Asset("mathjax", "3.2.2",
          "sha512-Bt+SSVU8eBG27zChVewOicYs7Xsdt40qm4+UpHyX7k0/O9NliPc+x77k1/FEsPsjKPZGJvtRZM1vO+geW0OhGw==",
          ("es5/tex-svg-full.js", "LICENSE")),
    Asset("reveal.js", "5.2.1",
          "sha512-r7//6mIM5p34hFiDMvYfXgyjXqGRta+/psd9YtytsgRlrpRzFv4RbH76TXd2qD+7ZPZEbpBDhdRhJaFgfQ7zNQ==",
          ("dist/reveal.js", "dist/reveal.css", "dist/reset.css", "dist/theme/white.css",
           "dist/theme/fonts/source-sans-pro/", "plugin/notes/notes.js", "LICENSE")),
)}


def _check_integrity(asset: Asset, data: bytes) -> None:
    algorithm, _, expected = asset.integrity.partition("-")
    got = base64.b64encode(hashlib.new(algorithm, data).digest()).decode()
    if got != expected:
        raise AssetError(f"{asset.name}-{asset.version}.tgz does not match its pinned checksum ({algorithm}-{got} "
                         f"instead of {asset.integrity}). Delete .cache/web and build again; if it persists, the "
                         "download is being altered on its way.")


def fetch(name: str) -> Path:
    """The folder holding the kept files of asset `name` (downloads and checks the tarball the first time)."""
    asset = ASSETS[name]
    stamp = asset.folder / ".complete"
    if stamp.exists():
        return asset.folder
    CACHE.mkdir(parents=True, exist_ok=True)
    try:
        with urllib.request.urlopen(asset.tarball_url, timeout=60) as response:
            data = response.read()
    except OSError as err:
        raise AssetError(f"Could not download {asset.name} {asset.version} from the npm registry "
                         f"({asset.tarball_url}): {err}. The site and slides need it once; connect to the "
                         f"network and run the make target again.") from err
    _check_integrity(asset, data)
    # Unpack beside the final folder and rename it into place, so two builds at once (make -j2 site slides)
    # never see a half-unpacked folder: the first rename wins, the other copy is dropped.
    unpacked = Path(tempfile.mkdtemp(dir=CACHE, prefix=f".{asset.folder.name}."))
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
            for member in archive.getmembers():
                inner = member.name.removeprefix("package/")
                if member.isfile() and any(inner == k or (k.endswith("/") and inner.startswith(k)) for k in asset.keep):
                    target = unpacked / inner
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(archive.extractfile(member).read())
        missing = [k for k in asset.keep if not (unpacked / k).exists()]
        if missing:
            raise AssetError(f"{asset.name} {asset.version} has no {', '.join(missing)}; the pinned version and "
                             "the files kept in aieng/web_assets.py disagree.")
        write_atomic(unpacked / ".complete", asset.integrity + "\n")
        if asset.folder.exists() and not stamp.exists():
            shutil.rmtree(asset.folder, ignore_errors=True)  # left half-made by an older interrupted build
        try:
            os.rename(unpacked, asset.folder)
        except OSError:
            if not stamp.exists():
                raise
    finally:
        shutil.rmtree(unpacked, ignore_errors=True)
    return asset.folder


def copy_assets(dest: Path, names: tuple[str, ...]) -> dict[str, str]:
    """Copy the kept files of each asset into `dest/_static/<name>/`; returns name -> that folder, relative to dest."""
    placed = {}
    for name in names:
        source = fetch(name)
        target = Path(dest) / "_static" / name
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(source, target, ignore=shutil.ignore_patterns(".complete"))
        placed[name] = f"_static/{name}"
    return placed
