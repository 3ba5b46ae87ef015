package mxgrid

import (
	"encoding/binary"
	"fmt"
	"math"

	"google.golang.org/grpc/codes"

	pb "mxgrid/clients/go/mxgridpb"
)

// Tensor is a value on the client's host: what Session.Upload sends and Session.Download
// returns. Data holds the elements in C order, little-endian, exactly
// Size() * DType.Size() bytes (the wire's layout, so that no conversion happens in transit).
// NewTensor and Values convert from and to Go slices.
type Tensor struct {
	DType DType
	// Dimensions, outermost first; empty for a scalar (one element).
	Shape []int64
	Data  []byte
}

// Size is the number of elements.
func (t *Tensor) Size() int64 { return numElements(t.Shape) }

// problem says what is wrong with t ("" when nothing): Data must hold exactly the elements
// of DType and Shape.
func (t *Tensor) problem() string {
	if t == nil {
		return "nil tensor"
	}
	if t.DType.Size() == 0 {
		return fmt.Sprintf("tensor dtype %s is not one the worker knows (use one of the "+
			"DType constants)", t.DType)
	}
	for _, d := range t.Shape {
		if d < 0 {
			return fmt.Sprintf("tensor shape %s has a negative dimension", ShapeString(t.Shape))
		}
	}
	if want := t.Size() * int64(t.DType.Size()); int64(len(t.Data)) != want {
		return fmt.Sprintf("tensor %s %s holds %d bytes of data; it needs %d", t.DType,
			ShapeString(t.Shape), len(t.Data), want)
	}
	return ""
}

func (t *Tensor) meta() *pb.TensorMeta {
	return &pb.TensorMeta{Dtype: pb.DType(t.DType), Shape: t.Shape}
}

// Element is a Go type with a DType: the types NewTensor and Values convert.
type Element interface {
	float32 | float64 | int8 | int16 | int32 | int64 | uint8 | uint16 | uint32 | uint64
}

// DTypeOf is the DType of the Go type T (float32 -> Float32, int64 -> Int64, ...).
func DTypeOf[T Element]() DType {
	var zero T
	switch any(zero).(type) {
	case float32:
		return Float32
	case float64:
		return Float64
	case int8:
		return Int8
	case int16:
		return Int16
	case int32:
		return Int32
	case int64:
		return Int64
	case uint8:
		return UInt8
	case uint16:
		return UInt16
	case uint32:
		return UInt32
	case uint64:
		return UInt64
	}
	return 0 // unreachable: Element lists exactly the cases above
}

// NewTensor makes a tensor of DTypeOf[T] from values in C order. InvalidArgument when
// len(values) is not the number of elements of shape (no shape: a 1-D tensor of all values).
func NewTensor[T Element](values []T, shape ...int64) (*Tensor, error) {
	if len(shape) == 0 {
		shape = []int64{int64(len(values))}
	}
	t := &Tensor{DType: DTypeOf[T](), Shape: append([]int64(nil), shape...)}
	if n := t.Size(); n != int64(len(values)) {
		return nil, newError("NewTensor", codes.InvalidArgument, fmt.Sprintf(
			"%d values for shape %s, which holds %d", len(values), ShapeString(shape), n))
	}
	size := t.DType.Size()
	t.Data = make([]byte, len(values)*size)
	for i, v := range values {
		putElement(t.Data[i*size:], t.DType, v)
	}
	return t, nil
}

// Values returns the tensor's elements as a []T in C order. InvalidArgument when T's DType
// is not the tensor's, or Data has the wrong size.
func Values[T Element](t *Tensor) ([]T, error) {
	if p := t.problem(); p != "" {
		return nil, newError("Values", codes.InvalidArgument, p)
	}
	if want := DTypeOf[T](); want != t.DType {
		return nil, newError("Values", codes.InvalidArgument, fmt.Sprintf(
			"the tensor holds %s, not %s", t.DType, want))
	}
	size := t.DType.Size()
	out := make([]T, t.Size())
	for i := range out {
		out[i] = getElement[T](t.Data[i*size:], t.DType)
	}
	return out, nil
}

func putElement[T Element](b []byte, dtype DType, v T) {
	le := binary.LittleEndian
	switch dtype {
	case Float32:
		le.PutUint32(b, math.Float32bits(float32(v)))
	case Float64:
		le.PutUint64(b, math.Float64bits(float64(v)))
	case Int8, UInt8:
		b[0] = byte(v)
	case Int16, UInt16:
		le.PutUint16(b, uint16(v))
	case Int32, UInt32:
		le.PutUint32(b, uint32(v))
	case Int64, UInt64:
		le.PutUint64(b, uint64(v))
	}
}

func getElement[T Element](b []byte, dtype DType) T {
	le := binary.LittleEndian
	switch dtype {
	case Float32:
		return T(math.Float32frombits(le.Uint32(b)))
	case Float64:
		return T(math.Float64frombits(le.Uint64(b)))
	case Int8:
		return T(int8(b[0]))
	case UInt8:
		return T(b[0])
	case Int16:
		return T(int16(le.Uint16(b)))
	case UInt16:
		return T(le.Uint16(b))
	case Int32:
		return T(int32(le.Uint32(b)))
	case UInt32:
		return T(le.Uint32(b))
	case Int64:
		return T(int64(le.Uint64(b)))
	}
	return T(le.Uint64(b))
}
