package testcluster_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"mxgrid/clients/go/internal/testcluster"
	"mxgrid/clients/go/mxgrid"
)

func TestStartServesAndStopIsClean(t *testing.T) {
	logs := t.TempDir()
	c, err := testcluster.Start(logs)
	if errors.Is(err, testcluster.ErrNoBinaries) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	if !strings.HasPrefix(c.Worker, "127.0.0.1:") || !strings.HasPrefix(c.Compiler, "127.0.0.1:") ||
		c.Worker == c.Compiler {
		t.Fatalf("addresses: compiler %q, worker %q", c.Compiler, c.Worker)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client, err := mxgrid.Dial(ctx, c.Worker, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if _, err := client.ListDevices(ctx); err != nil {
		t.Fatalf("the worker does not answer: %v", err)
	}
	if err := c.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if _, err := client.ListDevices(ctx); mxgrid.Code(err) == codes.OK {
		t.Error("the worker still answers after Stop")
	}
	if err := c.Stop(); err != nil {
		t.Errorf("a second Stop: %v", err)
	}
	for _, name := range []string{"compiler.log", "worker.log"} {
		if b, err := os.ReadFile(filepath.Join(logs, name)); err != nil || len(b) == 0 {
			t.Errorf("%s: %d bytes, %v", name, len(b), err)
		}
	}
}

func TestFindBinaryNamesWhereItLooked(t *testing.T) {
	t.Setenv("MXGRID_BIN_DIR", "/nonexistent-bin-dir")
	t.Setenv("MXGRID_BAZEL_BIN", "/nonexistent-bazel-bin")
	_, err := testcluster.FindBinary("no-such-service")
	if !errors.Is(err, testcluster.ErrNoBinaries) ||
		!strings.Contains(err.Error(), "/nonexistent-bin-dir/mxgrid-no-such-service") ||
		!strings.Contains(err.Error(), "/nonexistent-bazel-bin/services/no-such-service/mxgrid-no-such-service") {
		t.Fatalf("got %v", err)
	}
}
