package mxgrid_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"mxgrid/clients/go/internal/testcluster"
	"mxgrid/clients/go/mxgrid"
)

// The tests run against a real worker: $MXGRID_WORKER when set (tools/test_go), else a
// compiler and worker TestMain starts from the built binaries (testcluster). Without either
// the tests that need a worker skip, saying why.
var (
	workerAddr string
	skipReason string
)

func TestMain(m *testing.M) {
	workerAddr = os.Getenv("MXGRID_WORKER")
	var cluster *testcluster.Cluster
	var dir string // the servers' logs
	if workerAddr == "" {
		var err error
		dir, err = os.MkdirTemp("", "mxgrid-go-test-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		cluster, err = testcluster.Start(dir)
		switch {
		case errors.Is(err, testcluster.ErrNoBinaries):
			skipReason = "no worker: set MXGRID_WORKER or MXGRID_BIN_DIR (" + err.Error() + ")"
		case err != nil:
			fmt.Fprintln(os.Stderr, "starting the servers:", err)
			os.Exit(1)
		default:
			workerAddr = cluster.Worker
		}
	}
	code := m.Run()
	if cluster != nil {
		if err := cluster.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping the servers:", err)
			code = 1
		}
	}
	if dir != "" && code == 0 {
		os.RemoveAll(dir) // kept for a failed run
	}
	os.Exit(code)
}

// testContext is a context that ends with the test (or after a minute).
func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// dial connects to the test worker with opts (nil: defaults); skips without a worker.
func dial(t *testing.T, opts *mxgrid.Options) *mxgrid.Client {
	t.Helper()
	if workerAddr == "" {
		t.Skip(skipReason)
	}
	c, err := mxgrid.Dial(testContext(t), workerAddr, opts)
	if err != nil {
		t.Fatalf("Dial(%s): %v", workerAddr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// openSession opens a session closed at the end of the test.
func openSession(t *testing.T) (context.Context, *mxgrid.Session) {
	t.Helper()
	ctx := testContext(t)
	s, err := dial(t, nil).OpenSession(ctx, &mxgrid.SessionOptions{ClientName: t.Name()})
	if err != nil {
		t.Fatalf("OpenSession: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return ctx, s
}

func mustTensor[T mxgrid.Element](t *testing.T, values []T, shape ...int64) *mxgrid.Tensor {
	t.Helper()
	x, err := mxgrid.NewTensor(values, shape...)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func mustUpload(t *testing.T, ctx context.Context, s *mxgrid.Session, x *mxgrid.Tensor) mxgrid.Array {
	t.Helper()
	a, err := s.Upload(ctx, x, mxgrid.CPU(0))
	if err != nil {
		t.Fatalf("Upload: %v", err)
	}
	return a
}

// download returns a's values as []T.
func download[T mxgrid.Element](t *testing.T, ctx context.Context, s *mxgrid.Session, a mxgrid.Array) []T {
	t.Helper()
	x, err := s.Download(ctx, a)
	if err != nil {
		t.Fatalf("Download(%v): %v", a, err)
	}
	v, err := mxgrid.Values[T](x)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func equal[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func close32(a, b []float32, tol float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		d := float64(a[i] - b[i])
		if d > tol || d < -tol {
			return false
		}
	}
	return true
}
