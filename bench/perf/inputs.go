package perf

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/agiqa-bench/agiqa/client"
	pb "github.com/agiqa-bench/agiqa/client/inferencepb"
	"github.com/agiqa-bench/agiqa/client/tensor"
	"github.com/agiqa-bench/agiqa/modelrepo"
)

// InputData says what the requests carry.
type InputData string

const (
	// InputDataset sends real preprocessed images (and prompts) from
	// Config.Samples: the default when samples are given.
	InputDataset InputData = "dataset"
	// InputRandom sends seeded random values valid for each datatype.
	InputRandom InputData = "random"
	// InputZeros sends all-zero tensors.
	InputZeros InputData = "zeros"
)

// Sample is one preprocessed dataset item, ready to be sent.
type Sample struct {
	// Name identifies the item in errors (an image file name).
	Name string
	// Image is the IMAGE input: UINT8, channel-first RGB, 3*S*S bytes.
	Image []byte
	// Tokens is the TOKENS input (77 CLIP token ids, or L BERT WordPiece ids for agiqa.tokenizer
	// "bert_wordpiece"); nil for image-only models.
	Tokens []int64
	// Mask is the TOKENS_MASK input (1 over the start..end tokens, 0 over padding) for models that
	// take one; nil otherwise.
	Mask []int64
	// Encoded is the image file's bytes, for a model whose IMAGE is BYTES [1] (an ensemble that
	// preprocesses on the server); Image is then unused.
	Encoded []byte
}

// MaxInputBytes bounds the input bytes prepared per batch size; fewer
// distinct requests are prepared (and cycled through) when a dataset would
// need more.
const MaxInputBytes = 256 << 20

// maxVariants bounds the distinct requests prepared per batch size.
const maxVariants = 64

type tensorSpec struct {
	name     string
	dtype    tensor.DataType
	dims     []int64 // without the batch dimension
	rowBytes int64   // bytes per batch row; -1 when not fixed (BYTES, variable dims)
}

// modelInfo is what the load generator needs from a model's configuration.
type modelInfo struct {
	name, version string
	tokenizer     string // agiqa.tokenizer (modelrepo.TokenizerCLIP when unset or unknown)
	maxBatch      int    // 0: the model takes no batch dimension
	inputs        []tensorSpec
	outputs       []tensorSpec
}

