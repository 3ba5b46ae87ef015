package mxgrid_test

import (
	"testing"

	"google.golang.org/grpc/codes"

	"mxgrid/clients/go/mxgrid"
)

// C = A * B, the tutorial's "Bind the Symbols and Run" graph, as MXNet's tojson writes it.
const mulSymbol = `{
  "nodes": [
    {"op": "null", "name": "A", "inputs": []},
    {"op": "null", "name": "B", "inputs": []},
    {"op": "elemwise_mul", "name": "_mul0", "inputs": [[0, 0, 0], [1, 0, 0]]}
  ],
  "arg_nodes": [0, 1],
  "node_row_ptr": [0, 1, 2, 3],
  "heads": [[2, 0, 0]],
  "attrs": {"mxnet_version": ["int", 10901]}
}`

func TestBindForwardBackwardUpdate(t *testing.T) {
	t.Parallel()
	ctx, s := openSession(t)
	a := mustUpload(t, ctx, s, mustTensor(t, []float32{4, 4, 4}))
	b := mustUpload(t, ctx, s, mustTensor(t, []float32{2, 3, -1}))
	ga, err := s.Zeros(ctx, mxgrid.Float32, []int64{3}, mxgrid.CPU(0))
	if err != nil {
		t.Fatal(err)
	}
	exec, err := s.Bind(ctx, mulSymbol, mxgrid.BindOptions{
		Args: []mxgrid.Array{a, b}, ArgGrads: []mxgrid.Array{ga, {}},
		GradReqs: []mxgrid.GradReq{mxgrid.GradWrite, mxgrid.GradNull}})
	if err != nil {
		t.Fatal(err)
	}
	if !equal(exec.ArgNames, []string{"A", "B"}) || len(exec.Outputs) != 1 ||
		exec.Args[0].Handle != a.Handle {
		t.Fatalf("executor: %+v", exec)
	}
	if _, ok := exec.Grad("B"); ok {
		t.Error("B has a gradient though its grad_req is null")
	}
	values, err := exec.Forward(ctx, mxgrid.ForwardOptions{IsTrain: true, ReturnValues: true})
	if err != nil {
		t.Fatal(err)
	}
	got, err := mxgrid.Values[float32](values[0])
	if err != nil || !equal(got, []float32{8, 12, -4}) {
		t.Fatalf("forward: %v %v", got, err)
	}
	// dC/dA = B, scaled by the head gradient.
	head := mustUpload(t, ctx, s, mustTensor(t, []float32{1, 1, 2}))
	if err := exec.Backward(ctx, head); err != nil {
		t.Fatal(err)
	}
	grad, _ := exec.Grad("A")
	if got := download[float32](t, ctx, s, grad); !equal(got, []float32{2, 3, -2}) {
		t.Errorf("grad A = %v", got)
	}
	// Update without an optimizer is refused; with plain SGD, A -= lr * grad.
	if err := exec.Update(ctx); mxgrid.Code(err) != codes.FailedPrecondition {
		t.Errorf("Update without optimizer: got %v, want FailedPrecondition", err)
	}
	if err := exec.SetOptimizer(ctx, "sgd", map[string]string{"learning_rate": "0.5"}); err != nil {
		t.Fatal(err)
	}
	if err := exec.Update(ctx); err != nil {
		t.Fatal(err)
	}
	if got := download[float32](t, ctx, s, a); !equal(got, []float32{3, 2.5, 5}) {
		t.Errorf("A after update = %v", got)
	}
	if err := exec.SetOptimizer(ctx, "sgd", map[string]string{"learning_rate": "-1"}); mxgrid.Code(err) != codes.InvalidArgument {
		t.Errorf("negative learning rate: got %v, want InvalidArgument", err)
	}
	if err := exec.Free(ctx); err != nil {
		t.Fatal(err)
	}
	if err := exec.Backward(ctx, head); mxgrid.Code(err) != codes.NotFound {
		t.Errorf("Backward of a freed executor: got %v, want NotFound", err)
	}
}

func TestSimpleBindAllocatesAndSharesWeights(t *testing.T) {
	t.Parallel()
	ctx, s := openSession(t)
	train, err := s.SimpleBind(ctx, mulSymbol, mxgrid.SimpleBindOptions{
		Shapes:   map[string][]int64{"A": {2, 2}, "B": {2, 2}},
		GradReqs: map[string]mxgrid.GradReq{"B": mxgrid.GradNull}})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := train.Arg("A")
	if !equal(a.Shape, []int64{2, 2}) || a.DType != mxgrid.Float32 {
		t.Fatalf("A: %v", a)
	}
	if got := download[float32](t, ctx, s, a); !equal(got, []float32{0, 0, 0, 0}) {
		t.Errorf("simple_bind arrays are zero-filled; A = %v", got)
	}
	// Values sent inline land in the arguments; the outputs are readable arrays.
	_, err = train.Forward(ctx, mxgrid.ForwardOptions{Values: map[string]*mxgrid.Tensor{
		"A": mustTensor(t, []float32{1, 2, 3, 4}, 2, 2),
		"B": mustTensor(t, []float32{5, 6, 7, 8}, 2, 2)}})
	if err != nil {
		t.Fatal(err)
	}
	if got := download[float32](t, ctx, s, train.Outputs[0]); !equal(got, []float32{5, 12, 21, 32}) {
		t.Errorf("outputs = %v", got)
	}
	// A second executor bound to the same A sees its values (shared weights).
	b := mustUpload(t, ctx, s, mustTensor(t, []float32{1, 1, 1, 1}, 2, 2))
	eval, err := s.Bind(ctx, mulSymbol, mxgrid.BindOptions{Args: []mxgrid.Array{a, b}})
	if err != nil {
		t.Fatal(err)
	}
	values, err := eval.Forward(ctx, mxgrid.ForwardOptions{ReturnValues: true})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := mxgrid.Values[float32](values[0]); !equal(got, []float32{1, 2, 3, 4}) {
		t.Errorf("shared A through the second executor: %v", got)
	}
	// Malformed binds fail with the right codes.
	_, err = s.SimpleBind(ctx, `{"nodes": [`, mxgrid.SimpleBindOptions{})
	if mxgrid.Code(err) != codes.InvalidArgument {
		t.Errorf("malformed JSON: got %v, want InvalidArgument", err)
	}
	_, err = s.SimpleBind(ctx, mulSymbol, mxgrid.SimpleBindOptions{
		Shapes: map[string][]int64{"A": {2}, "B": {3}}})
	if mxgrid.Code(err) != codes.InvalidArgument {
		t.Errorf("shapes that do not infer: got %v, want InvalidArgument", err)
	}
	_, err = s.Bind(ctx, mulSymbol, mxgrid.BindOptions{Args: []mxgrid.Array{a}})
	if mxgrid.Code(err) != codes.InvalidArgument {
		t.Errorf("too few arguments: got %v, want InvalidArgument", err)
	}
	_, err = train.Forward(ctx, mxgrid.ForwardOptions{Values: map[string]*mxgrid.Tensor{
		"A": mustTensor(t, []float32{1, 2, 3}, 3)}})
	if mxgrid.Code(err) != codes.InvalidArgument {
		t.Errorf("a value of another shape: got %v, want InvalidArgument", err)
	}
}
