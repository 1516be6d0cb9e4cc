package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"

	"google.golang.org/grpc/codes"

	"github.com/agiqa-bench/agiqa/client"
	pb "github.com/agiqa-bench/agiqa/client/inferencepb"
	"github.com/agiqa-bench/agiqa/client/tensor"
)

func init() {
	register(command{name: "models", summary: "list a server's models: versions, readiness, inputs, outputs", run: runModels})
}

// modelInfo is one line of 'agiqa models'.
//
// JSON fields: name; versions (as served, or the repository's); ready (ModelReady's
// answer, the one source of readiness); reason (why not ready); inputs and outputs
// ("NAME DATATYPE [dims]", dims without the batch dimension; from ModelMetadata on
// servers that serve no config, as the shape metadata gives: "-1" first when batched).
type modelInfo struct {
	Name     string   `json:"name"`
	Versions []string `json:"versions"`
	Ready    bool     `json:"ready"`
	Reason   string   `json:"reason,omitempty"`
	Inputs   []string `json:"inputs"`
	Outputs  []string `json:"outputs"`
}

func runModels(ctx context.Context, io cmdIO, args []string) error {
	fs := newFlags(io, "models", `
Usage: agiqa models --server ADDR [--format text|json]

Lists every model in the server's repository with its versions, whether it is
ready (and why not), and its input and output tensors.

Example:
  agiqa models --server 127.0.0.1:8001`)
	addr := fs.String("server", "", "Triton gRPC `address`")
	format := fs.String("format", "text", "output `format`: text or json")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := noArgs(fs); err != nil {
		return err
	}
	if *addr == "" {
		return usagef("--server is required")
	}
	if *format != "text" && *format != "json" {
		return usagef("--format: %q is not text or json", *format)
	}
	c, err := dialServer(ctx, *addr)
	if err != nil {
		return err
	}
	defer c.Close()
	infos, err := listModels(ctx, c)
	if err != nil {
		return err
	}
	if *format == "json" {
		enc := json.NewEncoder(io.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(infos)
	}
	tw := tabwriter.NewWriter(io.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "MODEL\tVERSIONS\tREADY\tINPUTS\tOUTPUTS")
	for _, m := range infos {
		ready := "yes"
		if !m.Ready {
			ready = "no: " + m.Reason
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", m.Name, strings.Join(m.Versions, ","), ready, strings.Join(m.Inputs, ", "), strings.Join(m.Outputs, ", "))
	}
	return tw.Flush()
}

func listModels(ctx context.Context, c *client.Client) ([]modelInfo, error) {
	idx, err := c.RepositoryIndex(ctx, false)
	if err != nil {
		return nil, err
	}
	byName := map[string]*modelInfo{}
	var order []string
	for _, e := range idx {
		m, ok := byName[e.GetName()]
		if !ok {
			m = &modelInfo{Name: e.GetName()}
			byName[e.GetName()] = m
			order = append(order, e.GetName())
		}
		if e.GetVersion() != "" {
			m.Versions = append(m.Versions, e.GetVersion())
		}
		if e.GetState() != "READY" && e.GetReason() != "" && m.Reason == "" {
			m.Reason = e.GetReason()
		}
	}
	sort.Strings(order)
	out := make([]modelInfo, 0, len(order))
	for _, name := range order {
		m := byName[name]
		ready, err := c.ModelReady(ctx, name, "")
		if err != nil {
			ready, m.Reason = false, err.Error()
		}
		m.Ready = ready
		if ready {
			m.Reason = ""
		} else if m.Reason == "" {
			m.Reason = "not ready"
		}
		m.Inputs, m.Outputs = tensorsOf(ctx, c, name)
		sort.Strings(m.Versions)
		out = append(out, *m)
	}
	return out, nil
}

// tensorsOf describes a model's inputs and outputs from its config, or from its
// metadata when the server has no ModelConfig (Unimplemented: KServe v2 servers
// other than Triton) or does not find one (NotFound).
func tensorsOf(ctx context.Context, c *client.Client, name string) (ins, outs []string) {
	cfg, err := c.ModelConfig(ctx, name, "")
	if err == nil {
		return describeTensors(cfg)
	}
	if code := client.Code(err); code != codes.Unimplemented && code != codes.NotFound {
		return nil, nil
	}
	meta, err := c.ModelMetadata(ctx, name, "")
	if err != nil {
		return nil, nil
	}
	f := func(t *pb.ModelMetadataResponse_TensorMetadata) string {
		d := make([]string, len(t.GetShape()))
		for i, x := range t.GetShape() {
			d[i] = fmt.Sprint(x)
		}
		return fmt.Sprintf("%s %s [%s]", t.GetName(), t.GetDatatype(), strings.Join(d, ","))
	}
	for _, t := range meta.GetInputs() {
		ins = append(ins, f(t))
	}
	for _, t := range meta.GetOutputs() {
		outs = append(outs, f(t))
	}
	return ins, outs
}

func describeTensors(cfg *pb.ModelConfig) (ins, outs []string) {
	f := func(name string, dt pb.DataType, dims []int64) string {
		wire, ok := tensor.FromConfig(dt)
		if !ok {
			wire = tensor.DataType(dt.String())
		}
		d := make([]string, len(dims))
		for i, x := range dims {
			d[i] = fmt.Sprint(x)
		}
		return fmt.Sprintf("%s %s [%s]", name, wire, strings.Join(d, ","))
	}
	for _, in := range cfg.GetInput() {
		ins = append(ins, f(in.GetName(), in.GetDataType(), in.GetDims()))
	}
	for _, out := range cfg.GetOutput() {
		outs = append(outs, f(out.GetName(), out.GetDataType(), out.GetDims()))
	}
	return ins, outs
}
