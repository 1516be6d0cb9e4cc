package native

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/agiqa-bench/agiqa/client/tensor"
)

// runs makes names unique per run: the registry is process-wide, so a fixed
// name failed as "registered twice" under go test -count=2.
var runs int

func TestRegisterLookup(t *testing.T) {
	runs++
	a := fmt.Sprintf("nativetest.a%d", runs)
	f := func(context.Context, []*tensor.Tensor) ([]*tensor.Tensor, error) { return nil, nil }
	Register(a, f)
	if _, ok := Lookup(a); !ok {
		t.Error("registered function not found")
	}
	if _, ok := Lookup("nativetest.b"); ok {
		t.Error("unregistered function found")
	}
	if !slices.Contains(Names(), a) {
		t.Errorf("Names() = %v", Names())
	}
	for name, call := range map[string]func(){
		"duplicate": func() { Register(a, f) },
		"nil func":  func() { Register("nativetest.c", nil) },
		"no name":   func() { Register("", f) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: Register did not panic", name)
				}
			}()
			call()
		}()
	}
}

func TestTensorByName(t *testing.T) {
	a := &tensor.Tensor{Name: "A"}
	if got, ok := TensorByName([]*tensor.Tensor{{Name: "B"}, a}, "A"); !ok || got != a {
		t.Errorf("TensorByName = %v %v", got, ok)
	}
	if _, ok := TensorByName(nil, "A"); ok {
		t.Error("found a tensor in nothing")
	}
}
