package mxgrid_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"mxgrid/clients/go/mxgrid"
)

func TestSessionKeepAliveOutlivesLease(t *testing.T) {
	t.Parallel()
	c := dial(t, nil)
	ctx := testContext(t)
	kept, err := c.OpenSession(ctx, &mxgrid.SessionOptions{Lease: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer kept.Close(ctx)
	idle, err := c.OpenSession(ctx, &mxgrid.SessionOptions{Lease: time.Second, NoKeepAlive: true})
	if err != nil {
		t.Fatal(err)
	}
	if kept.Lease() != time.Second || kept.ID() == "" || kept.ID() == idle.ID() {
		t.Fatalf("sessions %q (lease %v) and %q", kept.ID(), kept.Lease(), idle.ID())
	}
	time.Sleep(2 * time.Second) // twice the lease, no calls but the keepalive's

	if _, err := kept.Zeros(ctx, mxgrid.Float32, []int64{2}, mxgrid.CPU(0)); err != nil {
		t.Errorf("the kept-alive session expired: %v", err)
	}
	_, err = idle.Zeros(ctx, mxgrid.Float32, []int64{2}, mxgrid.CPU(0))
	if mxgrid.Code(err) != codes.NotFound {
		t.Errorf("a session idle past its lease: got %v, want NotFound", err)
	}
}

func TestSessionCloseFreesEverything(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	s, err := dial(t, nil).OpenSession(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := s.Zeros(ctx, mxgrid.Float32, []int64{3}, mxgrid.CPU(0))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Download(ctx, a); mxgrid.Code(err) != codes.NotFound {
		t.Errorf("Download after Close: got %v, want NotFound", err)
	}
	if err := s.Close(ctx); mxgrid.Code(err) != codes.NotFound {
		t.Errorf("second Close: got %v, want NotFound", err)
	}
}

func TestSessionsCannotReachEachOthersArrays(t *testing.T) {
	t.Parallel()
	ctx, mine := openSession(t)
	_, other := openSession(t)
	a := mustUpload(t, ctx, mine, mustTensor(t, []float32{1, 2}))
	if _, err := other.Download(ctx, a); mxgrid.Code(err) != codes.NotFound {
		t.Errorf("another session's handle: got %v, want NotFound", err)
	}
}

func TestErrorsCarryTheStatus(t *testing.T) {
	t.Parallel()
	ctx, s := openSession(t)
	a := mustUpload(t, ctx, s, mustTensor(t, []float32{1, 2, 3}))

	_, err := s.Invoke(ctx, mxgrid.Call{Op: "NoSuchOperator", Inputs: []mxgrid.Array{a}})
	var e *mxgrid.Error
	if !errors.As(err, &e) || e.Op != "Invoke" || e.Code != codes.NotFound ||
		!strings.Contains(e.Message, "NoSuchOperator") {
		t.Fatalf("unknown operator: got %#v", err)
	}
	if status.Code(err) != codes.NotFound { // through GRPCStatus
		t.Errorf("status.Code: %v", status.Code(err))
	}
	if !strings.HasPrefix(err.Error(), "mxgrid: Invoke: NotFound: ") {
		t.Errorf("Error(): %q", err.Error())
	}

	_, err = s.Invoke(ctx, mxgrid.Call{Op: "Activation", Inputs: []mxgrid.Array{a},
		Attrs: map[string]string{"act_type": "no-such-activation"}})
	if mxgrid.Code(err) != codes.InvalidArgument {
		t.Errorf("bad attribute: got %v, want InvalidArgument", err)
	}
	_, err = s.Download(ctx, mxgrid.Array{Handle: 12345, DType: mxgrid.Float32, Shape: []int64{1}})
	if mxgrid.Code(err) != codes.NotFound {
		t.Errorf("unknown handle: got %v, want NotFound", err)
	}
}

func TestCallTimeoutNamesTheWorker(t *testing.T) {
	t.Parallel()
	c := dial(t, &mxgrid.Options{CallTimeout: time.Nanosecond})
	_, err := c.OpenSession(context.Background(), nil)
	if mxgrid.Code(err) != codes.DeadlineExceeded || !strings.Contains(err.Error(), "CallTimeout") ||
		!strings.Contains(err.Error(), c.Address()) {
		t.Fatalf("got %v, want DeadlineExceeded naming the worker and CallTimeout", err)
	}
	// The caller's own deadline is reported as the caller's.
	ctx, cancel := context.WithTimeout(context.Background(), time.Nanosecond)
	defer cancel()
	<-ctx.Done()
	_, err = c.OpenSession(ctx, nil)
	if mxgrid.Code(err) != codes.DeadlineExceeded || strings.Contains(err.Error(), "CallTimeout") {
		t.Fatalf("caller's deadline: got %v", err)
	}
}

func TestUnreachableWorkerIsUnavailable(t *testing.T) {
	t.Parallel()
	// Port 1 on loopback: nothing listens there.
	c, err := mxgrid.Dial(context.Background(), "127.0.0.1:1", &mxgrid.Options{CallTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.OpenSession(context.Background(), nil)
	if mxgrid.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Fatalf("got %v, want Unavailable naming the address", err)
	}
}

func TestListDevicesHasTheCPU(t *testing.T) {
	t.Parallel()
	devices, err := dial(t, nil).ListDevices(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(devices) == 0 || devices[0].Context != mxgrid.CPU(0) || !devices[0].Healthy ||
		devices[0].TotalMemoryBytes <= 0 {
		t.Fatalf("devices: %+v", devices)
	}
}
