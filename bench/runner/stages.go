package runner

import (
	"fmt"
	"sync/atomic"
	"time"
)

// StageRates say what each stage of a run could sustain on its own, measured so far: images done
// per second of the stage's busy time, times its parallelism. The slower stage is the bottleneck:
// the other waits on it, so both show the same actual rate.
//
// JSON fields: prep_images_per_s (read, hash, decode, resize and tokenize, on Workers goroutines),
// infer_images_per_s (build the request, send it and wait for the answer, InFlight at a time),
// workers, in_flight, bottleneck ("preprocessing" or "inference", "" before both have data).
type StageRates struct {
	Prep       float64 `json:"prep_images_per_s"`
	Infer      float64 `json:"infer_images_per_s"`
	Workers    int     `json:"workers"`
	InFlight   int     `json:"in_flight"`
	Bottleneck string  `json:"bottleneck,omitempty"`
}

// Bottleneck names.
const (
	StagePrep  = "preprocessing"
	StageInfer = "inference"
)

func (s StageRates) String() string {
	if s.Bottleneck == "" {
		return ""
	}
	return fmt.Sprintf("prep %.0f img/s (%d workers), infer %.0f img/s (%d in flight): %s bound",
		s.Prep, s.Workers, s.Infer, s.InFlight, s.Bottleneck)
}

// StageProgress is a Progress that also shows stage rates: Run hands it a function returning them
// after Start.
type StageProgress interface {
	Progress
	Stages(func() StageRates)
}

// stageMeter accumulates each stage's item count and busy time; workers add to it concurrently.
type stageMeter struct {
	workers, inFlight int
	prepN, prepNS     atomic.Int64
	inferN, inferNS   atomic.Int64
}

func (m *stageMeter) prepared(d time.Duration) {
	m.prepN.Add(1)
	m.prepNS.Add(int64(d))
}

func (m *stageMeter) inferred(n int, d time.Duration) {
	m.inferN.Add(int64(n))
	m.inferNS.Add(int64(d))
}

func (m *stageMeter) rates() StageRates {
	s := StageRates{Workers: m.workers, InFlight: m.inFlight}
	rate := func(n, ns int64, par int) float64 {
		if ns <= 0 {
			return 0
		}
		return float64(n) / (float64(ns) / 1e9) * float64(par)
	}
	s.Prep = rate(m.prepN.Load(), m.prepNS.Load(), m.workers)
	s.Infer = rate(m.inferN.Load(), m.inferNS.Load(), m.inFlight)
	switch {
	case s.Prep == 0 || s.Infer == 0:
	case s.Prep < s.Infer:
		s.Bottleneck = StagePrep
	default:
		s.Bottleneck = StageInfer
	}
	return s
}
