package metrics

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// percentileFixture mirrors testdata/percentile_ref.json, written by
// `/usr/bin/python3 bench/metrics/testdata/gen_percentile.py` (numpy 1.24.2).
type percentileFixture struct {
	Numpy   string               `json:"numpy"`
	Vectors map[string][]float64 `json:"vectors"`
	Cases   []struct {
		Vector          string
		P, Numpy, Exact float64
		Noise           bool
	} `json:"cases"`
}

// Percentile is an element of the data, so it matches numpy exactly; the
// tolerance only guards against a JSON round trip.
const percentileTol = 1e-12

func TestPercentileAgainstNumpy(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "percentile_ref.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f percentileFixture
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Cases) < 100 {
		t.Fatalf("fixture has %d cases", len(f.Cases))
	}
	near := func(a, b float64) bool { return math.Abs(a-b) <= percentileTol*math.Max(1, math.Abs(b)) }
	noise := 0
	for _, c := range f.Cases {
		v := slices.Clone(f.Vectors[c.Vector])
		if len(v) == 0 {
			t.Fatalf("fixture: no vector %q", c.Vector)
		}
		slices.Sort(v)
		got := Percentile(v, c.P)
		if !near(got, c.Exact) {
			t.Errorf("%s p%v: %v, want %v", c.Vector, c.P, got, c.Exact)
		}
		// numpy computes p/100*n in floating point and, at a whole rank,
		// sometimes takes the next one; elsewhere the two agree.
		if c.Noise {
			noise++
		} else if !near(got, c.Numpy) {
			t.Errorf("%s p%v: %v, numpy (inverted_cdf) %v", c.Vector, c.P, got, c.Numpy)
		}
	}
	if noise > len(f.Cases)/20 {
		t.Errorf("%d of %d cases differ from numpy by its rounding; the fixture no longer tests numpy's method", noise, len(f.Cases))
	}
}

// Durations (perf's latencies) take the same ranks as their float values.
func TestPercentileDurations(t *testing.T) {
	d := []time.Duration{5, 1, 4, 2, 3, 9, 7, 8, 6, 10}
	slices.Sort(d)
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{50, 5}, {90, 9}, {99, 10}, {99.9, 10}, {10, 1}, {0, 1}, {100, 10}, {150, 10}} {
		if got := Percentile(d, c.p); got != c.want {
			t.Errorf("p%v = %v, want %v", c.p, got, c.want)
		}
	}
	// 99.9% of 1000 is rank 999: the product is not left at 999.0000000000001.
	k := make([]float64, 1000)
	for i := range k {
		k[i] = float64(i + 1)
	}
	if got := Percentile(k, 99.9); got != 999 {
		t.Errorf("p99.9 of 1..1000 = %v, want 999", got)
	}
}
