package server

// The KServe v2 HTTP/REST endpoint, as Triton serves it on port 8000
// (https://github.com/kserve/open-inference-protocol, Triton's
// docs/protocol/extension_*.md and server src/http_server.cc for the
// extensions and exact answers). Every operation goes through the methods of
// the gRPC service (service.go) or the functions beneath them, so both
// endpoints share models, queues, statistics and shared-memory regions, and
// an error carries the same message on both: HTTP answers it with
// {"error": "<message>"} and Triton's status code for its gRPC code
// (httpCode).

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	pb "github.com/agiqa-bench/agiqa/client/inferencepb"
)

// DefaultHTTPAddr is Triton's HTTP port, loopback only.
const DefaultHTTPAddr = "127.0.0.1:8000"

// httpReadHeaderTimeout bounds how long a client may take to send request
// headers, so idle half-open connections do not pile up.
const httpReadHeaderTimeout = 30 * time.Second

type httpAPI struct {
	s   *Server
	svc *service
}

// httpServers are the HTTP servers one endpoint (the REST API, metrics) runs, for GracefulStop.
type httpServers struct {
	mu      sync.Mutex
	servers []*http.Server
	stopped bool
}

// serve runs hs on lis until the endpoint is stopped (then it returns nil), calling started once it
// is registered; what names the endpoint in errors.
func (e *httpServers) serve(hs *http.Server, lis net.Listener, what string, started func()) error {
	e.mu.Lock()
	if e.stopped {
		e.mu.Unlock()
		lis.Close()
		return nil
	}
	e.servers = append(e.servers, hs)
	e.mu.Unlock()
	started()
	if err := hs.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("server: %s: %w", what, err)
	}
	return nil
}

// stop marks the endpoint stopped (a later serve returns at once) and returns its servers.
func (e *httpServers) stop() []*http.Server {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.stopped = true
	servers := e.servers
	e.servers = nil
	return servers
}

// HTTPHandler is the KServe v2 HTTP/REST API of s (paths under /v2).
func (s *Server) HTTPHandler() http.Handler { return &httpAPI{s: s, svc: &service{s: s}} }

// ServeHTTPAPI serves the HTTP/REST API on lis until GracefulStop, which
// drains its requests with the gRPC ones; it returns nil after a stop.
func (s *Server) ServeHTTPAPI(lis net.Listener) error {
	hs := &http.Server{Handler: s.HTTPHandler(), ReadHeaderTimeout: httpReadHeaderTimeout, ErrorLog: s.log}
	return s.https.serve(hs, lis, "http", func() { s.log.Printf("serving %s over HTTP on %s", s.repo.Label, lis.Addr()) })
}

// shutdownHTTP stops accepting HTTP requests and waits for those in flight
// until ctx ends; then it closes their connections.
func (s *Server) shutdownHTTP(ctx context.Context) {
	var wg sync.WaitGroup
	for _, hs := range s.https.stop() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := hs.Shutdown(ctx); err != nil {
				hs.Close()
			}
		}()
	}
	wg.Wait()
}

func (h *httpAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			h.s.log.Printf("HTTP %s %s panicked: %v\n%s", r.Method, r.URL.Path, p, debug.Stack())
			writeHTTPError(w, http.StatusInternalServerError, fmt.Sprintf("%s: internal error: %v", r.URL.Path, p))
		}
	}()
	segs, ok := pathSegments(r.URL.EscapedPath())
	if !ok || len(segs) == 0 || segs[0] != "v2" {
		writeHTTPError(w, http.StatusNotFound, "Not Found")
		return
	}
	rest := segs[1:]
	switch {
	case len(rest) == 0:
		if method(w, r, http.MethodGet) {
			resp, _ := h.svc.ServerMetadata(r.Context(), &pb.ServerMetadataRequest{})
			writeJSON(w, protoJSON(resp))
		}
	case rest[0] == "health" && len(rest) == 2 && (rest[1] == "live" || rest[1] == "ready"):
		h.health(w, r, rest[1])
	case rest[0] == "models":
		h.routeModels(w, r, rest[1:])
	case rest[0] == "repository":
		h.routeRepository(w, r, rest[1:])
	case rest[0] == "systemsharedmemory" || rest[0] == "cudasharedmemory":
		h.routeSharedMemory(w, r, rest[0] == "cudasharedmemory", rest[1:])
	default:
		writeHTTPError(w, http.StatusNotFound, "Not Found")
	}
}

