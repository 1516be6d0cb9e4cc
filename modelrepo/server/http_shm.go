package server

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"net/http"
	"sort"

	"google.golang.org/protobuf/proto"

	pb "github.com/agiqa-bench/agiqa/client/inferencepb"
)

// routeSharedMemory serves Triton's shared-memory extension:
// /v2/{system,cuda}sharedmemory[/region/{name}]/status (GET) and
// .../register, .../unregister (POST). Status answers a JSON array of the
// regions; register takes {"key", "offset", "byte_size"} (system) or
// {"raw_handle": {"b64"}, "device_id", "byte_size"} (CUDA).
func (h *httpAPI) routeSharedMemory(w http.ResponseWriter, r *http.Request, cuda bool, rest []string) {
	region := ""
	if len(rest) == 3 && rest[0] == "region" {
		region, rest = rest[1], rest[2:]
	}
	if len(rest) != 1 {
		writeHTTPError(w, http.StatusNotFound, "Not Found")
		return
	}
	action := rest[0]
	want := http.MethodPost
	if action == "status" {
		want = http.MethodGet
	}
	if action != "status" && action != "register" && action != "unregister" {
		writeHTTPError(w, http.StatusNotFound, "Not Found")
		return
	}
	if !method(w, r, want) {
		return
	}
	var err error
	switch {
	case action == "status":
		h.shmStatus(w, r, cuda, region)
		return
	case action == "register" && region == "":
		kind := "system"
		if cuda {
			kind = "cuda"
		}
		err = invalidf("'region name' is necessary to register %s shared memory region", kind)
	case action == "register" && cuda:
		err = h.cudaRegister(r, region)
	case action == "register":
		var body struct {
			Key      *string `json:"key"`
			Offset   uint64  `json:"offset"`
			ByteSize *uint64 `json:"byte_size"`
		}
		if err = h.readJSONBody(r, fmt.Sprintf("register of shared memory region %q", region), &body); err != nil {
			break
		}
		if body.Key == nil || body.ByteSize == nil {
			err = invalidf("register of shared memory region %q: the body needs 'key' and 'byte_size'", region)
			break
		}
		_, err = h.svc.SystemSharedMemoryRegister(r.Context(), &pb.SystemSharedMemoryRegisterRequest{
			Name: region, Key: *body.Key, Offset: body.Offset, ByteSize: *body.ByteSize})
	case cuda:
		_, err = h.svc.CudaSharedMemoryUnregister(r.Context(), &pb.CudaSharedMemoryUnregisterRequest{Name: region})
	default:
		_, err = h.svc.SystemSharedMemoryUnregister(r.Context(), &pb.SystemSharedMemoryUnregisterRequest{Name: region})
	}
	if err != nil {
		writeStatusError(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (h *httpAPI) cudaRegister(r *http.Request, region string) error {
	var body struct {
		RawHandle *struct {
			B64 string `json:"b64"`
		} `json:"raw_handle"`
		DeviceID int64  `json:"device_id"`
		ByteSize uint64 `json:"byte_size"`
	}
	what := fmt.Sprintf("register of CUDA shared memory region %q", region)
	if err := h.readJSONBody(r, what, &body); err != nil {
		return err
	}
	if body.RawHandle == nil {
		return invalidf("%s: the body has no 'raw_handle' field", what)
	}
	handle, err := base64.StdEncoding.DecodeString(body.RawHandle.B64)
	if err != nil {
		return invalidf("%s: 'raw_handle' is not base64: %v", what, err)
	}
	_, err = h.svc.CudaSharedMemoryRegister(r.Context(), &pb.CudaSharedMemoryRegisterRequest{
		Name: region, RawHandle: handle, DeviceId: body.DeviceID, ByteSize: body.ByteSize})
	return err
}

// shmStatus answers the regions as a JSON array, ordered by name.
func (h *httpAPI) shmStatus(w http.ResponseWriter, r *http.Request, cuda bool, region string) {
	var regions []proto.Message
	if cuda {
		resp, err := h.svc.CudaSharedMemoryStatus(r.Context(), &pb.CudaSharedMemoryStatusRequest{Name: region})
		if err != nil {
			writeStatusError(w, err)
			return
		}
		for _, k := range sortedKeys(resp.Regions) {
			regions = append(regions, resp.Regions[k])
		}
	} else {
		resp, err := h.svc.SystemSharedMemoryStatus(r.Context(), &pb.SystemSharedMemoryStatusRequest{Name: region})
		if err != nil {
			writeStatusError(w, err)
			return
		}
		for _, k := range sortedKeys(resp.Regions) {
			regions = append(regions, resp.Regions[k])
		}
	}
	var b bytes.Buffer
	b.WriteByte('[')
	for i, m := range regions {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(protoJSON(m))
	}
	b.WriteByte(']')
	writeJSON(w, b.Bytes())
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
