"""`python run.py task=serve checkpoint=PATH [serve.port=7860] [serve.host=127.0.0.1]`: the layout editor
(lama/serve) for a generator checkpoint, on a local web server."""

from __future__ import annotations

import logging

from omegaconf import DictConfig

from lama.tasks import TaskError, task_device
from lama.tasks.inputs import data_name, load_checkpoint_generator

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


def run(cfg: DictConfig) -> None:
    """Load the generator, then serve the page and API until interrupted."""
    try:
        import uvicorn

        from lama.serve.app import create_app
        from lama.serve.model import ServedModel
    except ImportError as err:
        raise TaskError(f"task=serve needs the app extra ({err.name} is missing): pip install -e '.[app]'") from None
    generator, record = load_checkpoint_generator(cfg, task_device(cfg, "serve.device"))
    layouts, data_names = _validation_layouts(cfg)
    class_names = record.get("class_names") or data_names
    if not class_names:
        name = data_name(cfg)
        raise TaskError(f"{cfg.checkpoint} holds no class names and data={name} is not prepared: "
                        f"run `python run.py task=prepare data={name}` or pass the data it was trained on")
    model = ServedModel(generator, record, class_names, int(cfg.serve.max_objects), str(cfg.checkpoint))
    host, port = str(cfg.serve.host), int(cfg.serve.port)
    print(f"serving {model.info()['model']} ({model.resolution} px, {len(model.labels)} classes, "
          f"{len(layouts)} validation layouts) at http://{host}:{port}/  (Ctrl+C stops)", flush=True)
    uvicorn.run(create_app(model, layouts), host=host, port=port, log_level="warning")
