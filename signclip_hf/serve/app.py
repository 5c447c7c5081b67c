"""The embedding service: the original SignCLIP HTTP API on FastAPI, with dynamic batching and limits.

API (the original's, fairseq `examples/MMPT/app.py`, unchanged; a client of it only changes its URL):

    GET /api/embed/pose   {"pose": [base64 .pose, ...], "model_name": "default"} -> {"embeddings": [[...], ...]}
    GET /api/embed/text   {"text": ["<en> <ase> house", ...]}                     -> {"embeddings": [[...], ...]}

The JSON body rides on a GET, as in the original; POST is accepted too (browsers cannot send a GET body).
`"pose"` / `"text"` may be one string or a list; the answer is always one embedding per item, as a list of
lists. `model_name` picks one of the served models (default: the first, also reachable as "default").
Additions: `/api/embed/video` (videos, JSON base64 or multipart upload: MediaPipe Holistic as pose-format's
`video_to_pose`), `/api/score` (poses × texts -> the model's scores), `/health`, and OpenAPI docs at `/docs`.

FastAPI on uvicorn: an ASGI stack, so one event loop takes every connection while decoding runs on a small
thread pool and each tower's forward passes on its own thread (`batching.TowerBatcher`); uvicorn handles
SIGTERM gracefully (stops listening, lets requests in flight finish) and scales out with `--workers`;
FastAPI brings the OpenAPI schema and docs.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Mapping

import numpy as np
import torch
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import Response
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from .batching import BatchFailedError, TowerBatcher, split_by_length
from .config import ServeConfig
from .requests import (
    RequestError,
    check_texts,
    clip_features,
    clip_keypoints,
    decode_base64,
    decode_poses,
    model_name,
    one_line,
    parse_json,
    string_list,
    tokenize,
)

logger = logging.getLogger("signclip_hf.serve")
DEFAULT_MODEL_NAME = "default"
MODALITIES = ("pose", "text", "video")


# --- the served models --------------------------------------------------------------------------------------------


class ServedModel:
    """One loaded model with its processor and a batcher per tower."""

    def __init__(self, name: str, model, processor, config: ServeConfig):
        self.name, self.processor, self.config = name, processor, config
        self.device = torch.device(config.device)
        self.model = model.to(self.device).eval()
        self.feature_extractor = processor.feature_extractor
        self.has_text = hasattr(self.model, "get_text_features") and getattr(processor, "tokenizer", None) is not None
        self.tokenizer_lock = threading.Lock()  # a fast tokenizer must not be called from two threads at once
        wait = config.max_wait_ms / 1000
        self.pose = TowerBatcher(
            f"{name}/pose", self._pose_forward, config.max_batch_clips, wait, config.batching,
            split=lambda rows: split_by_length([len(row) for row in rows], config.max_batch_frames),
        )  # fmt: skip
        self.text = (
            TowerBatcher(f"{name}/text", self._text_forward, config.max_batch_texts, wait, config.batching)
            if self.has_text
            else None
        )

    @property
    def batchers(self) -> list[TowerBatcher]:
        return [self.pose] + ([self.text] if self.text is not None else [])

    def describe(self) -> dict:
        config = self.model.config
        return {
            "architecture": type(self.model).__name__,
            "embed_dim": int(config.embed_dim),
            "score_type": getattr(config, "score_type", "dot"),
            "keypoint_layout": self.feature_extractor.keypoint_layout,
            "max_frames": int(self.feature_extractor.max_frames),
            "text": self.has_text,
        }

    def require_text(self, what: str) -> None:
        if not self.has_text:
            raise RequestError(f'model "{self.name}" has no text tower (a fine-tuned classifier): it cannot {what}')

    @torch.inference_mode()
    def _pose_forward(self, rows: list[np.ndarray]) -> np.ndarray:
        inputs = self.feature_extractor.pad(rows, return_tensors="pt")
        output = self.model.get_pose_features(
            inputs["pose_values"].to(self.device), inputs["pose_attention_mask"].to(self.device)
        )
        return output.pooler_output.float().cpu().numpy()

    @torch.inference_mode()
    def _text_forward(self, rows: list[dict[str, list[int]]]) -> np.ndarray:
        inputs = self.processor.tokenizer.pad(rows, padding=True, return_tensors="pt")  # its pad id, side, mask
        inputs = {key: value.to(self.device) for key, value in inputs.items()}
        return self.model.get_text_features(**inputs).pooler_output.float().cpu().numpy()

    @torch.inference_mode()
    def score(self, pose_embeds: np.ndarray, text_embeds: np.ndarray) -> np.ndarray:
        poses = torch.from_numpy(pose_embeds).to(self.device)
        texts = torch.from_numpy(text_embeds).to(self.device)
        return self.model.score(poses, texts).float().cpu().numpy()


def load_served_models(models: Mapping[str, Any], config: ServeConfig) -> dict[str, ServedModel]:
    """name -> `ServedModel`; each value is a (model, processor) pair or a model folder / Hub repo id."""
    if not models:
        raise ValueError("no model to serve")
    served = {}
    for name, value in models.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"model names must be non-empty strings, got {name!r}")
        if isinstance(value, (str, os.PathLike)):
            from ..loading import load_model

            value = load_model(value, head="saved")
        model, processor = value
        served[name] = ServedModel(name, model, processor, config)
    return served


# --- documentation models (the OpenAPI schema; requests are validated by `requests.py`) --------------------------


class EmbedRequest(BaseModel):
    pose: list[str] | str | None = Field(
        None, description="base64 of .pose files (MediaPipe Holistic); /api/embed/pose"
    )
    text: list[str] | str | None = Field(None, description='texts such as "<en> <ase> house"; /api/embed/text')
    video: list[str] | str | None = Field(None, description="base64 of videos (MP4, WebM, ...); /api/embed/video")
    model_name: str | None = Field(None, description='one of the served models (default: the first, or "default")')


class ScoreRequest(BaseModel):
    pose: list[str] | str = Field(description="base64 of .pose files")
    text: list[str] | str = Field(description='texts such as "<en> <ase> house"')
    model_name: str | None = None


class EmbedResponse(BaseModel):
    embeddings: list[list[float]] = Field(description="one embedding per item, in request order")


class ScoreResponse(BaseModel):
    scores: list[list[float]] = Field(description="scores[i][j]: pose i against text j, as the model scores them")


class ErrorResponse(BaseModel):
    detail: str = Field(description="what is wrong, in one line")


ERRORS = {status: {"model": ErrorResponse} for status in (400, 401, 404, 413, 422, 503)}


def _json_body(schema: type[BaseModel], multipart: bool = False) -> dict:
    content = {"application/json": {"schema": schema.model_json_schema()}}
    if multipart:
        content["multipart/form-data"] = {
            "schema": {
                "type": "object",
                "properties": {
                    "video": {"type": "array", "items": {"type": "string", "format": "binary"}},
                    "model_name": {"type": "string"},
                },
            }
        }
    return {"requestBody": {"required": True, "content": content}}


# --- the app ------------------------------------------------------------------------------------------------------


class _BodyTooLarge(RequestError):
    pass


class BodyLimitMiddleware:
    """Refuse request bodies over `max_bytes` (413) by their Content-Length, or while they stream in."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        message = f"the request body is larger than the limit of {self.max_bytes:,} bytes"
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > self.max_bytes:
            response = _error_response(413, message)
            response.headers["Connection"] = "close"
            return await response(scope, receive, send)
        received = 0

        async def limited_receive():
            nonlocal received
            event = await receive()
            if event["type"] == "http.request":
                received += len(event.get("body", b""))
                if received > self.max_bytes:
                    raise _BodyTooLarge(message, status=413)
            return event

        return await self.app(scope, limited_receive, send)


