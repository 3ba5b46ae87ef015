package mxgrid

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	pb "mxgrid/clients/go/mxgridpb"
)

// SessionOptions configure OpenSession. The zero value asks for the worker's default lease.
type SessionOptions struct {
	// How long the session lives without calls; 0 means the worker's default (its --lease
	// flag, 1 minute unless set), capped at its --max_lease.
	Lease time.Duration
	// Free text for the worker's logs; empty means "mxgrid-go pid N".
	ClientName string
	// Do not renew the lease in the background (the session then ends once no call touched
	// it for its lease).
	NoKeepAlive bool
}

// Session is a worker session: it owns the arrays and executors made through it; no other
// session can reach them. It ends on Close, or when no call touched it for its lease; then
// the worker frees all it holds. Unless SessionOptions.NoKeepAlive, a goroutine renews the
// lease (KeepAlive every Lease/3) until Close.
//
// Thread-safety: a Session may be used from any number of goroutines; the worker runs
// operator calls in the order it receives them.
type Session struct {
	c     *Client
	id    string
	lease time.Duration

	closeOnce sync.Once
	stop      chan struct{} // closed by Close: ends the keepalive goroutine
	done      chan struct{} // closed by the keepalive goroutine when it returns
}

// OpenSession starts a session on the worker. Errors: InvalidArgument for a lease outside
// [0, 1e9] seconds; Unavailable when the worker cannot be reached.
func (c *Client) OpenSession(ctx context.Context, opts *SessionOptions) (*Session, error) {
	var o SessionOptions
	if opts != nil {
		o = *opts
	}
	if o.ClientName == "" {
		o.ClientName = fmt.Sprintf("mxgrid-go pid %d", os.Getpid())
	}
	qctx, cancel, timeout := c.quick(ctx)
	defer cancel()
	resp, err := c.worker.OpenSession(qctx, &pb.OpenSessionRequest{
		LeaseSeconds: o.Lease.Seconds(), Client: o.ClientName})
	if err != nil {
		return nil, c.rpcError("OpenSession", err, ctx, timeout)
	}
	s := &Session{
		c:     c,
		id:    resp.GetSession(),
		lease: time.Duration(resp.GetLeaseSeconds() * float64(time.Second)),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	if o.NoKeepAlive {
		close(s.done)
	} else {
		go s.keepAlive()
	}
	return s, nil
}

// ID is the session's opaque id, as every request names it.
func (s *Session) ID() string { return s.id }

// Lease is how long the session lives without calls, as the worker granted it.
func (s *Session) Lease() time.Duration { return s.lease }

// Client is the client the session was opened on.
func (s *Session) Client() *Client { return s.c }

func (s *Session) keepAlive() {
	defer close(s.done)
	period := s.lease / 3
	if period < 500*time.Millisecond {
		period = 500 * time.Millisecond
	}
	ticker := time.NewTicker(period)
	defer ticker.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-ticker.C:
			ctx, cancel := context.WithTimeout(context.Background(), period)
			// A failure is left to the next real call to report (with its context).
			_ = s.KeepAlive(ctx)
			cancel()
		}
	}
}

// KeepAlive renews the session's lease now (every other call renews it too).
// Errors: NotFound for a closed or expired session.
func (s *Session) KeepAlive(ctx context.Context) error {
	qctx, cancel, timeout := s.c.quick(ctx)
	defer cancel()
	_, err := s.c.worker.KeepAlive(qctx, &pb.KeepAliveRequest{Session: s.id})
	return s.c.rpcError("KeepAlive", err, ctx, timeout)
}

// Close stops renewing the lease and ends the session on the worker, which frees everything
// the session holds. Calls after Close fail with NotFound (a second Close too).
func (s *Session) Close(ctx context.Context) error {
	s.closeOnce.Do(func() { close(s.stop) })
	<-s.done
	qctx, cancel, timeout := s.c.quick(ctx)
	defer cancel()
	_, err := s.c.worker.CloseSession(qctx, &pb.CloseSessionRequest{Session: s.id})
	return s.c.rpcError("CloseSession", err, ctx, timeout)
}

// Free drops arrays; their memory goes once nothing else (a view, an executor) uses it.
// Errors: NotFound naming the first unknown handle (the known ones are dropped all the same).
func (s *Session) Free(ctx context.Context, arrays ...Array) error {
	qctx, cancel, timeout := s.c.quick(ctx)
	defer cancel()
	_, err := s.c.worker.Free(qctx, &pb.FreeRequest{Session: s.id, Handles: handles(arrays)})
	return s.c.rpcError("Free", err, ctx, timeout)
}

// Wait waits until the pending work writing the given arrays is done (all of the session's
// work when none are given: MXNet's waitall) and returns the error of failed work on them.
// It has no deadline but ctx's.
func (s *Session) Wait(ctx context.Context, arrays ...Array) error {
	_, err := s.c.worker.Wait(ctx, &pb.WaitRequest{Session: s.id, Handles: handles(arrays)})
	return s.c.rpcError("Wait", err, ctx, 0)
}

// SeedRandom seeds the session's random generators on every device (mx.random.seed): the
// same seed and the same calls give the same random values.
func (s *Session) SeedRandom(ctx context.Context, seed int64) error {
	qctx, cancel, timeout := s.c.quick(ctx)
	defer cancel()
	_, err := s.c.worker.SeedRandom(qctx, &pb.SeedRandomRequest{Session: s.id, Seed: seed})
	return s.c.rpcError("SeedRandom", err, ctx, timeout)
}
