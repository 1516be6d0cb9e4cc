package native

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/agiqa-bench/agiqa/client/tensor"
)

// runs makes names unique per run: the registry is process-wide, so a fixed
// name failed as "registered twice" under go test -count=2.
var runs int

func unique(prefix string) string {
	runs++
	return fmt.Sprintf("nativetest.%s%d", prefix, runs)
}

func TestRegisterLookup(t *testing.T) {
	a := unique("a")
	f := func(context.Context, []*tensor.Tensor) ([]*tensor.Tensor, error) { return nil, nil }
	Register(a, f)
	if _, ok := Lookup(a); !ok {
		t.Error("registered function not found")
	}
	if _, ok := Lookup("nativetest.b"); ok {
		t.Error("unregistered function found")
	}
	if !slices.Contains(Names(), a) || !Registered(a) {
		t.Errorf("Names() = %v", Names())
	}
	l := func(context.Context, fs.FS) (Func, error) { return f, nil }
	for name, call := range map[string]func(){
		"duplicate":             func() { Register(a, f) },
		"loader of a func name": func() { RegisterLoader(a, l) },
		"nil func":              func() { Register("nativetest.c", nil) },
		"no name":               func() { Register("", f) },
		"nil loader":            func() { RegisterLoader("nativetest.d", nil) },
		"loader without name":   func() { RegisterLoader("", l) },
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

// scaleLoader is what an SVR model's loader does in small: it reads a
// parameter file from the version folder and returns a Func using it.
func scaleLoader(_ context.Context, files fs.FS) (Func, error) {
	data, err := fs.ReadFile(files, "scale.txt")
	if err != nil {
		return nil, err
	}
	k, err := strconv.ParseFloat(strings.TrimSpace(string(data)), 32)
	if err != nil {
		return nil, fmt.Errorf("scale.txt: %w", err)
	}
	return func(_ context.Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		out, err := tensor.NewFP32("Y", []int64{1}, []float32{float32(k)})
		return []*tensor.Tensor{out}, err
	}, nil
}

func TestLoaderBuildsFromVersionFiles(t *testing.T) {
	name := unique("scale")
	RegisterLoader(name, scaleLoader)
	if _, ok := Lookup(name); ok {
		t.Error("Lookup returned a loader's function without files")
	}
	if !Registered(name) || !slices.Contains(Names(), name) {
		t.Errorf("loader %s not listed: %v", name, Names())
	}
	for _, k := range []string{"2.5", "7"} {
		f, err := Load(context.Background(), name, fstest.MapFS{"scale.txt": {Data: []byte(k + "\n")}})
		if err != nil {
			t.Fatal(err)
		}
		out, err := f(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := strconv.ParseFloat(k, 32)
		if got, _ := out[0].Float32s(); len(got) != 1 || got[0] != float32(want) {
			t.Errorf("version with scale %s: Y = %v", k, got)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	name := unique("scale")
	RegisterLoader(name, scaleLoader)
	panicky := unique("panic")
	RegisterLoader(panicky, func(context.Context, fs.FS) (Func, error) { panic("index out of range") })
	none := unique("none")
	RegisterLoader(none, func(context.Context, fs.FS) (Func, error) { return nil, nil })
	for _, c := range []struct {
		what, name string
		files      fs.FS
		want       []string
	}{
		{"missing file", name, fstest.MapFS{}, []string{`native loader "` + name + `"`, "open scale.txt", "file does not exist"}},
		{"bad field", name, fstest.MapFS{"scale.txt": {Data: []byte("x")}}, []string{"scale.txt:", `"x"`}},
		{"no folder", name, nil, []string{`native loader "` + name + `"`, "no version folder"}},
		{"panic", panicky, fstest.MapFS{}, []string{`native loader "` + panicky + `"`, "panic: index out of range"}},
		{"nil func", none, fstest.MapFS{}, []string{`native loader "` + none + `" returned no function`}},
		{"unknown", "nativetest.nope", nil, []string{`native function "nativetest.nope" is not registered`, name}},
	} {
		_, err := Load(context.Background(), c.name, c.files)
		if err == nil {
			t.Errorf("%s: no error", c.what)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q lacks %q", c.what, err, w)
			}
		}
	}
	if _, err := Load(context.Background(), "nativetest.nope", nil); !errors.Is(err, ErrNotRegistered) {
		t.Errorf("unknown name: %v is not ErrNotRegistered", err)
	}
}

func TestLoadStatelessIgnoresFiles(t *testing.T) {
	name := unique("plain")
	called := false
	Register(name, func(context.Context, []*tensor.Tensor) ([]*tensor.Tensor, error) { called = true; return nil, nil })
	f, err := Load(context.Background(), name, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f(context.Background(), nil)
	if !called {
		t.Error("Load did not return the registered function")
	}
}

func TestFunctionName(t *testing.T) {
	for _, c := range []struct {
		what  string
		files fs.FS
		want  string
	}{
		{"no folder", nil, "fallback"},
		{"no file", fstest.MapFS{"model.svr": {}}, "fallback"},
		{"comments only", fstest.MapFS{FunctionFile: {Data: []byte("# from the config\n\n")}}, "fallback"},
		{"named", fstest.MapFS{FunctionFile: {Data: []byte("# why\n\n  brisque_svr \nignored\n")}}, "brisque_svr"},
	} {
		got, err := FunctionName(c.files, "fallback")
		if err != nil || got != c.want {
			t.Errorf("%s: FunctionName = %q, %v; want %q", c.what, got, err, c.want)
		}
	}
	// A model.native that cannot be read (here a folder) is an error, not a silent fallback.
	if _, err := FunctionName(fstest.MapFS{FunctionFile + "/x": {}}, "fallback"); err == nil {
		t.Error("unreadable model.native: no error")
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
