package client

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Error is the one error type the client returns: which call, on which model,
// with which gRPC code. Errors found on the client side use the code gRPC would
// have used: InvalidArgument for a bad request, NotFound for an output that is
// not in a response. A response the client cannot decode is DataLoss with
// BadResponse set (IsBadResponse): the server answered, so it is not the
// server's Internal error, and no retry is made.
type Error struct {
	Op      string // RPC or method name, e.g. "ModelInfer", "Output"
	Model   string // empty for server-wide calls
	Code    codes.Code
	Message string
	Err     error // the underlying error (a gRPC status error, *tensor.Error, ...), may be nil
	// Target is the server address the failed attempt went to; empty for
	// clients made with NewFromConn and for errors found before sending.
	Target string
	// BadResponse: the server answered but the client could not decode the
	// answer (a malformed message, data that does not match its shape).
	BadResponse bool
	// ctxErr is the caller's ctx error when that ctx had ended by the time
	// the call failed; gRPC's status error does not wrap it.
	ctxErr error
}

func (e *Error) Error() string {
	// The address matters when the server could not be reached or did not
	// answer in time: gRPC's own message often does not name it.
	where := ""
	if e.Target != "" && (e.Code == codes.Unavailable || e.Code == codes.DeadlineExceeded) {
		where = fmt.Sprintf(" (server %s)", e.Target)
	}
	if e.BadResponse {
		where += " (response refused by the client)"
	}
	if e.Model != "" {
		return fmt.Sprintf("%s model %q%s: %s: %s", e.Op, e.Model, where, e.Code, e.Message)
	}
	return fmt.Sprintf("%s%s: %s: %s", e.Op, where, e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Is makes errors.Is(err, context.Canceled / context.DeadlineExceeded) true
// for a call the caller's ctx ended, as with any ctx-taking Go API. A server's
// own DeadlineExceeded or a WithPerCallTimeout expiry does not match.
func (e *Error) Is(target error) bool { return e.ctxErr != nil && errors.Is(e.ctxErr, target) }

// withCtx records on the *Error in err that ctx had ended, if it had.
func withCtx(ctx context.Context, err error) error {
	cerr := ctx.Err()
	if dl, ok := ctx.Deadline(); ok && cerr == nil && !time.Now().Before(dl) {
		// The deadline has passed but ctx's timer has not fired yet: the
		// server, which got the deadline too, can end the call first.
		cerr = context.DeadlineExceeded
	}
	var ce *Error
	if cerr != nil && errors.As(err, &ce) {
		ce.ctxErr = cerr
	}
	return err
}

// GRPCStatus lets status.Code and status.FromError see through the wrapper.
func (e *Error) GRPCStatus() *status.Status { return status.New(e.Code, e.Message) }

// wrapRPC turns an error from a gRPC call into *Error.
func wrapRPC(op, model string, err error) error {
	var ce *Error
	if errors.As(err, &ce) {
		return err
	}
	st, ok := status.FromError(err)
	if !ok {
		st = status.FromContextError(err) // plain context errors; anything else becomes Unknown
	}
	if st.Code() == codes.Internal && strings.HasPrefix(st.Message(), grpcUnmarshalPrefix) {
		// grpc-go's own code for a response it cannot unmarshal, found here, not on the server.
		return &Error{Op: op, Model: model, Code: codes.DataLoss, Message: st.Message(), Err: err, BadResponse: true}
	}
	return &Error{Op: op, Model: model, Code: st.Code(), Message: st.Message(), Err: err}
}

// grpcUnmarshalPrefix starts grpc-go's message for a received message that
// does not unmarshal (rpc_util.go recvAndDecompress/decode).
const grpcUnmarshalPrefix = "grpc: failed to unmarshal the received message"

// badResponse is a response the client cannot decode.
func badResponse(op, model string, err error) *Error {
	return &Error{Op: op, Model: model, Code: codes.DataLoss, Message: err.Error(), Err: err, BadResponse: true}
}

// IsBadResponse reports a response the client could not decode: a client-side
// failure on a server's answer, never retried (retrying gets the same answer).
func IsBadResponse(err error) bool {
	var ce *Error
	return errors.As(err, &ce) && ce.BadResponse
}

func newError(op, model string, code codes.Code, err error) *Error {
	return &Error{Op: op, Model: model, Code: code, Message: err.Error(), Err: err}
}

// Code is the gRPC code of err: from *Error or a gRPC status anywhere in the
// chain, codes.OK for nil, codes.Canceled / DeadlineExceeded for context errors.
func Code(err error) codes.Code {
	if err == nil {
		return codes.OK
	}
	var ce *Error
	if errors.As(err, &ce) {
		return ce.Code
	}
	switch {
	case errors.Is(err, context.Canceled):
		return codes.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		return codes.DeadlineExceeded
	}
	return status.Code(err)
}

// IsNotFound reports an unknown model, version, output or region.
func IsNotFound(err error) bool { return Code(err) == codes.NotFound }

// IsUnavailable reports a server that could not be reached (after retries).
func IsUnavailable(err error) bool { return Code(err) == codes.Unavailable }
