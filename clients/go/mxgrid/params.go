package mxgrid

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"

	"google.golang.org/grpc/codes"
)

// MXNet 1.x's NDArray file format (mx.nd.save / mx.nd.load, ".params" files), for dense
// arrays: a list header (u64 0x112, u64 0, u64 N), N records, then u64 K and K names (u64
// length + UTF-8 bytes). A record is u32 magic 0xF993FAC9 (V2; 0xF993FACA, V3, is NumPy
// shape semantics), i32 storage type (0: dense), i32 ndim, ndim x i64 dims, i32 device type,
// i32 device id, i32 type flag (DType - 1), then the values, C order, little-endian. V1
// (0xF993FAC8, no storage type) and older records (the magic is ndim, u32 dims) are read
// too. Everything is little-endian.
const (
	paramsListMagic = 0x112
	paramsV1Magic   = 0xF993FAC8
	paramsV2Magic   = 0xF993FAC9
	paramsV3Magic   = 0xF993FACA
	maxParamsNDim   = 32
)

// DecodeParams parses the bytes of a .params file: its tensors, and their names when the
// file holds a dict (mx.nd.save of a dict), else nil. InvalidArgument for anything but a
// complete file of dense arrays (sparse records, 'none' arrays and truncation included).
func DecodeParams(b []byte) ([]*Tensor, []string, error) {
	r := &paramsReader{b: b}
	if magic := r.u64(); magic != paramsListMagic {
		return nil, nil, r.fail(fmt.Sprintf("not an NDArray file (magic %#x, want %#x)", magic,
			paramsListMagic))
	}
	r.u64() // reserved
	n := r.u64()
	var tensors []*Tensor
	for i := uint64(0); i < n && r.err == ""; i++ {
		t := r.record()
		if r.err != "" {
			r.err = fmt.Sprintf("array %d: %s", i, r.err)
			break
		}
		tensors = append(tensors, t)
	}
	k := r.u64()
	var names []string
	for i := uint64(0); i < k && r.err == ""; i++ {
		names = append(names, string(r.bytes(r.u64())))
	}
	if r.err != "" {
		return nil, nil, r.fail(r.err)
	}
	if k != 0 && k != n {
		return nil, nil, r.fail(fmt.Sprintf("%d names for %d arrays", k, n))
	}
	if r.pos != len(b) {
		return nil, nil, r.fail(fmt.Sprintf("%d bytes after the names", len(b)-r.pos))
	}
	return tensors, names, nil
}

// LoadParams reads a .params file holding a dict (mx.nd.save(path, {...})) into a map by name.
// InvalidArgument for a file without names; see DecodeParams.
func LoadParams(path string) (map[string]*Tensor, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, newError("LoadParams", codes.NotFound, err.Error())
	}
	tensors, names, err := DecodeParams(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if names == nil && len(tensors) > 0 {
		return nil, newError("LoadParams", codes.InvalidArgument, path+
			" holds a list of arrays, not a dict; use DecodeParams")
	}
	out := make(map[string]*Tensor, len(names))
	for i, name := range names {
		out[name] = tensors[i]
	}
	return out, nil
}

// EncodeParams writes tensors (and, unless names is nil, one name each: a dict) as MXNet 1.x's
// mx.nd.save does (V2 records, saved from cpu(0)). InvalidArgument for malformed tensors, a
// 0-d tensor (the V2 format cannot hold one) or names of the wrong number.
func EncodeParams(tensors []*Tensor, names []string) ([]byte, error) {
	if names != nil && len(names) != len(tensors) {
		return nil, newError("EncodeParams", codes.InvalidArgument, fmt.Sprintf(
			"%d names for %d tensors", len(names), len(tensors)))
	}
	le := binary.LittleEndian
	b := le.AppendUint64(nil, paramsListMagic)
	b = le.AppendUint64(b, 0)
	b = le.AppendUint64(b, uint64(len(tensors)))
	for i, t := range tensors {
		if p := t.problem(); p != "" {
			return nil, newError("EncodeParams", codes.InvalidArgument,
				fmt.Sprintf("tensor %d: %s", i, p))
		}
		if len(t.Shape) == 0 {
			return nil, newError("EncodeParams", codes.InvalidArgument, fmt.Sprintf(
				"tensor %d is 0-d, which MXNet 1.x's format cannot hold (reshape it to (1,))", i))
		}
		b = le.AppendUint32(b, paramsV2Magic)
		b = le.AppendUint32(b, 0) // dense
		b = le.AppendUint32(b, uint32(len(t.Shape)))
		for _, d := range t.Shape {
			b = le.AppendUint64(b, uint64(d))
		}
		b = le.AppendUint32(b, 1) // cpu
		b = le.AppendUint32(b, 0) // id 0
		b = le.AppendUint32(b, uint32(t.DType-1))
		b = append(b, t.Data...)
	}
	b = le.AppendUint64(b, uint64(len(names)))
	for _, name := range names {
		b = le.AppendUint64(b, uint64(len(name)))
		b = append(b, name...)
	}
	return b, nil
}

