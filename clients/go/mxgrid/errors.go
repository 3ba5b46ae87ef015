package mxgrid

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Error is the error of every call of this package: the RPC (or client-side check) that
// failed, the gRPC status code and the server's message. The codes are worker.proto's: e.g.
// NotFound for an unknown session, handle or operator, InvalidArgument for bad shapes or
// attributes, ResourceExhausted for a session's quotas, Unavailable for a worker that cannot
// be reached.
//
// status.Code(err) and status.FromError(err) work on it (it has GRPCStatus); so does Code.
type Error struct {
	// The worker RPC ("Invoke", "Bind", ...) or client function ("NewTensor") that failed.
	Op      string
	Code    codes.Code
	Message string
}

func (e *Error) Error() string {
	return fmt.Sprintf("mxgrid: %s: %s: %s", e.Op, e.Code, e.Message)
}

// GRPCStatus is the error as a gRPC status (status.FromError uses it).
func (e *Error) GRPCStatus() *status.Status { return status.New(e.Code, e.Message) }

// Code is the gRPC code of err: an *Error's (also wrapped, errors.As), a gRPC status's,
// codes.OK for nil and codes.Unknown otherwise.
func Code(err error) codes.Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return status.Code(err)
}

func newError(op string, code codes.Code, msg string) *Error {
	return &Error{Op: op, Code: code, Message: msg}
}

// rpcError converts the error of a worker RPC `op` to an *Error. `timeout` is the deadline
// the client added (0: none) and `ctx` the context the call ran under, to tell the client's
// own deadline from the caller's.
func (c *Client) rpcError(op string, err error, ctx context.Context, timeout time.Duration) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		st = status.FromContextError(err)
	}
	msg := st.Message()
	switch {
	case st.Code() == codes.DeadlineExceeded && timeout > 0 && ctx.Err() == nil:
		// The parent context is alive: the call ran out of the client's own deadline.
		msg = fmt.Sprintf("the worker at %s did not answer %s within %v (Options.CallTimeout, "+
			"the deadline of calls that should finish quickly); is it stopped or overloaded?",
			c.address, op, timeout)
	case st.Code() == codes.Unavailable:
		// The worker unreachable, or a server behind it (its compiler) unreachable from it.
		msg = fmt.Sprintf("worker %s: %s", c.address, msg)
	}
	return &Error{Op: op, Code: st.Code(), Message: msg}
}
