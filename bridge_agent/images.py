"""Images in prompts: which ones pass, and how the event log keeps their bytes out.

One check for both sides of the contract (plain standard library, like ``protocol``): the
bridge's ``/starter/prompt`` and the control plane's ``projects.bridge.agent.send_message``
(the dashboard and the REST API) refuse the same images with the same status:

- 400: not a list of ``{"data": base64, "mimeType": …}`` objects, or data that is not base64;
- 413: more than ``MAX_IMAGES``, or over ``MAX_IMAGE_BYTES`` each / ``MAX_IMAGES_TOTAL_BYTES``
  together;
- 415: a type outside ``IMAGE_MIME_TYPES`` (an SVG above all: a document that can carry
  script), or bytes that are not the image type they claim to be.

Events never carry image bytes (``omit_image_data``): a user message with a 3 MiB screenshot
would otherwise be written to the log three times (``message_start``, ``message_end``,
``agent_end``) and replayed to every reader. The messages (``/starter/messages``) keep them.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from bridge_agent.protocol import (
    IMAGE_MIME_TYPES,
    MAX_IMAGE_BYTES,
    MAX_IMAGES,
    MAX_IMAGES_TOTAL_BYTES,
)

_BASE64 = re.compile(r"^[A-Za-z0-9+/]*={0,2}$")
# The first bytes of each accepted type (WebP: "RIFF", 4 bytes of size, "WEBP").
_SIGNATURES: dict[str, tuple[bytes, ...]] = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "image/webp": (b"RIFF",),
}
SHAPE = '\'images\' must be a list of {"data": base64, "mimeType": "image/png"} objects.'


class ImageRefused(Exception):
    """An image that does not pass; each side turns it into its own error type."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _allowed_types() -> str:
    return ", ".join(IMAGE_MIME_TYPES)


def _decoded_size(data: str) -> int:
    return len(data) * 3 // 4 - data[-2:].count("=")


def _matches_type(raw: bytes, mime_type: str) -> bool:
    if not raw.startswith(_SIGNATURES[mime_type]):
        return False
    return mime_type != "image/webp" or raw[8:12] == b"WEBP"


def checked_image(image: Any, number: int = 1) -> dict[str, str]:
    """One image in pi's shape, ``{"type": "image", "data", "mimeType"}``, or ImageRefused."""
    if not (
        isinstance(image, dict)
        and isinstance(image.get("data"), str)
        and isinstance(image.get("mimeType"), str)
    ):
        raise ImageRefused(400, "invalid_field", SHAPE)
    data: str = image["data"]
    mime_type = image["mimeType"].strip().lower()
    if mime_type not in IMAGE_MIME_TYPES:
        raise ImageRefused(
            415,
            "unsupported_media_type",
            f"Image {number} is {mime_type[:60]!r}; images must be one of {_allowed_types()}.",
        )
    if _decoded_size(data) > MAX_IMAGE_BYTES:
        raise ImageRefused(
            413,
            "too_large",
            f"Image {number} is over {MAX_IMAGE_BYTES // (1024 * 1024)} MiB; send a smaller one.",
        )
    if not data or not _BASE64.match(data) or len(data) % 4:
        raise ImageRefused(400, "invalid_field", f"Image {number}'s data is not base64.")
    try:
        raw = base64.b64decode(data, validate=True)
    except binascii.Error as error:
        raise ImageRefused(400, "invalid_field", f"Image {number}'s data is not base64.") from error
    if not _matches_type(raw, mime_type):
        raise ImageRefused(
            415,
            "unsupported_media_type",
            f"Image {number} is not a {mime_type} image; images must be one of {_allowed_types()}.",
        )
    return {"type": "image", "data": data, "mimeType": mime_type}


def checked_images(images: Any) -> list[dict[str, str]]:
    """Every image of a prompt, checked (see the module docstring); raises ImageRefused."""
    if not isinstance(images, list):
        raise ImageRefused(400, "invalid_field", SHAPE)
    if len(images) > MAX_IMAGES:
        raise ImageRefused(413, "too_large", f"A message takes at most {MAX_IMAGES} images.")
    checked = [checked_image(image, number) for number, image in enumerate(images, start=1)]
    if sum(_decoded_size(image["data"]) for image in checked) > MAX_IMAGES_TOTAL_BYTES:
        limit = MAX_IMAGES_TOTAL_BYTES / (1024 * 1024)
        raise ImageRefused(
            413, "too_large", f"The images together are over {limit:g} MiB; send fewer."
        )
    return checked


def omit_image_data(value: Any, depth: int = 0) -> Any:
    """``value`` with every image part's ``data`` replaced by ``"omitted": true`` (and its
    approximate size), for the event log. Other values are returned as they are."""
    if depth > 12:
        return value
    if isinstance(value, list):
        return [omit_image_data(item, depth + 1) for item in value]
    if not isinstance(value, dict):
        return value
    if value.get("type") == "image" and isinstance(value.get("data"), str):
        kept = {key: item for key, item in value.items() if key != "data"}
        return {**kept, "omitted": True, "bytes": _decoded_size(value["data"])}
    return {key: omit_image_data(item, depth + 1) for key, item in value.items()}
