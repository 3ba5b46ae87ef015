package mxgrid

import (
	"context"
	"fmt"
	"io"

	"google.golang.org/grpc/codes"

	pb "mxgrid/clients/go/mxgridpb"
)

// Empty makes an uninitialized array (mx.nd.empty).
// Errors: InvalidArgument for a bad dtype, shape or context; FailedPrecondition for a device
// the worker lacks; ResourceExhausted for memory or the session's quotas.
func (s *Session) Empty(ctx context.Context, dtype DType, shape []int64, dev Context) (Array, error) {
	return s.create(ctx, &pb.CreateArrayRequest{
		Session: s.id, Meta: &pb.TensorMeta{Dtype: pb.DType(dtype), Shape: shape},
		Context: dev.proto(), Init: &pb.CreateArrayRequest_Empty{Empty: true}})
}

// Full makes an array with every element value (mx.nd.full; zeros and ones are 0 and 1).
// Errors: as Empty, and InvalidArgument for a value the dtype cannot hold.
func (s *Session) Full(ctx context.Context, dtype DType, shape []int64, dev Context,
	value float64) (Array, error) {
	return s.create(ctx, &pb.CreateArrayRequest{
		Session: s.id, Meta: &pb.TensorMeta{Dtype: pb.DType(dtype), Shape: shape},
		Context: dev.proto(), Init: &pb.CreateArrayRequest_Fill{Fill: value}})
}

// Zeros is Full with 0 (mx.nd.zeros).
func (s *Session) Zeros(ctx context.Context, dtype DType, shape []int64, dev Context) (Array, error) {
	return s.Full(ctx, dtype, shape, dev, 0)
}

func (s *Session) create(ctx context.Context, req *pb.CreateArrayRequest) (Array, error) {
	qctx, cancel, timeout := s.c.quick(ctx)
	defer cancel()
	info, err := s.c.worker.CreateArray(qctx, req)
	if err != nil {
		return Array{}, s.c.rpcError("CreateArray", err, ctx, timeout)
	}
	return arrayFromProto(info), nil
}

// Fill sets every element of a to value (a[:] = value).
// Errors: NotFound for an unknown array; InvalidArgument for a value its dtype cannot hold.
func (s *Session) Fill(ctx context.Context, a Array, value float64) error {
	qctx, cancel, timeout := s.c.quick(ctx)
	defer cancel()
	_, err := s.c.worker.Fill(qctx, &pb.FillRequest{Session: s.id, Handle: a.Handle, Value: value})
	return s.c.rpcError("Fill", err, ctx, timeout)
}

// Upload makes a new array on dev holding t's values (mx.nd.array). Tensors above
// StreamChunkBytes travel as a stream of chunks, so no message limit caps their size; such
// uploads have no deadline but ctx's.
// Errors: InvalidArgument for a malformed tensor (checked before sending) or context;
// FailedPrecondition for a device the worker lacks; ResourceExhausted for memory or quotas.
func (s *Session) Upload(ctx context.Context, t *Tensor, dev Context) (Array, error) {
	return s.upload(ctx, t, 0, dev)
}

// UploadInto overwrites the existing array dst with t's values (dst[:] = t), which must have
// dst's dtype and shape (InvalidArgument otherwise); errors otherwise as Upload.
func (s *Session) UploadInto(ctx context.Context, dst Array, t *Tensor) error {
	_, err := s.upload(ctx, t, dst.Handle, Context{})
	return err
}

