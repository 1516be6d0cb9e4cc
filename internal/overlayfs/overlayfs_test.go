package overlayfs

import (
	"io/fs"
	"testing"
	"testing/fstest"
)

func TestOverlayJoinsTopLevels(t *testing.T) {
	a := fstest.MapFS{"m1/config.pbtxt": {Data: []byte("a1")}, "shared/x": {Data: []byte("from a")}}
	b := fstest.MapFS{"m2/1/model.svr": {Data: []byte("b2")}, "shared/x": {Data: []byte("from b")}, "shared/y": {Data: []byte("only b")}}
	o := New(a, b)
	entries, err := fs.ReadDir(o, ".")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if len(names) != 3 || names[0] != "m1" || names[1] != "m2" || names[2] != "shared" {
		t.Errorf("root lists %v", names)
	}
	for path, want := range map[string]string{"m1/config.pbtxt": "a1", "m2/1/model.svr": "b2", "shared/x": "from a"} {
		got, err := fs.ReadFile(o, path)
		if err != nil || string(got) != want {
			t.Errorf("%s: %q %v, want %q", path, got, err, want)
		}
	}
	// A top-level folder belongs to one layer whole: b's shared/y is hidden behind a's shared.
	if _, err := fs.ReadFile(o, "shared/y"); err == nil {
		t.Error("shared/y read through a's shared folder")
	}
	if _, err := fs.ReadFile(o, "nope/x"); err == nil {
		t.Error("a missing model opened")
	}
	if st, err := fs.Stat(o, "m2"); err != nil || !st.IsDir() {
		t.Errorf("stat m2: %v %v", st, err)
	}
	if _, err := o.Open("../etc"); err == nil {
		t.Error("an invalid path opened")
	}
}
