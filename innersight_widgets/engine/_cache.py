"""Statistics of the streaming pass: where they live (RAM or memory-mapped ``.npy``) and
their disk cache, keyed by a fingerprint.

A cached pass is a folder ``pass-<key>/`` of one ``.npy`` file per array plus
``meta.json`` (no pickle: files are read with ``allow_pickle=False``). It is written
under another name and renamed when complete, so a reader never sees half of one.
Arrays at or above ``memmap_threshold`` bytes are memory-mapped instead of read into
RAM when a cache is opened. A folder that is truncated, corrupt, or made for other
settings is reported and recomputed.

While the pass runs, its arrays are memory-mapped files in ``.pass-<key>.partial/``,
with ``progress.json`` saying how many images are complete. A pass that is interrupted
(a notebook's interrupt, a killed kernel) leaves that folder, and the next pass with the
same fingerprint resumes from it. One process at a time writes a partial folder (a
``flock`` on ``.pass-<key>.lock``); another process computing the same entry at the same
time writes a folder of its own and does not resume.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import uuid
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from ..data._probe import tensor_bytes

FORMAT_VERSION = 2
# Rows per piece when a large array is checksummed, so memory stays bounded.
_CHECKSUM_ROWS = 4096


def fingerprint(model_key: str, data_key: str, settings: dict[str, Any]) -> str:
    """SHA-256 of the entry: the model's fingerprint (:func:`model_fingerprint`), the
    data's own fingerprint, and the settings of the pass."""
    h = hashlib.sha256(f"v{FORMAT_VERSION}|{model_key}|data|{data_key}|".encode())
    h.update(json.dumps(settings, sort_keys=True).encode())
    return h.hexdigest()


