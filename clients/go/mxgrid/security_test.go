package mxgrid_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"google.golang.org/grpc/codes"

	"mxgrid/clients/go/internal/testcluster"
	"mxgrid/clients/go/mxgrid"
)

// secureCluster starts a compiler and worker with mutual TLS and a token (the worker's own
// channel to the compiler included), with certificates from make_test_certs; the folder
// holding them.
func secureCluster(t *testing.T) (*testcluster.Cluster, string) {
	t.Helper()
	var maker string
	for _, dir := range []string{os.Getenv("MXGRID_BIN_DIR"), os.Getenv("MXGRID_BAZEL_BIN")} {
		for _, p := range []string{filepath.Join(dir, "make_test_certs"),
			filepath.Join(dir, "services", "common", "make_test_certs")} {
			if st, err := os.Stat(p); dir != "" && err == nil && st.Mode().IsRegular() {
				maker = p
			}
		}
	}
	if maker == "" {
		t.Skip("make_test_certs not found (bazel build //services/common:make_test_certs; " +
			"set MXGRID_BAZEL_BIN)")
	}
	dir := t.TempDir()
	if out, err := exec.Command(maker, dir).CombinedOutput(); err != nil {
		t.Fatalf("make_test_certs: %v: %s", err, out)
	}
	if err := os.WriteFile(filepath.Join(dir, "tokens"), []byte("go-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := testcluster.StartWith(t.TempDir(),
		"--tls_cert="+filepath.Join(dir, "server.pem"), "--tls_key="+filepath.Join(dir, "server.key"),
		"--tls_ca="+filepath.Join(dir, "ca.pem"), "--auth_token_file="+filepath.Join(dir, "tokens"))
	if err != nil {
		t.Fatalf("starting a TLS cluster: %v", err)
	}
	t.Cleanup(func() { c.Stop() })
	return c, dir
}

func TestMutualTLSAndToken(t *testing.T) {
	c, dir := secureCluster(t)
	ctx := testContext(t)
	creds, err := mxgrid.TLSCredentials(filepath.Join(dir, "ca.pem"),
		filepath.Join(dir, "client.pem"), filepath.Join(dir, "client.key"), "")
	if err != nil {
		t.Fatal(err)
	}
	open := func(opts *mxgrid.Options) error {
		client, err := mxgrid.Dial(ctx, c.Worker, opts)
		if err != nil {
			return err
		}
		defer client.Close()
		s, err := client.OpenSession(ctx, nil)
		if err != nil {
			return err
		}
		return s.Close(context.Background())
	}
	if err := open(&mxgrid.Options{TransportCredentials: creds,
		TokenFile: filepath.Join(dir, "tokens")}); err != nil {
		t.Fatalf("with TLS and the token: %v", err)
	}
	if err := open(&mxgrid.Options{TransportCredentials: creds, Token: "wrong"}); mxgrid.Code(err) != codes.Unauthenticated {
		t.Errorf("wrong token: got %v, want Unauthenticated", err)
	}
	if err := open(&mxgrid.Options{TransportCredentials: creds}); mxgrid.Code(err) != codes.Unauthenticated {
		t.Errorf("no token: got %v, want Unauthenticated", err)
	}
	if err := open(&mxgrid.Options{Token: "go-token"}); mxgrid.Code(err) != codes.InvalidArgument {
		t.Errorf("token without TLS: got %v, want InvalidArgument", err)
	}
	if err := open(nil); mxgrid.Code(err) != codes.Unavailable {
		t.Errorf("plaintext against TLS: got %v, want Unavailable", err)
	}
}