// describe reads a model's inputs and outputs from its config (or, on
// servers that do not serve configs, its metadata). shapes overrides
// variable dimensions per input.
func describe(ctx context.Context, c *client.Client, model, version string, shapes map[string][]int64) (*modelInfo, error) {
	mi := &modelInfo{name: model, version: version, tokenizer: modelrepo.TokenizerCLIP}
	cfg, err := c.ModelConfig(ctx, model, version)
	switch {
	case err == nil:
		mi.maxBatch = int(cfg.GetMaxBatchSize())
		mi.tokenizer = modelrepo.Tokenizer(cfg)
		for _, in := range cfg.GetInput() {
			if in.GetOptional() {
				continue // load tests send what every request needs
			}
			dt, ok := tensor.FromConfig(in.GetDataType())
			if !ok {
				return nil, fmt.Errorf("model %q input %q: datatype %s is not supported", model, in.GetName(), in.GetDataType())
			}
			mi.inputs = append(mi.inputs, tensorSpec{name: in.GetName(), dtype: dt, dims: in.GetDims()})
		}
		for _, out := range cfg.GetOutput() {
			dt, _ := tensor.FromConfig(out.GetDataType())
			mi.outputs = append(mi.outputs, tensorSpec{name: out.GetName(), dtype: dt, dims: out.GetDims()})
		}
	case client.Code(err) == codes.Unimplemented:
		meta, merr := c.ModelMetadata(ctx, model, version)
		if merr != nil {
			return nil, merr
		}
		batched := len(meta.GetInputs()) > 0
		for _, in := range meta.GetInputs() {
			if s := in.GetShape(); len(s) == 0 || s[0] != -1 {
				batched = false
			}
		}
		strip := func(s []int64) []int64 {
			if batched {
				return s[1:]
			}
			return s
		}
		if batched {
			mi.maxBatch = math.MaxInt32 // metadata does not say how large
		}
		for _, in := range meta.GetInputs() {
			mi.inputs = append(mi.inputs, tensorSpec{name: in.GetName(), dtype: tensor.DataType(in.GetDatatype()), dims: strip(in.GetShape())})
		}
		for _, out := range meta.GetOutputs() {
			mi.outputs = append(mi.outputs, tensorSpec{name: out.GetName(), dtype: tensor.DataType(out.GetDatatype()), dims: strip(out.GetShape())})
		}
	default:
		return nil, err
	}
	if len(mi.inputs) == 0 {
		return nil, fmt.Errorf("model %q has no inputs to send", model)
	}
	known := map[string]bool{}
	for i := range mi.inputs {
		in := &mi.inputs[i]
		known[in.name] = true
		if s, ok := shapes[in.name]; ok {
			if len(s) != len(in.dims) {
				return nil, fieldErr("Shapes", in.name, "%d dimensions given, model %q input has %d (%v)", len(s), model, len(in.dims), in.dims)
			}
			for j, d := range in.dims {
				if d >= 0 && d != s[j] {
					return nil, fieldErr("Shapes", in.name, "dimension %d is fixed at %d by model %q, %d given", j, d, model, s[j])
				}
			}
			in.dims = append([]int64(nil), s...)
		}
		in.rowBytes = rowBytes(in.dtype, in.dims)
		if in.rowBytes < 0 && in.dtype != tensor.Bytes {
			return nil, fieldErr("Shapes", nil, "model %q input %q has variable shape %v: give its shape", model, in.name, in.dims)
		}
		if _, ok := tensor.ElementSize(in.dtype); !ok {
			return nil, fmt.Errorf("model %q input %q: datatype %q is not supported", model, in.name, in.dtype)
		}
	}
	for name := range shapes {
		if !known[name] {
			return nil, fieldErr("Shapes", name, "model %q has no such input", model)
		}
	}
	for i := range mi.outputs {
		mi.outputs[i].rowBytes = rowBytes(mi.outputs[i].dtype, mi.outputs[i].dims)
	}
	return mi, nil
}

// rowBytes is the byte size of one batch row, -1 when it is not fixed.
func rowBytes(dt tensor.DataType, dims []int64) int64 {
	size, ok := tensor.ElementSize(dt)
	if !ok || size == 0 {
		return -1
	}
	n := int64(1)
	for _, d := range dims {
		if d < 0 {
			return -1
		}
		n *= d
	}
	return n * int64(size)
}

// bytesElement is the length of each generated BYTES element.
const bytesElement = 8

// inputRowBytes is what one row of input in takes on the wire.
func (in *tensorSpec) wireRowBytes() int64 {
	if in.dtype != tensor.Bytes {
		return in.rowBytes
	}
	n := int64(1)
	for _, d := range in.dims {
		n *= d
	}
	return n * (4 + bytesElement)
}

// shape is the request shape of in at batch size b.
func (mi *modelInfo) shape(in *tensorSpec, b int) []int64 {
	if mi.maxBatch == 0 {
		return in.dims
	}
	return append([]int64{int64(b)}, in.dims...)
}

// checkBatch refuses a batch size the model cannot take.
func (mi *modelInfo) checkBatch(b int) error {
	switch {
	case b < 1:
		return fieldErr("Batches", b, "must be >= 1")
	case mi.maxBatch == 0 && b != 1:
		return fieldErr("Batches", b, "model %q does not batch (max_batch_size 0); only batch size 1 is possible", mi.name)
	case mi.maxBatch > 0 && b > mi.maxBatch:
		return fieldErr("Batches", b, "above model %q's max_batch_size %d", mi.name, mi.maxBatch)
	}
	return nil
}

// wantRawBytes is the total output bytes a response at batch b carries,
// -1 when not fixed.
func (mi *modelInfo) wantRawBytes(b int) int64 {
	var sum int64
	for _, o := range mi.outputs {
		if o.rowBytes < 0 {
			return -1
		}
		sum += o.rowBytes
	}
	return sum * int64(b)
}

