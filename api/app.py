"""FastAPI assembly: the lifespan loads the model and index once, off the event loop; routes
only translate HTTP to the tagging pipeline."""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
import uuid
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated

from fastapi import FastAPI, File, Form, Request, UploadFile

from shoptag.api.errors import error_response, install_error_handlers
from shoptag.indexing.store import CatalogIndex
from shoptag.model import create_embedder
from shoptag.settings import Settings
from shoptag.tagging import Tagger

logger = logging.getLogger(__name__)


def create_app(settings: Settings, index_path: Path) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        def load():
            embedder = create_embedder(settings.model)
            return embedder, CatalogIndex.load(index_path, embedder)

        app.state.embedder, app.state.index = await asyncio.to_thread(load)
        app.state.uploads = Path(tempfile.mkdtemp(prefix="shoptag-uploads-"))
        try:
            yield
        finally:
            shutil.rmtree(app.state.uploads, ignore_errors=True)

    app = FastAPI(title="ShopTag", version="0.1.0", lifespan=lifespan)
    install_error_handlers(app)

    @app.get("/livez")
    async def livez() -> dict:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz(request: Request):
        if getattr(request.app.state, "index", None) is None:
            return error_response(503, "not_ready", "model and index are loading")
        return {"status": "ready", "index": str(request.app.state.index.path)}

    @app.post("/v1/tags")
    async def tag_video(
        request: Request,
        file: Annotated[UploadFile, File(description="The video: MP4/MOV, WebM/MKV or AVI.")],
        fps: Annotated[float | None, Form(gt=0, le=30)] = None,
        threshold: Annotated[float | None, Form(ge=-1, le=1)] = None,
        top_k: Annotated[int | None, Form(ge=1, le=100)] = None,
    ) -> dict:
        """Suggest product tags for one uploaded video (same JSON as `shoptag tag`)."""
        overrides = {k: v for k, v in {"fps": fps, "threshold": threshold, "top_k": top_k}.items()
                     if v is not None}
        tagging = settings.tagging.model_copy(update=overrides)
        state = request.app.state
        # The client's filename never becomes a path: uploads get server-made names.
        upload = state.uploads / f"{uuid.uuid4().hex}.video"
        try:
            with upload.open("wb") as handle:
                await asyncio.to_thread(shutil.copyfileobj, file.file, handle)
            tagger = Tagger(state.embedder, state.index, tagging, settings.video)
            result = await asyncio.to_thread(tagger.tag, upload)
        finally:
            upload.unlink(missing_ok=True)
        payload = result.as_json()
        payload["video"] = file.filename or "upload"
        return payload

    return app
