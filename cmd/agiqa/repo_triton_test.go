package main

import (
	"strings"
	"testing"
)

// A config written for Triton, with fields the embedded server does not
// implement, passes `repo check`; each field is a warning at its line.
func TestRepoCheckTritonFieldsAreWarnings(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"m/config.pbtxt": "backend: \"native\"\n" + repoCheckContract +
			"sequence_batching { max_sequence_idle_microseconds: 1000 direct { } }\n" +
			"model_repository_agents { agents [ { name: \"checksum\" } ] }\n" +
			"response_cache { enable: true }\n",
		"m/1/model.native": "repo_check_test_fn\n",
	})
	stdout, _, err := runCLI(t, "repo", "check", dir)
	if err != nil || !strings.Contains(stdout, "all 1 models ok") {
		t.Fatalf("repo check = %v\n%s", err, stdout)
	}
	for _, w := range []string{"config.pbtxt:6:1: sequence_batching", "config.pbtxt:7:1: model_repository_agents", "config.pbtxt:8:1: response_cache"} {
		if !strings.Contains(stdout, "warning: ") || !strings.Contains(stdout, w) {
			t.Errorf("no warning %q:\n%s", w, stdout)
		}
	}
}
