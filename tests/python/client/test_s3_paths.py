"""mx.nd.save / mx.nd.load with s3://, hdfs:// and file:// names. Without boto3 (an optional
dependency) an s3:// name is a clear MXNetError; with boto3, a round trip through a small
S3-compatible HTTP server started by the test (path-style PUT/GET of whole objects), whose
stored object is byte-identical to real MXNet's file."""
import http.server
import importlib.util
import sys
import threading

import numpy as np
import pytest

_HAVE_BOTO3 = importlib.util.find_spec("boto3") is not None
needs_boto3 = pytest.mark.skipif(not _HAVE_BOTO3, reason="boto3 is not installed")

_S3_ENV = ("S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY", "S3_SESSION_TOKEN", "S3_REGION",
           "S3_ENDPOINT", "S3_IS_AWS", "S3_VERIFY_SSL", "AWS_ACCESS_KEY_ID",
           "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION",
           "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE")


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """No S3 configuration from the environment or ~/.aws, no instance metadata lookups."""
    for name in _S3_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return monkeypatch


def _arrays(m):
    return {"w": m.nd.array(np.arange(6, dtype=np.float32).reshape(2, 3)),
            "b": m.nd.array(np.array([1, -2], dtype=np.int32), dtype=np.int32)}


def test_s3_without_boto3_says_what_to_install(mxw, clean_env):
    clean_env.setitem(sys.modules, "boto3", None)  # `import boto3` fails, as when absent
    with pytest.raises(mxw.MXNetError, match=r"s3://bucket/w\.params: .*needs boto3.*"
                                             r"pip install boto3.*AWS_ACCESS_KEY_ID"):
        mxw.nd.save("s3://bucket/w.params", _arrays(mxw))
    with pytest.raises(mxw.MXNetError, match="pip install boto3"):
        mxw.nd.load("s3://bucket/w.params")


def test_other_file_systems_are_refused(mxw):
    with pytest.raises(mxw.MXNetError, match="does not read or write HDFS.*hdfs dfs"):
        mxw.nd.load("hdfs://namenode:9000/models/w.params")
    with pytest.raises(mxw.MXNetError, match="HDFS"):
        mxw.nd.save("viewfs://cluster/w.params", [mxw.nd.ones((2,))])
    with pytest.raises(mxw.MXNetError, match=r"unsupported file system 'ftp://'"):
        mxw.nd.load("ftp://host/w.params")
    with pytest.raises(mxw.MXNetError, match="s3://bucket/key"):
        mxw.nd.load("s3://bucket-only")


def test_file_uri_round_trip_readable_by_mxnet(mxw, real_mx, tmp_path):
    path = tmp_path / "w.params"
    mxw.nd.save("file://" + str(path), _arrays(mxw))
    back = mxw.nd.load("file://" + str(path))
    np.testing.assert_array_equal(back["w"].asnumpy(), _arrays(mxw)["w"].asnumpy())
    theirs = real_mx.nd.load(str(path))
    np.testing.assert_array_equal(theirs["b"].asnumpy(), [1, -2])


@needs_boto3
def test_s3_without_credentials_says_what_to_set(mxw, clean_env):
    with pytest.raises(mxw.MXNetError, match="no S3 credentials.*AWS_SECRET_ACCESS_KEY"):
        mxw.nd.load("s3://bucket/w.params")


class _ObjectStore(http.server.BaseHTTPRequestHandler):
    """Path-style S3 subset: PUT /bucket/key stores the body, GET/HEAD return it."""
    objects = {}

    def log_message(self, *args):
        pass

    def do_PUT(self):
        # Over plain http botocore sends the body as is (its checksum goes in a header).
        self.objects[self.path.split("?")[0]] = self.rfile.read(
            int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("ETag", '"0"')
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _get(self, with_body):
        body = self.objects.get(self.path.split("?")[0])
        if body is None:
            err = (b"<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code>"
                   b"<Message>The specified key does not exist.</Message></Error>")
            self.send_response(404)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(err)))
            self.end_headers()
            if with_body:
                self.wfile.write(err)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("ETag", '"0"')
        self.end_headers()
        if with_body:
            self.wfile.write(body)

    def do_GET(self):
        self._get(True)

    def do_HEAD(self):
        self._get(False)


@pytest.fixture
def s3_endpoint(clean_env):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _ObjectStore)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    clean_env.setenv("S3_ENDPOINT", "http://127.0.0.1:%d" % server.server_address[1])
    clean_env.setenv("S3_IS_AWS", "0")
    clean_env.setenv("AWS_ACCESS_KEY_ID", "test-key")
    clean_env.setenv("AWS_SECRET_ACCESS_KEY", "test-secret")
    _ObjectStore.objects = {}
    yield _ObjectStore.objects
    server.shutdown()
    thread.join()
    server.server_close()


@needs_boto3
def test_s3_round_trip_through_a_local_endpoint(mxw, real_mx, s3_endpoint, tmp_path):
    mxw.nd.save("s3://models/run1/w.params", _arrays(mxw))
    assert list(s3_endpoint) == ["/models/run1/w.params"]
    real_mx.nd.save(str(tmp_path / "ref.params"),
                    {"w": real_mx.nd.array(np.arange(6, dtype=np.float32).reshape(2, 3)),
                     "b": real_mx.nd.array(np.array([1, -2], dtype=np.int32), dtype=np.int32)})
    assert s3_endpoint["/models/run1/w.params"] == (tmp_path / "ref.params").read_bytes()
    back = mxw.nd.load("s3://models/run1/w.params")
    assert sorted(back) == ["b", "w"]
    np.testing.assert_array_equal(back["w"].asnumpy(), np.arange(6).reshape(2, 3))
    assert back["b"].dtype == np.int32
    with pytest.raises(mxw.MXNetError, match="s3://models/missing.params: S3 read failed"):
        mxw.nd.load("s3://models/missing.params")
