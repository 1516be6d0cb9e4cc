package perf

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	pb "github.com/agiqa-bench/agiqa/client/inferencepb"
)

// statsSnapshot is the cumulative ModelStatistics of one model on one
// server, per version: a request without a version covers every ready
// version, and versions come and go (and restart their counters when
// reloaded) independently of each other.
type statsSnapshot struct {
	versions map[string]*versionCounters
}

type versionCounters struct {
	inferences, executions uint64
	success, fail          duration
	queue, input, infer    duration
	output                 duration
	batches                map[uint64]uint64 // batch size -> executions (compute_infer count)
}

type duration struct{ count, ns uint64 }

func (d *duration) add(s *pb.StatisticDuration) {
	d.count += s.GetCount()
	d.ns += s.GetNs()
}

func snapshotOf(stats []*pb.ModelStatistics) statsSnapshot {
	s := statsSnapshot{versions: map[string]*versionCounters{}}
	for _, m := range stats {
		c := s.versions[m.GetVersion()]
		if c == nil {
			c = &versionCounters{batches: map[uint64]uint64{}}
			s.versions[m.GetVersion()] = c
		}
		c.inferences += m.GetInferenceCount()
		c.executions += m.GetExecutionCount()
		is := m.GetInferenceStats()
		c.success.add(is.GetSuccess())
		c.fail.add(is.GetFail())
		c.queue.add(is.GetQueue())
		c.input.add(is.GetComputeInput())
		c.infer.add(is.GetComputeInfer())
		c.output.add(is.GetComputeOutput())
		for _, b := range m.GetBatchStats() {
			c.batches[b.GetBatchSize()] += b.GetComputeInfer().GetCount()
		}
	}
	return s
}

// below reports whether any counter of c is below its value in start: the
// version was reloaded (Triton restarts a version's statistics) since.
func (c *versionCounters) below(start *versionCounters) bool {
	if c.inferences < start.inferences || c.executions < start.executions {
		return true
	}
	for _, p := range [][2]duration{{c.success, start.success}, {c.fail, start.fail}, {c.queue, start.queue},
		{c.input, start.input}, {c.infer, start.infer}, {c.output, start.output}} {
		if p[0].count < p[1].count || p[0].ns < p[1].ns {
			return true
		}
	}
	for size, n := range start.batches {
		if c.batches[size] < n {
			return true
		}
	}
	return false
}

// ServerStats is the server's own account of a window: ModelStatistics
// counters at the window's end minus those at its start. Times are means per
// request in microseconds, as Triton's perf_analyzer reports them.
type ServerStats struct {
	// Requests is the number of requests the server completed successfully.
	Requests uint64 `json:"requests"`
	// Failed is the number of requests the server failed.
	Failed uint64 `json:"failed"`
	// Inferences counts inferences (batch rows) executed.
	Inferences uint64 `json:"inferences"`
	// Executions counts model executions (batches run).
	Executions uint64 `json:"executions"`
	// QueueUS is the mean time a request waited in the scheduler queue.
	QueueUS float64 `json:"queue_us"`
	// ComputeInputUS, ComputeInferUS and ComputeOutputUS are the mean times
	// spent preparing inputs, running the model and extracting outputs.
	ComputeInputUS  float64 `json:"compute_input_us"`
	ComputeInferUS  float64 `json:"compute_infer_us"`
	ComputeOutputUS float64 `json:"compute_output_us"`
	// RequestUS is the mean end-to-end time the server spent on a request.
	RequestUS float64 `json:"request_us"`
	// BatchSizes counts executions by the batch size the server formed
	// (keys are batch sizes as decimal strings, for JSON).
	BatchSizes map[string]uint64 `json:"batch_sizes,omitempty"`
}

func (d duration) sub(o duration) duration  { return duration{d.count - o.count, d.ns - o.ns} }
func (d duration) plus(o duration) duration { return duration{d.count + o.count, d.ns + o.ns} }

func (d duration) meanUS() float64 {
	if d.count == 0 {
		return 0
	}
	return float64(d.ns) / float64(d.count) / 1e3
}

