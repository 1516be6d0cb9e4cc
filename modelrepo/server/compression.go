package server

// gRPC message compression: the server decodes requests compressed with gzip or deflate (the
// algorithms Triton's clients offer, registered by package compression) and, as grpc-go does for
// a registered algorithm, compresses each response with the algorithm of its request. An
// uncompressed request gets an uncompressed response, as from Triton with its default
// --grpc-infer-response-compression-level=none.
import _ "github.com/agiqa-bench/agiqa/client/compression"