// payloads is the input bytes of the prepared requests: payloads[v][i] is
// input i of variant v, B rows long.
type payloads [][][]byte

// makePayloads builds the distinct inputs for batch size b. All bytes are
// made here, before any clock starts.
func (mi *modelInfo) makePayloads(kind InputData, samples []Sample, b int, seed uint64) (payloads, error) {
	var perVariant int64
	for i := range mi.inputs {
		perVariant += mi.inputs[i].wireRowBytes() * int64(b)
	}
	variants := 1
	switch kind {
	case InputZeros:
	case InputRandom:
		variants = 16
	case InputDataset:
		if len(samples) == 0 {
			return nil, fieldErr("Input", quoted(kind), "no Samples given")
		}
		variants = (len(samples) + b - 1) / b
	default:
		return nil, fieldErr("Input", quoted(kind), "want %s, %s or %s", InputDataset, InputRandom, InputZeros)
	}
	variants = min(variants, maxVariants)
	if perVariant > 0 {
		variants = max(1, min(variants, int(MaxInputBytes/perVariant)))
	}
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	out := make(payloads, variants)
	for v := range out {
		out[v] = make([][]byte, len(mi.inputs))
		for i := range mi.inputs {
			in := &mi.inputs[i]
			if kind == InputDataset && in.dtype == tensor.Bytes && in.name == modelrepo.InputImage {
				enc, err := encodedRows(samples, v*b, b)
				if err != nil {
					return nil, fmt.Errorf("model %q: %w", mi.name, err)
				}
				out[v][i] = enc
				continue
			}
			buf := make([]byte, in.wireRowBytes()*int64(b))
			switch kind {
			case InputZeros:
				if in.dtype == tensor.Bytes {
					fillBytesElements(buf, nil)
				}
			case InputRandom:
				fillRandom(buf, in, rng, mi.tokenizer)
			case InputDataset:
				if err := fillDataset(buf, in, samples, v*b, b); err != nil {
					return nil, fmt.Errorf("model %q: %w", mi.name, err)
				}
			}
			out[v][i] = buf
		}
		if kind == InputRandom {
			mi.maskRandomTokens(out[v])
		}
	}
	return out, nil
}

// maskRandomTokens makes a random TOKENS_MASK agree with the random TOKENS of the same request: 1
// through the end token, 0 after it.
func (mi *modelInfo) maskRandomTokens(p [][]byte) {
	tok, mask := -1, -1
	for i, in := range mi.inputs {
		switch in.name {
		case modelrepo.InputTokens:
			tok = i
		case modelrepo.InputTokensMask:
			mask = i
		}
	}
	if tok < 0 || mask < 0 || len(p[tok]) != len(p[mask]) || mi.inputs[mask].dtype != tensor.Int64 {
		return
	}
	end := uint64(tokenEnd)
	if mi.tokenizer == modelrepo.TokenizerBERT {
		end = bertSEP
	}
	n := len(mi.inputs[tok].dims)
	if n != 1 {
		return
	}
	row := 8 * int(mi.inputs[tok].dims[0])
	for r := 0; r+row <= len(p[tok]); r += row {
		on := uint64(1)
		for j := r; j < r+row; j += 8 {
			binary.LittleEndian.PutUint64(p[mask][j:], on)
			if binary.LittleEndian.Uint64(p[tok][j:]) == end {
				on = 0
			}
		}
	}
}

