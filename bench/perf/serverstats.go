package perf

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	pb "github.com/agiqa-bench/agiqa/client/inferencepb"
)

// statsSnapshot is the cumulative ModelStatistics of one model on one server,
// summed over the versions the request covered.
type statsSnapshot struct {
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
	s := statsSnapshot{batches: map[uint64]uint64{}}
	for _, m := range stats {
		s.inferences += m.GetInferenceCount()
		s.executions += m.GetExecutionCount()
		is := m.GetInferenceStats()
		s.success.add(is.GetSuccess())
		s.fail.add(is.GetFail())
		s.queue.add(is.GetQueue())
		s.input.add(is.GetComputeInput())
		s.infer.add(is.GetComputeInfer())
		s.output.add(is.GetComputeOutput())
		for _, b := range m.GetBatchStats() {
			s.batches[b.GetBatchSize()] += b.GetComputeInfer().GetCount()
		}
	}
	return s
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

func (d duration) sub(o duration) duration { return duration{d.count - o.count, d.ns - o.ns} }

func (d duration) meanUS() float64 {
	if d.count == 0 {
		return 0
	}
	return float64(d.ns) / float64(d.count) / 1e3
}

// delta is end minus start. Counters that went down (a model reloaded on a
// server that resets them) are reported as an error rather than as huge
// unsigned differences.
func delta(start, end statsSnapshot) (*ServerStats, error) {
	if end.inferences < start.inferences || end.success.count < start.success.count ||
		end.executions < start.executions || end.fail.count < start.fail.count {
		return nil, fmt.Errorf("server statistics went backwards (model reloaded?)")
	}
	st := &ServerStats{
		Requests:        end.success.count - start.success.count,
		Failed:          end.fail.count - start.fail.count,
		Inferences:      end.inferences - start.inferences,
		Executions:      end.executions - start.executions,
		QueueUS:         end.queue.sub(start.queue).meanUS(),
		ComputeInputUS:  end.input.sub(start.input).meanUS(),
		ComputeInferUS:  end.infer.sub(start.infer).meanUS(),
		ComputeOutputUS: end.output.sub(start.output).meanUS(),
		RequestUS:       end.success.sub(start.success).meanUS(),
	}
	for size, n := range end.batches {
		if prev := start.batches[size]; n > prev {
			if st.BatchSizes == nil {
				st.BatchSizes = map[string]uint64{}
			}
			st.BatchSizes[strconv.FormatUint(size, 10)] = n - prev
		}
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
