package mxgrid

import (
	"context"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"

	pb "mxgrid/clients/go/mxgridpb"
)

// Default values of Options.
const (
	DefaultCallTimeout     = 60 * time.Second
	DefaultKeepaliveTime   = 20 * time.Second
	DefaultMaxMessageBytes = 64 << 20
	// Tensors larger than this travel as UploadStream / DownloadStream chunks of this size.
	StreamChunkBytes = 2 << 20
)

// Options configure a Client. The zero value is usable: plaintext, the defaults below.
type Options struct {
	// The deadline of calls that should finish quickly (session calls, array creation,
	// Invoke, Bind, Backward, ...) when their context has none. 0 means
	// DefaultCallTimeout; negative means none. Calls that wait for the worker's queued work
	// (Download, Wait, Forward with ReturnValues, streams) only ever use the context's.
	CallTimeout time.Duration
	// gRPC keepalive: the channel pings the worker after this long without reads, also
	// while no call is in flight, and fails its calls with Unavailable when a ping is not
	// answered within as long again (mxgrid's servers accept a ping every 10 s). 0 means
	// DefaultKeepaliveTime.
	KeepaliveTime time.Duration
	// The largest message sent or received; 0 means DefaultMaxMessageBytes (the servers'
	// default limit). Tensors above StreamChunkBytes are streamed whatever this is.
	MaxMessageBytes int
	// TLS (or other) transport credentials (see TLSCredentials); nil means plaintext.
	TransportCredentials credentials.TransportCredentials
	// The bearer token for servers started with --auth_token_file, or a file holding it (its
	// first line, read again when the file changes). Needs TransportCredentials.
	Token, TokenFile string
	// More dial options, applied last (e.g. grpc.WithPerRPCCredentials for a token).
	DialOptions []grpc.DialOption
}

// Client is a connection to one mxgrid worker (mxgrid.v1.Worker). Calls go through
// sessions (OpenSession).
//
// Thread-safety: a Client and its Sessions may be used from any number of goroutines.
type Client struct {
	address string
	conn    *grpc.ClientConn
	worker  pb.WorkerClient
	opts    Options
}

// Dial connects to the worker at address ("host:port"). The connection is made in the
// background: an unreachable worker fails the first call (Unavailable), not Dial. Dial fails
// only for malformed options.
func Dial(ctx context.Context, address string, opts *Options) (*Client, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.CallTimeout == 0 {
		o.CallTimeout = DefaultCallTimeout
	}
	if o.KeepaliveTime == 0 {
		o.KeepaliveTime = DefaultKeepaliveTime
	}
	if o.MaxMessageBytes == 0 {
		o.MaxMessageBytes = DefaultMaxMessageBytes
	}
	dial := []grpc.DialOption{
		grpc.WithKeepaliveParams(keepalive.ClientParameters{
			Time:                o.KeepaliveTime,
			Timeout:             o.KeepaliveTime,
			PermitWithoutStream: true,
		}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(o.MaxMessageBytes),
			grpc.MaxCallSendMsgSize(o.MaxMessageBytes)),
		grpc.WithUserAgent("mxgrid-go"),
	}
	if o.TransportCredentials != nil {
		dial = append(dial, grpc.WithTransportCredentials(o.TransportCredentials))
	} else {
		dial = append(dial, grpc.WithInsecure())
	}
	if o.Token != "" || o.TokenFile != "" {
		if o.TransportCredentials == nil {
			return nil, &Error{Op: "Dial", Code: codes.InvalidArgument,
				Message: "a bearer token needs TLS (Options.TransportCredentials)"}
		}
		dial = append(dial, grpc.WithPerRPCCredentials(&bearerToken{token: o.Token, file: o.TokenFile}))
	}
	dial = append(dial, o.DialOptions...)
	conn, err := grpc.DialContext(ctx, address, dial...)
	if err != nil {
		return nil, &Error{Op: "Dial", Code: Code(err), Message: err.Error()}
	}
	return &Client{address: address, conn: conn, worker: pb.NewWorkerClient(conn), opts: o}, nil
}

// Close closes the connection. Open sessions are not closed first (the worker frees them when
// their lease runs out); close them before.
func (c *Client) Close() error { return c.conn.Close() }

// Address is the worker's address as given to Dial.
func (c *Client) Address() string { return c.address }

// Worker is the generated stub over the client's connection, for the worker calls this
// package does not wrap (kvstores, autograd, shared memory, ...).
func (c *Client) Worker() pb.WorkerClient { return c.worker }

// quick returns the context of a call that should finish quickly: ctx with the client's
// CallTimeout when ctx has no deadline, and the timeout applied (0: none).
func (c *Client) quick(ctx context.Context) (context.Context, context.CancelFunc, time.Duration) {
	if _, ok := ctx.Deadline(); ok || c.opts.CallTimeout < 0 {
		return ctx, func() {}, 0
	}
	qctx, cancel := context.WithTimeout(ctx, c.opts.CallTimeout)
	return qctx, cancel, c.opts.CallTimeout
}

// Device is one of the worker's devices.
type Device struct {
	Context Context
	// E.g. "NVIDIA H100 80GB HBM3", or the CPU model.
	Name             string
	TotalMemoryBytes int64
	FreeMemoryBytes  int64
	// False once a GPU hit a sticky CUDA error; UnhealthyReason says which.
	Healthy         bool
	UnhealthyReason string
}

// ListDevices returns the worker's devices: cpu(0) and each GPU.
func (c *Client) ListDevices(ctx context.Context) ([]Device, error) {
	qctx, cancel, timeout := c.quick(ctx)
	defer cancel()
	resp, err := c.worker.ListDevices(qctx, &pb.ListDevicesRequest{})
	if err != nil {
		return nil, c.rpcError("ListDevices", err, ctx, timeout)
	}
	out := make([]Device, len(resp.GetDevices()))
	for i, d := range resp.GetDevices() {
		out[i] = Device{
			Context:          contextFromProto(d.GetContext()),
			Name:             d.GetName(),
			TotalMemoryBytes: d.GetTotalMemoryBytes(),
			FreeMemoryBytes:  d.GetFreeMemoryBytes(),
			Healthy:          d.GetHealthy(),
			UnhealthyReason:  d.GetUnhealthyReason(),
		}
	}
	return out, nil
}
