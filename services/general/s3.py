"""Upload to S3-compatible storage (AWS S3, Backblaze B2, MinIO): one signed PUT per object.

AWS Signature Version 4 is written out here (it is short) rather than pulling in an SDK:
https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html. The body's
SHA-256 is signed, so the server refuses a dump that arrived damaged. Path-style URLs
(endpoint/bucket/key) work with every S3-compatible service. The secret key is used to
sign and never logged.
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlsplit

import aiohttp
from yarl import URL

from shared.settings import S3Settings

log = logging.getLogger(__name__)
ALGORITHM = "AWS4-HMAC-SHA256"
MAX_SINGLE_PUT = 5 * 1024**3  # S3 and B2 refuse a single PUT above 5 GB: larger needs multipart
CHUNK = 1024 * 1024
_ERROR_CODE = re.compile(r"<Code>([^<]{1,100})</Code>")


class S3Error(Exception):
    """The upload did not happen: the server refused it or could not be reached."""


@dataclass(frozen=True)
class S3Target:
    """Where dumps go; built from settings, None when no upload is configured."""

    endpoint: str
    bucket: str
    region: str
    access_key: str
    secret_key: str
    prefix: str = ""

    @classmethod
    def from_settings(cls, settings: S3Settings) -> S3Target | None:
        if not (settings.endpoint and settings.bucket):
            return None
        return cls(settings.endpoint.rstrip("/"), settings.bucket, settings.region, settings.access_key,
                   settings.secret_key, settings.prefix)

    def __repr__(self) -> str:  # never show the secret
        return f"S3Target(endpoint={self.endpoint!r}, bucket={self.bucket!r}, region={self.region!r})"

    def object_url(self, key: str) -> str:
        """Path-style, already percent-encoded (the canonical URI is signed as sent)."""
        return f"{self.endpoint}/{_encode(self.bucket)}/{_encode(key, safe='/')}"


def _encode(text: str, safe: str = "") -> str:
    """RFC 3986 encoding as SigV4 wants it: everything but unreserved characters (and `safe`)."""
    return quote(text, safe="-_.~" + safe)


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def sign(method: str, url: str, headers: dict[str, str], payload_sha256: str, access_key: str,
         secret_key: str, region: str, now: datetime, service: str = "s3") -> dict[str, str]:
    """The headers to send: `headers` plus host, x-amz-date, x-amz-content-sha256 and Authorization."""
    parts = urlsplit(url)
    amz_date = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    signed = {name.lower(): " ".join(value.split()) for name, value in headers.items()}
    signed["host"] = parts.netloc.rpartition("@")[2]
    signed["x-amz-date"] = amz_date
    signed["x-amz-content-sha256"] = payload_sha256
    names = sorted(signed)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    query = "&".join(sorted(f"{_encode(k)}={_encode(v)}" for k, v in pairs))
    canonical = "\n".join([
        method, parts.path or "/", query, "".join(f"{name}:{signed[name]}\n" for name in names),
        ";".join(names), payload_sha256,
    ])
    scope = f"{amz_date[:8]}/{region}/{service}/aws4_request"
    to_sign = "\n".join([ALGORITHM, amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = f"AWS4{secret_key}".encode()
    for part in (amz_date[:8], region, service, "aws4_request"):
        key = _hmac(key, part)
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    signed["authorization"] = (f"{ALGORITHM} Credential={access_key}/{scope}, "
                               f"SignedHeaders={';'.join(names)}, Signature={signature}")
    return signed


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


async def upload_file(session: aiohttp.ClientSession, target: S3Target, path: Path, key: str,
                      timeout_s: float = 3600.0) -> str:
    """PUT one file as `prefix + key`; returns the object key. Raises S3Error."""
    size = path.stat().st_size
    if size > MAX_SINGLE_PUT:
        raise S3Error(f"{path.name} is {size} bytes: over the 5 GB single-PUT limit "
                      "(multipart upload is not implemented)")
    full_key = target.prefix + key
    url = target.object_url(full_key)
    digest = await asyncio.to_thread(file_sha256, path)
    headers = sign("PUT", url, {"content-type": "application/octet-stream"}, digest, target.access_key,
                   target.secret_key, target.region, datetime.now(UTC))
    headers["content-length"] = str(size)
    try:
        with path.open("rb") as body:
            async with session.put(URL(url, encoded=True), data=body, headers=headers,
                                   timeout=aiohttp.ClientTimeout(total=timeout_s)) as resp:
                answer = await resp.text()
                status = resp.status
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise S3Error(f"PUT {target.bucket}/{full_key}: {type(exc).__name__}: {exc}") from exc
    if status != 200:
        code = _ERROR_CODE.search(answer)
        reason = code.group(1) if code else ""
        raise S3Error(f"PUT {target.bucket}/{full_key}: HTTP {status} {reason}".rstrip())
    log.info("uploaded", extra={"bucket": target.bucket, "key": full_key, "bytes": size})
    return full_key
