"""Whole-file reads and writes for the file names mx.nd.save / mx.nd.load take: local paths,
``file://`` URIs and ``s3://bucket/key`` objects, as MXNet's dmlc streams take them.

S3 goes through boto3 when it is installed (it is optional: ``pip install boto3``), configured
from MXNet's (dmlc-core's) environment variables, each falling back to boto3's own lookup
(~/.aws files, instance roles) when unset:

  S3_ACCESS_KEY_ID / AWS_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY / AWS_SECRET_ACCESS_KEY,
  S3_SESSION_TOKEN / AWS_SESSION_TOKEN  credentials;
  S3_REGION / AWS_REGION                region (MXNet's default: us-east-1);
  S3_ENDPOINT / AWS_ENDPOINT_URL        an S3-compatible endpoint (https:// unless given);
  S3_IS_AWS=0                           path-style requests (http://endpoint/bucket/key);
  S3_VERIFY_SSL=0                       no certificate check.

Other schemes (hdfs://, viewfs://, http://, ...) raise MXNetError: mxgrid does not read them.

Thread-safety: the functions keep no state; a boto3 client is made per call.
"""
import os

from .base import MXNetError

__all__ = ["read_bytes", "write_bytes"]

_INSTALL_HINT = ("install boto3 (pip install boto3) and set AWS_ACCESS_KEY_ID and "
                 "AWS_SECRET_ACCESS_KEY (plus S3_ENDPOINT for a non-AWS S3 service, S3_REGION "
                 "for a region other than us-east-1)")


def _split(fname):
    """(scheme, rest): ('', path) for a local path, ('s3', 'bucket/key') for s3://..."""
    fname = os.fspath(fname)
    if "://" not in fname:
        return "", fname
    scheme, rest = fname.split("://", 1)
    return scheme.lower(), rest


def _env(*names):
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    return None


def _s3_client(uri):
    try:
        import boto3
        from botocore.config import Config
    except ImportError:
        raise MXNetError("%s: reading and writing s3:// paths needs boto3, which is not "
                         "installed: %s" % (uri, _INSTALL_HINT)) from None
    endpoint = _env("S3_ENDPOINT", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
    if endpoint and "://" not in endpoint:
        endpoint = "https://" + endpoint
    session = boto3.session.Session(
        aws_access_key_id=_env("S3_ACCESS_KEY_ID", "AWS_ACCESS_KEY_ID"),
        aws_secret_access_key=_env("S3_SECRET_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY"),
        aws_session_token=_env("S3_SESSION_TOKEN", "AWS_SESSION_TOKEN"),
        region_name=_env("S3_REGION", "AWS_REGION") or "us-east-1")
    if session.get_credentials() is None:
        raise MXNetError("%s: no S3 credentials are configured: %s" % (uri, _INSTALL_HINT))
    style = "path" if os.environ.get("S3_IS_AWS", "1") != "1" else "auto"
    return session.client("s3", endpoint_url=endpoint,
                          verify=os.environ.get("S3_VERIFY_SSL", "1") == "1",
                          config=Config(s3={"addressing_style": style}))


def _s3_location(uri, rest):
    bucket, _, key = rest.partition("/")
    key = key.lstrip("/")
    if not bucket or not key:
        raise MXNetError("%s: an S3 path is s3://bucket/key" % uri)
    return bucket, key


def _unsupported(uri, scheme):
    if scheme in ("hdfs", "viewfs"):
        return MXNetError("%s: mxgrid does not read or write HDFS; copy the file to a local "
                          "path first (hdfs dfs -get / -put)" % uri)
    return MXNetError("%s: unsupported file system '%s://' (mxgrid reads and writes local "
                      "paths, file:// and s3://)" % (uri, scheme))


def read_bytes(fname):
    """The whole content of ``fname``; MXNetError for an S3 failure or an unsupported
    scheme, OSError for a local file that cannot be read."""
    scheme, rest = _split(fname)
    if scheme in ("", "file"):
        with open(rest, "rb") as f:
            return f.read()
    if scheme != "s3":
        raise _unsupported(fname, scheme)
    bucket, key = _s3_location(fname, rest)
    client = _s3_client(fname)
    try:
        return client.get_object(Bucket=bucket, Key=key)["Body"].read()
    except Exception as e:  # botocore's ClientError / BotoCoreError and transport errors
        raise MXNetError("%s: S3 read failed: %s" % (fname, e)) from None


def write_bytes(fname, data):
    """Writes ``data`` (bytes) as the whole content of ``fname``; errors as read_bytes."""
    scheme, rest = _split(fname)
    if scheme in ("", "file"):
        with open(rest, "wb") as f:
            f.write(data)
        return
    if scheme != "s3":
        raise _unsupported(fname, scheme)
    bucket, key = _s3_location(fname, rest)
    client = _s3_client(fname)
    try:
        client.put_object(Bucket=bucket, Key=key, Body=data)
    except Exception as e:
        raise MXNetError("%s: S3 write failed: %s" % (fname, e)) from None
