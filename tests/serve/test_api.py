"""The JSON API of task=serve with FastAPI's TestClient: answers, determinism, every bad input as a 4xx."""

from __future__ import annotations

import base64
import io
import threading

import pytest
from PIL import Image

pytest.importorskip("fastapi", reason="the [app] extra (fastapi, uvicorn) is not installed")
from fastapi.testclient import TestClient  # noqa: E402

from lama.serve.app import MAX_BODY_BYTES, create_app  # noqa: E402

GOOD = {"objects": [{"class": "sky", "box": [0, 0, 1, 0.4]}, {"class": "big ring", "box": [0.2, 0.3, 0.5, 0.5]}],
        "seed": 3, "truncation": 2.0}


@pytest.fixture(scope="module")
def client(served):
    return TestClient(create_app(*served))


def _png(url: str) -> Image.Image:
    assert url.startswith("data:image/png;base64,")
    return Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))


def test_page_and_info(client):
    page = client.get("/")
    assert page.status_code == 200 and "<canvas" in page.text
    assert "http://" not in page.text and "https://" not in page.text  # no external assets: works offline
    info = client.get("/api/info").json()
    assert info["resolution"] == 64 and info["slots"] == 3 and info["model"] == "LAMA"
    assert info["class_names"] == ["sky", "grass", "circle", "square", "big ring"]  # label 0 is padding
    assert info["validation_layouts"] == 1


def test_generate_answers_four_pngs_deterministic_per_seed(client):
    out = client.post("/api/generate", json=GOOD).json()
    assert set(out) == {"image", "masks", "raw_masks", "overlay"}
    assert _png(out["image"]).size == (64, 64) and _png(out["masks"]).size == (64, 64)
    assert _png(out["overlay"]).size == (256, 256)
    assert client.post("/api/generate", json=GOOD).json() == out
    other = client.post("/api/generate", json={**GOOD, "seed": 4}).json()
    assert other["image"] != out["image"]
    moved = {**GOOD, "objects": [GOOD["objects"][0], {"class": "big ring", "box": [0.0, 0.5, 0.5, 0.5]}]}
    assert client.post("/api/generate", json=moved).json()["masks"] != out["masks"]
    assert client.post("/api/generate", json={**GOOD, "truncation": None}).status_code == 200


