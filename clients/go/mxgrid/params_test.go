package mxgrid_test

import (
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/grpc/codes"

	"mxgrid/clients/go/mxgrid"
)

// The digits test split, written by MXNet 1.9.1's mx.nd.save (tests/graph_golden/export_digits.py).
var digitsTest = filepath.Join("..", "..", "..", "tests", "graph_golden", "data", "digits", "test.params")

func TestLoadParamsReadsMXNetFile(t *testing.T) {
	t.Parallel()
	named, err := mxgrid.LoadParams(digitsTest)
	if err != nil {
		t.Fatal(err)
	}
	data, label := named["data"], named["label"]
	if len(named) != 2 || data == nil || label == nil {
		t.Fatalf("names: %v", named)
	}
	if data.DType != mxgrid.Float32 || !equal(data.Shape, []int64{360, 64}) ||
		label.DType != mxgrid.Float32 || !equal(label.Shape, []int64{360}) {
		t.Fatalf("data %v %v, label %v %v", data.DType, data.Shape, label.DType, label.Shape)
	}
	pixels, _ := mxgrid.Values[float32](data)
	classes, _ := mxgrid.Values[float32](label)
	seen := map[float32]bool{}
	for _, c := range classes {
		if c != float32(int(c)) || c < 0 || c > 9 {
			t.Fatalf("label %v", c)
		}
		seen[c] = true
	}
	var max float32
	for _, p := range pixels {
		if p < 0 || p > 1 {
			t.Fatalf("pixel %v outside [0, 1]", p)
		}
		if p > max {
			max = p
		}
	}
	if len(seen) != 10 || max != 1 {
		t.Errorf("%d classes, brightest pixel %v", len(seen), max)
	}
}

func TestEncodeParamsRoundTripsAndMatchesMXNet(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(digitsTest)
	if err != nil {
		t.Fatal(err)
	}
	tensors, names, err := mxgrid.DecodeParams(raw)
	if err != nil {
		t.Fatal(err)
	}
	again, err := mxgrid.EncodeParams(tensors, names)
	if err != nil {
		t.Fatal(err)
	}
	if string(again) != string(raw) {
		t.Error("re-encoding MXNet's file changed its bytes")
	}
	list, err := mxgrid.EncodeParams([]*mxgrid.Tensor{mustTensor(t, []int64{1, -2}, 2, 1)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	back, names, err := mxgrid.DecodeParams(list)
	if err != nil || names != nil || len(back) != 1 {
		t.Fatalf("list file: %v %v %v", back, names, err)
	}
	if v, _ := mxgrid.Values[int64](back[0]); !equal(v, []int64{1, -2}) || !equal(back[0].Shape, []int64{2, 1}) {
		t.Errorf("list file came back as %v %v", v, back[0].Shape)
	}
}

func TestDecodeParamsRejectsBrokenFiles(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(digitsTest)
	if err != nil {
		t.Fatal(err)
	}
	broken := map[string][]byte{
		"empty":           nil,
		"truncated":       raw[:len(raw)/2],
		"no names":        raw[:len(raw)-20],
		"trailing bytes":  append(append([]byte(nil), raw...), 0),
		"not a list":      append([]byte{0x13}, raw[1:]...),
		"huge dimension":  withByte(raw, 24+12+7, 0x7f), // first record's first dim
		"sparse storage":  withByte(raw, 24+4, 1),
		"unknown dtype":   withByte(raw, 24+12+16+8, 99),
		"zero-dim record": withByte(raw, 24+8, 0),
	}
	for name, b := range broken {
		if _, _, err := mxgrid.DecodeParams(b); mxgrid.Code(err) != codes.InvalidArgument {
			t.Errorf("%s: got %v, want InvalidArgument", name, err)
		}
	}
	if _, err := mxgrid.EncodeParams([]*mxgrid.Tensor{{DType: mxgrid.Float32, Data: make([]byte, 4)}}, nil); mxgrid.Code(err) != codes.InvalidArgument {
		t.Errorf("0-d tensor: got %v, want InvalidArgument", err)
	}
}

func withByte(b []byte, at int, v byte) []byte {
	out := append([]byte(nil), b...)
	out[at] = v
	return out
}

func TestNewTensorAndValues(t *testing.T) {
	t.Parallel()
	x := mustTensor(t, []float32{1, -2.5, 3}, 3, 1)
	if x.DType != mxgrid.Float32 || x.Size() != 3 || len(x.Data) != 12 {
		t.Fatalf("tensor %+v", x)
	}
	if v, err := mxgrid.Values[float32](x); err != nil || !equal(v, []float32{1, -2.5, 3}) {
		t.Errorf("Values: %v %v", v, err)
	}
	if _, err := mxgrid.Values[int32](x); mxgrid.Code(err) != codes.InvalidArgument {
		t.Errorf("Values of another dtype: %v", err)
	}
	if _, err := mxgrid.NewTensor([]int8{1, 2, 3}, 2, 2); mxgrid.Code(err) != codes.InvalidArgument {
		t.Errorf("3 values for shape (2, 2): %v", err)
	}
	u, _ := mxgrid.NewTensor([]uint16{65535, 1})
	if v, _ := mxgrid.Values[uint16](u); !equal(v, []uint16{65535, 1}) || u.DType != mxgrid.UInt16 {
		t.Errorf("uint16 round trip: %v", v)
	}
	if got := mxgrid.ShapeString([]int64{10}); got != "(10,)" {
		t.Errorf("ShapeString((10,)) = %s", got)
	}
	if got := mxgrid.ShapeString([]int64{32, 64}); got != "(32, 64)" {
		t.Errorf("ShapeString((32, 64)) = %s", got)
	}
	if mxgrid.Float16.String() != "float16" || mxgrid.GPU(1).String() != "gpu(1)" {
		t.Errorf("names: %v %v", mxgrid.Float16, mxgrid.GPU(1))
	}
}
