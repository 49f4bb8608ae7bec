"""Disk cache of the streaming pass: npz arrays plus JSON metadata, keyed by a fingerprint.

No pickle anywhere: files are read with ``allow_pickle=False``. A file that is
truncated, corrupt, or made for other settings is reported and recomputed.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

FORMAT_VERSION = 1


def fingerprint(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, settings: dict[str, Any]) -> str:
    """SHA-256 over the model's class, parameters and buffers, the data, and the settings."""
    h = hashlib.sha256()
    h.update(f"v{FORMAT_VERSION}|{type(model).__module__}.{type(model).__qualname__}".encode())
    for name, tensor in model.state_dict().items():
        t = tensor.detach().cpu().contiguous()
        h.update(f"|{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(_raw_bytes(t))
    for t in (images, labels):
        t = t.detach().cpu().contiguous()
        h.update(f"|data|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(_raw_bytes(t))
    h.update(json.dumps(settings, sort_keys=True).encode())
    return h.hexdigest()


def _raw_bytes(t: torch.Tensor) -> memoryview:
    if t.numel() == 0:
        return memoryview(b"")
    return memoryview(t.reshape(-1).view(torch.uint8).numpy())


def _checksum(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).view(np.uint8)).hexdigest()


def path_for(cache_dir: str | os.PathLike, key: str) -> Path:
    return Path(cache_dir) / f"pass-{key[:32]}.npz"


def save(path: Path, key: str, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
    """Write atomically: a reader never sees a half-written file under the final name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    checksums = {name: _checksum(a) for name, a in arrays.items()}
    header = json.dumps({"format": FORMAT_VERSION, "fingerprint": key, "checksums": checksums, **meta})
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, __meta__=np.array(header), **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load(path: Path, key: str, expected_shapes: dict[str, tuple[int, ...]]) -> dict[str, np.ndarray] | None:
    """The cached arrays, or None (with a warning if a file was there but unusable)."""
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            meta = json.loads(str(f["__meta__"]))
            if meta.get("format") != FORMAT_VERSION or meta.get("fingerprint") != key:
                raise ValueError("it was made for another model, data or settings")
            arrays = {name: f[name] for name in expected_shapes}
        for name, shape in expected_shapes.items():
            if arrays[name].shape != shape:
                raise ValueError(f"array {name} has shape {arrays[name].shape}, expected {shape}")
            if _checksum(arrays[name]) != meta["checksums"].get(name):
                raise ValueError(f"array {name} does not match its checksum")
        return arrays
    except (OSError, EOFError, KeyError, ValueError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
        warnings.warn(f"ignoring the unusable cache file {path} ({exc}); recomputing", stacklevel=3)
        return None
