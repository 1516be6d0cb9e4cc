package perf

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/agiqa-bench/agiqa/bench/perf/telemetry"
	"github.com/agiqa-bench/agiqa/bench/table/ascii"
)

// errorsString renders error counts as "Unavailable:12;Internal:1", by code name.
func errorsString(m map[string]uint64) string {
	if len(m) == 0 {
		return ""
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s:%d", k, m[k])
	}
	return strings.Join(parts, ";")
}

type row struct {
	l *Level
	f *Figures
}

// rows lists each level's total and, with several targets, each target.
func (r *Report) rows() []row {
	var out []row
	for _, l := range r.Levels {
		out = append(out, row{l, l.Total})
		for _, f := range l.PerTarget {
			out = append(out, row{l, f})
		}
	}
	return out
}

func (r *Report) loadHeader() string {
	if r.Mode == "rate" {
		return "Request Rate"
	}
	return "Concurrency"
}

func loadValue(l *Level) string {
	if l.Rate > 0 {
		return strconv.FormatFloat(l.Rate, 'f', -1, 64)
	}
	return strconv.Itoa(l.Concurrency)
}

// Title is the one-line description printed above the tables.
func (r *Report) Title() string {
	var b strings.Builder
	fmt.Fprintf(&b, "model %s", r.Model)
	if r.Version != "" {
		fmt.Fprintf(&b, " version %s", r.Version)
	}
	fmt.Fprintf(&b, " on %s; %s sweep", strings.Join(r.Targets, ", "), r.Mode)
	if r.Arrival != "" {
		fmt.Fprintf(&b, " (%s arrivals)", r.Arrival)
	}
	fmt.Fprintf(&b, "; input %s", r.Input)
	if r.SharedMemory != "" && r.SharedMemory != string(SharedMemoryNone) {
		fmt.Fprintf(&b, " via %s shared memory", r.SharedMemory)
	}
	if r.WindowRequests > 0 {
		fmt.Fprintf(&b, "; windows of %d requests", r.WindowRequests)
	} else {
		fmt.Fprintf(&b, "; windows of %g ms", r.WindowUS/1e3)
	}
	fmt.Fprintf(&b, ", stable within %g%% over %d windows, at most %d", r.StabilityPct, StableWindows, r.MaxTrials)
	return b.String()
}

