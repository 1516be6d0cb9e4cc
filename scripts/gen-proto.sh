#!/usr/bin/env bash
# Regenerates client/inferencepb from client/proto with pinned generators.
# protoc itself comes from Debian's protobuf-compiler (3.21.12); the Go plugins are
# installed at the versions below into .tools/bin so the output is reproducible.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
PROTOC_GEN_GO_VERSION=v1.36.12
PROTOC_GEN_GO_GRPC_VERSION=v1.6.2
bin="$root/.tools/bin"
mkdir -p "$bin"
if ! command -v protoc >/dev/null; then
  echo "gen-proto: protoc not found; install Debian's protobuf-compiler" >&2
  exit 1
fi
GOBIN="$bin" go install "google.golang.org/protobuf/cmd/protoc-gen-go@$PROTOC_GEN_GO_VERSION"
GOBIN="$bin" go install "google.golang.org/grpc/cmd/protoc-gen-go-grpc@$PROTOC_GEN_GO_GRPC_VERSION"
cd "$root/client/proto"
PATH="$bin:$PATH" protoc -I . \
  --go_out=../inferencepb --go_opt=paths=source_relative \
  --go-grpc_out=../inferencepb --go-grpc_opt=paths=source_relative \
  model_config.proto grpc_service.proto
