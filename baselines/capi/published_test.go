package main

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/agiqa-bench/agiqa/baselines/extractor"
	"github.com/agiqa-bench/agiqa/bench/preprocess"
	"github.com/agiqa-bench/agiqa/internal/testenv"
)

// What Triton runs for the published-parameter models: the library loads NIQE and BRISQUE from a
// version folder that carries the published files and scores a calibration image as the authors'
// code does in Octave (../shared/data/calibra/reference.json), to 1e-6.
func TestLibraryScoresPublishedModelsAsOctave(t *testing.T) {
	shared := testenv.Shared(t, "data")
	var ref struct {
		NIQE    map[string]float64 `json:"niqe_octave"`
		BRISQUE map[string]float64 `json:"brisque_octave"`
	}
	b, err := os.ReadFile(filepath.Join(shared, "calibra", "reference.json"))
	if err != nil || json.Unmarshal(b, &ref) != nil {
		t.Fatalf("reference.json: %v", err)
	}
	img, err := preprocess.DecodeFile(filepath.Join(shared, "calibra", "I04.png"))
	if err != nil {
		t.Fatal(err)
	}
	chw := extractor.FromPacked(img)
	for fn, files := range map[string][]string{"niqe": {"niqe/modelparameters.mat"}, "brisque": {"brisque/allmodel", "brisque/allrange"}} {
		dir := t.TempDir()
		for _, f := range files {
			data, err := os.ReadFile(filepath.Join(shared, f))
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(dir, filepath.Base(f)), data, 0o644)
		}
		h, err := load(fn, dir)
		if err != nil {
			t.Fatalf("%s: %v", fn, err)
		}
		q := make([]float32, 1)
		if err := run(context.Background(), h, chw.Pix, []int64{1, 3, int64(chw.H), int64(chw.W)}, q); err != nil {
			t.Fatalf("%s: %v", fn, err)
		}
		free(h)
		want := map[string]float64{"niqe": ref.NIQE["I04"], "brisque": ref.BRISQUE["I04"]}[fn]
		// The library answers float32: the tolerance is float32's rounding on top of 1e-6.
		if math.Abs(float64(q[0])-want) > 1e-6*math.Abs(want)+float64(math.Nextafter32(float32(math.Abs(want)), 1e9))-math.Abs(want) {
			t.Errorf("%s on I04 through the library: %v, Octave %v", fn, q[0], want)
		}
	}
}