func (s *Session) upload(ctx context.Context, t *Tensor, into uint64, dev Context) (Array, error) {
	if p := t.problem(); p != "" {
		return Array{}, newError("Upload", codes.InvalidArgument, p)
	}
	if len(t.Data) <= StreamChunkBytes {
		qctx, cancel, timeout := s.c.quick(ctx)
		defer cancel()
		info, err := s.c.worker.Upload(qctx, &pb.UploadRequest{
			Session: s.id, Into: into, Context: dev.proto(),
			Value: &pb.Tensor{Meta: t.meta(), Data: t.Data}})
		if err != nil {
			return Array{}, s.c.rpcError("Upload", err, ctx, timeout)
		}
		return arrayFromProto(info), nil
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the stream if a Send fails
	stream, err := s.c.worker.UploadStream(sctx)
	if err != nil {
		return Array{}, s.c.rpcError("UploadStream", err, ctx, 0)
	}
	for off := 0; off < len(t.Data); off += StreamChunkBytes {
		end := off + StreamChunkBytes
		if end > len(t.Data) {
			end = len(t.Data)
		}
		req := &pb.UploadRequest{Chunk: &pb.TensorChunk{Offset: int64(off), Data: t.Data[off:end]}}
		if off == 0 {
			req.Session, req.Into, req.Context = s.id, into, dev.proto()
			req.Chunk.Meta = t.meta()
		}
		if err := stream.Send(req); err != nil {
			if err == io.EOF {
				break // the worker ended the stream; CloseAndRecv has its status
			}
			return Array{}, s.c.rpcError("UploadStream", err, ctx, 0)
		}
	}
	info, err := stream.CloseAndRecv()
	if err != nil {
		return Array{}, s.c.rpcError("UploadStream", err, ctx, 0)
	}
	return arrayFromProto(info), nil
}

// Download returns a's values (a.asnumpy()) once the pending work writing them is done; it
// has no deadline but ctx's. Arrays above StreamChunkBytes travel as a stream of chunks.
// Errors: NotFound for an unknown array; the error of failed work that wrote it (operator
// calls are asynchronous: their errors surface here); InvalidArgument for a sparse array
// (download its parts: the worker's SparseParts).
func (s *Session) Download(ctx context.Context, a Array) (*Tensor, error) {
	if a.Storage != Dense {
		return nil, newError("Download", codes.InvalidArgument, fmt.Sprintf(
			"%s is sparse; download its parts (Worker().SparseParts)", a))
	}
	if a.Bytes() <= StreamChunkBytes {
		resp, err := s.c.worker.Download(ctx, &pb.DownloadRequest{Session: s.id, Handle: a.Handle})
		if err != nil {
			return nil, s.c.rpcError("Download", err, ctx, 0)
		}
		t := &Tensor{DType: DType(resp.GetMeta().GetDtype()), Shape: resp.GetMeta().GetShape(),
			Data: resp.GetData()}
		if p := t.problem(); p != "" {
			return nil, newError("Download", codes.Internal, "the worker sent a "+p)
		}
		return t, nil
	}
	return s.downloadStream(ctx, a)
}

func (s *Session) downloadStream(ctx context.Context, a Array) (*Tensor, error) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the server's work when we stop reading early
	stream, err := s.c.worker.DownloadStream(sctx, &pb.DownloadRequest{
		Session: s.id, Handle: a.Handle, ChunkBytes: StreamChunkBytes})
	if err != nil {
		return nil, s.c.rpcError("DownloadStream", err, ctx, 0)
	}
	var t *Tensor
	var received int64
	for {
		chunk, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, s.c.rpcError("DownloadStream", err, ctx, 0)
		}
		if meta := chunk.GetMeta(); meta != nil {
			t = &Tensor{DType: DType(meta.GetDtype()), Shape: meta.GetShape()}
			t.Data = make([]byte, t.Size()*int64(t.DType.Size()))
		}
		if t == nil {
			return nil, newError("DownloadStream", codes.Internal,
				"the worker's first chunk carried no meta")
		}
		off := chunk.GetOffset()
		if off < 0 || off+int64(len(chunk.GetData())) > int64(len(t.Data)) {
			return nil, newError("DownloadStream", codes.Internal, fmt.Sprintf(
				"the worker sent bytes [%d, %d) of a %d-byte array", off,
				off+int64(len(chunk.GetData())), len(t.Data)))
		}
		copy(t.Data[off:], chunk.GetData())
		received += int64(len(chunk.GetData()))
	}
	if t == nil {
		return nil, newError("DownloadStream", codes.Internal, "the worker sent no chunks")
	}
	if received != int64(len(t.Data)) {
		return nil, newError("DownloadStream", codes.Internal, fmt.Sprintf(
			"the worker sent %d bytes of a %d-byte array", received, len(t.Data)))
	}
	return t, nil
}
