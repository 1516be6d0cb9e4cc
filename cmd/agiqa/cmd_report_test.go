package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/agiqa-bench/agiqa/bench/table"
	"github.com/agiqa-bench/agiqa/internal/testenv"
)

// jsonDocs decodes the documents of `tables --format json`: tables by id, and the provenance block.
func jsonDocs(t *testing.T, out string) (map[string]*table.Table, *Provenance) {
	t.Helper()
	tabs := map[string]*table.Table{}
	var prov *Provenance
	dec := json.NewDecoder(strings.NewReader(out))
	for {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("JSON output: %v", err)
		}
		var head struct {
			ID         string      `json:"id"`
			Provenance *Provenance `json:"provenance"`
		}
		if err := json.Unmarshal(raw, &head); err != nil {
			t.Fatal(err)
		}
		if head.ID == "provenance" {
			prov = head.Provenance
			continue
		}
		var tb table.Table
		if err := json.Unmarshal(raw, &tb); err != nil {
			t.Fatal(err)
		}
		tabs[tb.ID] = &tb
	}
	return tabs, prov
}

// numericCells maps "table|g.r|column" to every numeric cell's value.
func numericCells(tabs map[string]*table.Table) map[string]float64 {
	out := map[string]float64{}
	for id, tb := range tabs {
		for gi, g := range tb.RowGroups {
			for ri, r := range g.Rows {
				for ci, c := range r.Cells {
					if c.Value != nil {
						out[fmt.Sprintf("%s|%d.%d|%s", id, gi, ri, tb.Columns[ci].Key)] = *c.Value
					}
				}
			}
		}
	}
	return out
}

var (
	tdValue  = regexp.MustCompile(`<td[^>]*\bdata-row="([^"]+)" data-col="([^"]+)" data-table="([^"]+)" data-value="([^"]+)"`)
	htmlTag  = regexp.MustCompile(`(?s)<html([^>]*)>`)
	provAttr = regexp.MustCompile(`<code data-prov="([a-z0-9_]+)" data-dataset="([^"]+)">([^<]*)</code>`)
)

// chromium runs headless Chromium on page with extra flags and returns stdout and stderr.
func chromium(t *testing.T, bin, page string, flags ...string) (string, string) {
	t.Helper()
	args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
		"--user-data-dir=" + t.TempDir(), "--enable-logging=stderr", "--v=0"}, flags...)
	cmd := exec.Command(bin, append(args, "file://"+page)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("chromium %v: %v\n%s", flags, err, errb.String())
		}
	case <-time.After(90 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("chromium %v: no answer in 90 s", flags)
	}
	return out.String(), errb.String()
}

// consoleLines are the page's console messages Chromium logged.
func consoleLines(stderr string) []string {
	var out []string
	for _, l := range strings.Split(stderr, "\n") {
		if strings.Contains(l, ":CONSOLE") {
			out = append(out, l)
		}
	}
	return out
}

