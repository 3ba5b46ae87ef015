package mxgrid

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"

	pb "mxgrid/clients/go/mxgridpb"
)

// GradReq is how backward writes an argument's gradient, as MXNet's grad_req strings.
type GradReq string

// Gradient requests; "" means GradWrite.
const (
	GradWrite GradReq = "write" // overwrite the gradient array
	GradAdd   GradReq = "add"   // accumulate into it
	GradNull  GradReq = "null"  // no gradient
)

func (g GradReq) proto() (pb.OpReq, error) {
	switch g {
	case "", GradWrite:
		return pb.OpReq_OP_REQ_WRITE_TO, nil
	case GradAdd:
		return pb.OpReq_OP_REQ_ADD_TO, nil
	case GradNull:
		return pb.OpReq_OP_REQ_NULL, nil
	}
	return 0, fmt.Errorf("grad_req %q is none of write, add, null", string(g))
}

// SimpleBindOptions configure SimpleBind: the input shapes, as symbol.simple_bind(ctx,
// grad_req, **shapes).
type SimpleBindOptions struct {
	// The device the executor runs on and its arrays live on.
	Context Context
	// Shapes of the inputs (data, labels) by argument name; the other arguments' shapes are
	// inferred from them.
	Shapes map[string][]int64
	// DTypes of inputs by argument name; unnamed ones are float32.
	DTypes map[string]DType
	// The gradient request of every argument ("" means write) ...
	GradReq GradReq
	// ... except these (e.g. GradNull for data and labels).
	GradReqs map[string]GradReq
}

// BindOptions configure Bind: the arrays to bind, as symbol.bind(ctx, args, args_grad,
// grad_req, aux_states), each list in the order of the symbol's list_arguments() /
// list_auxiliary_states() (the order Executor.ArgNames and AuxNames report).
type BindOptions struct {
	Context Context
	// One array per argument. An array may be bound to several executors (shared weights).
	Args []Array
	// Nil, or one per argument: its gradient array, or the zero Array for none.
	ArgGrads []Array
	// Nil, or one per argument; nil means write wherever ArgGrads has an array.
	GradReqs []GradReq
	// One per auxiliary state (BatchNorm's moving mean and variance, ...).
	Aux []Array
}

// Executor is a symbol bound on the worker with its arrays (MXNet's Executor). Arguments,
// gradients, auxiliary states and outputs are arrays of the session: read them with
// Session.Download, write arguments with Session.UploadInto or ForwardOptions.
//
// Thread-safety: calls on one executor must not overlap (as MXNet's); different executors
// may be used from different goroutines.
type Executor struct {
	s      *Session
	handle uint64
	// Names in list_arguments(), list_outputs(), list_auxiliary_states() order.
	ArgNames, OutputNames, AuxNames []string
	// One per name; ArgGrads[i].Handle is 0 where argument i has no gradient.
	Args, ArgGrads, Aux, Outputs []Array
	// Whether the compiler served the execution plan from its cache.
	PlanCached bool
}

// SimpleBind binds the symbol (MXNet -symbol.json text) allocating every array, zero-filled
// (symbol.simple_bind).
// Errors: InvalidArgument for malformed JSON, shapes that do not infer, a bad grad_req;
// Unavailable when the worker cannot reach its compiler; ResourceExhausted for memory or the
// session's quotas.
func (s *Session) SimpleBind(ctx context.Context, symbolJSON string,
	opts SimpleBindOptions) (*Executor, error) {
	req := &pb.SimpleBindRequest{
		Session: s.id, Symbol: &pb.Symbol{Json: symbolJSON}, Context: opts.Context.proto(),
		Inputs: map[string]*pb.TensorMeta{}, GradReq: string(opts.GradReq),
		GradReqByName: map[string]string{},
	}
	if req.GradReq == "" {
		req.GradReq = string(GradWrite)
	}
	for name, shape := range opts.Shapes {
		dtype := opts.DTypes[name]
		if dtype == 0 {
			dtype = Float32
		}
		req.Inputs[name] = &pb.TensorMeta{Dtype: pb.DType(dtype), Shape: shape}
	}
	for name := range opts.DTypes {
		if _, ok := opts.Shapes[name]; !ok {
			return nil, newError("SimpleBind", codes.InvalidArgument, fmt.Sprintf(
				"DTypes names %q, which has no entry in Shapes", name))
		}
	}
	for name, g := range opts.GradReqs {
		req.GradReqByName[name] = string(g)
	}
	qctx, cancel, timeout := s.c.quick(ctx)
	defer cancel()
	resp, err := s.c.worker.SimpleBind(qctx, req)
	if err != nil {
		return nil, s.c.rpcError("SimpleBind", err, ctx, timeout)
	}
	return s.executorFromProto(resp), nil
}

