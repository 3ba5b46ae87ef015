package mxgrid_test

import (
	"errors"
	"testing"

	"google.golang.org/grpc/codes"

	"mxgrid/clients/go/mxgrid"
)

func TestUploadDownloadKeepsValuesOfEachDType(t *testing.T) {
	t.Parallel()
	ctx, s := openSession(t)
	check := func(x *mxgrid.Tensor) {
		t.Helper()
		a := mustUpload(t, ctx, s, x)
		if a.Handle == 0 || a.DType != x.DType || !equal(a.Shape, x.Shape) || a.Context != mxgrid.CPU(0) {
			t.Fatalf("uploaded %v %v as %v", x.DType, x.Shape, a)
		}
		got, err := s.Download(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		if got.DType != x.DType || !equal(got.Shape, x.Shape) || string(got.Data) != string(x.Data) {
			t.Fatalf("%v %v came back as %v %v", x.DType, x.Shape, got.DType, got.Shape)
		}
	}
	check(mustTensor(t, []float32{1.5, -2, 3e-7, 4e30, 5, 6}, 2, 3))
	check(mustTensor(t, []float64{1.25, -2e300}, 2))
	check(mustTensor(t, []int32{-1, 2, 1 << 30}, 3, 1))
	check(mustTensor(t, []int64{-1 << 62, 7}))
	check(mustTensor(t, []uint8{0, 255, 7, 8}, 2, 2))
	check(mustTensor(t, []float32{42}, 1))
}

func TestLargeArraysStreamBothWays(t *testing.T) {
	t.Parallel()
	ctx, s := openSession(t)
	n := 5 * (3*mxgrid.StreamChunkBytes/4/5 + 1000) // 3 chunks of float32 and a part
	values := make([]float32, n)
	for i := range values {
		values[i] = float32(i%1000) - 0.5
	}
	a := mustUpload(t, ctx, s, mustTensor(t, values, int64(n)/5, 5))
	if got := download[float32](t, ctx, s, a); !equal(got, values) {
		t.Fatal("a streamed array came back changed")
	}
	// Overwrite it in place (a[:] = x) by stream too.
	for i := range values {
		values[i] = -values[i]
	}
	if err := s.UploadInto(ctx, a, mustTensor(t, values, int64(n)/5, 5)); err != nil {
		t.Fatal(err)
	}
	if got := download[float32](t, ctx, s, a); !equal(got, values) {
		t.Fatal("UploadInto by stream did not overwrite the array")
	}
}

func TestCreateFillFree(t *testing.T) {
	t.Parallel()
	ctx, s := openSession(t)
	a, err := s.Full(ctx, mxgrid.Int32, []int64{2, 2}, mxgrid.CPU(0), 7)
	if err != nil {
		t.Fatal(err)
	}
	if got := download[int32](t, ctx, s, a); !equal(got, []int32{7, 7, 7, 7}) {
		t.Fatalf("Full: %v", got)
	}
	if err := s.Fill(ctx, a, -3); err != nil {
		t.Fatal(err)
	}
	if got := download[int32](t, ctx, s, a); !equal(got, []int32{-3, -3, -3, -3}) {
		t.Fatalf("Fill: %v", got)
	}
	if err := s.Fill(ctx, a, 1e12); mxgrid.Code(err) != codes.InvalidArgument {
		t.Errorf("a value int32 cannot hold: got %v, want InvalidArgument", err)
	}
	e, err := s.Empty(ctx, mxgrid.Float64, []int64{4}, mxgrid.CPU(0))
	if err != nil || e.DType != mxgrid.Float64 || e.Bytes() != 32 {
		t.Fatalf("Empty: %v %v", e, err)
	}
	if err := s.Free(ctx, a, e); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Download(ctx, a); mxgrid.Code(err) != codes.NotFound {
		t.Errorf("Download of a freed array: got %v, want NotFound", err)
	}
	if _, err := s.Empty(ctx, mxgrid.Float32, []int64{2}, mxgrid.GPU(63)); mxgrid.Code(err) != codes.FailedPrecondition {
		t.Errorf("a device the worker lacks: got %v, want FailedPrecondition", err)
	}
}

func TestMalformedTensorsFailBeforeSending(t *testing.T) {
	t.Parallel()
	ctx, s := openSession(t)
	bad := []*mxgrid.Tensor{
		nil,
		{DType: mxgrid.Float32, Shape: []int64{2, 2}, Data: make([]byte, 15)},
		{DType: 0, Shape: []int64{1}, Data: make([]byte, 4)},
		{DType: mxgrid.Int8, Shape: []int64{-1}, Data: nil},
	}
	for _, x := range bad {
		_, err := s.Upload(ctx, x, mxgrid.CPU(0))
		var e *mxgrid.Error
		if mxgrid.Code(err) != codes.InvalidArgument || !errors.As(err, &e) || e.Op != "Upload" {
			t.Errorf("Upload(%+v): got %v, want a client-side InvalidArgument", x, err)
		}
	}
}