@pytest.mark.parametrize("body, field", [
    ({**GOOD, "objects": [{"class": "dragon", "box": [0, 0, .5, .5]}]}, "objects[0].class"),
    ({**GOOD, "objects": [{"class": "sky", "box": [0.8, 0, .5, .5]}]}, "objects[0].box"),
    ({**GOOD, "objects": [{"class": "sky", "box": [-0.1, 0, .5, .5]}]}, "objects[0].box"),
    ({**GOOD, "objects": [{"class": "sky", "box": [0, 0, 0, .5]}]}, "objects[0].box"),
    ({**GOOD, "objects": [{"class": "sky", "box": [0, 0, .5]}]}, "objects[0].box"),
    ({**GOOD, "objects": [{"class": "sky", "box": [0, 0, "a", .5]}]}, "objects[0].box"),
    ({**GOOD, "objects": [{"class": "sky"}]}, "objects[0]"),
    ({**GOOD, "objects": [{"class": "sky", "box": [0, 0, .5, .5]}] * 4}, "objects"),
    ({**GOOD, "objects": []}, "objects"),
    ({"seed": 1}, "objects"),
    ({**GOOD, "seed": "x"}, "seed"),
    ({**GOOD, "seed": -1}, "seed"),
    ({**GOOD, "truncation": "big"}, "truncation"),
    ({**GOOD, "truncation": -1}, "truncation"),
    ([1, 2], "body"),
])
def test_bad_requests_are_4xx_naming_the_field(client, body, field):
    r = client.post("/api/generate", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["error"].startswith(field)
    assert client.post("/api/generate", json=GOOD).status_code == 200  # still serving


def test_malformed_and_huge_bodies(client):
    r = client.post("/api/generate", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"].startswith("body: not valid JSON")
    r = client.post("/api/generate", content=b"x" * (MAX_BODY_BYTES + 1))
    assert r.status_code == 413 and r.json()["error"].startswith("body")

    def chunks():  # no content-length: the limit holds while streaming too
        for _ in range(MAX_BODY_BYTES // 65536 + 2):
            yield b" " * 65536

    assert client.post("/api/generate", content=chunks()).status_code == 413
    assert client.post("/api/generate", json=GOOD).status_code == 200


def test_concurrent_requests_are_serialised_and_all_answered(client):
    first = client.post("/api/generate", json=GOOD).json()
    results = []

    def call():
        results.append(client.post("/api/generate", json=GOOD))

    threads = [threading.Thread(target=call) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.status_code for r in results] == [200] * 4
    assert all(r.json() == first for r in results)  # the lock keeps G's noise RNG per request


def test_validation_layouts_and_layout_file_upload(client):
    objects = client.get("/api/validation/0").json()["objects"]
    assert [o["class"] for o in objects] == ["sky", "circle"] and objects[1]["box"] == [0.2, 0.3, 0.5, 0.5]
    assert client.get("/api/validation/5").status_code == 404
    text = "image_size: [64, 64]\nobjects:\n  - {class: \"big ring\", box: [0, 32, 64, 32]}\n"
    out = client.post("/api/layout_file", json={"name": "mine.yaml", "text": text}).json()
    assert out == {"objects": [{"class": "big ring", "box": [0.0, 0.5, 1.0, 0.5]}]}
    r = client.post("/api/layout_file", json={"name": "mine.yaml", "text": "objects:\n  - {class: dragon, box: [0, 0, .5, .5]}\n"})
    assert r.status_code == 422 and "mine.yaml" in r.json()["error"] and "dragon" in r.json()["error"]
    assert client.post("/api/layout_file", json={"name": "x.json"}).status_code == 422


def test_same_image_as_task_sample_of_the_layout_file(client, tiny_checkpoint, tmp_path):
    import yaml
    from hydra import compose, initialize_config_dir

    from lama.tasks import run_task
    from tests.conftest import REPO

    (tmp_path / "layout.yaml").write_text(yaml.safe_dump({"objects": GOOD["objects"]}))
    with initialize_config_dir(str(REPO / "configs"), version_base="1.3"):
        cfg = compose("config", overrides=[
            "task=sample", f"checkpoint={tiny_checkpoint}", f"layout={tmp_path / 'layout.yaml'}", "seed=3",
            "metrics.repeats=1", "metrics.device=cpu", f"paths.run_dir={tmp_path / 'run'}",
            f"paths.data_dir={tmp_path / 'data'}"])
    run_task(cfg)
    served = _png(client.post("/api/generate", json=GOOD).json()["image"])
    sampled = Image.open(tmp_path / "run" / "generated" / "image_0.png")
    assert served.tobytes() == sampled.tobytes()


def test_serve_without_class_names_or_data_is_a_task_error(tmp_path):
    import torch
    from hydra import compose, initialize_config_dir

    from lama.checkpoint import save_generator
    from lama.models import build_generator
    from lama.tasks import TaskError, run_task
    from tests.conftest import REPO

    hp = dict(resolution=64, num_classes=8, ch=8, z_dim=16, lama=True)
    torch.manual_seed(0)
    path = save_generator(tmp_path / "g.pt", build_generator(**hp), hp, None)
    with initialize_config_dir(str(REPO / "configs"), version_base="1.3"):
        cfg = compose("config", overrides=["task=serve", f"checkpoint={path}", f"paths.data_dir={tmp_path / 'none'}", f"paths.run_dir={tmp_path}",
                                           "serve.device=cpu"])
    with pytest.raises(TaskError, match="holds no class names and data=synthetic is not prepared"):
        run_task(cfg)
