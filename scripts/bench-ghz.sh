#!/usr/bin/env bash
# bench-ghz.sh: agiqa perf against ghz (github.com/bojand/ghz), the generic Go
# gRPC load tester, on the same ModelInfer load.
#
# It builds agiqa, installs ghz from the Go module proxy, starts `agiqa serve`
# on loopback with a tiny model (the native laplacian_variance function on an
# 8x8 UINT8 image), then runs the two clients in alternation for ROUNDS rounds
# at the same concurrency over one connection each, and prints for each tool
# requests/s, the client's CPU seconds per 1000 requests (user + system, from
# /usr/bin/time), and the ratio agiqa/ghz. With 2 or more CPUs the server is
# pinned to all CPUs but the last and each client to the last one, so the
# clients compete for one core and the figure that matters is how much a
# client gets out of it.
#
# Usage: scripts/bench-ghz.sh            (from anywhere in the repository)
# Environment: CONC (8) requests in flight, DURATION (10) seconds per client
# run, ROUNDS (3), GHZ_VERSION (v0.120.0), GHZ (a ghz binary to use instead of
# installing one), AGIQA (an agiqa binary to use instead of building one),
# KEEP=1 keeps the work folder.
#
# Every process it starts (the server, ghz, agiqa perf, /usr/bin/time) runs in
# the background and is waited for, so a signal reaches the script at once; on
# exit, failure, Ctrl-C or SIGTERM all of them are stopped before it returns.
set -euo pipefail

CONC=${CONC:-8}
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
GHZ_VERSION=${GHZ_VERSION:-v0.120.0}
WARMUP=200