// pathSegments splits an escaped path into unescaped segments; a trailing
// slash is allowed, an empty segment elsewhere is not.
func pathSegments(p string) ([]string, bool) {
	p = strings.TrimSuffix(strings.TrimPrefix(p, "/"), "/")
	if p == "" {
		return nil, true
	}
	parts := strings.Split(p, "/")
	for i, s := range parts {
		u, err := url.PathUnescape(s)
		if err != nil || u == "" {
			return nil, false
		}
		parts[i] = u
	}
	return parts, true
}

// method answers 405 as Triton does unless r uses m.
func method(w http.ResponseWriter, r *http.Request, m string) bool {
	if r.Method == m || (m == http.MethodGet && r.Method == http.MethodHead) {
		return true
	}
	w.Header().Set("Allow", m)
	writeHTTPError(w, http.StatusMethodNotAllowed, "Method Not Allowed")
	return false
}

// health answers 200 (live, ready) or 400 with an empty body, as Triton.
func (h *httpAPI) health(w http.ResponseWriter, r *http.Request, kind string) {
	if !method(w, r, http.MethodGet) {
		return
	}
	var ok bool
	if kind == "live" {
		resp, _ := h.svc.ServerLive(r.Context(), &pb.ServerLiveRequest{})
		ok = resp.GetLive()
	} else {
		resp, _ := h.svc.ServerReady(r.Context(), &pb.ServerReadyRequest{})
		ok = resp.GetReady()
	}
	if ok {
		w.WriteHeader(http.StatusOK)
	} else {
		w.WriteHeader(http.StatusBadRequest)
	}
}

// routeModels serves /v2/models/stats and
// /v2/models/{name}[/versions/{v}][/ready|/config|/stats|/infer].
func (h *httpAPI) routeModels(w http.ResponseWriter, r *http.Request, rest []string) {
	if len(rest) == 1 && rest[0] == "stats" {
		h.stats(w, r, "", "")
		return
	}
	if len(rest) == 0 {
		writeHTTPError(w, http.StatusNotFound, "Not Found")
		return
	}
	name, version, action := rest[0], "", rest[1:]
	if len(action) >= 2 && action[0] == "versions" {
		version, action = action[1], action[2:]
	}
	if len(action) > 1 {
		writeHTTPError(w, http.StatusNotFound, "Not Found")
		return
	}
	ctx := r.Context()
	switch strings.Join(action, "") {
	case "":
		if method(w, r, http.MethodGet) {
			resp, err := h.svc.ModelMetadata(ctx, &pb.ModelMetadataRequest{Name: name, Version: version})
			answer(w, resp, err)
		}
	case "ready":
		// Triton: 200 when ready; 400 {"error": "Model version not ready"}
		// otherwise, unknown models included (ModelReady is false for them).
		if method(w, r, http.MethodGet) {
			resp, err := h.svc.ModelReady(ctx, &pb.ModelReadyRequest{Name: name, Version: version})
			switch {
			case err != nil:
				writeStatusError(w, err)
			case resp.Ready:
				w.WriteHeader(http.StatusOK)
			default:
				writeHTTPError(w, http.StatusBadRequest, "Model version not ready")
			}
		}
	case "config":
		if method(w, r, http.MethodGet) {
			resp, err := h.svc.ModelConfig(ctx, &pb.ModelConfigRequest{Name: name, Version: version})
			answer(w, resp.GetConfig(), err)
		}
	case "stats":
		h.stats(w, r, name, version)
	case "infer":
		h.infer(w, r, name, version)
	default:
		writeHTTPError(w, http.StatusNotFound, "Not Found")
	}
}

// answer writes m as JSON, or err.
func answer(w http.ResponseWriter, m proto.Message, err error) {
	if err != nil {
		writeStatusError(w, err)
		return
	}
	writeJSON(w, protoJSON(m))
}

