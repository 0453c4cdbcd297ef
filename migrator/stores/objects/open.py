"""A plan's object location -> the store that reaches it: `s3://bucket[/prefix]` is S3 (with the side's
`s3` settings), `file:///path` or a plain path a local folder, relative to the plan file's folder."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from migrator.errors import UsageError
from migrator.plan.model import S3Settings
from migrator.stores.objects.base import WritableObjectStore
from migrator.stores.objects.local import LocalFolderStore


def open_store(url: str, s3: S3Settings | None, base_dir: Path) -> WritableObjectStore:
    if url.startswith("s3://"):
        from migrator.stores.objects.s3 import S3Store  # boto3 is imported only for a plan that uses S3

        if not url[5:].split("/", 1)[0]:
            raise UsageError(f"{url}: an S3 location names a bucket: s3://BUCKET[/PREFIX]")
        return S3Store(url, s3)
    if url.startswith("file://"):
        parts = urlsplit(url)
        if parts.netloc not in ("", "localhost"):
            raise UsageError(f"{url}: a file URL names a local path: file:///PATH")
        return LocalFolderStore(Path(unquote(parts.path)))
    if "://" in url:
        raise UsageError(f"{url}: objects live at s3://BUCKET[/PREFIX], file:///PATH or a plain path")
    path = Path(url).expanduser()
    return LocalFolderStore(path if path.is_absolute() else base_dir / path)
