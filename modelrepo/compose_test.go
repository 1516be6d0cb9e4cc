package modelrepo_test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// The GPU deployment cannot run here (no Docker engine, no GPU), so this test
// loads docker-compose.yml with the Compose spec's own loader, which validates
// it, and checks the properties the GPU path depends on.
func TestDockerComposeGPUDeployment(t *testing.T) {
	root, _ := filepath.Abs(filepath.Join("..", "docker-compose.yml"))
	opts, err := cli.NewProjectOptions([]string{root},
		cli.WithWorkingDirectory(filepath.Dir(root)),
		cli.WithProfiles([]string{"trainer"}),
		cli.WithEnv([]string{"AGIQA_DATA=/data", "AGIQA_CACHE=/cache", "HOME=/root"}),
	)
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("docker-compose.yml does not load: %v", err)
	}
	triton, err := p.GetService("triton")
	if err != nil {
		t.Fatal(err)
	}
	// Built from the pinned Triton image plus libagiqa.so (modelrepo/triton/dockerfile_test.go checks
	// the Dockerfile), tagged apart so that the build never overwrites the base image's tag.
	if triton.Build == nil || triton.Build.Dockerfile != "modelrepo/triton/Dockerfile" {
		t.Errorf("triton is not built from modelrepo/triton/Dockerfile: %+v", triton.Build)
	} else if df, err := os.ReadFile(filepath.Join(triton.Build.Context, triton.Build.Dockerfile)); err != nil {
		t.Error(err)
	} else if froms := regexp.MustCompile(`(?m)^FROM (\S+)`).FindAllSubmatch(df, -1); len(froms) == 0 ||
		!regexp.MustCompile(`^nvcr\.io/nvidia/tritonserver:\d\d\.\d\d-py3$`).Match(froms[len(froms)-1][1]) {
		t.Errorf("triton's Dockerfile does not end on a pinned nvcr.io/nvidia/tritonserver:<yy.mm>-py3 stage")
	}
	if strings.HasPrefix(triton.Image, "nvcr.io/") {
		t.Errorf("triton image %q would overwrite the base image's tag", triton.Image)
	}
	if !hasGPU(triton) {
		t.Error("triton has no GPU device reservation")
	}
	if triton.ShmSize <= 0 {
		t.Error("triton has no shm_size")
	}
	if l := triton.Ulimits["memlock"]; l == nil || l.Single != -1 {
		t.Errorf("triton memlock ulimit %+v, want -1", l)
	}
	if l := triton.Ulimits["stack"]; l == nil || l.Single < 64<<20 {
		t.Errorf("triton stack ulimit %+v, want >= 64 MiB", l)
	}
	var ports []uint32
	for _, pc := range triton.Ports {
		ports = append(ports, pc.Target)
	}
	for _, want := range []uint32{8000, 8001, 8002} {
		if !slices.Contains(ports, want) {
			t.Errorf("triton does not publish port %d (has %v)", want, ports)
		}
	}
	if !slices.Contains(triton.Command, "--model-repository=/models") {
		t.Errorf("triton command %v lacks --model-repository=/models", triton.Command)
	}
	mounted := false
	for _, v := range triton.Volumes {
		if v.Target == "/models" && strings.HasSuffix(filepath.ToSlash(v.Source), "modelrepo/models") {
			mounted = true
		}
	}
	if !mounted {
		t.Error("modelrepo/models is not mounted at /models")
	}
	if triton.HealthCheck == nil || !strings.Contains(strings.Join(triton.HealthCheck.Test, " "), "/v2/health/ready") {
		t.Errorf("triton healthcheck %+v does not probe /v2/health/ready", triton.HealthCheck)
	}

	bench, err := p.GetService("bench")
	if err != nil {
		t.Fatal(err)
	}
	if bench.Build == nil || bench.Build.Dockerfile != "Dockerfile" {
		t.Errorf("bench is not built from the Dockerfile: %+v", bench.Build)
	}
	if dep, ok := bench.DependsOn["triton"]; !ok || dep.Condition != types.ServiceConditionHealthy {
		t.Errorf("bench must depend on triton being healthy: %+v", bench.DependsOn)
	}
	cmd := strings.Join(bench.Command, " ")
	if !strings.HasPrefix(cmd, "tables ") || !strings.Contains(cmd, "--server triton:8001") {
		t.Errorf("bench command %q is not `agiqa tables --server triton:8001 ...`", cmd)
	}

	trainer, err := p.GetService("trainer")
	if err != nil {
		t.Fatalf("trainer profile: %v", err)
	}
	if !slices.Contains(trainer.Profiles, "trainer") || !hasGPU(trainer) {
		t.Errorf("trainer must be a GPU service in the trainer profile: %+v", trainer)
	}
	// Built from modelrepo/python/Dockerfile: a pinned PyTorch CUDA image plus the packages training
	// and export import (the stock image has no onnx and no scipy).
	if trainer.Build == nil || !strings.HasSuffix(filepath.ToSlash(trainer.Build.Context), "modelrepo/python") {
		t.Fatalf("trainer is not built from modelrepo/python: %+v", trainer.Build)
	}
	dockerfile, err := os.ReadFile(filepath.Join(trainer.Build.Context, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^FROM pytorch/pytorch:\d+\.\d+\.\d+-cuda[\d.]+-cudnn\d+-(runtime|devel)$`).Match(dockerfile) {
		t.Errorf("trainer Dockerfile does not start from a pinned pytorch/pytorch CUDA image:\n%s", dockerfile)
	}
	for _, pkg := range []string{"onnx", "scipy", "openpyxl"} {
		if !regexp.MustCompile(`(?m)^RUN pip install .*\b` + pkg + `==`).Match(dockerfile) {
			t.Errorf("trainer Dockerfile does not pin-install %s", pkg)
		}
	}
}

func hasGPU(s types.ServiceConfig) bool {
	if s.Deploy == nil || s.Deploy.Resources.Reservations == nil {
		return false
	}
	for _, d := range s.Deploy.Resources.Reservations.Devices {
		if d.Driver == "nvidia" && slices.Contains(d.Capabilities, "gpu") {
			return true
		}
	}
	return false
}
