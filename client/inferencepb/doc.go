// Package inferencepb holds the Go code generated from client/proto: the Triton /
// KServe v2 gRPC service and its model configuration messages.
package inferencepb

//go:generate ../../scripts/gen-proto.sh
