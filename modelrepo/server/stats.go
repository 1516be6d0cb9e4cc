package server

import (
	"sort"
	"sync"
	"time"

	pb "github.com/agiqa-bench/agiqa/client/inferencepb"
)

type duration struct{ count, ns uint64 }

func (d *duration) add(t time.Duration) {
	d.count++
	if t > 0 {
		d.ns += uint64(t)
	}
}

func (d duration) proto() *pb.StatisticDuration {
	return &pb.StatisticDuration{Count: d.count, Ns: d.ns}
}

type batchStat struct{ input, infer, output duration }

// versionStats are the cumulative counters of one model version, with
// Triton's meaning: success/fail count requests and their whole duration
// (receipt to response); queue and compute_* are per successful request;
// inference_count counts batch rows of successful requests; execution_count
// and batch_stats count model executions.
type versionStats struct {
	mu             sync.Mutex
	lastInference  uint64
	inferenceCount uint64
	executionCount uint64
	success, fail  duration
	queue          duration
	computeInput   duration
	computeInfer   duration
	computeOutput  duration
	batches        map[uint64]*batchStat
	failReasons    [numFailReasons]uint64 // fail.count split by Triton's metric reason
}

func newVersionStats() *versionStats { return &versionStats{batches: map[uint64]*batchStat{}} }

func (st *versionStats) recordSuccess(total time.Duration, rows int, r execResult) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.success.add(total)
	st.queue.add(r.queue)
	st.computeInput.add(r.computeInput)
	st.computeInfer.add(r.computeInfer)
	st.computeOutput.add(r.computeOutput)
	st.inferenceCount += uint64(rows)
	st.lastInference = nowMillis()
}

// recordFail counts a failure of reason OTHER (a request refused before it ran).
func (st *versionStats) recordFail(total time.Duration) { st.recordFailAs(total, failOther) }

// recordFailAs counts a failure under the reason nv_inference_request_failure labels it with.
func (st *versionStats) recordFailAs(total time.Duration, reason failReason) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.fail.add(total)
	st.failReasons[reason]++
	st.lastInference = nowMillis()
}

func (st *versionStats) recordExecution(rows int, input, infer, output time.Duration) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.executionCount++
	b := st.batches[uint64(rows)]
	if b == nil {
		b = &batchStat{}
		st.batches[uint64(rows)] = b
	}
	b.input.add(input)
	b.infer.add(infer)
	b.output.add(output)
}

func (st *versionStats) proto(name, version string) *pb.ModelStatistics {
	st.mu.Lock()
	defer st.mu.Unlock()
	out := &pb.ModelStatistics{
		Name:           name,
		Version:        version,
		LastInference:  st.lastInference,
		InferenceCount: st.inferenceCount,
		ExecutionCount: st.executionCount,
		InferenceStats: &pb.InferStatistics{
			Success:       st.success.proto(),
			Fail:          st.fail.proto(),
			Queue:         st.queue.proto(),
			ComputeInput:  st.computeInput.proto(),
			ComputeInfer:  st.computeInfer.proto(),
			ComputeOutput: st.computeOutput.proto(),
			CacheHit:      &pb.StatisticDuration{},
			CacheMiss:     &pb.StatisticDuration{},
		},
	}
	sizes := make([]uint64, 0, len(st.batches))
	for k := range st.batches {
		sizes = append(sizes, k)
	}
	sort.Slice(sizes, func(i, j int) bool { return sizes[i] < sizes[j] })
	for _, k := range sizes {
		b := st.batches[k]
		out.BatchStats = append(out.BatchStats, &pb.InferBatchStatistics{BatchSize: k,
			ComputeInput: b.input.proto(), ComputeInfer: b.infer.proto(), ComputeOutput: b.output.proto()})
	}
	return out
}