var errStatsReset = errors.New("server statistics went backwards (model reloaded?)")

// delta is end minus start, summed over the versions in end. A version
// only in end (loaded since) counts from zero; one only in start (unloaded
// since) adds nothing. A version whose counters went down was reloaded in
// between, so its share of the span is unknown: errStatsReset, naming it,
// rather than huge unsigned differences or a reset hidden in a sum.
func delta(start, end statsSnapshot) (*ServerStats, error) {
	var sum versionCounters
	for v, e := range end.versions {
		s := start.versions[v]
		if s == nil {
			s = &versionCounters{}
		}
		if e.below(s) {
			return nil, fmt.Errorf("version %s: %w", v, errStatsReset)
		}
		sum.inferences += e.inferences - s.inferences
		sum.executions += e.executions - s.executions
		sum.success = sum.success.plus(e.success.sub(s.success))
		sum.fail = sum.fail.plus(e.fail.sub(s.fail))
		sum.queue = sum.queue.plus(e.queue.sub(s.queue))
		sum.input = sum.input.plus(e.input.sub(s.input))
		sum.infer = sum.infer.plus(e.infer.sub(s.infer))
		sum.output = sum.output.plus(e.output.sub(s.output))
		for size, n := range e.batches {
			if d := n - s.batches[size]; d > 0 {
				if sum.batches == nil {
					sum.batches = map[uint64]uint64{}
				}
				sum.batches[size] += d
			}
		}
	}
	st := &ServerStats{
		Requests:        sum.success.count,
		Failed:          sum.fail.count,
		Inferences:      sum.inferences,
		Executions:      sum.executions,
		QueueUS:         sum.queue.meanUS(),
		ComputeInputUS:  sum.input.meanUS(),
		ComputeInferUS:  sum.infer.meanUS(),
		ComputeOutputUS: sum.output.meanUS(),
		RequestUS:       sum.success.meanUS(),
	}
	for size, n := range sum.batches {
		if st.BatchSizes == nil {
			st.BatchSizes = map[string]uint64{}
		}
		st.BatchSizes[strconv.FormatUint(size, 10)] = n
	}
	return st, nil
}

// merge adds o into s, weighting the means by request counts.
func (s *ServerStats) merge(o *ServerStats) {
	if o == nil {
		return
	}
	w := func(a float64, na uint64, b float64, nb uint64) float64 {
		if na+nb == 0 {
			return 0
		}
		return (a*float64(na) + b*float64(nb)) / float64(na+nb)
	}
	n, m := s.Requests, o.Requests
	s.QueueUS = w(s.QueueUS, n, o.QueueUS, m)
	s.ComputeInputUS = w(s.ComputeInputUS, n, o.ComputeInputUS, m)
	s.ComputeInferUS = w(s.ComputeInferUS, n, o.ComputeInferUS, m)
	s.ComputeOutputUS = w(s.ComputeOutputUS, n, o.ComputeOutputUS, m)
	s.RequestUS = w(s.RequestUS, n, o.RequestUS, m)
	s.Requests += o.Requests
	s.Failed += o.Failed
	s.Inferences += o.Inferences
	s.Executions += o.Executions
	s.BatchSizes = addCounts(s.BatchSizes, o.BatchSizes)
}

// BatchSizesString renders BatchSizes as "1:120;4:30", sizes ascending.
func (s *ServerStats) BatchSizesString() string {
	if s == nil || len(s.BatchSizes) == 0 {
		return ""
	}
	type kv struct {
		size int
		n    uint64
	}
	var l []kv
	for k, v := range s.BatchSizes {
		n, _ := strconv.Atoi(k)
		l = append(l, kv{n, v})
	}
	sort.Slice(l, func(i, j int) bool { return l[i].size < l[j].size })
	parts := make([]string, len(l))
	for i, e := range l {
		parts[i] = fmt.Sprintf("%d:%d", e.size, e.n)
	}
	return strings.Join(parts, ";")
}