type paramsReader struct {
	b   []byte
	pos int
	err string // the first problem; reads after it return zeros
}

func (r *paramsReader) fail(msg string) error {
	return newError("DecodeParams", codes.InvalidArgument, msg)
}

func (r *paramsReader) bytes(n uint64) []byte {
	if r.err != "" {
		return nil
	}
	if n > uint64(len(r.b)-r.pos) {
		r.err = fmt.Sprintf("truncated at byte %d (%d more bytes needed)", r.pos, n)
		return nil
	}
	out := r.b[r.pos : r.pos+int(n)]
	r.pos += int(n)
	return out
}

func (r *paramsReader) u32() uint32 {
	if b := r.bytes(4); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

func (r *paramsReader) u64() uint64 {
	if b := r.bytes(8); b != nil {
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}

// shape reads ndim (unless given, >= 0) then the dims, 64-bit or (old records) 32-bit.
func (r *paramsReader) shape(ndim int64, dims32 bool) []int64 {
	if ndim < 0 {
		ndim = int64(int32(r.u32()))
	}
	if r.err != "" {
		return nil
	}
	if ndim < 0 || ndim > maxParamsNDim {
		r.err = fmt.Sprintf("ndim %d outside [0, %d]", ndim, maxParamsNDim)
		return nil
	}
	shape := make([]int64, ndim)
	for i := range shape {
		if dims32 {
			shape[i] = int64(r.u32())
		} else {
			shape[i] = int64(r.u64())
		}
		if shape[i] < 0 && r.err == "" {
			r.err = fmt.Sprintf("shape has a negative dimension %d ('none' array)", shape[i])
		}
	}
	return shape
}

func (r *paramsReader) record() *Tensor {
	magic := r.u32()
	var shape []int64
	switch magic {
	case paramsV2Magic, paramsV3Magic:
		if stype := int32(r.u32()); stype != 0 && r.err == "" {
			r.err = fmt.Sprintf("storage type %d (sparse) is not supported: dense arrays only",
				stype)
		}
		shape = r.shape(-1, false)
		if magic == paramsV2Magic && len(shape) == 0 && r.err == "" {
			r.err = "a 'none' array (ndim 0)"
		}
	case paramsV1Magic:
		shape = r.shape(-1, false)
		if len(shape) == 0 && r.err == "" {
			r.err = "a 'none' array (ndim 0)"
		}
	default: // before V1 the record starts with ndim, and dims are 32-bit
		shape = r.shape(int64(magic), true)
		if len(shape) == 0 && r.err == "" {
			r.err = "a 'none' array (ndim 0)"
		}
	}
	r.u32() // device type
	r.u32() // device id
	dtype := DType(int32(r.u32()) + 1)
	if r.err != "" {
		return nil
	}
	if dtype.Size() == 0 {
		r.err = fmt.Sprintf("unknown type flag %d", int32(dtype)-1)
		return nil
	}
	n := uint64(1)
	for _, d := range shape {
		if d != 0 && n > math.MaxInt64/uint64(d) {
			r.err = fmt.Sprintf("shape %s is too large", ShapeString(shape))
			return nil
		}
		n *= uint64(d)
	}
	if n > math.MaxInt64/uint64(dtype.Size()) {
		r.err = fmt.Sprintf("shape %s is too large", ShapeString(shape))
		return nil
	}
	data := r.bytes(n * uint64(dtype.Size()))
	if r.err != "" {
		return nil
	}
	return &Tensor{DType: dtype, Shape: shape, Data: append([]byte(nil), data...)}
}
