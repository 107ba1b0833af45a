"""The FastAPI app: the static page at /, GET /api/info, POST /api/generate, validation layouts and
layout-file upload. Every bad request is a 4xx JSON `{"error": "<field>: ..."}`; the server keeps serving."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse

from lama.layout import Layout, LayoutError
from lama.serve.model import RequestError, ServedModel

PAGE = Path(__file__).with_name("static") / "index.html"
MAX_BODY_BYTES = 1_000_000  # a layout of a few objects is well under 1 kB


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def _json_body(request: Request) -> object:
    """The request's JSON, read at most MAX_BODY_BYTES; RequestError/OverflowError otherwise."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise OverflowError
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise OverflowError
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise RequestError(f"body: not valid JSON ({err})") from None


def create_app(model: ServedModel, validation: Sequence[Layout] = ()) -> FastAPI:
    """The app serving `model`; `validation` holds the dataset's validation layouts (empty: data not prepared)."""
    app = FastAPI(title="lama serve", docs_url=None, redoc_url=None)

    async def body_of(request: Request) -> object | JSONResponse:
        try:
            return await _json_body(request)
        except OverflowError:
            return _error(413, f"body: larger than {MAX_BODY_BYTES} bytes")
        except RequestError as err:
            return _error(400, str(err))

    @app.get("/", response_class=HTMLResponse)
    def page() -> str:
        return PAGE.read_text(encoding="utf-8")

    @app.get("/api/info")
    def info() -> dict:
        return {**model.info(), "validation_layouts": len(validation)}

    @app.post("/api/generate")
    async def generate(request: Request) -> JSONResponse:
        body = await body_of(request)
        if isinstance(body, JSONResponse):
            return body
        try:
            layout, seed, truncation = model.parse(body)
        except (RequestError, LayoutError) as err:
            return _error(422, str(err))
        # A plain function runs in the thread pool, so the event loop stays free while G runs (under a lock).
        from starlette.concurrency import run_in_threadpool

        return JSONResponse(await run_in_threadpool(model.generate, layout, seed, truncation))

    @app.get("/api/validation/{index}")
    def validation_layout(index: int) -> JSONResponse:
        if not 0 <= index < len(validation):
            return _error(404, f"index: {index} is not in [0, {len(validation)}) (validation layouts)")
        return JSONResponse({"objects": model.objects_of(validation[index])[: model.max_objects]})

    @app.post("/api/layout_file")
    async def layout_file(request: Request) -> JSONResponse:
        """{"name": FILE_NAME, "text": CONTENT} of an uploaded YAML/JSON layout file -> {"objects": [...]}."""
        body = await body_of(request)
        if isinstance(body, JSONResponse):
            return body
        if not isinstance(body, dict) or not isinstance(body.get("text"), str):
            return _error(422, "text: expected the layout file's content as a string")
        name = Path(str(body.get("name") or "layout.yaml")).name
        from lama.layout_file import read_layout_file

        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / name
            path.write_text(body["text"], encoding="utf-8")
            try:
                layout = read_layout_file(path, model.class_names, max_objects=model.max_objects,
                                          num_classes=model.num_classes)
            except LayoutError as err:
                return _error(422, str(err).replace(str(path), name))
        return JSONResponse({"objects": model.objects_of(layout)})

    return app