def model_fingerprint(model: nn.Module) -> str:
    """SHA-256 over the model's class, repr, parameters and buffers (state_dict), every
    module's plain attributes (numbers, strings, flags and tuples of them, e.g. a
    temperature) and the forward hooks and pre-hooks registered on its modules (by
    function and code). Not covered: the source of ``forward`` methods and what they read
    from outside the model (globals, other objects); a change there needs ``refresh=True``."""
    h = hashlib.sha256()
    h.update(f"{type(model).__module__}.{type(model).__qualname__}|{model!r}".encode())
    for name, tensor in model.state_dict().items():
        h.update(f"|{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        h.update(tensor_bytes(tensor))
    for name, module in model.named_modules():
        for attr, value in sorted(vars(module).items()):
            if attr == "training" or attr.startswith("_"):
                continue
            h.update(f"|{name}.{attr}={_plain(value)}".encode())
        for kind in ("_forward_pre_hooks", "_forward_hooks"):
            for hook in getattr(module, kind, {}).values():
                h.update(f"|{name}.{kind}={_function(hook)}".encode())
    return h.hexdigest()


def other_data(cache_dir: str | os.PathLike, keys: dict[str, Any], settings: dict[str, Any]) -> list[str]:
    """Paths of the finished entries of ``cache_dir`` made by the same model with the same
    settings over as many images of another fingerprint (newest first); ``keys`` holds
    ``model_fingerprint``, ``data_fingerprint`` and ``images``."""
    return [
        meta["path"] for meta in entries(cache_dir)
        if meta.get("model_fingerprint") == keys["model_fingerprint"] and meta.get("settings") == settings
        and meta.get("images") == keys["images"] and meta.get("data_fingerprint") != keys["data_fingerprint"]
    ]


def _plain(value: Any) -> str:
    """A stable text for a plain value; only the type for anything else (its repr may hold
    a memory address that changes from run to run)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return repr(value)
    if isinstance(value, (tuple, list)):
        return "(" + ",".join(_plain(v) for v in value) + ")"
    return f"<{type(value).__qualname__}>"


def _function(fn: Any) -> str:
    """A hook by its name, code and constants (and a partial's plain arguments)."""
    inner = getattr(fn, "func", fn)
    code = getattr(inner, "__code__", None)
    body = "" if code is None else hashlib.sha256(code.co_code + repr(code.co_consts).encode()).hexdigest()[:16]
    extra = _plain(tuple(getattr(fn, "args", ()))) if inner is not fn else ""
    return f"{getattr(inner, '__module__', '')}.{getattr(inner, '__qualname__', type(inner).__qualname__)}:{body}{extra}"


def check_folder(cache_dir: str | os.PathLike) -> Path:
    """``cache_dir`` as a folder that exists and can be written, or an error that says why
    not: asked before the pass, not after it."""
    path = Path(cache_dir).expanduser()
    if path.exists() and not path.is_dir():
        raise ValueError(f"cache_dir {str(path)!r} is a file, not a folder; give a folder (it is created if missing)")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as error:
        raise ValueError(
            f"cache_dir {str(path)!r} cannot be written ({error.strerror or error}); give a writable folder, "
            "or cache_dir=None to keep the pass in memory only"
        ) from error
    return path


def path_for(cache_dir: str | os.PathLike, key: str) -> Path:
    return Path(cache_dir) / f"pass-{key[:32]}"


def entries(cache_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """The ``meta.json`` of every finished entry in ``cache_dir`` (newest first), each with
    ``"path"`` added; unreadable ones are skipped."""
    found = []
    for meta in sorted(Path(cache_dir).glob("pass-*/meta.json"), key=lambda p: p.stat().st_mtime, reverse=True):
        try:
            found.append(json.loads(meta.read_text()) | {"path": str(meta.parent)})
        except (OSError, json.JSONDecodeError):
            continue
    return found


def holds(path: Path, key: str) -> bool:
    """Whether the finished entry at ``path`` is the one of fingerprint ``key``."""
    try:
        meta = json.loads((path / "meta.json").read_text())
    except (OSError, json.JSONDecodeError):
        return False
    return meta.get("format") == FORMAT_VERSION and meta.get("fingerprint") == key


class Store:
    """Allocates the pass's arrays: in RAM without a cache; with one, as memory-mapped
    ``.npy`` files in a partial folder of ``cache_dir`` that survives an interrupted pass
    (:meth:`resume_point`, :meth:`checkpoint`). :meth:`commit` makes that folder the
    cache entry at ``path``.

    Parameters
    ----------
    path : Path or None
        Where the finished entry goes; None keeps the pass in RAM only.
    memmap_threshold : int
        Bytes from which an array of a finished entry is memory-mapped when re-opened.
    key : str or None
        The entry's fingerprint, which the partial folder's progress must carry.
    """

    def __init__(self, path: Path | None, memmap_threshold: int, key: str | None = None) -> None:
        self.path = path
        self.memmap_threshold = memmap_threshold
        self.key = key
        self.arrays: dict[str, np.ndarray] = {}
        self._tmp: Path | None = None
        self._lock: int | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._lock = _try_lock(_lock_file(path))
            if self._lock is not None:
                self._tmp = path.with_name(f".{path.name}.partial")
                self._tmp.mkdir(exist_ok=True)
            else:  # another process is writing this entry's partial folder: one of our own
                self._tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))

    @property
    def resumable(self) -> bool:
        """Whether this store keeps its progress for a later pass to resume from."""
        return self._lock is not None

    def array(self, name: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        """A zero-filled array (each process of a distributed pass fills only its rows); in a
        resumable store, the partial folder's file of that name when its shape and dtype match."""
        dtype = np.dtype(dtype)
        if self._tmp is None:
            out = np.zeros(shape, dtype)
        else:
            file = self._tmp / _file(name)
            out = None
            if self.resumable and file.exists():
                with contextlib.suppress(OSError, ValueError):
                    found = np.load(file, mmap_mode="r+", allow_pickle=False)
                    out = found if found.shape == tuple(shape) and found.dtype == dtype else None
            if out is None:
                out = np.lib.format.open_memmap(file, mode="w+", dtype=dtype, shape=shape)
        self.arrays[name] = out
        return out

    def resume_point(self) -> tuple[int, dict[str, np.ndarray]]:
        """Images already complete in the partial folder and the running sums saved with
        them by :meth:`checkpoint`; (0, {}) when there is nothing to resume."""
        if not self.resumable or self._tmp is None:
            return 0, {}
        try:
            progress = json.loads((self._tmp / "progress.json").read_text())
            if progress.get("format") != FORMAT_VERSION or progress.get("fingerprint") != self.key:
                return 0, {}
            return int(progress["rows"]), {k: np.asarray(v, dtype=np.float64) for k, v in progress["sums"].items()}
        except (OSError, KeyError, TypeError, ValueError, json.JSONDecodeError):
            return 0, {}

    def checkpoint(self, rows: int, sums: dict[str, np.ndarray]) -> None:
        """Record that the first ``rows`` images are complete, with the running ``sums``
        (float64, saved exactly) that a resumed pass continues from. The arrays are flushed
        to disk first, so the record never runs ahead of the data."""
        if not self.resumable or self._tmp is None:
            return
        for array in self.arrays.values():
            if isinstance(array, np.memmap):
                array.flush()
        progress = {"format": FORMAT_VERSION, "fingerprint": self.key, "rows": rows,
                    "sums": {k: np.asarray(v, dtype=np.float64).tolist() for k, v in sums.items()}}
        staged = self._tmp / "progress.json.new"
        staged.write_text(json.dumps(progress))  # floats as repr: they read back bit for bit
        os.replace(staged, self._tmp / "progress.json")

    def commit(self, key: str, meta: dict[str, Any]) -> dict[str, np.ndarray]:
        """Write what is in RAM, checksum everything, and move the folder into place; returns
        the arrays (large ones re-opened read-only from the cache)."""
        if self._tmp is None or self.path is None:
            return self.arrays
        try:
            checksums = {}
            for name, array in self.arrays.items():
                if isinstance(array, np.memmap):
                    array.flush()
                else:
                    np.save(self._tmp / _file(name), array, allow_pickle=False)
                checksums[name] = _checksum(array)
            (self._tmp / "progress.json").unlink(missing_ok=True)
            header = {"format": FORMAT_VERSION, "fingerprint": key, "checksums": checksums, **meta}
            (self._tmp / "meta.json").write_text(json.dumps(header))
            self.arrays.clear()
            if self.path.exists():  # an entry load() refused: out of the way, atomically
                stale = self.path.with_name(f".{self.path.name}.{uuid.uuid4().hex}.old")
                with contextlib.suppress(FileNotFoundError):
                    os.replace(self.path, stale)
                shutil.rmtree(stale, ignore_errors=True)
            try:
                os.replace(self._tmp, self.path)
                self._tmp = None
            except OSError:
                if not (self.path / "meta.json").exists():
                    raise
                # another process wrote the same entry (same key) in the meantime: use theirs
                self.discard()
        except BaseException:
            self.discard()
            raise
        self._unlock()
        return _open(self.path, self.memmap_threshold)

    def interrupted(self) -> None:
        """Keep the partial folder of a resumable store for the next pass (after an
        interrupt); anything else is discarded."""
        self.arrays.clear()
        if self.resumable:
            self._tmp = None
            self._unlock()
        else:
            self.discard()

    def discard(self) -> None:
        """Remove the partial folder (after a failed pass)."""
        self.arrays.clear()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None
        self._unlock()

    def _unlock(self) -> None:
        if self._lock is not None and self.path is not None:
            # removed while still held, so that a finished cache folder holds entries only;
            # a process that opened the old file finds it replaced and locks the new one
            with contextlib.suppress(OSError):
                _lock_file(self.path).unlink()
            os.close(self._lock)  # closing the descriptor releases the flock
            self._lock = None


def _lock_file(path: Path) -> Path:
    return path.with_name(f".{path.name}.lock")


def _try_lock(file: Path) -> int | None:
    """An open descriptor holding an exclusive ``flock`` on ``file``, or None when another
    process holds it. The lock dies with the process, so a killed kernel leaves none. A
    file unlinked by its holder between our open and our lock is opened again."""
    while True:
        descriptor = os.open(file, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(descriptor)
            return None
        try:
            current = os.stat(file)
        except FileNotFoundError:
            current = None
        held = os.fstat(descriptor)
        if current is not None and (current.st_ino, current.st_dev) == (held.st_ino, held.st_dev):
            return descriptor
        os.close(descriptor)


def load(
    path: Path, key: str, expected: dict[str, tuple[tuple[int, ...], Any]], memmap_threshold: int
) -> dict[str, np.ndarray] | None:
    """The cached arrays (``expected``: name -> (shape, dtype)), or None, with a warning if
    a cache entry was there but unusable."""
    if not path.exists():
        return None
    try:
        meta = json.loads((path / "meta.json").read_text())
        if meta.get("format") != FORMAT_VERSION or meta.get("fingerprint") != key:
            raise ValueError("it was made for another model, data or settings")
        arrays = _open(path, memmap_threshold, list(expected))
        for name, (shape, dtype) in expected.items():
            if arrays[name].shape != shape or arrays[name].dtype != np.dtype(dtype):
                raise ValueError(
                    f"array {name} is {arrays[name].dtype} {arrays[name].shape}, expected {np.dtype(dtype)} {shape}"
                )
            if _checksum(arrays[name]) != meta["checksums"].get(name):
                raise ValueError(f"array {name} does not match its checksum")
        return arrays
    except (OSError, EOFError, KeyError, ValueError, json.JSONDecodeError) as exc:
        warnings.warn(f"ignoring the unusable cache {path} ({exc}); recomputing", stacklevel=3)
        return None


def _open(path: Path, memmap_threshold: int, names: list[str] | None = None) -> dict[str, np.ndarray]:
    if names is None:
        names = [_name(f.name) for f in sorted(path.glob("*.npy"))]
    out = {}
    for name in names:
        file = path / _file(name)
        mmap = "r" if file.stat().st_size >= memmap_threshold else None
        out[name] = np.load(file, mmap_mode=mmap, allow_pickle=False)
    return out


def _file(name: str) -> str:
    # array names look like "profiles:layer3.1.conv2"; ':' is not welcome in every file system
    return name.replace(":", "@") + ".npy"


def _name(file: str) -> str:
    return file[: -len(".npy")].replace("@", ":")


def _checksum(array: np.ndarray) -> str:
    h = hashlib.sha256()
    flat = array.reshape(array.shape[0], -1) if array.ndim else array.reshape(1)
    for start in range(0, flat.shape[0], _CHECKSUM_ROWS):
        h.update(np.ascontiguousarray(flat[start : start + _CHECKSUM_ROWS]).view(np.uint8))
    return h.hexdigest()