root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/bench-ghz.XXXXXX")
# descendants PID: every process below PID, deepest first.
descendants() {
	local child
	for child in $(pgrep -P "$1" || true); do
		descendants "$child"
		echo "$child"
	done
}
# stop_all: TERM every process this script started (the server drains first),
# then KILL what is still there after 5 s.
stop_all() {
	local pids alive p
	pids=$(descendants $$)
	[[ -n "$pids" ]] || return 0
	kill $pids 2>/dev/null || true
	for _ in $(seq 50); do
		alive=""
		for p in $pids; do kill -0 "$p" 2>/dev/null && alive+=" $p"; done
		[[ -n "$alive" ]] || return 0
		sleep 0.1
	done
	kill -9 $alive 2>/dev/null || true
}
cleanup() {
	trap "" INT TERM # a second Ctrl-C must not cut the cleanup short (it ends within 5 s)
	stop_all
	if [[ "${KEEP:-0}" == 1 ]]; then echo "work folder kept: $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

for tool in go python3 /usr/bin/time pgrep; do
	command -v "$tool" >/dev/null || { echo "bench-ghz: $tool is required" >&2; exit 1; }
done

if [[ -n "${AGIQA:-}" ]]; then
	cp "$AGIQA" "$work/agiqa"
else
	echo "building agiqa" >&2
	(cd "$root" && go build -o "$work/agiqa" ./cmd/agiqa)
fi
if [[ -z "${GHZ:-}" ]]; then
	echo "installing ghz $GHZ_VERSION from the Go module proxy" >&2
	GOBIN="$work/bin" GOFLAGS=-mod=mod go install "github.com/bojand/ghz/cmd/ghz@$GHZ_VERSION"
	GHZ="$work/bin/ghz"
fi

# CPU placement: server on CPUs 0..n-2, clients on CPU n-1.
ncpu=$(nproc)
server_cpus="" client_cpus=""
if command -v taskset >/dev/null && ((ncpu >= 2)); then
	server_cpus="0-$((ncpu - 2))"
	client_cpus="$((ncpu - 1))"
fi
on() { # on CPUS CMD...: run CMD (pinned when CPUS is set) in the background and wait for it
	local cpus=$1 pid
	shift
	if [[ -n "$cpus" ]]; then taskset -c "$cpus" "$@" & else "$@" & fi
	pid=$!
	wait "$pid"
}

# The tiny model: one UINT8 [3,8,8] image in, QUALITY out.
mkdir -p "$work/repo/tiny/1"
cat >"$work/repo/tiny/config.pbtxt" <<'EOF'
backend: "native"
max_batch_size: 8
input [ { name: "IMAGE" data_type: TYPE_UINT8 dims: [ 3, 8, 8 ] } ]
output [ { name: "QUALITY" data_type: TYPE_FP32 dims: [ 1 ] } ]
instance_group [ { kind: KIND_CPU count: 4 } ]
EOF
echo "laplacian_variance" >"$work/repo/tiny/1/model.native"

# taskset execs the server, so $! is the server itself.
if [[ -n "$server_cpus" ]]; then
	taskset -c "$server_cpus" "$work/agiqa" serve --addr 127.0.0.1:0 --repo "$work/repo" >"$work/serve.log" 2>&1 &
else
	"$work/agiqa" serve --addr 127.0.0.1:0 --repo "$work/repo" >"$work/serve.log" 2>&1 &
fi
server_pid=$!
addr=""
for _ in $(seq 100); do
	addr=$(sed -n 's/^agiqa serve: listening on //p' "$work/serve.log" | head -1)
	[[ -n "$addr" ]] && break
	kill -0 "$server_pid" 2>/dev/null || break
	sleep 0.1
done
[[ -n "$addr" ]] || { echo "bench-ghz: agiqa serve did not start:" >&2; cat "$work/serve.log" >&2; exit 1; }

# The same request for both: 192 zero bytes as IMAGE [1,3,8,8], QUALITY asked for.
zeros=$(head -c 192 /dev/zero | base64 -w0)
cat >"$work/request.json" <<EOF
{"model_name": "tiny", "inputs": [{"name": "IMAGE", "datatype": "UINT8", "shape": [1, 3, 8, 8]}],
 "outputs": [{"name": "QUALITY"}], "raw_input_contents": ["$zeros"]}
EOF

cpu_seconds() { awk '{print $1 + $2}' "$1"; }

run_ghz() { # prints "rps cpu_s_per_1000"
	on "$client_cpus" /usr/bin/time -f "%U %S" -o "$work/ghz.time" \
		"$GHZ" --insecure --proto "$root/client/proto/grpc_service.proto" --import-paths "$root/client/proto" \
		--call inference.GRPCInferenceService.ModelInfer -c "$CONC" --connections 1 -z "${DURATION}s" \
		-D "$work/request.json" -O json -o "$work/ghz.json" "$addr" >/dev/null
	python3 - "$work/ghz.json" "$(cpu_seconds "$work/ghz.time")" "$CONC" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
codes = r.get("statusCodeDistribution", {})
bad = sum(v for k, v in codes.items() if k != "OK")
# ghz ends a -z run by closing the connection under the requests in flight
# and counts them as Unavailable; more than that is a real failure.
if bad > int(sys.argv[3]):
    sys.exit(f"ghz saw errors: {codes} {r.get('errorDistribution')}")
ok = codes.get("OK", 0)
print(f'{ok / (r["total"] / 1e9):.1f} {float(sys.argv[2]) / r["count"] * 1000:.4f}')
EOF
}

run_agiqa() { # prints "rps cpu_s_per_1000"
	local window
	window=$(python3 -c "print(f'{$DURATION / 3:.3f}s')")
	on "$client_cpus" /usr/bin/time -f "%U %S" -o "$work/agiqa.time" \
		"$work/agiqa" perf --server "$addr" --model tiny --concurrency "$CONC" --connections 1 --input-data zeros \
		--warmup "$WARMUP" --window "$window" --max-trials 3 --stability 99 --metrics-url none -q --format json >"$work/agiqa.json"
	python3 - "$work/agiqa.json" "$(cpu_seconds "$work/agiqa.time")" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
lvl = r["levels"][0]
if lvl["status"] == "failed":
    sys.exit(f'agiqa perf level failed: {lvl.get("error")}')
print(f'{lvl["total"]["client"]["requests_per_sec"]:.1f} {float(sys.argv[2]) / r["total_requests"] * 1000:.4f}')
EOF
}

echo "server $addr (CPUs ${server_cpus:-all}), clients on CPU ${client_cpus:-all}; concurrency $CONC, ${DURATION}s per run, $ROUNDS rounds" >&2
: >"$work/results"
# The clients run in this shell, not in $(...) subshells, so a signal during a
# run stops the script at once.
for round in $(seq "$ROUNDS"); do
	run_ghz >"$work/ghz.result"
	run_agiqa >"$work/agiqa.result"
	g=$(<"$work/ghz.result")
	a=$(<"$work/agiqa.result")
	echo "round $round: ghz $g  agiqa $a" >&2
	echo "$g $a" >>"$work/results"
done

python3 - "$work/results" "$GHZ_VERSION" "$CONC" "$DURATION" <<'EOF'
import statistics, sys
rows = [list(map(float, l.split())) for l in open(sys.argv[1]) if l.strip()]
med = lambda i: statistics.median(r[i] for r in rows)
g_rps, g_cpu, a_rps, a_cpu = med(0), med(1), med(2), med(3)
print(f"ModelInfer on loopback, tiny model, concurrency {sys.argv[3]}, 1 connection, {sys.argv[4]} s per run,")
print(f"median of {len(rows)} alternating rounds (ghz {sys.argv[2]})")
print(f"{'client':<8}{'requests/s':>12}{'CPU s / 1000 req':>18}")
print(f"{'ghz':<8}{g_rps:>12.1f}{g_cpu:>18.4f}")
print(f"{'agiqa':<8}{a_rps:>12.1f}{a_cpu:>18.4f}")
print(f"agiqa / ghz: {a_rps / g_rps:.2f}x requests/s, {g_cpu / a_cpu:.2f}x less client CPU per request")
EOF
