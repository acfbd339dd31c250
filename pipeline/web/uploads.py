"""Reading form posts and uploads within limits: the request's size is checked from Content-Length
before anything is parsed (a body without one is refused), Starlette's multipart parser is capped in
files, fields and field size, and each file is read at most one byte past its own limit."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request

from pipeline.errors import UsageError


class TooLargeError(UsageError):
    """A request or an uploaded file over its limit: HTTP 413."""


class LengthRequiredError(UsageError):
    """A body sent without Content-Length: HTTP 411."""


@dataclass(frozen=True)
class Upload:
    filename: str
    data: bytes


async def read_form(request: Request, *, max_bytes: int, max_files: int = 20, max_fields: int = 20) -> FormData:
    length = request.headers.get("content-length")
    if length is None or not length.isdigit():
        raise LengthRequiredError("the request has no Content-Length", hint="send the form as a browser does")
    if int(length) > max_bytes:
        raise TooLargeError(f"the request is {int(length):,} bytes, over the {max_bytes:,}-byte limit",
                            hint="send fewer or smaller files")
    return await request.form(max_files=max_files, max_fields=max_fields, max_part_size=1_000_000)


async def files_of(form: FormData, field: str, max_file_bytes: int) -> list[Upload]:
    """The non-empty files uploaded in ``field`` (a browser sends an empty part when none is chosen)."""
    out: list[Upload] = []
    for value in form.getlist(field):
        if not isinstance(value, UploadFile) or not value.filename:
            continue
        data = await value.read(max_file_bytes + 1)
        if len(data) > max_file_bytes:
            raise TooLargeError(f"'{value.filename}' is over the {max_file_bytes:,}-byte limit")
        if data:
            out.append(Upload(value.filename, data))
    return out


def text_of(form: FormData, field: str) -> str:
    value = form.get(field)
    return value if isinstance(value, str) else ""
