"""Download of dataset archives with a progress bar, resume of partial downloads (HTTP Range),
size and md5 verification, and safe extraction."""

from __future__ import annotations

import hashlib
import shutil
import urllib.error
import urllib.request
import zipfile
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlparse

from tqdm import tqdm

from lama.datamodules.common import DataError

CHUNK = 1 << 20


def file_name(url: str) -> str:
    """The archive's file name: the last component of the URL path."""
    name = Path(urlparse(url).path).name
    if not name:
        raise DataError(f"cannot tell a file name from the URL {url!r}")
    return name


def md5sum(path: Path, progress: bool = True) -> str:
    """Hex md5 of a file, with a progress bar (archives are gigabytes)."""
    digest = hashlib.md5()
    with open(path, "rb") as f, tqdm(total=path.stat().st_size, unit="B", unit_scale=True,
                                     desc=f"md5 {path.name}", disable=not progress) as bar:  # fmt: skip
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
            bar.update(len(block))
    return digest.hexdigest()


def verify(path: Path, size: int | None, md5: str | None, progress: bool = True) -> None:
    """Raise DataError naming the file when its size or md5 differs from the expected value."""
    actual = path.stat().st_size
    if size is not None and actual != int(size):
        raise DataError(f"{path}: size {actual} bytes, expected {size}")
    if md5:
        digest = md5sum(path, progress)
        if digest != md5.lower():
            raise DataError(f"{path}: md5 {digest}, expected {md5}")


def download(
    url: str, dest_dir: str | Path, size: int | None = None, md5: str | None = None,
    progress: bool = True, timeout: float = 60.0,
) -> Path:  # fmt: skip
    """Fetch `url` into `dest_dir` (skipped when a verified copy is there), resuming a partial
    `<name>.part` with an HTTP Range request; the finished file is verified, then renamed."""
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / file_name(url)
    if dest.exists():
        try:
            verify(dest, size, md5, progress)
        except DataError as err:
            raise DataError(f"{err}; delete {dest} and run the command again to download it afresh") from None
        return dest
    part = dest.with_name(dest.name + ".part")
    offset = part.stat().st_size if part.exists() else 0
    if size is not None and offset > int(size):
        part.unlink()  # longer than the real file: cannot be a prefix of it
        offset = 0
    if size is None or offset < int(size):
        _fetch(url, part, offset, progress, timeout)
    try:
        verify(part, size, md5, progress)
    except DataError as err:
        part.unlink(missing_ok=True)  # a corrupt partial would poison every later resume
        raise DataError(f"download of {url} failed verification ({err}); run the command again") from None
    part.replace(dest)
    return dest


def _fetch(url: str, part: Path, offset: int, progress: bool, timeout: float) -> None:
    headers = {"User-Agent": "lama-prepare/1.0"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and offset:  # nothing left to fetch: the partial file is complete
            return
        raise DataError(f"cannot download {url}: HTTP {err.code} {err.reason}") from None
    except (urllib.error.URLError, OSError) as err:
        raise DataError(f"cannot download {url}: {err}") from None
    with response:
        resumed = offset and response.status == 206
        if offset and not resumed:
            offset = 0  # the server ignored Range and sends the whole file
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length is not None else None
        mode = "ab" if resumed else "wb"
        with open(part, mode) as f, tqdm(total=total, initial=offset, unit="B", unit_scale=True,
                                         desc=part.name.removesuffix(".part"), disable=not progress) as bar:  # fmt: skip
            try:
                for block in iter(lambda: response.read(CHUNK), b""):
                    f.write(block)
                    bar.update(len(block))
            except OSError as err:
                raise DataError(f"download of {url} interrupted ({err}); run the command again to resume") from None


def extract(archive: Path, dest_dir: Path, progress: bool = True) -> None:
    """Unpack a .zip into `dest_dir` (refusing members that escape it); other files are copied.
    A marker file makes a second call a no-op."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    marker = dest_dir / f".extracted-{archive.name}"
    if marker.exists():
        return
    if archive.suffix != ".zip":
        shutil.copyfile(archive, dest_dir / archive.name)
    else:
        try:
            with zipfile.ZipFile(archive) as zf:
                root = dest_dir.resolve()
                members = zf.infolist()
                for member in members:
                    target = (dest_dir / member.filename).resolve()
                    if root not in target.parents and target != root:
                        raise DataError(f"{archive}: member {member.filename!r} would be written outside {dest_dir}")
                for member in tqdm(members, desc=f"extract {archive.name}", unit="file", disable=not progress):
                    zf.extract(member, dest_dir)
        except zipfile.BadZipFile as err:
            raise DataError(f"{archive} is not a valid zip file ({err}); delete it and download again") from None
    marker.touch()


def fetch_archives(section: Mapping, dest: Path) -> list[Path]:
    """A data config's `download` section: download (or reuse) every archive, verify and extract it into
    `dest`; `skip: true` uses the files already there. Returns the archive paths."""
    if section.get("skip"):
        print("download.skip=true: using the files already under", dest)
        return []
    archive_dir = Path(section.get("dir") or dest / "downloads")
    paths = []
    for entry in section.get("archives", []):
        if "url" not in entry:
            raise DataError(f"data.download.archives entry {entry} lacks 'url'")
        path = download(entry["url"], archive_dir, entry.get("size"), entry.get("md5"))
        if entry.get("md5") is None and entry.get("size") is None:
            print(f"note: {path.name} has no published size or checksum; it was not verified")
        extract(path, dest)
        paths.append(path)
    return paths