func fmtMS(usv float64) string { return strconv.FormatFloat(usv/1e3, 'f', 3, 64) }
func fmtUS(usv float64) string { return strconv.FormatFloat(usv, 'f', 1, 64) }
func fmtRate(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

func fmtNum(n telemetry.Number, scale float64, prec int) string {
	if !n.Known() {
		return "-"
	}
	return strconv.FormatFloat(float64(n)*scale, 'f', prec, 64)
}

// networkUS is perf_analyzer's "Network+Server Send/Recv": the client's wait
// minus the time the server accounts for; 0 when the server split is unknown.
func networkUS(f *Figures) float64 {
	if f.Server == nil {
		return 0
	}
	s := f.Server
	return math.Max(0, f.Client.Client.WaitUS-(s.QueueUS+s.ComputeInputUS+s.ComputeInferUS+s.ComputeOutputUS))
}

// WriteTable renders the report as two plain-text tables: throughput and
// latency, then where the time went (client, network, server, GPU).
func WriteTable(w io.Writer, r *Report) error {
	if _, err := fmt.Fprintf(w, "%s\n\n", r.Title()); err != nil {
		return err
	}
	multi := len(r.Targets) > 1
	lead := []string{"Batch", r.loadHeader()}
	if multi {
		lead = append(lead, "Target")
	}
	leadCells := func(l *Level, f *Figures) []string {
		c := []string{strconv.Itoa(l.Batch), loadValue(l)}
		if multi {
			c = append(c, f.Target)
		}
		return c
	}
	t := ascii.New(w, append(append([]string(nil), lead...), "Status", "Infer/s", "Req/s",
		"Mean ms", "p50 ms", "p90 ms", "p95 ms", "p99 ms", "p99.9 ms", "Max ms", "Errors"), 0)
	for _, row := range r.rows() {
		m := row.f.Client
		status := row.l.Status
		if row.f != row.l.Total {
			status = ""
		}
		cells := append(leadCells(row.l, row.f), status, fmtRate(m.InferencesPerSec), fmtRate(m.RequestsPerSec),
			fmtMS(m.Latency.MeanUS), fmtMS(m.Latency.P50US), fmtMS(m.Latency.P90US), fmtMS(m.Latency.P95US),
			fmtMS(m.Latency.P99US), fmtMS(m.Latency.P999US), fmtMS(m.Latency.MaxUS), errorsString(m.Errors))
		if err := t.Append(cells); err != nil {
			return err
		}
	}
	if _, err := fmt.Fprintln(w, "Throughput and latency (latency from the intended send time)"); err != nil {
		return err
	}
	if err := t.Render(); err != nil {
		return err
	}

	gpu := false
	for _, row := range r.rows() {
		if row.f.GPU != nil {
			gpu = true
		}
	}
	h := append(append([]string(nil), lead...), "Client prepare", "Client wait", "Client handle",
		"Network", "Server queue", "Compute input", "Compute infer", "Compute output", "Server batches")
	if r.Mode == "rate" {
		h = append(h, "Send lag", "Delayed")
	}
	if gpu {
		h = append(h, "GPU util %", "GPU mem MiB", "GPU power W")
	}
	t = ascii.New(w, h, 0)
	for _, row := range r.rows() {
		f := row.f
		cs := f.Client.Client
		cells := append(leadCells(row.l, f), fmtUS(cs.PrepareUS), fmtUS(cs.WaitUS), fmtUS(cs.HandleUS))
		if s := f.Server; s != nil {
			cells = append(cells, fmtUS(networkUS(f)), fmtUS(s.QueueUS), fmtUS(s.ComputeInputUS), fmtUS(s.ComputeInferUS),
				fmtUS(s.ComputeOutputUS), s.BatchSizesString())
		} else {
			cells = append(cells, "-", "-", "-", "-", "-", "-")
		}
		if r.Mode == "rate" {
			cells = append(cells, fmtUS(cs.LagUS), strconv.FormatUint(f.Client.Delayed, 10))
		}
		if gpu {
			if g := f.GPU; g != nil {
				cells = append(cells, fmtNum(g.UtilizationPct, 1, 1), fmtNum(g.MemoryUsedMaxBytes, 1.0/(1<<20), 0), fmtNum(g.PowerMeanW, 1, 1))
			} else {
				cells = append(cells, "-", "-", "-")
			}
		}
		if err := t.Append(cells); err != nil {
			return err
		}
	}
	if _, err := fmt.Fprintln(w, "\nWhere the time went (microseconds, mean per request; server batches = size:executions)"); err != nil {
		return err
	}
	if err := t.Render(); err != nil {
		return err
	}
	for _, l := range r.Levels {
		if l.Error != "" {
			if _, err := fmt.Fprintf(w, "batch %d %s %s: %s\n", l.Batch, levelName(l), l.Status, l.Error); err != nil {
				return err
			}
		}
	}
	for _, n := range r.Notes {
		if _, err := fmt.Fprintf(w, "note: %s\n", n); err != nil {
			return err
		}
	}
	return nil
}

// CSVHeader is WriteCSV's header. The first columns carry perf_analyzer's
// names and meanings (times in microseconds, means per request; the first is
// "Request Rate" in rate mode); the rest are agiqa's own.
func CSVHeader(mode string) []string {
	first := "Concurrency"
	if mode == "rate" {
		first = "Request Rate"
	}
	return []string{
		first, "Inferences/Second", "Client Send", "Network+Server Send/Recv", "Server Queue",
		"Server Compute Input", "Server Compute Infer", "Server Compute Output", "Client Recv",
		"p50 latency", "p90 latency", "p95 latency", "p99 latency", "Avg latency", "request/response", "response wait",
		"Avg GPU Utilization", "Avg GPU Power Usage", "Max GPU Memory Usage", "Total GPU Memory",
		// agiqa's columns
		"Batch", "Target", "Status", "Requests/Second", "p99.9 latency", "Max latency",
		"Requests", "Errors", "Delayed", "Send Lag", "Server Batch Sizes",
	}
}

// WriteCSV writes one row per level total and, with several targets, per
// target. "Client Send" is the client's request preparation, "Client Recv"
// its response check, "request/response" their sum (perf_analyzer's
// (un)marshal time), "response wait" the gRPC round trip and
// "Network+Server Send/Recv" that wait minus the server's queue and compute
// times, as perf_analyzer derives it. GPU utilisation is a fraction 0..1 as
// in perf_analyzer's CSV (the mean over GPUs; the table and JSON give
// percent), power in watts, memory in bytes. Unknown values are empty.
func WriteCSV(w io.Writer, r *Report) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVHeader(r.Mode)); err != nil {
		return err
	}
	num := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	usi := func(v float64) string { return strconv.FormatFloat(math.Round(v), 'f', 0, 64) }
	tn := func(n telemetry.Number) string {
		if !n.Known() {
			return ""
		}
		return num(float64(n))
	}
	for _, row := range r.rows() {
		f, m := row.f, row.f.Client
		serverCells := []string{"", "", "", "", ""}
		batches := ""
		if s := f.Server; s != nil {
			serverCells = []string{usi(networkUS(f)), usi(s.QueueUS), usi(s.ComputeInputUS), usi(s.ComputeInferUS), usi(s.ComputeOutputUS)}
			batches = s.BatchSizesString()
		}
		gpuCells := []string{"", "", "", ""}
		if g := f.GPU; g != nil {
			// perf_analyzer writes Triton's nv_gpu_utilization as it is, a
			// fraction 0..1; the summary holds percent.
			gpuCells = []string{tn(g.UtilizationPct / 100), tn(g.PowerMeanW), tn(g.MemoryUsedMaxBytes), tn(g.MemoryTotalBytes)}
		}
		rec := []string{loadValue(row.l), num(m.InferencesPerSec), usi(m.Client.PrepareUS)}
		rec = append(rec, serverCells...)
		rec = append(rec, usi(m.Client.HandleUS),
			usi(m.Latency.P50US), usi(m.Latency.P90US), usi(m.Latency.P95US), usi(m.Latency.P99US),
			usi(m.Latency.MeanUS), usi(m.Client.PrepareUS+m.Client.HandleUS), usi(m.Client.WaitUS))
		rec = append(rec, gpuCells...)
		rec = append(rec, strconv.Itoa(row.l.Batch), f.Target, row.l.Status, num(m.RequestsPerSec),
			usi(m.Latency.P999US), usi(m.Latency.MaxUS), strconv.FormatUint(m.Requests, 10),
			errorsString(m.Errors), strconv.FormatUint(m.Delayed, 10), usi(m.Client.LagUS), batches)
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// WriteJSON writes the report as indented JSON (field meanings are on the
// Report, Level, Figures, Metrics and ServerStats types).
func WriteJSON(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
