"""Model files: a verified header around NumPy arrays, never a pickle.

Layout: ``MAGIC`` (16 bytes), header length (4 bytes, big endian), a JSON header with the
format version, the scikit-learn version, the payload's SHA-256 and the model's metadata,
then the payload: an ``.npz`` archive loaded with ``allow_pickle=False``. A file that is
truncated, altered, of another format version or not a mailroom model at all raises
:class:`~mailroom.core.errors.ModelError`; nothing in it is ever executed or unpickled.
"""

from __future__ import annotations

import hashlib
import io
import json
import struct
import zipfile
from typing import Any

import numpy as np
import numpy.typing as npt
import sklearn

from mailroom.core.errors import ModelError, NotFound
from mailroom.infra.objects import ObjectStore

MAGIC = b"MAILROOM-MODEL\x00\x01"
FORMAT_VERSION = 1
MAX_HEADER_BYTES = 1 << 20

Arrays = dict[str, npt.NDArray[Any]]


def model_key(version: str) -> str:
    """Object-store key of a model version's file."""
    return f"models/{version}/model.bin"


def plot_key(version: str) -> str:
    """Object-store key of a model version's precision/coverage plot."""
    return f"models/{version}/precision_coverage.png"


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def dump_model(arrays: Arrays, meta: dict[str, Any], *, kind: str = "router") -> bytes:
    """Serialise arrays (numbers or fixed-width strings, no objects) and JSON metadata."""
    for name, array in arrays.items():
        if array.dtype.hasobject:
            raise ModelError(f"array {name!r} holds Python objects; refusing to write a pickle")
    buffer = io.BytesIO()
    np.savez_compressed(buffer, allow_pickle=False, **arrays)
    payload = buffer.getvalue()
    header = {
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "sklearn_version": sklearn.__version__,
        "numpy_version": np.__version__,
        "payload_sha256": sha256_hex(payload),
        "payload_bytes": len(payload),
        "meta": meta,
    }
    head = json.dumps(header, ensure_ascii=False, sort_keys=True).encode("utf-8")
    return MAGIC + struct.pack(">I", len(head)) + head + payload


def read_header(data: bytes) -> tuple[dict[str, Any], bytes]:
    """The verified header and the payload; raises :class:`ModelError` on any mismatch."""
    if not data.startswith(MAGIC):
        raise ModelError(
            "not a mailroom model file (unknown magic bytes)",
            hint="only files written by 'mailroom train' can be loaded; retrain the model",
        )
    if len(data) < len(MAGIC) + 4:
        raise ModelError("model file is truncated", hint="retrain the model")
    (length,) = struct.unpack(">I", data[len(MAGIC) : len(MAGIC) + 4])
    if length > MAX_HEADER_BYTES or len(MAGIC) + 4 + length > len(data):
        raise ModelError("model file header is damaged or truncated", hint="retrain the model")
    start = len(MAGIC) + 4
    try:
        header = json.loads(data[start : start + length].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"model file header is not valid JSON: {exc}") from exc
    if not isinstance(header, dict):
        raise ModelError("model file header is not a JSON object")
    if header.get("format_version") != FORMAT_VERSION:
        raise ModelError(
            f"model format version {header.get('format_version')!r} is not supported "
            f"(this mailroom reads version {FORMAT_VERSION})",
            hint="retrain the model with this version of mailroom",
        )
    payload = data[start + length :]
    if len(payload) != header.get("payload_bytes") or sha256_hex(payload) != header.get(
        "payload_sha256"
    ):
        raise ModelError(
            "model file is corrupt: its checksum does not match", hint="retrain the model"
        )
    return header, payload


def load_model(data: bytes, *, expected_sha256: str | None = None) -> tuple[Arrays, dict[str, Any]]:
    """Verify and read a model file: arrays and metadata.

    ``expected_sha256`` is the checksum the database recorded when the model was stored;
    it is checked before anything inside the file is interpreted.
    """
    if expected_sha256 is not None and sha256_hex(data) != expected_sha256:
        raise ModelError(
            "model file does not match the checksum recorded in the database",
            hint="the file was changed or replaced after training; retrain or roll back",
        )
    header, payload = read_header(data)
    try:
        with np.load(io.BytesIO(payload), allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (ValueError, OSError, zipfile.BadZipFile, KeyError) as exc:
        raise ModelError(f"model payload cannot be read: {exc}") from exc
    meta = header.get("meta")
    if not isinstance(meta, dict):
        raise ModelError("model file has no metadata")
    meta = {**meta, "sklearn_version": header.get("sklearn_version")}
    return arrays, meta


def store_model(store: ObjectStore, version: str, data: bytes) -> tuple[str, str]:
    """Write the model file atomically; returns ``(key, sha256)``."""
    key = model_key(version)
    digest = sha256_hex(data)
    store.put(key, data, "application/octet-stream", {"sha256": digest, "version": version})
    return key, digest


def fetch_model(
    store: ObjectStore, key: str, expected_sha256: str | None
) -> tuple[Arrays, dict[str, Any]]:
    """Read and verify a stored model file."""
    try:
        data = store.get(key)
    except NotFound:
        raise ModelError(f"model file {key!r} is missing from the object store") from None
    return load_model(data, expected_sha256=expected_sha256)
