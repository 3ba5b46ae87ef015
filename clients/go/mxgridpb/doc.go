// Package mxgridpb is the Go code of mxgrid's wire protocol, proto/mxgrid/v1/*.proto
// (package mxgrid.v1): messages and the Worker, Compiler and KVStore service stubs.
//
// The .pb.go files are generated, not committed: run clients/go/generate.sh. Most users
// want package mxgrid, which wraps the Worker service; this package is for the calls it
// does not wrap.
package mxgridpb
