"""`python run.py task=serve checkpoint=PATH [serve.port=7860] [serve.host=127.0.0.1]`: the layout editor
(lama/serve) for a generator checkpoint, on a local web server."""

from __future__ import annotations

import errno
import logging
import socket
from typing import TYPE_CHECKING

from omegaconf import DictConfig

from lama.tasks import TaskError, task_device
from lama.tasks.inputs import data_name, load_checkpoint_generator

if TYPE_CHECKING:
    from lama.serve.model import ServedModel

log = logging.getLogger(__name__)


def _validation_layouts(cfg: DictConfig) -> tuple[list, list[str]]:
    """The validation layouts and class names of cfg.data when its files exist (nothing is generated or
    downloaded here), else ([], [])."""
    from hydra.utils import instantiate

    from lama.datamodules.common import DataError
    from lama.layout import Layout

    try:
        dataset = instantiate(cfg.data).make_dataset("val")
    except (DataError, OSError) as err:
        log.info("no validation layouts to start from (%s)", err)
        return [], []
    layouts = []
    for i in range(dataset.num_images):
        labels, boxes = dataset.layout(i)
        layouts.append(Layout(labels[None], boxes[None]))
    return layouts, dataset.class_names


def _free_port_near(host: str, port: int, tries: int = 50) -> int | None:
    """The first port after `port` that `host` can listen on now, or None."""
    for candidate in range(port + 1, min(port + 1 + tries, 65536)):
        try:
            listen_socket(host, candidate).close()
        except TaskError:
            continue
        return candidate
    return None


def listen_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to host:port (handed to uvicorn, so nothing can take the port in between); a
    port in use or a host this machine cannot listen on is a TaskError naming serve.host / serve.port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        if err.errno == errno.EADDRINUSE:
            free = _free_port_near(host, port)
            other = f"serve.port={free}" if free else "another serve.port=..."
            raise TaskError(f"port {port} on {host} is already in use (another server?): stop it or add {other}") from None
        reason = err.strerror or str(err)
        hint = "; ports below 1024 need root" if err.errno in (errno.EACCES, errno.EPERM) and port < 1024 else ""
        raise TaskError(f"cannot listen on {host}:{port}: {reason}{hint}; check serve.host and serve.port") from None
    return sock


def _served_model(cfg: DictConfig) -> tuple[ServedModel, list]:
    """The checkpoint's generator as a ServedModel, and the validation layouts to start from."""
    from lama.serve.model import ServedModel

    generator, record = load_checkpoint_generator(cfg, task_device(cfg, "serve.device"))
    layouts, data_names = _validation_layouts(cfg)
    class_names = record.get("class_names") or data_names
    if not class_names:
        name = data_name(cfg)
        raise TaskError(f"{cfg.checkpoint} holds no class names and data={name} is not prepared: "
                        f"run `python run.py task=prepare data={name}` or pass the data it was trained on")
    model = ServedModel(generator, record, class_names, int(cfg.serve.max_objects), str(cfg.checkpoint))
    return model, layouts


def run(cfg: DictConfig) -> None:
    """Load the generator, then serve the page and API until interrupted."""
    try:
        import uvicorn

        from lama.serve.app import create_app
    except ImportError as err:
        raise TaskError(f"task=serve needs the app extra ({err.name} is missing): pip install -e '.[app]'") from None
    host, port = str(cfg.serve.host), int(cfg.serve.port)
    with listen_socket(host, port) as sock:  # before loading the model: a taken port fails at once
        model, layouts = _served_model(cfg)
        print(f"serving {model.info()['model']} ({model.resolution} px, {len(model.labels)} classes, "
              f"{len(layouts)} validation layouts) at http://{host}:{port}/  (Ctrl+C stops)", flush=True)
        config = uvicorn.Config(create_app(model, layouts), host=host, port=port, log_level="warning")
        uvicorn.Server(config).run(sockets=[sock])
