"""S3-compatible upload: SigV4 against AWS's published examples, then real uploads to moto's
server on loopback with signature checking switched on, read back with boto3."""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import asyncpg
import boto3
import pytest
from moto import settings as moto_settings
from moto.server import ThreadedMotoServer

from services.general.main import run_backup_job
from services.general.s3 import S3Error, S3Target, sign, upload_file
from shared.config import Settings

# The examples of https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html
AWS_KEY, AWS_SECRET = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
AWS_TIME = datetime(2013, 5, 24, tzinfo=UTC)
BUCKET = "tradehub-backups"


def test_sigv4_get_object_example() -> None:
    headers = sign("GET", "https://examplebucket.s3.amazonaws.com/test.txt", {"Range": "bytes=0-9"},
                   hashlib.sha256(b"").hexdigest(), AWS_KEY, AWS_SECRET, "us-east-1", AWS_TIME)
    assert headers["authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")


def test_sigv4_put_object_example() -> None:
    body = b"Welcome to Amazon S3."
    headers = sign("PUT", "https://examplebucket.s3.amazonaws.com/test%24file.text",
                   {"Date": "Fri, 24 May 2013 00:00:00 GMT", "x-amz-storage-class": "REDUCED_REDUNDANCY"},
                   hashlib.sha256(body).hexdigest(), AWS_KEY, AWS_SECRET, "us-east-1", AWS_TIME)
    assert headers["authorization"].endswith(
        "SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class, "
        "Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd")


@pytest.fixture(scope="module")
def moto_s3() -> Iterator[tuple[str, str, str]]:
    """moto on 127.0.0.1, an ephemeral port: a bucket, a user allowed s3:*, then signatures enforced."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    setup = {"endpoint_url": endpoint, "region_name": "us-east-1", "aws_access_key_id": "setup",
             "aws_secret_access_key": "setup"}
    boto3.client("s3", **setup).create_bucket(Bucket=BUCKET)
    iam = boto3.client("iam", **setup)
    iam.create_user(UserName="backup")
    iam.put_user_policy(UserName="backup", PolicyName="s3", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
    key = iam.create_access_key(UserName="backup")["AccessKey"]
    before = moto_settings.INITIAL_NO_AUTH_ACTION_COUNT
    moto_settings.INITIAL_NO_AUTH_ACTION_COUNT = 0  # from now on every request must be signed right
    try:
        yield endpoint, key["AccessKeyId"], key["SecretAccessKey"]
    finally:
        moto_settings.INITIAL_NO_AUTH_ACTION_COUNT = before
        server.stop()


def _read_back(endpoint: str, access: str, secret: str, key: str) -> bytes:
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=access,
                          aws_secret_access_key=secret)
    return bytes(client.get_object(Bucket=BUCKET, Key=key)["Body"].read())


async def test_upload_then_read_back(moto_s3: tuple[str, str, str], tmp_path: Path) -> None:
    endpoint, access, secret = moto_s3
    path = tmp_path / "tradehub-x-20240101T000000Z.dump"
    payload = bytes(range(256)) * 4096  # 1 MiB, every byte value
    path.write_bytes(payload)
    target = S3Target(endpoint, BUCKET, "us-east-1", access, secret, prefix="daily/")
    async with aiohttp.ClientSession() as session:
        key = await upload_file(session, target, path, "a name with spaces+plus.dump")
    assert key == "daily/a name with spaces+plus.dump"
    assert _read_back(endpoint, access, secret, key) == payload


async def test_wrong_secret_is_refused_and_not_shown(moto_s3: tuple[str, str, str], tmp_path: Path) -> None:
    endpoint, access, _ = moto_s3
    path = tmp_path / "x.dump"
    path.write_bytes(b"PGDMP")
    target = S3Target(endpoint, BUCKET, "us-east-1", access, "wrong-secret-value")
    async with aiohttp.ClientSession() as session:
        with pytest.raises(S3Error, match="403 SignatureDoesNotMatch") as raised:
            await upload_file(session, target, path, "x.dump")
    assert "wrong-secret-value" not in str(raised.value) and "wrong-secret-value" not in repr(target)


async def test_backup_job_uploads_dump_and_manifest(
        moto_s3: tuple[str, str, str], pool: asyncpg.Pool, make_settings: Callable[..., Settings],
        tmp_path: Path) -> None:
    endpoint, access, secret = moto_s3
    settings = make_settings(backup_dir=str(tmp_path), s3_endpoint=endpoint, s3_bucket=BUCKET,
                             s3_access_key=access, s3_secret_key=secret, s3_prefix="tradehub/")
    async with aiohttp.ClientSession() as session:
        backup, detail = await run_backup_job(settings, session, check=True)
    assert f"uploaded to {BUCKET}/tradehub/{backup.path.name}" in detail and "restore check ok" in detail
    assert _read_back(endpoint, access, secret, f"tradehub/{backup.path.name}") == backup.path.read_bytes()
    manifest = json.loads(_read_back(endpoint, access, secret, f"tradehub/{backup.manifest.name}"))
    assert manifest["schema"] == settings.db_schema