// Bind binds the symbol (MXNet -symbol.json text) to existing arrays (symbol.bind): the
// executor computes with them, so arrays shared with another executor share its values.
// Errors: as SimpleBind, and NotFound for an unknown array; InvalidArgument for arrays of the
// wrong number, shape or dtype.
func (s *Session) Bind(ctx context.Context, symbolJSON string, opts BindOptions) (*Executor, error) {
	req := &pb.BindRequest{
		Session: s.id, Symbol: &pb.Symbol{Json: symbolJSON}, Context: opts.Context.proto(),
		Args: handles(opts.Args), ArgGrads: handles(opts.ArgGrads), Aux: handles(opts.Aux),
	}
	for _, g := range opts.GradReqs {
		r, err := g.proto()
		if err != nil {
			return nil, newError("Bind", codes.InvalidArgument, err.Error())
		}
		req.GradReqs = append(req.GradReqs, r)
	}
	qctx, cancel, timeout := s.c.quick(ctx)
	defer cancel()
	resp, err := s.c.worker.Bind(qctx, req)
	if err != nil {
		return nil, s.c.rpcError("Bind", err, ctx, timeout)
	}
	return s.executorFromProto(resp), nil
}

func (s *Session) executorFromProto(r *pb.BindResponse) *Executor {
	return &Executor{
		s: s, handle: r.GetExecutor(),
		ArgNames: r.GetArgNames(), OutputNames: r.GetOutputNames(), AuxNames: r.GetAuxNames(),
		Args: arraysFromProto(r.GetArgs()), ArgGrads: arraysFromProto(r.GetArgGrads()),
		Aux: arraysFromProto(r.GetAux()), Outputs: arraysFromProto(r.GetOutputs()),
		PlanCached: r.GetPlanCached(),
	}
}

// Handle is the executor's handle in its session.
func (e *Executor) Handle() uint64 { return e.handle }

// Arg is the argument array named name (e.g. "fc1_weight").
func (e *Executor) Arg(name string) (Array, bool) {
	for i, n := range e.ArgNames {
		if n == name {
			return e.Args[i], true
		}
	}
	return Array{}, false
}

// Grad is the gradient array of the argument named name; false when it has none.
func (e *Executor) Grad(name string) (Array, bool) {
	for i, n := range e.ArgNames {
		if n == name && i < len(e.ArgGrads) && e.ArgGrads[i].Handle != 0 {
			return e.ArgGrads[i], true
		}
	}
	return Array{}, false
}

// ForwardOptions configure Forward: executor.forward(is_train, **inputs), optionally with
// backward and the optimizer's update in the same round trip.
type ForwardOptions struct {
	IsTrain bool
	// Arrays copied into arguments before running, by argument name.
	Inputs map[string]Array
	// Host values copied into arguments before running, by argument name: a small batch
	// sent inline instead of uploaded first.
	Values map[string]*Tensor
	// Then run backward (every output must come from a loss operator).
	Backward bool
	// Then apply the executor's optimizer (SetOptimizer), as Update does.
	Update bool
	// Return the outputs' values (the call then waits for them; it has no deadline but
	// ctx's).
	ReturnValues bool
}