func (h *httpAPI) stats(w http.ResponseWriter, r *http.Request, name, version string) {
	if method(w, r, http.MethodGet) {
		resp, err := h.svc.ModelStatistics(r.Context(), &pb.ModelStatisticsRequest{Name: name, Version: version})
		answer(w, resp, err)
	}
}

// readJSONBody decodes an optional JSON body into v (nothing when empty);
// the error says what is wrong with it.
func (h *httpAPI) readJSONBody(r *http.Request, what string, v any) error {
	body, err := h.readBody(r)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		return invalidf("%s: malformed JSON body: %v", what, err)
	}
	return nil
}

// routeRepository serves /v2/repository/index and
// /v2/repository/models/{name}/load|unload.
func (h *httpAPI) routeRepository(w http.ResponseWriter, r *http.Request, rest []string) {
	if len(rest) == 4 && rest[0] != "models" && rest[1] == "models" || len(rest) == 2 && rest[0] != "models" && rest[1] == "index" {
		// Triton: UNSUPPORTED "'repository_name' specification is not supported".
		writeHTTPError(w, http.StatusNotImplemented, fmt.Sprintf("repository %q: 'repository_name' specification is not supported", rest[0]))
		return
	}
	ctx := r.Context()
	switch {
	case len(rest) == 1 && rest[0] == "index":
		if !method(w, r, http.MethodPost) {
			return
		}
		var body struct {
			Ready bool `json:"ready"`
		}
		if err := h.readJSONBody(r, "repository index", &body); err != nil {
			writeStatusError(w, err)
			return
		}
		resp, _ := h.svc.RepositoryIndex(ctx, &pb.RepositoryIndexRequest{Ready: body.Ready})
		var b bytes.Buffer
		b.WriteByte('[')
		for i, m := range resp.Models {
			if i > 0 {
				b.WriteByte(',')
			}
			b.Write(protoJSON(m))
		}
		b.WriteByte(']')
		writeJSON(w, b.Bytes())
	case len(rest) == 3 && rest[0] == "models" && (rest[2] == "load" || rest[2] == "unload"):
		if !method(w, r, http.MethodPost) {
			return
		}
		h.loadUnload(w, r, rest[1], rest[2] == "load")
	default:
		writeHTTPError(w, http.StatusNotFound, "Not Found")
	}
}

func (h *httpAPI) loadUnload(w http.ResponseWriter, r *http.Request, name string, load bool) {
	var body struct {
		Parameters map[string]json.RawMessage `json:"parameters"`
	}
	what := fmt.Sprintf("unload of model %q", name)
	if load {
		what = fmt.Sprintf("load of model %q", name)
	}
	if err := h.readJSONBody(r, what, &body); err != nil {
		writeStatusError(w, err)
		return
	}
	var err error
	if load {
		req := &pb.RepositoryModelLoadRequest{ModelName: name}
		if len(body.Parameters) > 0 {
			req.Parameters = map[string]*pb.ModelRepositoryParameter{}
			for k, v := range body.Parameters {
				req.Parameters[k] = &pb.ModelRepositoryParameter{ParameterChoice: &pb.ModelRepositoryParameter_StringParam{StringParam: string(v)}}
			}
		}
		_, err = h.svc.RepositoryModelLoad(r.Context(), req)
	} else {
		req := &pb.RepositoryModelUnloadRequest{ModelName: name}
		if len(body.Parameters) > 0 {
			req.Parameters = map[string]*pb.ModelRepositoryParameter{}
			for k, v := range body.Parameters {
				var b bool
				if json.Unmarshal(v, &b) != nil {
					writeHTTPError(w, http.StatusBadRequest, fmt.Sprintf("%s: parameter %q must be a boolean", what, k))
					return
				}
				req.Parameters[k] = &pb.ModelRepositoryParameter{ParameterChoice: &pb.ModelRepositoryParameter_BoolParam{BoolParam: b}}
			}
		}
		_, err = h.svc.RepositoryModelUnload(r.Context(), req)
	}
	if err != nil {
		writeStatusError(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func validHostPort(addr string) bool {
	_, _, err := net.SplitHostPort(addr)
	return err == nil
}
