package mxgrid

import (
	"fmt"
	"strings"

	pb "mxgrid/clients/go/mxgridpb"
)

// DType is an element type. Its values are the wire's (mxgridpb.DType: MXNet's type flag
// plus one), so that the zero value means "not set".
type DType int32

// The element types a worker knows.
const (
	Float32  = DType(pb.DType_FLOAT32)
	Float64  = DType(pb.DType_FLOAT64)
	Float16  = DType(pb.DType_FLOAT16)
	UInt8    = DType(pb.DType_UINT8)
	Int32    = DType(pb.DType_INT32)
	Int8     = DType(pb.DType_INT8)
	Int64    = DType(pb.DType_INT64)
	Bool     = DType(pb.DType_BOOL)
	Int16    = DType(pb.DType_INT16)
	UInt16   = DType(pb.DType_UINT16)
	UInt32   = DType(pb.DType_UINT32)
	UInt64   = DType(pb.DType_UINT64)
	BFloat16 = DType(pb.DType_BFLOAT16)
)

var dtypeSizes = map[DType]int{
	Float32: 4, Float64: 8, Float16: 2, UInt8: 1, Int32: 4, Int8: 1, Int64: 8, Bool: 1,
	Int16: 2, UInt16: 2, UInt32: 4, UInt64: 8, BFloat16: 2,
}

// Size is the bytes of one element; 0 for an unknown dtype.
func (d DType) Size() int { return dtypeSizes[d] }

// String is the dtype's NumPy name ("float32"), or "DType(n)" for an unknown one.
func (d DType) String() string {
	if d.Size() == 0 {
		return fmt.Sprintf("DType(%d)", int32(d))
	}
	return strings.ToLower(pb.DType(d).String())
}

// DeviceType is the kind of a device, as mxgridpb.DeviceType.
type DeviceType int32

// Device types (MXNet's mx.cpu, mx.gpu, mx.cpu_pinned, cpu_shared).
const (
	DeviceCPU       = DeviceType(pb.DeviceType_CPU)
	DeviceGPU       = DeviceType(pb.DeviceType_GPU)
	DeviceCPUPinned = DeviceType(pb.DeviceType_CPU_PINNED)
	DeviceCPUShared = DeviceType(pb.DeviceType_CPU_SHARED)
)

// Context names a device of the worker, as MXNet's mx.cpu(0) or mx.gpu(1). The zero value is
// the worker's cpu(0).
type Context struct {
	Type DeviceType
	ID   int32
}

// CPU is the worker's host memory, mx.cpu(id).
func CPU(id int32) Context { return Context{Type: DeviceCPU, ID: id} }

// GPU is the worker's GPU id, mx.gpu(id).
func GPU(id int32) Context { return Context{Type: DeviceGPU, ID: id} }

// String is MXNet's spelling: "cpu(0)", "gpu(1)".
func (c Context) String() string {
	switch c.Type {
	case 0, DeviceCPU:
		return fmt.Sprintf("cpu(%d)", c.ID)
	case DeviceGPU:
		return fmt.Sprintf("gpu(%d)", c.ID)
	case DeviceCPUPinned:
		return fmt.Sprintf("cpu_pinned(%d)", c.ID)
	case DeviceCPUShared:
		return fmt.Sprintf("cpu_shared(%d)", c.ID)
	}
	return fmt.Sprintf("DeviceType(%d)(%d)", int32(c.Type), c.ID)
}

func (c Context) proto() *pb.Context {
	return &pb.Context{Type: pb.DeviceType(c.Type), Id: c.ID}
}

func contextFromProto(c *pb.Context) Context {
	if c == nil {
		return CPU(0)
	}
	t := DeviceType(c.GetType())
	if t == 0 {
		t = DeviceCPU
	}
	return Context{Type: t, ID: c.GetId()}
}

// StorageType is an array's storage: dense, or one of MXNet's sparse formats.
type StorageType int32

// Storage types; the zero value is dense.
const (
	Dense     StorageType = 0
	RowSparse             = StorageType(pb.StorageType_ROW_SPARSE)
	CSR                   = StorageType(pb.StorageType_CSR)
)

// Array describes an NDArray the worker holds: its handle in a session and what the worker
// reported of it. An Array is a plain value: copying it copies the description, not the
// array; the array lives until Session.Free, or until its session ends.
type Array struct {
	// The array's handle within its session (never 0 for an existing array).
	Handle uint64
	DType  DType
	// Dimensions, outermost first; the logical shape of a sparse array.
	Shape   []int64
	Context Context
	Storage StorageType
}

// Size is the number of elements.
func (a Array) Size() int64 { return numElements(a.Shape) }

// Bytes is the size of a dense array's values in bytes.
func (a Array) Bytes() int64 { return a.Size() * int64(a.DType.Size()) }

// String is e.g. "array 4294967296 float32 (32, 64) on cpu(0)".
func (a Array) String() string {
	return fmt.Sprintf("array %d %s %s on %s", a.Handle, a.DType, ShapeString(a.Shape),
		a.Context)
}

func arrayFromProto(info *pb.ArrayInfo) Array {
	meta := info.GetMeta()
	st := StorageType(info.GetStype())
	if st == StorageType(pb.StorageType_DEFAULT) {
		st = Dense
	}
	return Array{
		Handle:  info.GetHandle(),
		DType:   DType(meta.GetDtype()),
		Shape:   append([]int64(nil), meta.GetShape()...),
		Context: contextFromProto(info.GetContext()),
		Storage: st,
	}
}

func arraysFromProto(infos []*pb.ArrayInfo) []Array {
	out := make([]Array, len(infos))
	for i, info := range infos {
		out[i] = arrayFromProto(info)
	}
	return out
}

func handles(arrays []Array) []uint64 {
	out := make([]uint64, len(arrays))
	for i, a := range arrays {
		out[i] = a.Handle
	}
	return out
}

// ShapeString formats a shape as MXNet's Python writes a tuple, "(32, 64)" or "(10,)": the
// form operator attributes take (Call.Attrs, e.g. "shape").
func ShapeString(shape []int64) string {
	parts := make([]string, len(shape))
	for i, d := range shape {
		parts[i] = fmt.Sprint(d)
	}
	if len(shape) == 1 {
		return "(" + parts[0] + ",)"
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

func numElements(shape []int64) int64 {
	n := int64(1)
	for _, d := range shape {
		n *= d
	}
	return n
}