// Forward runs the executor's forward pass. With ReturnValues it returns the outputs'
// values (one per output), else nil; the outputs themselves are e.Outputs.
// Errors: NotFound for an unknown input array; InvalidArgument for an input that is no
// argument or has another shape, a malformed value, Update without Backward;
// FailedPrecondition for Update without an optimizer, Backward without gradients; with
// ReturnValues, the error of failed work on the outputs.
func (e *Executor) Forward(ctx context.Context, opts ForwardOptions) ([]*Tensor, error) {
	req := &pb.ForwardRequest{
		Session: e.s.id, Executor: e.handle, IsTrain: opts.IsTrain,
		Inputs: map[string]uint64{}, Values: map[string]*pb.Tensor{},
		Backward: opts.Backward, Update: opts.Update, ReturnValues: opts.ReturnValues,
	}
	for name, a := range opts.Inputs {
		req.Inputs[name] = a.Handle
	}
	for name, t := range opts.Values {
		if p := t.problem(); p != "" {
			return nil, newError("Forward", codes.InvalidArgument,
				fmt.Sprintf("value of %q: %s", name, p))
		}
		req.Values[name] = &pb.Tensor{Meta: t.meta(), Data: t.Data}
	}
	// Without ReturnValues the call returns once the work is queued: a quick call.
	callCtx, cancel, timeout := ctx, context.CancelFunc(func() {}), time.Duration(0)
	if !opts.ReturnValues {
		callCtx, cancel, timeout = e.s.c.quick(ctx)
	}
	defer cancel()
	resp, err := e.s.c.worker.Forward(callCtx, req)
	if err != nil {
		return nil, e.s.c.rpcError("Forward", err, ctx, timeout)
	}
	if !opts.ReturnValues {
		return nil, nil
	}
	out := make([]*Tensor, len(resp.GetValues()))
	for i, v := range resp.GetValues() {
		out[i] = &Tensor{DType: DType(v.GetMeta().GetDtype()), Shape: v.GetMeta().GetShape(),
			Data: v.GetData()}
	}
	return out, nil
}

// Backward runs the backward pass (executor.backward(out_grads)), writing the gradients into
// e.ArgGrads. outGrads: one per output, or none when every output is a loss.
// Errors: InvalidArgument for out_grads of the wrong number or shape; FailedPrecondition when
// no argument has a gradient request.
func (e *Executor) Backward(ctx context.Context, outGrads ...Array) error {
	qctx, cancel, timeout := e.s.c.quick(ctx)
	defer cancel()
	_, err := e.s.c.worker.Backward(qctx, &pb.BackwardRequest{
		Session: e.s.id, Executor: e.handle, OutGrads: handles(outGrads)})
	return e.s.c.rpcError("Backward", err, ctx, timeout)
}

// SetOptimizer installs an optimizer on the executor (Module.init_optimizer): name is
// "sgd", "nag", "adam", "rmsprop" or "adagrad", params its keywords as str(value)
// ("learning_rate": "0.1", "momentum": "0.9", "rescale_grad": "0.03125", ...).
// Errors: InvalidArgument for an unknown optimizer or parameter, or a value out of range.
func (e *Executor) SetOptimizer(ctx context.Context, name string, params map[string]string) error {
	qctx, cancel, timeout := e.s.c.quick(ctx)
	defer cancel()
	_, err := e.s.c.worker.SetExecutorOptimizer(qctx, &pb.SetExecutorOptimizerRequest{
		Session: e.s.id, Executor: e.handle, Name: name, Params: params})
	return e.s.c.rpcError("SetExecutorOptimizer", err, ctx, timeout)
}

// Update applies the executor's optimizer to every argument that has a gradient
// (Module.update()). Errors: FailedPrecondition when no optimizer is set.
func (e *Executor) Update(ctx context.Context) error {
	qctx, cancel, timeout := e.s.c.quick(ctx)
	defer cancel()
	_, err := e.s.c.worker.Update(qctx, &pb.UpdateRequest{Session: e.s.id, Executor: e.handle})
	return e.s.c.rpcError("Update", err, ctx, timeout)
}

// Free drops the executor; its bound arrays stay while their handles do (Session.Free).
func (e *Executor) Free(ctx context.Context) error {
	qctx, cancel, timeout := e.s.c.quick(ctx)
	defer cancel()
	_, err := e.s.c.worker.FreeExecutor(qctx, &pb.FreeExecutorRequest{
		Session: e.s.id, Executor: e.handle})
	return e.s.c.rpcError("FreeExecutor", err, ctx, timeout)
}
