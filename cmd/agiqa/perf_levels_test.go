package main

import (
	"math"
	"reflect"
	"strings"
	"testing"
)

func TestParseLevels(t *testing.T) {
	ints := []struct {
		in   string
		want []int
	}{
		{"1,2,4,8", []int{1, 2, 4, 8}},
		{"1:64:x2", []int{1, 2, 4, 8, 16, 32, 64}},
		{"1:5", []int{1, 2, 3, 4, 5}},
		{"4:16:4", []int{4, 8, 12, 16}},
		{"1:10:x1.5", []int{1, 2, 3, 5, 8}}, // 1, 1.5, 2.25, 3.4, 5.1, 7.6 rounded, repeats dropped
		{"1:3,8, 16", []int{1, 2, 3, 8, 16}},
		{"7", []int{7}},
		{"3:3", []int{3}},
	}
	for _, c := range ints {
		got, err := parseIntLevels("concurrency", c.in)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("parseIntLevels(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	rates, err := parseRateLevels("rate", "100:1000:100")
	if err != nil || len(rates) != 10 || rates[0] != 100 || rates[9] != 1000 {
		t.Errorf("parseRateLevels(100:1000:100) = %v, %v", rates, err)
	}
	rates, err = parseRateLevels("rate", "0.5:1:0.1")
	if err != nil || len(rates) != 6 || math.Abs(rates[5]-1) > 1e-9 {
		t.Errorf("parseRateLevels(0.5:1:0.1) = %v, %v: the end must not be lost to rounding", rates, err)
	}
	bad := []struct{ flag, in, want string }{
		{"concurrency", "1:0", "--concurrency 1:0: end 0 must be >= 1"},
		{"concurrency", "0", "--concurrency 0: value 0 must be >= 1"},
		{"concurrency", "", "--concurrency: empty list"},
		{"concurrency", "1:8:x1", "--concurrency 1:8:x1: step \"x1\""},
		{"concurrency", "1:8:0", "--concurrency 1:8:0: step 0 must be >= 1"},
		{"concurrency", "a", "--concurrency a: value \"a\" is not an integer"},
		{"concurrency", "1:2:3:4", "--concurrency 1:2:3:4: want VALUE"},
		{"concurrency", "1:100000", "more than 1000 load levels"},
		{"batch", "2.5", "--batch 2.5: value \"2.5\" is not an integer"},
		{"rate", "0", "--rate 0: value 0 must be > 0"},
		{"rate", "-5", "--rate -5: value -5 must be > 0"},
		{"rate", "NaN", "--rate NaN: value \"NaN\" is not a finite number"},
		{"rate", "10:5", "--rate 10:5: end 5 is below start 10"},
	}
	for _, c := range bad {
		var err error
		if c.flag == "rate" {
			_, err = parseRateLevels(c.flag, c.in)
		} else {
			_, err = parseIntLevels(c.flag, c.in)
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %q: err = %v, want %q", c.flag, c.in, err, c.want)
		}
	}
}
