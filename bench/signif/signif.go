// Package signif says whether the difference between two measured rows of a table is real: for every
// pair of models scored on the same dataset and target, the difference in SRCC, PLCC and KRCC is
// tested (a) over the splits, by a paired t-test and a sign test, and (b) within each split, by a
// paired bootstrap on the split's test images and by Williams' test for two correlations sharing
// the MOS. Everything comes from runner.ModelResult's per-image predictions: no inference.
//
// A matrix cell (row vs column) is decided by the paired t-test over the splits when at least two
// splits pair up, else by the one split's paired bootstrap, else (no bootstrap asked) by Williams'
// test on it; see Decide.
package signif

import (
	"encoding/json"
	"math"
	"strconv"
)

// Decisions of a pair (A vs B: A's correlation higher, not distinguishable, lower).
const (
	Better = "better"
	NotSig = "n.s."
	Worse  = "worse"
)

// DefaultBootstrap is the bootstrap replicates per split when none are asked for.
const DefaultBootstrap = 1000

// Options control Compute.
type Options struct {
	Alpha     float64 // significance level of the matrices and level 1-Alpha of the intervals
	Bootstrap int     // paired-bootstrap replicates per split; 0: no bootstrap
	Seed      uint64  // seeds every bootstrap stream (with the dataset, target and image set)
}

// DefaultOptions are alpha 0.05, 1000 replicates, seed 1.
func DefaultOptions() Options { return Options{Alpha: 0.05, Bootstrap: DefaultBootstrap, Seed: 1} }

// Num is a float64 that is null in JSON when NaN or infinite (encoding/json rejects those).
type Num float64

// MarshalJSON writes n, or null.
func (n Num) MarshalJSON() ([]byte, error) {
	f := float64(n)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return []byte("null"), nil
	}
	return []byte(strconv.FormatFloat(f, 'g', -1, 64)), nil
}

// UnmarshalJSON reads a number, or null as NaN.
func (n *Num) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*n = Num(math.NaN())
		return nil
	}
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return err
	}
	*n = Num(f)
	return nil
}

// Report is every comparison of one Compute call.
type Report struct {
	Alpha     float64 `json:"alpha"`
	Bootstrap int     `json:"bootstrap"` // replicates per split (0: none)
	Seed      uint64  `json:"seed"`
	Groups    []Group `json:"groups"`
}

// Group is one dataset and target: its models (in the order of the results) and every pair of them.
type Group struct {
	Dataset string   `json:"dataset"`
	Target  string   `json:"target"`
	Models  []string `json:"models"`
	Pairs   []Pair   `json:"pairs"` // A before B in Models order
	// Notes name models left out of the group and why.
	Notes []string `json:"notes,omitempty"`
}

// Pair compares A with B; every difference is A - B.
type Pair struct {
	A string `json:"a"`
	B string `json:"b"`
	// Splits lists the paired splits (-1: a model scored once on every image; paired with another
	// model's splits, its predictions are taken on each split's test images).
	Splits []int `json:"splits"`
	// Common counts the images both were compared on, over all paired splits; OnlyA and OnlyB the
	// images of those splits that only one of them scored (left out of every test).
	Common int `json:"common"`
	OnlyA  int `json:"only_a"`
	OnlyB  int `json:"only_b"`
	// Metrics are the tests of SRCC, PLCC and KRCC, in that order.
	Metrics []PairMetric `json:"metrics"`
	// Note says how a model scored once on every image was paired with another's splits.
	Note string `json:"note,omitempty"`
	// Reason says why nothing could be compared (no common split or image).
	Reason string `json:"reason,omitempty"`
}

// PairMetric is one metric's tests for a pair.
type PairMetric struct {
	Metric   string      `json:"metric"`
	PerSplit []SplitTest `json:"per_split"`
	// OverSplits: paired t-test and sign test of the per-split differences.
	OverSplits OverSplits `json:"over_splits"`
	// Decision is Better, NotSig or Worse for A against B at Alpha, by DecidedBy at p-value P.
	Decision  string `json:"decision"`
	DecidedBy string `json:"decided_by"`
	P         Num    `json:"p"`
	// Why the decision is NotSig without a test (every test undefined).
	Reason string `json:"reason,omitempty"`
}

// SplitTest is one split's comparison on the images both models scored.
type SplitTest struct {
	Split int `json:"split"`
	N     int `json:"n"` // common images
	A     Num `json:"a"` // the metric of A on them
	B     Num `json:"b"`
	Diff  Num `json:"diff"`
	// Paired bootstrap of Diff (absent without --bootstrap): replicates used, (1-alpha) percentile
	// interval, two-sided p.
	BootN  int `json:"boot_n"`
	BootLo Num `json:"boot_lo"`
	BootHi Num `json:"boot_hi"`
	BootP  Num `json:"boot_p"`
	// Williams' test (SRCC, PLCC; null for KRCC, with WilliamsReason).
	WilliamsT      Num    `json:"williams_t"`
	WilliamsP      Num    `json:"williams_p"`
	WilliamsReason string `json:"williams_reason,omitempty"`
}

// OverSplits tests the per-split differences of one metric.
type OverSplits struct {
	N     int `json:"n"` // splits with a defined difference
	Mean  Num `json:"mean"`
	Lo    Num `json:"lo"` // (1-alpha) t interval of the mean
	Hi    Num `json:"hi"`
	T     Num `json:"t"`
	P     Num `json:"p"` // paired t-test (scipy.stats.ttest_rel), two-sided
	Pos   int `json:"pos"`
	Neg   int `json:"neg"`
	SignP Num `json:"sign_p"` // exact two-sided sign test (scipy.stats.binomtest(pos, pos+neg))
}

// Decide picks the test for a pair's metric: the paired t-test over the splits when two or more
// differences are defined; with one, that split's paired bootstrap, or Williams' test when no
// bootstrap was run. p < alpha gives Better or Worse by the sign of the difference.
func Decide(m *PairMetric, alpha float64) {
	m.Decision, m.P = NotSig, Num(math.NaN())
	sign := 0.0
	switch o := m.OverSplits; {
	case o.N >= 2:
		m.DecidedBy = "paired t-test over " + strconv.Itoa(o.N) + " splits"
		m.P, sign = o.P, float64(o.Mean)
		if math.IsNaN(float64(o.P)) {
			m.Reason = "the differences do not vary and are 0"
		}
	case o.N == 1:
		var s SplitTest
		for _, st := range m.PerSplit {
			if !math.IsNaN(float64(st.Diff)) {
				s = st
			}
		}
		sign = float64(s.Diff)
		switch {
		case s.BootN > 0:
			m.DecidedBy, m.P = "paired bootstrap ("+strconv.Itoa(s.BootN)+" replicates, 1 split)", s.BootP
		case !math.IsNaN(float64(s.WilliamsP)):
			m.DecidedBy, m.P = "Williams' test (1 split)", s.WilliamsP
		default:
			m.DecidedBy, m.Reason = "none", "one split, no bootstrap, and "+s.WilliamsReason
		}
	default:
		m.DecidedBy, m.Reason = "none", "the metric is undefined on every paired split"
	}
	if p := float64(m.P); p < alpha {
		switch {
		case sign > 0:
			m.Decision = Better
		case sign < 0:
			m.Decision = Worse
		}
	}
}

// Flip is the decision of B against A.
func Flip(d string) string {
	switch d {
	case Better:
		return Worse
	case Worse:
		return Better
	}
	return d
}
