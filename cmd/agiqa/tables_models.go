package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/agiqa-bench/agiqa/baselines"
	"github.com/agiqa-bench/agiqa/bench/runner"
	"github.com/agiqa-bench/agiqa/client"
)

// modelList splits --models A,B into names, dropping empty ones.
func modelList(names string) []string {
	var list []string
	for _, n := range strings.Split(names, ",") {
		if n = strings.TrimSpace(n); n != "" {
			list = append(list, n)
		}
	}
	return list
}

// selectModels describes the named models, or every ready one. A model left
// out of the default selection is named on warn with the server's reason: a
// repository whose ONNX files are missing (or whose ONNX Runtime is) must not
// look like one that holds only the models that did run.
// loadPrefix is what the server puts before a native load error ("instance 1 of 2: model "niqe"
// version 1: native loader "niqe": "); a table note keeps only the cause.
var loadPrefix = regexp.MustCompile(`^instance \d+ of \d+: model "[^"]*" version \d+: native loader "[^"]*": `)

// selectModels returns the models to run and, for each paper-table row whose served model is not
// ready, why (table.Options.Unserved).
func selectModels(ctx context.Context, c *client.Client, names string, warn io.Writer) ([]*runner.Model, map[string]string, error) {
	unserved := map[string]string{}
	var list []string
	if names != "" {
		list = modelList(names)
	} else {
		idx, err := c.RepositoryIndex(ctx, false)
		if err != nil {
			return nil, nil, err
		}
		// The index names the models and, for one that is not ready, the
		// first reason it gives; whether a model is ready is ModelReady's
		// answer, the one source of readiness (an index entry without a
		// state, as Triton lists a model it has not loaded, is not ready).
		why := map[string]string{}
		var all []string
		for _, m := range idx {
			n := m.GetName()
			if _, seen := why[n]; !seen {
				all = append(all, n)
				why[n] = ""
			}
			if m.GetState() != "READY" && why[n] == "" {
				why[n] = m.GetReason()
				if why[n] == "" && m.GetState() != "" {
					why[n] = "state " + m.GetState()
				}
			}
		}
		sort.Strings(all)
		var notReady []string
		for _, n := range all {
			ready, err := c.ModelReady(ctx, n, "")
			if err != nil {
				return nil, nil, err
			}
			if ready {
				list = append(list, n)
				continue
			}
			if why[n] == "" {
				why[n] = "ModelReady says not ready"
			}
			notReady = append(notReady, n)
		}
		if len(list) == 0 {
			if len(notReady) == 0 {
				return nil, nil, errors.New("the server has no model")
			}
			reasons := make([]string, len(notReady))
			for i, n := range notReady {
				reasons[i] = n + ": " + why[n]
			}
			return nil, nil, fmt.Errorf("the server has no ready model: %s", strings.Join(reasons, "; "))
		}
		for _, n := range notReady {
			fmt.Fprintf(warn, "note: model %s: not ready, left out: %s\n", n, why[n])
			for _, e := range baselines.ByServed(n) {
				unserved[e.Key] = n + ": " + loadPrefix.ReplaceAllString(why[n], "")
			}
		}
	}
	var models []*runner.Model
	for _, n := range list {
		ready, err := c.ModelReady(ctx, n, "")
		if err != nil {
			return nil, nil, err
		}
		if !ready {
			// ModelReady says only false; the metadata call says why (an
			// unknown name with the list of models, or the load error).
			why := "not ready"
			if _, err := c.ModelMetadata(ctx, n, ""); err != nil {
				var ce *client.Error
				if why = err.Error(); errors.As(err, &ce) {
					why = ce.Message
				}
			}
			return nil, nil, fmt.Errorf("model %s: %s (see 'agiqa models')", n, why)
		}
		m, err := runner.Describe(ctx, c, n)
		if errors.Is(err, runner.ErrHelperModel) && names == "" {
			continue // server-side preprocessing: a step of the ensembles, not scored
		}
		if err != nil {
			return nil, nil, err
		}
		models = append(models, m)
	}
	return models, unserved, nil
}

// missingSplitVersions lists, for a per-split model that will score ds, the
// versions its splits need that the server does not serve, each with the
// server's reason ("" when nothing is missing). Checked before any inference:
// otherwise the run stops at the first missing version, after the ones
// before it (and every model before it) ran.
func missingSplitVersions(ctx context.Context, c *client.Client, m *runner.Model, d evalDataset) (string, error) {
	if !m.PerSplit || (m.Dataset != "" && m.Dataset != d.ds.Name) || len(runner.TargetsFor(m, d.ds)) == 0 {
		return "", nil
	}
	var missing []string
	var reasons map[string]string
	for k := range d.splits.Splits {
		v := m.VersionForSplit(k)
		if slices.Contains(m.Versions, v) {
			continue
		}
		if reasons == nil {
			idx, err := c.RepositoryIndex(ctx, false)
			if err != nil {
				return "", err
			}
			reasons = map[string]string{}
			for _, e := range idx {
				if e.GetName() == m.Name && e.GetVersion() != "" {
					reasons[e.GetVersion()] = e.GetReason()
				}
			}
		}
		reason, listed := reasons[v]
		switch {
		case !listed:
			reason = "the server has no such version (export one version per split; the config needs version_policy: { all {} })"
		case reason == "":
			reason = "not ready"
		}
		missing = append(missing, fmt.Sprintf("version %s (split %d) not ready: %s", v, k, reason))
	}
	return strings.Join(missing, "; "), nil
}