// The report renders in headless Chromium with no console error and no blocked fetch, a screenshot is
// written, and every number in its tables equals the one `tables --format json` prints for the same
// run (same cache: nothing is inferred twice), as do the label-file and splits digests.
func TestReportInChromium(t *testing.T) {
	bin := testenv.Chromium(t)
	dir := t.TempDir()
	common := []string{"--cache", filepath.Join(dir, "c"), "--sample-size", "40", "--splits", "3", "--seed", "5",
		"--models", "contrast_rms,sharpness_laplacian", "--tables", "1,2,3", "--paper", "--by", "degradation,prompt-length", "--bootstrap", "200"}
	out, stderr, err := runCLI(t, append([]string{"tables", "--format", "json", "--significance"}, common...)...)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	tabs, prov := jsonDocs(t, out)
	if prov == nil || len(prov.Datasets) != 1 || len(prov.Models) != 2 {
		t.Fatalf("provenance %+v", prov)
	}
	page := filepath.Join(dir, "report.html")
	if _, stderr, err := runCLI(t, append([]string{"report", "-o", page}, common...)...); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	} else if strings.Contains(stderr, " 0 already cached") {
		t.Errorf("the report re-inferred:\n%s", stderr)
	}

	shotDir := os.Getenv("AGIQA_SCREENSHOT_DIR") // scripts/test.sh keeps CI's screenshot there
	if shotDir == "" {
		shotDir = dir
	} else if err := os.MkdirAll(shotDir, 0o755); err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(shotDir, "report.png")
	os.Remove(shot)
	_, logs := chromium(t, bin, page, "--screenshot="+shot, "--window-size=1280,2000")
	if st, err := os.Stat(shot); err != nil || st.Size() < 10000 {
		t.Fatalf("screenshot %s: %v", shot, err)
	}
	dom, logs2 := chromium(t, bin, page, "--dump-dom")
	if c := consoleLines(logs + logs2); len(c) > 0 {
		t.Errorf("console messages:\n%s", strings.Join(c, "\n"))
	}
	m := htmlTag.FindStringSubmatch(dom)
	if m == nil || !strings.Contains(m[1], `data-loaded="1"`) || strings.Contains(m[1], "data-errors") {
		t.Fatalf("page did not load cleanly: <html%s>", m)
	}

	want := numericCells(tabs)
	got := map[string]float64{}
	for _, c := range tdValue.FindAllStringSubmatch(dom, -1) {
		v, err := strconv.ParseFloat(c[4], 64)
		if err != nil {
			t.Fatalf("data-value %q: %v", c[4], err)
		}
		got[html.UnescapeString(c[3])+"|"+c[1]+"|"+html.UnescapeString(c[2])] = v
	}
	t.Logf("%d numbers compared between the page and the JSON output", len(want))
	if len(want) < 50 {
		t.Fatalf("only %d numbers in the JSON output", len(want))
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v && !(math.IsNaN(g) && math.IsNaN(v)) {
			t.Errorf("%s: page %v (present %v), JSON %v", k, g, ok, v)
		}
	}
	for k := range got {
		id := strings.SplitN(k, "|", 2)[0]
		if _, ok := want[k]; !ok && tabs[id] != nil {
			t.Errorf("%s: in the page, not in the JSON output", k)
		}
	}
	for _, id := range []string{"table1", "table2", "table3", "breakdown-degradation-sample-quality", "breakdown-prompt-length-sample-quality", "signif-sample-quality-srcc"} {
		if tabs[id] == nil || !strings.Contains(dom, `id="`+id+`"`) {
			t.Errorf("table %s missing from the JSON (%v) or the page", id, tabs[id] != nil)
		}
	}
	provs := provAttr.FindAllStringSubmatch(dom, -1)
	if len(provs) != 2 {
		t.Fatalf("provenance digests in the page: %v", provs)
	}
	for _, p := range provs {
		wantSum := map[string]string{"label_sha256": prov.Datasets[0].LabelSHA256, "splits_sha256": prov.Datasets[0].Splits.SHA256}[p[1]]
		if p[2] != "sample" || p[3] != wantSum || len(wantSum) != 64 {
			t.Errorf("%s of %s: page %s, JSON %s", p[1], p[2], p[3], wantSum)
		}
	}
	if lab, err := os.ReadFile(prov.Datasets[0].LabelFile); err != nil || bytesSHA256(lab) != prov.Datasets[0].LabelSHA256 {
		t.Errorf("label sha256 %s is not the file's (%v)", prov.Datasets[0].LabelSHA256, err)
	}
	for _, want := range []string{"<svg", "<polyline", "Spread over splits", "weights sha256"} {
		if !strings.Contains(dom, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}

// The probe the Chromium test relies on does catch a script error and a blocked fetch: the same head
// on a page that throws and loads a remote image.
func TestReportProbeCatchesErrors(t *testing.T) {
	bin := testenv.Chromium(t)
	page := filepath.Join(t.TempDir(), "bad.html")
	bad := fmt.Sprintf(reportHead, "bad") + `<img src="http://example.invalid/x.png"><script>throw new Error("boom")</script></body></html>`
	if err := os.WriteFile(page, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	dom, logs := chromium(t, bin, page, "--dump-dom")
	m := htmlTag.FindStringSubmatch(dom)
	if m == nil || !strings.Contains(m[1], "Uncaught Error: boom") || !strings.Contains(m[1], "csp: http://example.invalid/x.png") {
		t.Errorf("probe missed the errors: <html%v>", m)
	}
	if len(consoleLines(logs)) == 0 {
		t.Error("Chromium logged no console message for a throwing page")
	}
}

func TestReportNeedsOutput(t *testing.T) {
	_, _, err := runCLI(t, "report", "--cache", filepath.Join(t.TempDir(), "c"), "--sample-size", "40", "--models", "contrast_rms")
	if err == nil || !strings.Contains(err.Error(), "-o FILE is required") {
		t.Fatalf("err = %v", err)
	}
}

// On a fresh cache the report's speed section is the timing table of the requests that ran; it is
// said to be missing, not left out, when everything came from the cache.
func TestReportSpeedWhenTimed(t *testing.T) {
	dir := t.TempDir()
	page := filepath.Join(dir, "r.html")
	args := []string{"report", "-o", page, "--cache", filepath.Join(dir, "c"), "--sample-size", "40", "--splits", "2", "--models", "contrast_rms", "--bootstrap", "0"}
	for i, want := range []string{`id="timing"`, "Not recorded: every prediction came from the cache"} {
		if _, stderr, err := runCLI(t, args...); err != nil {
			t.Fatalf("run %d: %v\n%s", i, err, stderr)
		}
		b, err := os.ReadFile(page)
		if err != nil || !strings.Contains(string(b), want) {
			t.Errorf("run %d: page lacks %q (%v)", i, want, err)
		}
	}
}
