// Package perf measures how fast servers answer ModelInfer for one model, the
// way Triton's perf_analyzer does, on the project's client and protocol code.
//
// A sweep (Run) goes over batch sizes and load levels: closed loop (a fixed
// number of requests in flight per server) or open loop (a request rate per
// server, constant or Poisson arrivals). Each level sends warm-up requests,
// then measures windows, by time or by request count, until the last
// StableWindows windows agree on throughput and latency within the stability
// tolerance (status "stable"), MaxTrials windows have run ("unstable"), or a
// window sees errors ("failed"; OnError decides whether the sweep goes on).
// The figures of a level merge its last StableWindows windows.
//
// Per level and per server (and in total): requests/s and inferences/s;
// latency mean, p50, p90, p95, p99, p99.9 and max, exact (nearest rank over
// every successful request, metrics.Percentile); the client's time split (prepare, wait, handle,
// and for open loop the schedule lag); the server's split from
// ModelStatistics deltas over each window (queue, compute input, infer,
// output) and the batch sizes it formed; errors by gRPC code; and GPU
// utilisation, memory and power scraped from Triton's Prometheus endpoint
// (package telemetry). Open-loop latency runs from each request's scheduled
// send time, so a server that falls behind cannot hide the queueing.
//
// The hot path allocates no input bytes: requests are built from the inputs
// (dataset images and prompts, random values or zeros) and serialised once
// before the clock starts, sent as they are through a pass-through gRPC codec
// (or, with system shared memory, written once to /dev/shm and referenced),
// responses land in a buffer each sender reuses and are checked without
// decoding, and results go to preallocated per-sender buffers that the
// coordinator drains at each window cut. Control calls (readiness, config,
// statistics, shared-memory registration, one checked request per batch
// size) go through package client.
//
// Invalid configurations are refused with a *FieldError naming the Config
// field; the package parses no command-line syntax.
//
// Reports render as a terminal table, CSV with perf_analyzer's column names,
// JSON (field meanings on the types) and PNG plots.
package perf
