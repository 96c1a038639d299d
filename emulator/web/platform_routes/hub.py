"""Thin handlers for the Documents hub (`/hubs/documents/...`), by `path` query parameter and by `{id}`.

Every answer, errors included, names the instance in `Elements-Element-Instance-Id` (or the
your_moms spelling) once the token identified one. Handlers that change the account read and
check all their input first, then go through `dispatch` so that async requests work for all.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import NamedTuple
from urllib.parse import quote

from starlette.convertors import Convertor, register_url_convertor
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from emulator.dialects import DIALECTS, Dialect
from emulator.domain.errors import DomainError, Forbidden, InvalidInput, TooLarge
from emulator.domain.platform import hub as documents
from emulator.domain.platform.hub import Document, DocumentsHub, Download, HubPage, Kind
from emulator.domain.platform.instances import Instance
from emulator.web.auth import parse_authorization
from emulator.web.bodies import UnsupportedMediaType, query_list, read_json
from emulator.web.context import dialect_of, instance_caller_of, json_response, query_of, state_of
from emulator.web.errors import error_response, http_error, status_of
from emulator.web.platform_routes.jobs import dispatch
from emulator.web.routing import LazyRoute

# Room for the multipart envelope (boundaries, part headers, small fields) beside the file itself.
MULTIPART_ALLOWANCE = 1024 * 1024
MAX_FORM_FIELD_BYTES = 64 * 1024
MAX_FORM_FIELDS = 64
DOWNLOAD_CHUNK = 64 * 1024


class DocumentIdConvertor(Convertor[str]):
    """A `{id}` segment. `%252F...` ids reach routing as `%2F...` from a server that decodes the path
    once, but as `/...` from one that decodes it twice (Starlette's TestClient) or when a client
    encoded it once: so an id may hold slashes, and routes ending in `/metadata` etc. go first."""

    regex = ".+?"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("document_id", DocumentIdConvertor())


class HubCall(NamedTuple):
    """What every hub handler needs: the authenticated instance, its account's hub, the dialect."""

    instance: Instance
    hub: DocumentsHub
    dialect: Dialect


HubHandler = Callable[[Request, HubCall], Awaitable[Response]]
# `Elements-Instance-Id` in each dialect's spelling, as a raw (lower-case) header name.
INSTANCE_HEADER = {
    name: d.header(f"{d.auth_word}-Instance-Id").lower().encode("latin-1") for name, d in DIALECTS.items()
}


class HubEndpoint:
    """A hub route's ASGI app: authenticates the instance, runs the handler, and names the instance
    on every answer.

    An ASGI app rather than a request function, which Starlette would wrap to turn the exceptions
    a handler raises into answers: this one answers every error itself (DomainError, HTTPException;
    anything else is a bug, for the 500 of the outer middleware), and the wrapper was a twentieth
    of a folder creation's CPU.
    """

    def __init__(self, handler: HubHandler) -> None:
        self.handler = handler
        self.__name__ = handler.__name__  # the route's name, and its OpenAPI summary
        self.__doc__ = handler.__doc__

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self.answer(Request(scope, receive, send))
        await response(scope, receive, send)

    async def answer(self, request: Request) -> Response:
        dialect = dialect_of(request)
        instance_id: int | None = None
        try:
            _, instance = instance_caller_of(request)
            instance_id = instance.id
            store = state_of(request).provider_of(instance).account(instance.account).store
            response = await self.handler(request, HubCall(instance, DocumentsHub(store), dialect))
        except (DomainError, HTTPException) as problem:
            if isinstance(problem, Forbidden):
                instance_id = _identified(request)
            response = await _error(request, problem)
        if instance_id is not None:
            # Appended raw: no handler sets this header, so there is nothing to replace.
            response.raw_headers.append((INSTANCE_HEADER[dialect.name], str(instance_id).encode("latin-1")))
        return response


def _identified(request: Request) -> int | None:
    """The instance a refused token names (a disabled instance's 403 still names it)."""
    token = parse_authorization(request.headers.get("authorization")).token
    found = state_of(request).instances_by_token.get(token or "")
    return None if found is None else found.id


async def _error(request: Request, problem: DomainError | HTTPException) -> Response:
    if isinstance(problem, HTTPException):
        return await http_error(request, problem)
    return error_response(request, status_of(problem), problem.message, problem.provider_message)


def _where(request: Request) -> documents.Locator:
    return documents.locate(request.path_params.get("id"), query_of(request).get("path"))


async def _json_body(request: Request, *, required: bool = True) -> object:
    return await read_json(request, state_of(request).seed.limits.max_body_bytes, required=required)


def _page_response(page: HubPage, dialect: Dialect) -> Response:
    headers = {dialect.header("Returned-Count"): str(len(page.entries))}
    if page.next_page is not None:
        headers[dialect.header("Next-Page-Token")] = page.next_page
    # The JSON a JSONResponse would render, from the hub's per-entry cache.
    return Response(page.json(), media_type="application/json", headers=headers)


def _document(result: Document) -> Response:
    return json_response(result)


def _emptied(_: Document) -> Response:
    return Response(status_code=200)


# -- files ---------------------------------------------------------------------------------
async def download_file(request: Request, call: HubCall) -> Response:
    return _download_response(call.hub.download(_where(request)))


def _download_response(download: Download) -> Response:
    data = download.data
    headers = {
        "Content-Length": str(len(data)),
        "Content-Disposition": _disposition(download.entry.name),
    }
    return StreamingResponse(_chunks(data), media_type=download.media_type, headers=headers)


def _disposition(name: str) -> str:
    # An ASCII fallback for old clients, then the exact name (RFC 6266).
    fallback = name.encode("ascii", "replace").decode("ascii").replace("?", "_").replace('"', "_")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def _chunks(data: bytes) -> Iterator[bytes]:
    view = memoryview(data)
    for start in range(0, len(data), DOWNLOAD_CHUNK):
        yield bytes(view[start : start + DOWNLOAD_CHUNK])


async def upload_file(request: Request, call: HubCall) -> Response:
    max_bytes = call.hub.store.max_upload_bytes
    data, fields = await _read_upload(request, max_bytes)
    params = query_of(request)

    def given(name: str) -> str | None:
        return params.get(name) or next(iter(fields.get(name, [])), None)

    upload = documents.read_upload(
        params.get("path"),
        data,
        overwrite=given("overwrite"),
        size=given("size"),
        tags=query_list(request, "tags") + fields.get("tags[]", []) + fields.get("tags", []),
        description=given("description"),
        max_bytes=max_bytes,
    )
    return await dispatch(request, call.instance, lambda: call.hub.upload(upload), _document)


async def _read_upload(request: Request, max_bytes: int) -> tuple[bytes, dict[str, list[str]]]:
    """The `file` part's bytes and the other fields; 413 before reading past the limit."""
    limit = max_bytes + MULTIPART_ALLOWANCE
    declared = request.headers.get("content-length")
    if declared is not None and not declared.isdecimal():
        raise InvalidInput("Content-Length is not a number")
    if declared is not None and int(declared) > limit:
        raise TooLarge(
            f"the upload is over the limit of {max_bytes} bytes", provider_message="payload_too_large/"
        )
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "multipart/form-data":
        raise UnsupportedMediaType("an upload is a multipart/form-data body with a part named file")
    limited = Request(request.scope, _limited(request.receive, limit, max_bytes))
    form = await limited.form(max_files=1, max_fields=MAX_FORM_FIELDS, max_part_size=MAX_FORM_FIELD_BYTES)
    try:
        part = form.get("file")
        if not isinstance(part, UploadFile):
            raise InvalidInput("the multipart body has no file part named file")
        data = await part.read()
        fields: dict[str, list[str]] = {}
        for name, value in form.multi_items():
            if isinstance(value, str):
                fields.setdefault(name, []).append(value)
    finally:
        await form.close()
    return data, fields


def _limited(receive: Receive, limit: int, max_bytes: int) -> Receive:
    """`receive`, refusing (413) as soon as the body grows past `limit` bytes."""
    received = 0

    async def limited_receive() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise TooLarge(
                    f"the upload is over the limit of {max_bytes} bytes",
                    provider_message="payload_too_large/",
                )
        return message

    return limited_receive


async def delete_file(request: Request, call: HubCall) -> Response:
    return await _delete(request, call, "file")


async def file_metadata(request: Request, call: HubCall) -> Response:
    return json_response(call.hub.describe(_where(request), "file"))


async def patch_file(request: Request, call: HubCall) -> Response:
    return await _patch(request, call, "file")


async def copy_file(request: Request, call: HubCall) -> Response:
    return await _copy(request, call, "file", overwrite=False)


async def file_links(request: Request, call: HubCall) -> Response:
    params = query_of(request)
    link = call.hub.link(
        _where(request),
        visibility=params.get("visibility"),
        password=params.get("password"),
        expires=params.get("expires"),
    )
    return json_response(link)


# -- folders -------------------------------------------------------------------------------
async def create_folder(request: Request, call: HubCall) -> Response:
    body = await _json_body(request, required=False)
    placement = documents.read_new_folder(query_of(request).get("path"), body)
    return await dispatch(request, call.instance, lambda: call.hub.create_folder(placement), _document)


async def delete_folder(request: Request, call: HubCall) -> Response:
    return await _delete(request, call, "folder")


async def folder_contents(request: Request, call: HubCall) -> Response:
    params = query_of(request)
    page = documents.read_page(params.get("pageSize"), params.get("nextPage"))
    fetch_tags = documents.read_flag(params.get("fetchTags"), "fetchTags")
    return _page_response(call.hub.contents(_where(request), page, fetch_tags=fetch_tags), call.dialect)


async def folder_metadata(request: Request, call: HubCall) -> Response:
    return json_response(call.hub.describe(_where(request), "folder"))


async def patch_folder(request: Request, call: HubCall) -> Response:
    return await _patch(request, call, "folder")


async def copy_folder(request: Request, call: HubCall) -> Response:
    overwrite = documents.read_flag(query_of(request).get("overwrite"), "overwrite")
    return await _copy(request, call, "folder", overwrite=overwrite)


# -- shared by files and folders -------------------------------------------------------------
async def _delete(request: Request, call: HubCall, kind: Kind) -> Response:
    where = _where(request)
    documents.read_flag(query_of(request).get("emptyTrash"), "emptyTrash")
    return await dispatch(request, call.instance, lambda: call.hub.delete(where, kind), _emptied)


async def _patch(request: Request, call: HubCall, kind: Kind) -> Response:
    where = _where(request)
    patch = documents.read_patch(await _json_body(request))
    return await dispatch(request, call.instance, lambda: call.hub.update(where, kind, patch), _document)


async def _copy(request: Request, call: HubCall, kind: Kind, *, overwrite: bool) -> Response:
    where = _where(request)
    placement = documents.read_destination(await _json_body(request))

    def operation() -> Document:
        return call.hub.copy(where, kind, placement, overwrite=overwrite)

    return await dispatch(request, call.instance, operation, _document)


# -- the hub as a whole --------------------------------------------------------------------
async def search(request: Request, call: HubCall) -> Response:
    params = query_of(request)
    query = documents.read_search(
        params.get("path"),
        params.get("text"),
        params.get("startDate"),
        params.get("endDate"),
        query_list(request, "tags"),
    )
    page = documents.read_page(params.get("pageSize"), params.get("nextPage"))
    return _page_response(call.hub.search(query, page), call.dialect)


async def storage(request: Request, call: HubCall) -> Response:
    return json_response(call.hub.storage())


async def ping(request: Request, call: HubCall) -> Response:
    return json_response({"status": "ok", "instanceId": call.instance.id})


def routes(base: str) -> list[Route]:
    """`base` is `/{dialect:dialect}/api-v2`. Fixed paths come before the `{id}` ones they resemble."""
    hub = base + "/hubs/documents"
    table: list[tuple[str, str, HubHandler]] = [
        ("GET", "/files", download_file),
        ("POST", "/files", upload_file),
        ("DELETE", "/files", delete_file),
        ("GET", "/files/metadata", file_metadata),
        ("PATCH", "/files/metadata", patch_file),
        ("POST", "/files/copy", copy_file),
        ("GET", "/files/links", file_links),
        ("POST", "/folders", create_folder),
        ("DELETE", "/folders", delete_folder),
        ("GET", "/folders/contents", folder_contents),
        ("GET", "/folders/metadata", folder_metadata),
        ("PATCH", "/folders/metadata", patch_folder),
        ("POST", "/folders/copy", copy_folder),
        ("GET", "/search", search),
        ("GET", "/storage", storage),
        ("GET", "/ping", ping),
        # By id: the longer paths first, since a once-decoded id may itself hold slashes.
        ("GET", "/files/{id:document_id}/metadata", file_metadata),
        ("PATCH", "/files/{id:document_id}/metadata", patch_file),
        ("POST", "/files/{id:document_id}/copy", copy_file),
        ("GET", "/files/{id:document_id}/links", file_links),
        ("GET", "/files/{id:document_id}", download_file),
        ("DELETE", "/files/{id:document_id}", delete_file),
        ("GET", "/folders/{id:document_id}/contents", folder_contents),
        ("GET", "/folders/{id:document_id}/metadata", folder_metadata),
        ("PATCH", "/folders/{id:document_id}/metadata", patch_folder),
        ("POST", "/folders/{id:document_id}/copy", copy_folder),
        ("DELETE", "/folders/{id:document_id}", delete_folder),
    ]
    return [
        LazyRoute(hub + path, HubEndpoint(handler), methods=[method], name=handler.__name__)
        for method, path, handler in table
    ]
