package client

import (
	"context"
	"errors"
	"io"
	"strconv"
	"sync"

	"google.golang.org/grpc/codes"

	pb "github.com/agiqa-bench/agiqa/client/inferencepb"
)

// Stream is a bidirectional ModelStreamInfer call. One goroutine may Send
// while another Recvs. Responses are matched to requests by request ID: Send
// fills an empty ID with a stream-unique one, and Recv returns results (and
// per-request errors) carrying that ID. It assumes one response per request
// (non-decoupled models).
type Stream struct {
	s      pb.GRPCInferenceService_ModelStreamInferClient
	ctx    context.Context // the caller's, to tell its end from the stream's own
	cancel context.CancelFunc

	sendMu sync.Mutex
	seq    uint64

	mu      sync.Mutex
	pending map[string]string // request ID -> model, for errors and accounting
	endErr  error             // why the stream ended, once Recv has seen it
}

// StreamInfer opens a stream on the next target. The stream lives until ctx
// ends or CloseSend is followed by Recv returning io.EOF. Streams are not
// retried and WithPerCallTimeout does not apply to them.
func (c *Client) StreamInfer(ctx context.Context) (*Stream, error) {
	sctx, cancel := context.WithCancel(ctx)
	stub, i := c.pick()
	s, err := stub.ModelStreamInfer(sctx, c.callOpts...)
	if err != nil {
		cancel()
		return nil, withCtx(ctx, c.withTarget(wrapRPC("ModelStreamInfer", "", err), i))
	}
	return &Stream{s: s, ctx: ctx, cancel: cancel, pending: make(map[string]string)}, nil
}

// Send validates and sends one request and returns the ID it was sent with.
func (st *Stream) Send(req InferRequest) (string, error) {
	st.sendMu.Lock()
	defer st.sendMu.Unlock()
	if req.ID == "" {
		st.seq++
		req.ID = "agiqa-" + strconv.FormatUint(st.seq, 10)
	}
	pr, err := req.proto()
	if err != nil {
		return "", newError("ModelStreamInfer", req.Model, codes.InvalidArgument, err)
	}
	st.mu.Lock()
	if _, dup := st.pending[req.ID]; dup {
		st.mu.Unlock()
		return "", newError("ModelStreamInfer", req.Model, codes.InvalidArgument,
			errors.New("request ID "+strconv.Quote(req.ID)+" is already in flight on this stream"))
	}
	st.pending[req.ID] = req.Model
	st.mu.Unlock()
	if err := st.s.Send(pr); err != nil {
		st.mu.Lock()
		delete(st.pending, req.ID)
		st.mu.Unlock()
		if err == io.EOF {
			// The stream has ended. Its status comes from Recv, which only
			// the caller may call: receiving here would race the caller's
			// Recv and swallow responses still buffered ahead of the status.
			st.mu.Lock()
			end := st.endErr
			st.mu.Unlock()
			if end == nil || end == io.EOF {
				return "", newError("ModelStreamInfer", req.Model, codes.Unavailable,
					errors.New("the stream has ended; Recv returns the responses still pending, then why it ended"))
			}
			err = end
		}
		return "", withCtx(st.ctx, wrapRPC("ModelStreamInfer", req.Model, err))
	}
	return req.ID, nil
}

// Recv returns the next result. A request the server failed yields a non-nil
// *InferResult holding only ID and Model plus an *Error (the stream stays
// usable); a failed stream yields (nil, *Error); a cleanly finished one
// (nil, io.EOF).
func (st *Stream) Recv() (*InferResult, error) {
	r, err := st.s.Recv()
	if err != nil {
		st.cancel() // the stream is over either way; release its context
		st.mu.Lock()
		st.endErr = err
		st.mu.Unlock()
		if err == io.EOF {
			return nil, io.EOF
		}
		return nil, withCtx(st.ctx, wrapRPC("ModelStreamInfer", "", err))
	}
	ir := r.GetInferResponse()
	id := ir.GetId()
	st.mu.Lock()
	model, known := st.pending[id]
	delete(st.pending, id)
	st.mu.Unlock()
	if !known || ir.GetModelName() != "" {
		model = ir.GetModelName()
	}
	if msg := r.GetErrorMessage(); msg != "" {
		return &InferResult{Model: model, ID: id},
			&Error{Op: "ModelStreamInfer", Model: model, Code: codes.Unknown, Message: "request " + strconv.Quote(id) + ": " + msg}
	}
	res, err := decodeResponse("ModelStreamInfer", model, ir)
	if err != nil {
		return &InferResult{Model: model, ID: id}, err
	}
	return res, nil
}

// Pending is the number of requests sent whose responses have not arrived.
func (st *Stream) Pending() int {
	st.mu.Lock()
	defer st.mu.Unlock()
	return len(st.pending)
}

// CloseSend tells the server no more requests follow; keep calling Recv until
// io.EOF to collect the remaining responses.
func (st *Stream) CloseSend() error {
	st.sendMu.Lock()
	defer st.sendMu.Unlock()
	return st.s.CloseSend()
}

// Close abandons the stream, cancelling whatever is in flight.
func (st *Stream) Close() { st.cancel() }
