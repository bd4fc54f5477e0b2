"""A dataset's identity: which data a run actually read, for its run id.

`fingerprint(name, root)` is

- None for generated datasets (MNIST-1D, synthetic_*): their generator parameters are
  already in the config, so the config identifies the data;
- None for file datasets whose every file is the published one: a file counts as
  published when its md5 (of the file as stored) or the sha256 of its uncompressed
  content is one of the dataset's `standard` digests. So runs on the standard data
  keep the ids they had before fingerprints existed, wherever the files live;
- otherwise the sha256 of the lines "<role> <sha256 of the content>" over the files
  in role order, a role being the file's standard name without ".gz". So the same
  data at another path, or gzipped versus plain, has the same fingerprint, and data
  differing in any byte has another.

Which digests are known: the md5 of the published MNIST and Fashion-MNIST .gz files
and of the extracted CIFAR-10/100 batches (as torchvision lists them), and the sha256
of the uncompressed Fashion-MNIST content (computed from Debian's package). The
content hashes of gunzipped MNIST files are not published, so plain MNIST files get
a content fingerprint rather than None.

Hashing reads every file once (about 0.5 s for Fashion-MNIST). The digests are cached
in `.lth-digests.json` beside the files when that folder is writable, else under
`$XDG_CACHE_HOME/lth/digests/` (default `~/.cache`), keyed by file name, size and
mtime. A file modified in the last few seconds is not cached, since a second change
within one mtime tick would not change its mtime.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import os
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

from pipeline.data.registry import dataset_spec
from pipeline.errors import DataError
from pipeline.io import load_json, save_json

CACHE_NAME = ".lth-digests.json"
RACY_SECONDS = 5  # files changed this recently are hashed but not cached
_CHUNK = 1 << 22


@dataclass(frozen=True)
class Digests:
    md5: str  # of the file as stored
    sha256: str  # of its content, uncompressed

    @property
    def names(self) -> frozenset[str]:
        return frozenset({f"md5:{self.md5}", f"sha256:{self.sha256}"})


def fingerprint(name: str, root: str | None) -> str | None:
    """The content hash of the data `name` reads from `root`, or None for the standard
    files and for generated data (see the module docstring)."""
    spec = dataset_spec(name)
    files = spec.locate(root)
    if files is None:
        return None
    digests = file_digests(list(files.values()))
    found = {role: digests[path] for role, path in files.items()}
    if all(found[role].names & spec.standard.get(role, frozenset()) for role in found):
        return None
    lines = "".join(f"{role} {found[role].sha256}\n" for role in sorted(found))
    return hashlib.sha256(lines.encode()).hexdigest()


def _hash(path: Path) -> Digests:
    md5, sha = hashlib.md5(), hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            md5.update(chunk)
            if path.suffix != ".gz":
                sha.update(chunk)
    if path.suffix == ".gz":
        try:
            with gzip.open(path, "rb") as handle:
                while chunk := handle.read(_CHUNK):
                    sha.update(chunk)
        except (EOFError, OSError, zlib.error) as error:
            raise DataError(f"{path} is not a readable gzip file ({error})") from None
    return Digests(md5.hexdigest(), sha.hexdigest())


def cache_path(folder: Path) -> Path:
    """Beside the data when the folder is writable, else in the user's cache."""
    if os.access(folder, os.W_OK):
        return folder / CACHE_NAME
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    key = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:24]
    return base / "lth" / "digests" / f"{key}.json"


def _read_cache(path: Path) -> dict:
    try:
        cache = load_json(path)
    except (OSError, ValueError):
        return {}
    return cache if isinstance(cache, dict) else {}


def file_digests(paths: list[Path]) -> dict[Path, Digests]:
    """Digests of each file, from the cache where its size and mtime still match."""
    out = {}
    by_folder: dict[Path, list[Path]] = {}
    for path in paths:
        by_folder.setdefault(path.parent, []).append(path)
    for folder, members in by_folder.items():
        where = cache_path(folder)
        cache = _read_cache(where)
        changed = False
        for path in members:
            stat = path.stat()
            entry = cache.get(path.name)
            if isinstance(entry, dict) and (entry.get("size"), entry.get("mtime_ns")) == (
                stat.st_size,
                stat.st_mtime_ns,
            ):
                out[path] = Digests(str(entry.get("md5")), str(entry.get("sha256")))
                continue
            out[path] = _hash(path)
            if time.time_ns() - stat.st_mtime_ns > RACY_SECONDS * 10**9:
                cache[path.name] = {
                    "size": stat.st_size,
                    "mtime_ns": stat.st_mtime_ns,
                    "md5": out[path].md5,
                    "sha256": out[path].sha256,
                }
                changed = True
        if changed:  # an unwritable cache only costs hashing again next time
            with contextlib.suppress(OSError):
                save_json(where, cache, durable=False)
    return out
