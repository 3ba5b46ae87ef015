package mxgrid_test

import (
	"testing"

	"google.golang.org/grpc/codes"

	"mxgrid/clients/go/mxgrid"
)

func TestInvokeComputesTutorialArithmetic(t *testing.T) {
	t.Parallel()
	ctx, s := openSession(t)
	// a = ones((2, 3)) * 2; b = ones((2, 3)) * 4; c = a + b; d = a * b (the tutorial's).
	a, err := s.Full(ctx, mxgrid.Float32, []int64{2, 3}, mxgrid.CPU(0), 2)
	if err != nil {
		t.Fatal(err)
	}
	b := mustUpload(t, ctx, s, mustTensor(t, []float32{4, 4, 4, 4, 4, 4}, 2, 3))
	c, err := s.Invoke(ctx, mxgrid.Call{Op: "elemwise_add", Inputs: []mxgrid.Array{a, b}})
	if err != nil {
		t.Fatal(err)
	}
	if len(c) != 1 || !equal(c[0].Shape, []int64{2, 3}) || c[0].DType != mxgrid.Float32 {
		t.Fatalf("elemwise_add outputs: %v", c)
	}
	if got := download[float32](t, ctx, s, c[0]); !equal(got, []float32{6, 6, 6, 6, 6, 6}) {
		t.Errorf("a + b = %v", got)
	}
	// d = a * b written into an existing array (out=).
	d, err := s.Zeros(ctx, mxgrid.Float32, []int64{2, 3}, mxgrid.CPU(0))
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.Invoke(ctx, mxgrid.Call{Op: "elemwise_mul", Inputs: []mxgrid.Array{a, b},
		Outputs: []mxgrid.Array{d}})
	if err != nil || len(out) != 1 || out[0].Handle != d.Handle {
		t.Fatalf("elemwise_mul out=d: %v %v", out, err)
	}
	if got := download[float32](t, ctx, s, d); !equal(got, []float32{8, 8, 8, 8, 8, 8}) {
		t.Errorf("a * b = %v", got)
	}
}

func TestInvokeFullyConnectedWithAttributes(t *testing.T) {
	t.Parallel()
	ctx, s := openSession(t)
	x := mustUpload(t, ctx, s, mustTensor(t, []float32{1, 2, 3, 4, 5, 6}, 2, 3))
	w := mustUpload(t, ctx, s, mustTensor(t, []float32{1, 0, -1, 0.5, 0.5, 0.5}, 2, 3))
	bias := mustUpload(t, ctx, s, mustTensor(t, []float32{10, 20}, 2))
	y, err := s.Invoke(ctx, mxgrid.Call{Op: "FullyConnected", Inputs: []mxgrid.Array{x, w, bias},
		Attrs: map[string]string{"num_hidden": "2"}})
	if err != nil {
		t.Fatal(err)
	}
	// y = x w^T + b: rows (1-3+10, 3+20) and (4-6+10, 7.5+20).
	if got := download[float32](t, ctx, s, y[0]); !close32(got, []float32{8, 23, 8, 27.5}, 1e-5) {
		t.Errorf("FullyConnected = %v", got)
	}
	// A shape the operator rejects fails the call itself.
	_, err = s.Invoke(ctx, mxgrid.Call{Op: "FullyConnected", Inputs: []mxgrid.Array{x, w, bias},
		Attrs: map[string]string{"num_hidden": "3"}})
	if mxgrid.Code(err) != codes.InvalidArgument {
		t.Errorf("num_hidden unlike the weight: got %v, want InvalidArgument", err)
	}
}

func TestInvokeBatchChainsCallsInOneRoundTrip(t *testing.T) {
	t.Parallel()
	ctx, s := openSession(t)
	w := mustUpload(t, ctx, s, mustTensor(t, []float32{1, 2, 3, 4}))
	g := mustUpload(t, ctx, s, mustTensor(t, []float32{10, 10, -10, 0}))
	mom, err := s.Zeros(ctx, mxgrid.Float32, []int64{4}, mxgrid.CPU(0))
	if err != nil {
		t.Fatal(err)
	}
	// Two momentum SGD steps (the worker's sgd_mom_update, as MXNet's SGD optimizer runs it):
	// mom = 0.9 mom - lr g; w += mom.
	step := mxgrid.Call{Op: "sgd_mom_update", Inputs: []mxgrid.Array{w, g, mom},
		Outputs: []mxgrid.Array{w},
		Attrs:   map[string]string{"lr": "0.1", "momentum": "0.9", "wd": "0"}}
	results, err := s.InvokeBatch(ctx, []mxgrid.Call{step, step})
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 2 || results[1][0].Handle != w.Handle {
		t.Fatalf("results: %v", results)
	}
	// Step 1: mom = -g/10, w = w - g/10. Step 2: mom = -0.19 g, w = w - 0.29 g.
	want := []float32{1 - 2.9, 2 - 2.9, 3 + 2.9, 4}
	if got := download[float32](t, ctx, s, w); !close32(got, want, 1e-5) {
		t.Errorf("weights after two steps: %v, want %v", got, want)
	}
	// The batch stops at the first failing call and names it.
	_, err = s.InvokeBatch(ctx, []mxgrid.Call{step, {Op: "NoSuchOperator"}})
	if mxgrid.Code(err) != codes.NotFound {
		t.Errorf("failing batch: got %v, want NotFound", err)
	}
}

func TestAsynchronousErrorSurfacesAtDownload(t *testing.T) {
	t.Parallel()
	ctx, s := openSession(t)
	a := mustUpload(t, ctx, s, mustTensor(t, []int32{1, 2, 3}))
	zero, err := s.Zeros(ctx, mxgrid.Int32, []int64{3}, mxgrid.CPU(0))
	if err != nil {
		t.Fatal(err)
	}
	// An integer division by zero is found while computing, after the call returned; the
	// error is reported once, by the first Download or Wait of the result (as MXNet's engine).
	divide := func() mxgrid.Array {
		t.Helper()
		q, err := s.Invoke(ctx, mxgrid.Call{Op: "elemwise_div", Inputs: []mxgrid.Array{a, zero}})
		if err != nil {
			t.Fatalf("the call itself: %v", err)
		}
		return q[0]
	}
	if _, err := s.Download(ctx, divide()); mxgrid.Code(err) != codes.InvalidArgument {
		t.Errorf("Download of the quotient: got %v, want InvalidArgument", err)
	}
	if err := s.Wait(ctx, divide()); mxgrid.Code(err) != codes.InvalidArgument {
		t.Errorf("Wait for the quotient: got %v, want InvalidArgument", err)
	}
}

func TestSeedRandomRepeatsRandomValues(t *testing.T) {
	t.Parallel()
	ctx, s := openSession(t)
	draw := func() []float32 {
		t.Helper()
		if err := s.SeedRandom(ctx, 42); err != nil {
			t.Fatal(err)
		}
		out, err := s.Invoke(ctx, mxgrid.Call{Op: "_random_uniform",
			Attrs: map[string]string{"low": "-1", "high": "1", "shape": mxgrid.ShapeString([]int64{50})}})
		if err != nil {
			t.Fatal(err)
		}
		return download[float32](t, ctx, s, out[0])
	}
	first, second := draw(), draw()
	if !equal(first, second) {
		t.Error("the same seed drew different values")
	}
	for _, v := range first {
		if v < -1 || v >= 1 {
			t.Fatalf("uniform(-1, 1) drew %v", v)
		}
	}
	if first[0] == first[1] && first[1] == first[2] {
		t.Error("the draws are not random")
	}
}
