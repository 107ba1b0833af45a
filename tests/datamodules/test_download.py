"""Downloads against an HTTP server on 127.0.0.1 started here (Range support, byte counting,
shut down by the fixture and by a timer): full fetch, resume, verification, extraction, and
`task=prepare data=coco_stuff` end to end on small archives."""

import hashlib
import os
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from lama.datamodules import CocoStuff, DataError
from lama.datamodules.download import download, extract
from lama.tasks import TaskError
from lama.tasks.prepare import run as prepare

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


class Server:
    """Serves `files` {name: bytes}; honours Range unless `ranges` is False; counts bytes sent."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.ranges = True
        self.sent = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server API
                body = outer.files.get(self.path.lstrip("/"))
                if body is None:
                    self.send_error(404)
                    return
                start = 0
                header = self.headers.get("Range")
                if header and outer.ranges:
                    start = int(header.removeprefix("bytes=").split("-")[0])
                    if start >= len(body):
                        self.send_error(416)
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                outer.sent += len(body) - start  # counted before the client can finish reading
                self.wfile.write(body[start:])

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.timer = threading.Timer(120, self.httpd.shutdown)  # never outlives a stuck test

    def __enter__(self) -> "Server":
        self.thread.start()
        self.timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.timer.cancel()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def server():
    with Server() as s:
        yield s


def _zip(files: dict[str, bytes]) -> bytes:
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"lama-test-{os.getpid()}-{threading.get_ident()}.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    data = path.read_bytes()
    path.unlink()
    return data


def test_download_verify_and_extract(server: Server, tmp_path: Path) -> None:
    body = _zip({"annotations/a.json": b'{"x": 1}', "annotations/b.txt": b"hello" * 1000})
    server.files["pack.zip"] = body
    md5 = hashlib.md5(body).hexdigest()
    path = download(f"{server.url}/pack.zip", tmp_path / "dl", len(body), md5, progress=False)
    assert path.read_bytes() == body and server.sent == len(body)
    extract(path, tmp_path / "out", progress=False)
    assert (tmp_path / "out/annotations/b.txt").read_bytes() == b"hello" * 1000
    # a verified copy is reused without touching the network
    download(f"{server.url}/pack.zip", tmp_path / "dl", len(body), md5, progress=False)
    assert server.sent == len(body)


def test_resume_fetches_only_the_rest(server: Server, tmp_path: Path) -> None:
    body = os.urandom(300_000)
    server.files["big.bin"] = body
    (tmp_path / "big.bin.part").write_bytes(body[:120_000])
    path = download(f"{server.url}/big.bin", tmp_path, len(body), hashlib.md5(body).hexdigest(), progress=False)
    assert path.read_bytes() == body
    assert server.sent == len(body) - 120_000


def test_server_without_range_restarts(server: Server, tmp_path: Path) -> None:
    body = os.urandom(50_000)
    server.files["f.bin"] = body
    server.ranges = False
    (tmp_path / "f.bin.part").write_bytes(body[:10_000])
    path = download(f"{server.url}/f.bin", tmp_path, len(body), hashlib.md5(body).hexdigest(), progress=False)
    assert path.read_bytes() == body and server.sent == len(body)


def test_bad_checksum_and_missing_file(server: Server, tmp_path: Path) -> None:
    server.files["f.bin"] = b"abc" * 100
    with pytest.raises(DataError, match="md5 .* expected 0+"):
        download(f"{server.url}/f.bin", tmp_path, 300, "0" * 32, progress=False)
    assert not list(tmp_path.iterdir())  # the corrupt partial is removed
    with pytest.raises(DataError, match="HTTP 404"):
        download(f"{server.url}/nope.zip", tmp_path, progress=False)


def test_zip_slip_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "evil.zip"
    archive.write_bytes(_zip({"../escape.txt": b"x"}))
    with pytest.raises(DataError, match="outside"):
        extract(archive, tmp_path / "out", progress=False)


def test_prepare_coco_stuff_end_to_end(server: Server, tmp_path: Path, synthetic_root: Path) -> None:
    groups = {
        "annotations_trainval2017.zip": "annotations/instances_*.json",
        "stuff_annotations_trainval2017.zip": "annotations/stuff_*.json",
        "val2017.zip": "val2017/*.png",
        "train2017.zip": "train2017/*.png",
    }
    archives = []
    for name, pattern in groups.items():
        files = {str(p.relative_to(synthetic_root)): p.read_bytes() for p in synthetic_root.glob(pattern)}
        server.files[name] = _zip(files)
        body = server.files[name]
        archives.append({"url": f"{server.url}/{name}", "size": len(body), "md5": hashlib.md5(body).hexdigest()})
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        cfg = compose("config", overrides=["task=prepare", "data=coco_stuff", "resolution=32"])
    OmegaConf.update(cfg, "data.root", str(tmp_path / "coco"))
    OmegaConf.update(cfg, "paths.cache_dir", str(tmp_path / "cache"))
    OmegaConf.update(cfg, "data.download.dir", str(tmp_path / "downloads"))
    OmegaConf.update(cfg, "data.download.archives", archives)
    summary = prepare(cfg)
    expected = CocoStuff(synthetic_root, "val", resolution=32).image_ids
    assert summary["val_layouts"] == len(expected) > 0
    assert CocoStuff(tmp_path / "coco", "train", resolution=32)[0]["image"].shape == (3, 32, 32)
    # a second run reuses the verified archives
    sent = server.sent
    prepare(cfg)
    assert server.sent == sent
    OmegaConf.update(cfg, "data.download.archives", [{"url": f"{server.url}/missing.zip"}])
    with pytest.raises(TaskError, match="HTTP 404"):
        prepare(cfg)


@pytest.mark.filterwarnings("ignore:.*split image ids are not in image_data.json")
def test_prepare_vg_end_to_end(server: Server, tmp_path: Path, realdata_dir: Path) -> None:
    archives = []
    for f in sorted((realdata_dir / "vg").iterdir()):
        name = f.name if f.suffix == ".txt" else f.name + ".zip"  # VG ships the JSON files zipped
        server.files[name] = f.read_bytes() if f.suffix == ".txt" else _zip({f.name: f.read_bytes()})
        archives.append({"url": f"{server.url}/{name}", "size": len(server.files[name]), "md5": None})
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        cfg = compose("config", overrides=["task=prepare", "data=vg"])
    OmegaConf.update(cfg, "data.root", str(tmp_path / "vg"))
    OmegaConf.update(cfg, "paths.cache_dir", str(tmp_path / "cache"))
    OmegaConf.update(cfg, "data.download.dir", str(tmp_path / "downloads"))
    OmegaConf.update(cfg, "data.download.archives", archives)
    low = {"min_object_instances": 10, "min_attribute_instances": 10, "min_relationship_instances": 5,
           "expected_num_objects": None, "allow_missing_images": True}  # fmt: skip
    for key, value in low.items():
        OmegaConf.update(cfg, f"data.prep.{key}", value)
    summary = prepare(cfg)
    assert summary["images"]["train"] > 0 and (tmp_path / "vg/vocab.json").is_file()
    assert (tmp_path / "vg/objects.json").read_bytes() == (realdata_dir / "vg/objects.json").read_bytes()
    OmegaConf.update(cfg, "data.prep.expected_num_objects", 179)
    with pytest.raises(TaskError, match="expect 179"):
        prepare(cfg)


def test_existing_corrupt_archive_is_reported(server: Server, tmp_path: Path) -> None:
    body = b"abc" * 100
    server.files["f.bin"] = body
    (tmp_path / "f.bin").write_bytes(body[:-1])
    with pytest.raises(DataError, match=r"size 299 bytes, expected 300; delete .*f.bin"):
        download(f"{server.url}/f.bin", tmp_path, len(body), None, progress=False)