// fillDataset copies b consecutive samples (from first, wrapping) into buf.
func fillDataset(buf []byte, in *tensorSpec, samples []Sample, first, b int) error {
	row := int(in.rowBytes)
	for r := 0; r < b; r++ {
		s := &samples[(first+r)%len(samples)]
		dst := buf[r*row : (r+1)*row]
		switch in.name {
		case modelrepo.InputImage:
			if in.dtype != tensor.Uint8 || len(s.Image) != row {
				return fmt.Errorf("input IMAGE is %s %v (%d bytes a row) but sample %s has %d image bytes",
					in.dtype, in.dims, row, s.Name, len(s.Image))
			}
			copy(dst, s.Image)
		case modelrepo.InputTokens, modelrepo.InputTokensMask:
			vals := s.Tokens
			if in.name == modelrepo.InputTokensMask {
				vals = s.Mask
			}
			if in.dtype != tensor.Int64 || len(vals)*8 != row {
				return fmt.Errorf("input %s is %s %v but sample %s has %d values for it", in.name, in.dtype, in.dims, s.Name, len(vals))
			}
			for j, t := range vals {
				binary.LittleEndian.PutUint64(dst[8*j:], uint64(t))
			}
		default:
			return fieldErr("Input", quoted(InputDataset), "model input %q: a dataset supplies only IMAGE, TOKENS and TOKENS_MASK; use %s or %s", in.name, InputRandom, InputZeros)
		}
	}
	return nil
}

// CLIP's start and end tokens and vocabulary size (DESIGN.md).
const (
	tokenStart = 49406
	tokenEnd   = 49407
	vocabSize  = 49408
)

// bert-base-uncased's [CLS] and [SEP] ids, its first ordinary token (ids below are [PAD], [unusedN]
// and the specials) and its vocabulary size.
const (
	bertCLS       = 101
	bertSEP       = 102
	bertFirstWord = 999
	bertVocabSize = 30522
)

// fillRandom writes values that are valid for the datatype: floats in
// [0, 1), integers in [0, 256) (bytes anything), booleans 0/1, and for a
// TOKENS input a well-formed sequence of the model's tokenizer (CLIP's, or
// BERT's for "bert_wordpiece").
func fillRandom(buf []byte, in *tensorSpec, rng *rand.Rand, tokenizer string) {
	switch in.dtype {
	case tensor.Uint8, tensor.Int8:
		for i := range buf {
			buf[i] = byte(rng.Uint32())
		}
	case tensor.Bool:
		for i := range buf {
			buf[i] = byte(rng.IntN(2))
		}
	case tensor.FP16:
		for i := 0; i+2 <= len(buf); i += 2 {
			binary.LittleEndian.PutUint16(buf[i:], tensor.Float32ToHalf(rng.Float32()))
		}
	case tensor.FP32:
		for i := 0; i+4 <= len(buf); i += 4 {
			binary.LittleEndian.PutUint32(buf[i:], math.Float32bits(rng.Float32()))
		}
	case tensor.FP64:
		for i := 0; i+8 <= len(buf); i += 8 {
			binary.LittleEndian.PutUint64(buf[i:], math.Float64bits(rng.Float64()))
		}
	case tensor.Int64:
		if in.name == modelrepo.InputTokens && len(in.dims) == 1 && in.dims[0] >= 2 {
			n := int(in.dims[0])
			for r := 0; r+8*n <= len(buf); r += 8 * n {
				row := buf[r : r+8*n]
				words := rng.IntN(n - 1) // 0..n-2 tokens between start and end
				put := func(j int, v int64) { binary.LittleEndian.PutUint64(row[8*j:], uint64(v)) }
				if tokenizer == modelrepo.TokenizerBERT {
					put(0, bertCLS)
					for j := 1; j <= words; j++ {
						put(j, int64(bertFirstWord+rng.IntN(bertVocabSize-bertFirstWord)))
					}
					put(words+1, bertSEP)
					continue
				}
				put(0, tokenStart)
				for j := 1; j <= words; j++ {
					put(j, int64(1+rng.IntN(tokenStart-1)))
				}
				put(words+1, tokenEnd)
			}
			return
		}
		fallthrough
	case tensor.Int16, tensor.Int32, tensor.Uint16, tensor.Uint32, tensor.Uint64:
		size, _ := tensor.ElementSize(in.dtype)
		for i := 0; i+size <= len(buf); i += size {
			buf[i] = byte(rng.Uint32()) // little-endian: the low byte, the rest stays 0
		}
	case tensor.Bytes:
		fillBytesElements(buf, rng)
	}
}

