package mxgrid

import (
	"context"

	pb "mxgrid/clients/go/mxgridpb"
)

// Call is one imperative operator call, as mx.nd.<Op>(*Inputs, out=Outputs, **Attrs).
type Call struct {
	// Operator name or alias, as the compiler's ListOperators reports them
	// ("FullyConnected", "elemwise_add", "sgd_mom_update", "_random_uniform", ...).
	Op string
	// Parameters as MXNet's Python passes them, str(value): "128", "relu", "(2, 3)"
	// (ShapeString), "True".
	Attrs map[string]string
	// Input arrays: arguments then auxiliary states, in the operator's input order.
	Inputs []Array
	// Existing arrays to write the visible outputs into (out=, a += b), each of the inferred
	// shape and dtype; nil for new output arrays.
	Outputs []Array
	// Training mode (Dropout, BatchNorm).
	IsTrain bool
}

func (c *Call) proto() *pb.InvokeRequest {
	return &pb.InvokeRequest{Op: c.Op, Attrs: c.Attrs, Inputs: handles(c.Inputs),
		Outputs: handles(c.Outputs), IsTrain: c.IsTrain}
}

// Invoke runs one operator call and returns its visible outputs (the arrays of
// call.Outputs when given, else new arrays). As in MXNet it returns once the outputs' shapes
// and dtypes are known; the worker computes them later, and an error inside the computation
// surfaces at the next Download or Wait of an output.
// Errors: NotFound for an unknown operator or array; InvalidArgument for bad attributes or
// inputs of the wrong number, shape, dtype or device; ResourceExhausted for memory or the
// session's quotas.
func (s *Session) Invoke(ctx context.Context, call Call) ([]Array, error) {
	req := call.proto()
	req.Session = s.id
	qctx, cancel, timeout := s.c.quick(ctx)
	defer cancel()
	resp, err := s.c.worker.Invoke(qctx, req)
	if err != nil {
		return nil, s.c.rpcError("Invoke", err, ctx, timeout)
	}
	return arraysFromProto(resp.GetOutputs()), nil
}

// InvokeBatch runs calls in order in one round trip and returns each call's outputs. It
// stops at the first failing call (its index is in the error's message); the calls before it
// have taken effect. Errors: those of Invoke.
func (s *Session) InvokeBatch(ctx context.Context, calls []Call) ([][]Array, error) {
	req := &pb.InvokeBatchRequest{Session: s.id, Calls: make([]*pb.InvokeRequest, len(calls))}
	for i := range calls {
		req.Calls[i] = calls[i].proto()
	}
	qctx, cancel, timeout := s.c.quick(ctx)
	defer cancel()
	resp, err := s.c.worker.InvokeBatch(qctx, req)
	if err != nil {
		return nil, s.c.rpcError("InvokeBatch", err, ctx, timeout)
	}
	out := make([][]Array, len(resp.GetResults()))
	for i, r := range resp.GetResults() {
		out[i] = arraysFromProto(r.GetOutputs())
	}
	return out, nil
}