def _error_response(status: int, message: str) -> Response:
    return Response(json.dumps({"detail": one_line(message)}), status_code=status, media_type="application/json")


def _json_response(content: dict) -> Response:
    return Response(json.dumps(content, allow_nan=False, separators=(",", ":")), media_type="application/json")


def create_app(models: Mapping[str, Any], config: ServeConfig | None = None) -> FastAPI:
    """The FastAPI app serving `models` (name -> (model, processor) or a model folder / Hub repo id; the first
    is the default) under `config`'s limits. Its lifespan starts and stops the batchers and thread pools."""
    config = config or ServeConfig()
    served = load_served_models(models, config)
    default = next(iter(served))
    state: dict[str, Any] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        if config.torch_threads is not None:
            torch.set_num_threads(config.torch_threads)
        state["decode"] = ThreadPoolExecutor(config.decode_threads, thread_name_prefix="signclip-decode")
        state["video"] = ThreadPoolExecutor(config.video_workers, thread_name_prefix="signclip-video")
        for model in served.values():
            for batcher in model.batchers:
                batcher.start()
        logger.info("serving %s (default %r)", ", ".join(served), default)
        try:
            yield
        finally:
            for model in served.values():
                for batcher in model.batchers:
                    await batcher.close()
            state["decode"].shutdown(wait=False, cancel_futures=True)
            state["video"].shutdown(wait=False, cancel_futures=True)

    app = FastAPI(
        title="SignCLIP embedding service",
        description=__doc__.split("\n\n")[1] if __doc__ else None,
        version=_version(),
        lifespan=lifespan,
        responses=ERRORS,
    )
    app.state.models = served
    app.state.config = config

    @app.exception_handler(RequestError)
    async def request_error(request: Request, error: RequestError):
        return _error_response(error.status, error.message)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException):
        response = _error_response(error.status_code, str(error.detail))
        for key, value in (error.headers or {}).items():
            response.headers[key] = value
        return response

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, error: RequestValidationError):
        first = error.errors()[0] if error.errors() else {}
        where = ".".join(str(part) for part in first.get("loc", ()))
        return _error_response(400, f"{where}: {first.get('msg', 'invalid request')}")

    @app.exception_handler(BatchFailedError)
    async def batch_failed(request: Request, error: BatchFailedError):
        return _error_response(503, str(error))

    @app.exception_handler(Exception)
    async def internal_error(request: Request, error: Exception):
        logger.error("internal error on %s", request.url.path, exc_info=error)
        return _error_response(500, f"internal error ({type(error).__name__}); see the server log")

    if config.cors_origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=list(config.cors_origins), allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["*"],
        )  # fmt: skip
    app.add_middleware(BodyLimitMiddleware, max_bytes=config.max_request_bytes)

    bearer, header = HTTPBearer(auto_error=False), APIKeyHeader(name="X-API-Key", auto_error=False)

    async def authorize(
        credentials: HTTPAuthorizationCredentials | None = Depends(bearer), api_key: str | None = Depends(header)
    ) -> None:
        if not config.api_key:
            return
        given = api_key if api_key is not None else (credentials.credentials if credentials is not None else None)
        if given is None:
            raise StarletteHTTPException(
                401, "this server needs an API key: send it as 'Authorization: Bearer KEY' or 'X-API-Key: KEY'",
                headers={"WWW-Authenticate": "Bearer"},
            )  # fmt: skip
        if not hmac.compare_digest(given.encode("utf-8", "surrogatepass"), config.api_key.encode()):
            raise StarletteHTTPException(401, "wrong API key", headers={"WWW-Authenticate": "Bearer"})

    def pick(name: str | None) -> ServedModel:
        if name is None or (name == DEFAULT_MODEL_NAME and name not in served):
            return served[default]
        if name not in served:
            known = ", ".join(f'"{key}"' for key in served)
            raise RequestError(f'unknown model_name {name!r:.80}: this server has {known}', status=404)
        return served[name]

    async def in_thread(pool: str, function, *args):
        return await asyncio.get_running_loop().run_in_executor(state[pool], function, *args)

    async def embed_poses(model: ServedModel, payload: dict, key: str = "pose") -> np.ndarray:
        with model.pose.expecting():
            rows = await in_thread("decode", decode_poses, payload, model.feature_extractor, config, key)
        embeddings = await model.pose.submit(rows)
        return _finite(embeddings, f'"{key}" item')

    async def embed_texts(model: ServedModel, payload: dict) -> np.ndarray:
        model.require_text("embed texts")
        with model.text.expecting():
            rows = await in_thread("decode", _checked_tokens, model, payload)
        embeddings = await model.text.submit(rows)
        return _finite(embeddings, '"text" item')

    def _checked_tokens(model: ServedModel, payload: dict):
        texts = check_texts(payload, config)
        with model.tokenizer_lock:
            return tokenize(model.processor, texts)

    async def embed_videos(model: ServedModel, blobs: list[tuple[str, bytes]]) -> np.ndarray:
        keypoints = await asyncio.gather(
            *(in_thread("video", _video_keypoints, model, name, blob) for name, blob in blobs)
        )
        with model.pose.expecting():  # not during the extraction: seconds, that no batch should wait for
            rows = await in_thread("decode", clip_features, model.feature_extractor, list(keypoints))
        return _finite(await model.pose.submit(rows), '"video" item')

    def _video_keypoints(model: ServedModel, name: str, blob: bytes):
        from ..modeling.video_signclip import (
            InvalidVideoError,
            VideoConfig,
            VideoTooLongError,
            is_video,
            video_pose_source,
        )

        if not is_video(blob):
            raise RequestError(f"{name} is not a video container (MP4, MOV, WebM, AVI, MKV, ...)")
        options = {"max_seconds": config.max_video_seconds}
        if config.video_cache_dir != "":
            options["cache_dir"] = config.video_cache_dir
        try:
            pose = video_pose_source(blob, name, VideoConfig(**options))
        except InvalidVideoError as error:
            raise RequestError(str(error), status=413 if isinstance(error, VideoTooLongError) else 400) from None
        except ImportError as error:
            raise RequestError(f"this server cannot read videos: {error}", status=501) from None
        return clip_keypoints(model.feature_extractor, pose, name, config)

    async def video_blobs(request: Request, payload_holder: dict) -> list[tuple[str, bytes]]:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith("multipart/form-data"):
            try:
                form = await request.form(max_files=config.max_clips, max_fields=8)
            except StarletteHTTPException:
                raise
            except Exception as error:  # noqa: BLE001  python-multipart's parse errors
                raise RequestError(f"the multipart upload cannot be read ({type(error).__name__}: {error})") from None
            files = [value for key, value in form.multi_items() if not isinstance(value, str)]
            name = form.get("model_name")
            payload_holder["model_name"] = name if isinstance(name, str) else None
            if not files:
                raise RequestError('the multipart upload has no file: upload videos as "video" file fields')
            if len(files) > config.max_clips:
                raise RequestError(f"{len(files)} videos; at most {config.max_clips} per request", status=413)
            blobs = []
            for index, upload in enumerate(files):
                blobs.append((f'"video"[{index}] ({upload.filename or "upload"})', await upload.read()))
                await upload.close()
            return blobs
        payload = await in_thread("decode", parse_json, await request.body(), '"video" (base64 videos)')
        payload_holder.update(payload)
        items = string_list(payload, "video", config.max_clips, "a list of base64-encoded videos")
        return [(f'"video"[{i}]', decode_base64(item, f'"video"[{i}]', "a video")) for i, item in enumerate(items)]

    embed_doc = (
        "Embeddings of poses (`pose`), texts (`text`) or videos (`video`), one per item, as the original SignCLIP "
        "service answers them (`GET` with a JSON body, as the original; `POST` as well)."
    )

    async def embed(modality: str, request: Request):
        if modality not in MODALITIES:
            raise RequestError(f"unknown modality {modality!r:.40}: expected one of {', '.join(MODALITIES)}", 404)
        if modality == "video":
            holder: dict = {}
            blobs = await video_blobs(request, holder)
            embeddings = await embed_videos(pick(model_name(holder)), blobs)
        else:
            payload = await in_thread("decode", parse_json, await request.body(), f'"{modality}"')
            model = pick(model_name(payload))
            embeddings = await (embed_poses(model, payload) if modality == "pose" else embed_texts(model, payload))
        return await in_thread("decode", _json_response, {"embeddings": embeddings.tolist()})

    async def score(request: Request):
        payload = await in_thread("decode", parse_json, await request.body(), '"pose" and "text"')
        model = pick(model_name(payload))
        model.require_text("score texts")
        poses, texts = await asyncio.gather(embed_poses(model, payload), embed_texts(model, payload))
        scores = _finite(await in_thread("decode", model.score, poses, texts), 'the scores of "pose" item')
        return await in_thread("decode", _json_response, {"scores": scores.tolist()})

    score_doc = "`scores[i][j]`: pose i against text j, as the model scores them (`model.score`)."
    for method in ("GET", "POST"):  # the original's GET with a JSON body, and POST
        app.add_api_route(
            "/api/embed/{modality}", embed, methods=[method], dependencies=[Depends(authorize)],
            response_model=EmbedResponse, openapi_extra=_json_body(EmbedRequest, multipart=True),
            summary=f"Embed ({method})", description=embed_doc, operation_id=f"embed_{method.lower()}",
        )  # fmt: skip
        app.add_api_route(
            "/api/score", score, methods=[method], dependencies=[Depends(authorize)], response_model=ScoreResponse,
            openapi_extra=_json_body(ScoreRequest), summary=f"Score poses against texts ({method})",
            description=score_doc, operation_id=f"score_{method.lower()}",
        )  # fmt: skip

    @app.get("/health", summary="Liveness and what is served")
    async def health():
        return {
            "status": "ok",
            "default_model": default,
            "models": {name: model.describe() for name, model in served.items()},
            "batching": {
                batcher.name: vars(batcher.stats) for model in served.values() for batcher in model.batchers
            },
        }

    return app


def _finite(values: np.ndarray, what: str) -> np.ndarray:
    if not np.isfinite(values).all():
        row = int(np.argwhere(~np.isfinite(values))[0][0])
        raise RequestError(
            f"the model gave a non-finite result for {what} {row}: refusing to answer (NaN is not JSON; check the "
            "input and the model's weights)", 422,
        )
    return values


def _version() -> str:
    from .. import __version__

    return __version__


__all__ = ["DEFAULT_MODEL_NAME", "ServedModel", "create_app", "load_served_models"]
