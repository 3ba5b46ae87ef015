// Package mxgrid is a Go client of mxgrid's compute worker (mxgrid.v1.Worker, see
// proto/mxgrid/v1/worker.proto): MXNet's NDArrays, imperative operators and symbolic
// executors, run on a remote worker over gRPC.
//
// A Client is a connection to one worker; a Session owns the arrays and executors made
// through it and keeps its lease alive until Close. Arrays live on the worker and are named
// by handles (Array describes one); Tensor holds values on the client's host (NewTensor and
// Values convert Go slices). Operators run with Session.Invoke, symbols (MXNet -symbol.json
// text) bind to Executors that run forward and backward passes and optimizer updates.
//
//	client, err := mxgrid.Dial(ctx, "127.0.0.1:50051", nil)
//	if err != nil { ... }
//	defer client.Close()
//	sess, err := client.OpenSession(ctx, nil)
//	if err != nil { ... }
//	defer sess.Close(ctx)
//
//	x, _ := mxgrid.NewTensor([]float32{1, 2, 3, 4, 5, 6}, 2, 3)
//	a, err := sess.Upload(ctx, x, mxgrid.CPU(0))            // mx.nd.array(x)
//	b, err := sess.Full(ctx, mxgrid.Float32, []int64{2, 3}, mxgrid.CPU(0), 2)
//	out, err := sess.Invoke(ctx, mxgrid.Call{Op: "elemwise_mul", Inputs: []mxgrid.Array{a, b}})
//	t, err := sess.Download(ctx, out[0])                    // .asnumpy()
//	values, err := mxgrid.Values[float32](t)                // [2 4 6 8 10 12]
//
//	exec, err := sess.SimpleBind(ctx, symbolJSON, mxgrid.SimpleBindOptions{
//		Shapes:   map[string][]int64{"data": {32, 64}, "softmax_label": {32}},
//		GradReqs: map[string]mxgrid.GradReq{"data": mxgrid.GradNull, "softmax_label": mxgrid.GradNull},
//	})
//	probs, err := exec.Forward(ctx, mxgrid.ForwardOptions{IsTrain: true,
//		Values: map[string]*mxgrid.Tensor{"data": batch, "softmax_label": labels}, ReturnValues: true})
//	err = exec.Backward(ctx)
//	grad, _ := exec.Grad("fc1_weight")
//
// Asynchrony. As in MXNet, operator calls return once the outputs' shapes and dtypes are
// known and the worker computes later: an error inside the computation (not a bad argument,
// which fails the call) surfaces at the next Download or Wait of what it wrote.
//
// Errors. Every error is an *Error carrying the gRPC code (Code(err), status.Code(err)) and
// the worker's message, which says what to fix. Calls that should finish quickly get
// Options.CallTimeout when their context has no deadline; calls that wait for the worker's
// work (Download, Wait, Forward with ReturnValues) only their context's.
//
// Thread-safety: Client, Session and the functions of this package may be used from any
// number of goroutines; one Executor's calls must not overlap.
//
// What this package does not wrap (kvstores, autograd, sparse arrays, shared memory) is
// reachable through Client.Worker, the generated stub (package mxgridpb).
package mxgrid