// fillBytesElements lays out BYTES elements of bytesElement bytes each.
func fillBytesElements(buf []byte, rng *rand.Rand) {
	for i := 0; i+4+bytesElement <= len(buf); i += 4 + bytesElement {
		binary.LittleEndian.PutUint32(buf[i:], bytesElement)
		if rng != nil {
			for j := 0; j < bytesElement; j++ {
				buf[i+4+j] = 'a' + byte(rng.IntN(26))
			}
		}
	}
}

// request builds the ModelInferRequest of one variant. With region != "",
// inputs reference that registered shared-memory region at the given
// offsets instead of carrying bytes.
func (mi *modelInfo) request(p [][]byte, b int, region string, offsets []int64) *pb.ModelInferRequest {
	req := &pb.ModelInferRequest{ModelName: mi.name, ModelVersion: mi.version}
	for i := range mi.inputs {
		in := &mi.inputs[i]
		t := &pb.ModelInferRequest_InferInputTensor{Name: in.name, Datatype: string(in.dtype), Shape: mi.shape(in, b)}
		if region != "" {
			t.Parameters = map[string]*pb.InferParameter{
				"shared_memory_region":    {ParameterChoice: &pb.InferParameter_StringParam{StringParam: region}},
				"shared_memory_byte_size": {ParameterChoice: &pb.InferParameter_Int64Param{Int64Param: int64(len(p[i]))}},
				"shared_memory_offset":    {ParameterChoice: &pb.InferParameter_Int64Param{Int64Param: offsets[i]}},
			}
		} else {
			req.RawInputContents = append(req.RawInputContents, p[i])
		}
		req.Inputs = append(req.Inputs, t)
	}
	for _, o := range mi.outputs {
		req.Outputs = append(req.Outputs, &pb.ModelInferRequest_InferRequestedOutputTensor{Name: o.name})
	}
	return req
}

// clientRequest is the same request in the client package's terms, used to
// send one checked request through client.Infer before the load starts.
func (mi *modelInfo) clientRequest(p [][]byte, b int, region string, offsets []int64) client.InferRequest {
	req := client.InferRequest{Model: mi.name, Version: mi.version, ID: "agiqa-perf-check"}
	for i := range mi.inputs {
		in := &mi.inputs[i]
		if region != "" {
			req.SharedMemoryInputs = append(req.SharedMemoryInputs, client.SharedMemoryInput{
				Name: in.name, DataType: in.dtype, Shape: mi.shape(in, b),
				Region: region, ByteSize: int64(len(p[i])), Offset: offsets[i]})
		} else {
			req.Inputs = append(req.Inputs, &tensor.Tensor{Name: in.name, DataType: in.dtype, Shape: mi.shape(in, b), Raw: p[i]})
		}
	}
	for _, o := range mi.outputs {
		req.Outputs = append(req.Outputs, o.name)
	}
	return req
}

// encode serialises a request once; the bytes are what every send reuses.
func encode(req *pb.ModelInferRequest) (*wireRequest, error) {
	b, err := proto.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("encoding request for model %q: %w", req.GetModelName(), err)
	}
	return &wireRequest{b: b}, nil
}

// outputNames lists the outputs requested.
func (mi *modelInfo) outputNames() string {
	n := make([]string, len(mi.outputs))
	for i, o := range mi.outputs {
		n[i] = o.name
	}
	return strings.Join(n, ", ")
}

// encodedRows is a BYTES IMAGE input of b consecutive samples' file bytes (from first, wrapping):
// each a 4-byte little-endian length, then the bytes.
func encodedRows(samples []Sample, first, b int) ([]byte, error) {
	elems := make([][]byte, b)
	for r := range elems {
		s := &samples[(first+r)%len(samples)]
		if s.Encoded == nil {
			return nil, fmt.Errorf("input IMAGE takes encoded images but sample %s has no file bytes", s.Name)
		}
		elems[r] = s.Encoded
	}
	return tensor.EncodeBytes(elems), nil
}
