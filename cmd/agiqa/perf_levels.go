package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// The perf flags' list syntax, parsed here so that bench/perf takes typed
// values (perf.Config.Concurrency, Rates, Batches) and knows no flag syntax.

// maxLevels bounds how many load levels one flag may expand to, so a typo
// such as 1:1000000 is refused instead of sweeping for days.
const maxLevels = 1000

// parseIntLevels parses a load-level list for the flag named flag (used in every
// error): comma-separated items, each a value ("8"), a range with an additive
// step ("1:8" = 1..8, "4:32:4") or with a multiplicative one ("1:64:x2" = 1, 2,
// 4, ..., 64). Every value must be >= 1; duplicates are kept in order given.
func parseIntLevels(flag, s string) ([]int, error) {
	vals, err := parseLevels(flag, s, true)
	if err != nil {
		return nil, err
	}
	out := make([]int, len(vals))
	for i, v := range vals {
		out[i] = int(v)
	}
	return out, nil
}

// parseRateLevels parses a request-rate list (requests per second) in the same
// syntax as parseIntLevels; values may be fractional ("0.5,1,2" or "100:1000:100")
// and must be > 0.
func parseRateLevels(flag, s string) ([]float64, error) {
	return parseLevels(flag, s, false)
}

func parseLevels(flag, s string, integer bool) ([]float64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, fmt.Errorf("--%s: empty list", flag)
	}
	var out []float64
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		vals, err := parseItem(item, integer)
		if err != nil {
			return nil, fmt.Errorf("--%s %s: %w", flag, item, err)
		}
		out = append(out, vals...)
		if len(out) > maxLevels {
			return nil, fmt.Errorf("--%s %s: more than %d load levels", flag, s, maxLevels)
		}
	}
	return out, nil
}

func parseItem(item string, integer bool) ([]float64, error) {
	num := func(what, v string) (float64, error) {
		var x float64
		if integer {
			n, err := strconv.Atoi(v)
			if err != nil {
				return 0, fmt.Errorf("%s %q is not an integer", what, v)
			}
			x = float64(n)
		} else {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
				return 0, fmt.Errorf("%s %q is not a finite number", what, v)
			}
			x = f
		}
		if x <= 0 {
			if integer {
				return 0, fmt.Errorf("%s %s must be >= 1", what, v)
			}
			return 0, fmt.Errorf("%s %s must be > 0", what, v)
		}
		return x, nil
	}
	parts := strings.Split(item, ":")
	switch len(parts) {
	case 1:
		v, err := num("value", parts[0])
		if err != nil {
			return nil, err
		}
		return []float64{v}, nil
	case 2, 3:
	default:
		return nil, fmt.Errorf("want VALUE, START:END or START:END:STEP (STEP may be xFACTOR)")
	}
	start, err := num("start", parts[0])
	if err != nil {
		return nil, err
	}
	end, err := num("end", parts[1])
	if err != nil {
		return nil, err
	}
	if end < start {
		return nil, fmt.Errorf("end %s is below start %s", parts[1], parts[0])
	}
	step, mult := 1.0, false
	if len(parts) == 3 {
		st := parts[2]
		if strings.HasPrefix(st, "x") || strings.HasPrefix(st, "*") {
			mult = true
			f, err := strconv.ParseFloat(st[1:], 64)
			if err != nil || !(f > 1) || math.IsInf(f, 0) {
				return nil, fmt.Errorf("step %q: a multiplicative step needs a factor > 1", st)
			}
			step = f
		} else {
			if step, err = num("step", st); err != nil {
				return nil, err
			}
		}
	}
	var out []float64
	// A small relative slack keeps 0.1-steps from missing the end to rounding.
	for i := 0; ; i++ {
		var v float64
		if mult {
			v = start * math.Pow(step, float64(i))
		} else {
			v = start + float64(i)*step
		}
		if integer {
			v = math.Round(v)
		}
		if v > end*(1+1e-9) {
			break
		}
		if len(out) > 0 && v == out[len(out)-1] {
			continue // x1.5 from 1 rounds to 1, 2, 2, 3 ...: keep each once
		}
		out = append(out, v)
		if len(out) > maxLevels {
			return nil, fmt.Errorf("more than %d load levels", maxLevels)
		}
	}
	return out, nil
}
