package fetch

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func tofuAsset(url string) Asset {
	return Asset{Name: "hpc", URL: url, Path: "hps/hpc.pth", TrustOnFirstUse: true, About: "from a share page"}
}

func writeFile(t *testing.T, dir, name string, body []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, body, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// The first install is recorded (sha256sum format beside the file); the same file again is kept;
// a different one is refused naming both checksums and leaves the cache as it was.
func TestInstallTrustOnFirstUseRecordsThenRefusesAnotherFile(t *testing.T) {
	cache, src := t.TempDir(), t.TempDir()
	body, sum := payload(5000)
	other, otherSum := payload(4000)
	a := tofuAsset("")
	f := &Fetcher{Dir: cache}
	if _, err := Path(cache, "clip-rn50"); err == nil {
		t.Fatal("empty cache should hold nothing")
	}
	res, err := f.Install(context.Background(), a, writeFile(t, src, "hpc.pth", body))
	if err != nil || !res.Downloaded {
		t.Fatalf("first install: %+v, %v", res, err)
	}
	dest := filepath.Join(cache, "hps", "hpc.pth")
	rec, err := os.ReadFile(dest + RecordSuffix)
	if err != nil || string(rec) != sum+"  hpc.pth\n" {
		t.Fatalf("record = %q, %v; want %q", rec, err, sum+"  hpc.pth\n")
	}
	if res, err := f.Install(context.Background(), a, writeFile(t, src, "again.pth", body)); err != nil || res.Downloaded {
		t.Errorf("same file again: %+v, %v (want kept)", res, err)
	}
	_, err = f.Install(context.Background(), a, writeFile(t, src, "other.pth", other))
	var me *MismatchError
	if !errors.As(err, &me) || !me.Recorded || !strings.Contains(err.Error(), otherSum) || !strings.Contains(err.Error(), sum) ||
		!strings.Contains(err.Error(), "installed first") {
		t.Fatalf("different file: err = %v", err)
	}
	if got, _ := os.ReadFile(dest); string(got) != string(body) {
		t.Error("refused install changed the cached file")
	}
	// Deleting the cached file does not forget the record: a different file is still refused.
	os.Remove(dest)
	if _, err := f.Install(context.Background(), a, writeFile(t, src, "other2.pth", other)); !errors.As(err, &me) {
		t.Errorf("after deleting the file: err = %v, want the recorded checksum to hold", err)
	}
	if _, err := os.Stat(dest); !errors.Is(err, os.ErrNotExist) {
		t.Error("refused install left a file")
	}
}

// Fetch: with no URL, a trust-on-first-use asset says how to install it; once installed, Fetch and
// Path accept the recorded file and refuse an altered one.
func TestFetchAndPathOfTrustOnFirstUseAsset(t *testing.T) {
	cache, src := t.TempDir(), t.TempDir()
	body, _ := payload(3000)
	a := tofuAsset("")
	f := &Fetcher{Dir: cache}
	_, err := f.Fetch(context.Background(), a)
	var manual *ManualError
	if !errors.As(err, &manual) || !strings.Contains(err.Error(), "agiqa fetch hpc --from FILE") || !strings.Contains(err.Error(), "share page") {
		t.Fatalf("no URL, nothing installed: err = %v", err)
	}
	if _, err := f.Install(context.Background(), a, writeFile(t, src, "hpc.pth", body)); err != nil {
		t.Fatal(err)
	}
	if res, err := f.Fetch(context.Background(), a); err != nil || res.Downloaded {
		t.Errorf("installed: Fetch = %+v, %v (want cached)", res, err)
	}
	dest := filepath.Join(cache, "hps", "hpc.pth")
	os.WriteFile(dest, []byte("altered"), 0o644)
	if _, err := f.Fetch(context.Background(), a); !errors.As(err, &manual) {
		t.Errorf("altered, no URL: err = %v (want the manual-install message)", err)
	}
}

// With a URL, the first download is recorded and a server later serving other bytes is refused.
func TestFetchTrustOnFirstUseDownloadIsRecorded(t *testing.T) {
	body, sum := payload(20_000)
	ts := newServer(t, body, false)
	cache := t.TempDir()
	a := tofuAsset(ts.URL + "/w.bin")
	f := &Fetcher{Dir: cache}
	if res, err := f.Fetch(context.Background(), a); err != nil || !res.Downloaded {
		t.Fatalf("first fetch: %+v, %v", res, err)
	}
	dest := filepath.Join(cache, "hps", "hpc.pth")
	if want, err := wantSHA256(a, dest); err != nil || want != sum {
		t.Fatalf("recorded %q, %v; want %s", want, err, sum)
	}
	os.Remove(dest)
	other, _ := payload(20_001)
	ts2 := newServer(t, other, false)
	a.URL = ts2.URL + "/w.bin"
	_, err := f.Fetch(context.Background(), a)
	var ce *ChecksumError
	if !errors.As(err, &ce) || ce.Want != sum {
		t.Errorf("other bytes: err = %v, want a checksum error against the record %s", err, sum)
	}
}

func TestTrustOnFirstUseBadRecordIsNamed(t *testing.T) {
	cache, src := t.TempDir(), t.TempDir()
	os.MkdirAll(filepath.Join(cache, "hps"), 0o755)
	rec := filepath.Join(cache, "hps", "hpc.pth"+RecordSuffix)
	os.WriteFile(rec, []byte("not a checksum\n"), 0o644)
	body, _ := payload(100)
	_, err := (&Fetcher{Dir: cache}).Install(context.Background(), tofuAsset(""), writeFile(t, src, "hpc.pth", body))
	var re *RecordError
	if !errors.As(err, &re) || !strings.Contains(err.Error(), rec) {
		t.Errorf("bad record: err = %v", err)
	}
	// An asset with neither a checksum nor trust on first use is a catalogue bug, named as such.
	_, err = (&Fetcher{Dir: cache}).Install(context.Background(), Asset{Name: "x", Path: "x"}, writeFile(t, src, "x", body))
	if err == nil || !strings.Contains(err.Error(), "no sha256") {
		t.Errorf("no checksum: err = %v", err)
	}
}

func TestHPSv1IsTrustOnFirstUse(t *testing.T) {
	a, err := Lookup("hpsv1")
	if err != nil || !a.TrustOnFirstUse || a.SHA256 != "" || a.URL != "" {
		t.Errorf("hpsv1 = %+v, %v", a, err)
	}
}
