// Package fetch downloads published model weights into a local cache: resumable
// (HTTP Range on a .part file), verified by sha256, and never leaving a file with
// the wrong checksum in place.
package fetch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/agiqa-bench/agiqa/internal/filelock"
)

// Asset is one published file and the facts needed to trust it.
type Asset struct {
	Name   string // stable id used on the command line
	URL    string
	SHA256 string // hex
	Size   int64  // bytes; 0 when not published
	Path   string // relative to the cache dir
	About  string
	// TrustOnFirstUse: no checksum is published (SHA256 is empty); the first file installed is
	// recorded and later ones must match it (see tofu.go).
	TrustOnFirstUse bool
}

// Catalog lists the weights the project uses. The checksums are the publishers':
// OpenAI names each CLIP file by its sha256; torchvision's file name carries the
// hash prefix; the vocabulary's hash is that of OpenAI's published file.
var Catalog = []Asset{
	{
		Name:   "clip-rn50",
		URL:    "https://openaipublic.azureedge.net/clip/models/afeb0e10f9e5a86da6080e35cf09123aca3b358a0c3e3b6c78a7b63bc04b6762/RN50.pt",
		SHA256: "afeb0e10f9e5a86da6080e35cf09123aca3b358a0c3e3b6c78a7b63bc04b6762",
		Path:   "clip/RN50.pt",
		About:  "OpenAI CLIP RN50 (TorchScript); IP-IQA, ResNet50* and CLIP-IQA start from it",
	},
	{
		Name:   "resnet50-imagenet",
		URL:    "https://download.pytorch.org/models/resnet50-0676ba61.pth",
		SHA256: "0676ba61b6795bbe1773cffd859882e5e297624d384b6993f7c9e683e722fb8a",
		Size:   102530333,
		Path:   "torchvision/resnet50-0676ba61.pth",
		About:  "torchvision ResNet50 IMAGENET1K_V1; the ResNet50 baseline starts from it",
	},
	{
		// torchvision names the file by its sha256 prefix; the full digest and size are those
		// that independent download checks record for this URL (no torchvision page lists them).
		Name:   "vgg16-imagenet",
		URL:    "https://download.pytorch.org/models/vgg16-397923af.pth",
		SHA256: "397923af8e79cdbb6a7127f12361acd7a2f83e06b05044ddf496e83de57a5bf0",
		Size:   553433881,
		Path:   "torchvision/vgg16-397923af.pth",
		About:  "torchvision VGG16 IMAGENET1K_V1; DBCNN's VGG16 branch starts from it (train --weights)",
	},
	{
		Name:   "dbcnn-scnn",
		URL:    "https://github.com/zwx8981/DBCNN-PyTorch/raw/1035ecbb1a8e5bd3da37613dfbc0e3ac8d1bea1d/pretrained_scnn/scnn.pkl",
		SHA256: "7ea73d75539cefcf4953800a896e024ea1a3216de2392f242810b113fd940a42",
		Path:   "dbcnn/scnn.pkl",
		About:  "DBCNN's S-CNN branch pretrained by the authors on synthetic distortions (train --scnn-weights)",
	},
	{
		// pyiqa publishes only the sha256 prefix in the file name (603f3273), so trust on first use
		// here; export checks that prefix on a full-size clipiqa_plus export.
		Name:            "clipiqa-plus-prompts",
		URL:             "https://github.com/chaofengc/IQA-PyTorch/releases/download/v0.1-weights/CLIP-IQA+_learned_prompts-603f3273.pth",
		Path:            "clipiqa/CLIP-IQA+_learned_prompts-603f3273.pth",
		TrustOnFirstUse: true,
		About:           "CLIP-IQA+ learned prompt context (pyiqa release v0.1-weights); export --model clipiqa_plus --learned-prompts",
	},
	{
		Name:   "clip-vocab",
		URL:    "https://openaipublic.azureedge.net/clip/bpe_simple_vocab_16e6.txt.gz",
		SHA256: "924691ac288e54409236115652ad4aa250f48203de50a9e4722a6ecd48d6804a",
		Size:   1356917,
		Path:   "clip/bpe_simple_vocab_16e6.txt.gz",
		About:  "CLIP BPE vocabulary for the prompt tokenizer",
	},
	{
		// The image-reward package fetches this file (hf_hub_download, THUDM/ImageReward);
		// the sha256 is the one issue 12 records. Size unpublished (about 1.8 GB).
		Name:   "imagereward",
		URL:    "https://huggingface.co/THUDM/ImageReward/resolve/main/ImageReward.pt",
		SHA256: "d71dc8d4912bc633c06ab8ef1ef6a81e8199d4369f14b47b29baf1d19de561f6",
		Path:   "imagereward/ImageReward.pt",
		About:  "ImageReward v1.0 (Xu et al., NeurIPS 2023) state dict, THUDM/ImageReward, Apache-2.0",
	},
	// Table 2's CLIP alignment models. OpenAI names each file by its sha256; the HPS v2 checksums
	// are the ones issue 12 records. HPS v1's hpc.pth is shared from OneDrive with no checksum:
	// trust on first use (the first copy installed with --from is recorded and later ones must match).
	{
		Name:   "clip-vit-b32",
		URL:    "https://openaipublic.azureedge.net/clip/models/40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af/ViT-B-32.pt",
		SHA256: "40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af",
		Path:   "clip/ViT-B-32.pt",
		About:  "OpenAI CLIP ViT-B/32 (TorchScript); CLIPScore",
	},
	{
		Name:   "clip-vit-l14",
		URL:    "https://openaipublic.azureedge.net/clip/models/b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836/ViT-L-14.pt",
		SHA256: "b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836",
		Path:   "clip/ViT-L-14.pt",
		About:  "OpenAI CLIP ViT-L/14 (TorchScript); the tower HPS v1 fine-tunes",
	},
	{
		Name:   "hpsv2-compressed",
		URL:    "https://huggingface.co/xswu/HPSv2/resolve/main/HPS_v2_compressed.pt",
		SHA256: "07cb0d20626232204ca3a6ec53ff5984e7e53212a8a7b0e0ec2bac1bdaf125a1",
		Path:   "hps/HPS_v2_compressed.pt",
		About:  "HPS v2 (open_clip ViT-H-14 state dict), xswu/HPSv2",
	},
	{
		Name:   "hpsv21-compressed",
		URL:    "https://huggingface.co/xswu/HPSv2/resolve/main/HPS_v2.1_compressed.pt",
		SHA256: "c57a38fb4a2f7e7c15bf00da2ea377cdf165448b4dd1052a484c215a998c9837",
		Path:   "hps/HPS_v2.1_compressed.pt",
		About:  "HPS v2.1 (open_clip ViT-H-14 state dict), xswu/HPSv2",
	},
	{
		Name:            "hpsv1",
		Path:            "hps/hpc.pth",
		TrustOnFirstUse: true,
		About: "HPS v1 human preference classifier hpc.pth (CLIP ViT-L/14 state dict), from the OneDrive link " +
			"in tgxs002/align_sd's README; no checksum is published",
	},
	{
		Name:            "pickscore",
		URL:             "https://huggingface.co/yuvalkirstain/PickScore_v1/resolve/main/model.safetensors",
		Path:            "pickscore/model.safetensors",
		TrustOnFirstUse: true,
		About: "PickScore v1 (transformers CLIPModel, ViT-H-14), yuvalkirstain/PickScore_v1; no checksum " +
			"found published (the LFS id is not listed anywhere we could read), so the first copy's is recorded",
	},
	// Hugging Face serves vocab.txt outside LFS (its listed id is the git blob sha1
	// fb140275c155a9c7c5a3b3e0e77a9e839594a938); this is the sha256 of those bytes.
	{
		Name:   "bert-base-uncased-vocab",
		URL:    "https://huggingface.co/bert-base-uncased/resolve/86b5e0934494bd15c9632b12f734a8a67f723594/vocab.txt",
		SHA256: "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
		Size:   231508,
		Path:   "bert/vocab.txt",
		About:  "bert-base-uncased WordPiece vocabulary (Apache-2.0) for the BERT prompt tokenizer (ImageReward)",
	},
	// The handcrafted rows' published parameters, at pinned commits of the
	// authors' repositories; the checksums are of those files as committed.
	{
		Name:   NIQEParams,
		URL:    "https://raw.githubusercontent.com/utlive/niqe/d80aead297ff48b0254c39806f3a277b3ecbfc8d/modelparameters.mat",
		SHA256: "fa2aa4d12dd9595c3fb6bf8b4e1a15c79d5d1469238d0901c88dead195be578d",
		Size:   8347,
		Path:   "niqe/modelparameters.mat",
		About:  "NIQE pristine model (mu_prisparam, cov_prisparam), utlive/niqe",
	},
	{
		Name:   BRISQUEModel,
		URL:    "https://raw.githubusercontent.com/utlive/BRISQUE/bd088c3f6b745629caa02f663e4665cb51591ac0/MATLAB/allmodel",
		SHA256: "8b04d6045f1b27261610c8ab1730fdcc14ec80bfab0f1ab5f703bbc2927314de",
		Size:   353497,
		Path:   "brisque/allmodel",
		About:  "BRISQUE libsvm model trained on LIVE, utlive/BRISQUE",
	},
	{
		Name:   BRISQUERange,
		URL:    "https://raw.githubusercontent.com/utlive/BRISQUE/bd088c3f6b745629caa02f663e4665cb51591ac0/MATLAB/allrange",
		SHA256: "e47d753d96b631e1aa2dbac8c4e51ade767f2def8ce678c7130b6b3f90ee915f",
		Size:   741,
		Path:   "brisque/allrange",
		About:  "BRISQUE svm-scale ranges (svm-scale -r), utlive/BRISQUE",
	},
	{
		Name:   CEIQModel,
		URL:    "https://raw.githubusercontent.com/mtobeiyf/CEIQ/c92b6a19ccf45d783928e00ae4262cb9f289fed2/data/model.mat",
		SHA256: "f2c2300adbf6fbe09dfa46c5b05e47e8fb96c810f7b582344f6c3bf201e93d6d",
		Size:   22821,
		Path:   "ceiq/model.mat",
		About:  "CEIQ published SVR model, mtobeiyf/CEIQ",
	},
}

// Names of the parameter assets other packages look up with Path.
const (
	NIQEParams   = "niqe-params"
	BRISQUEModel = "brisque-model"
	BRISQUERange = "brisque-range"
	CEIQModel    = "ceiq-model"
)

// Lookup finds a catalogue entry by name.
func Lookup(name string) (Asset, error) {
	for _, a := range Catalog {
		if a.Name == name {
			return a, nil
		}
	}
	names := make([]string, len(Catalog))
	for i, a := range Catalog {
		names[i] = a.Name
	}
	sort.Strings(names)
	return Asset{}, fmt.Errorf("unknown asset %q (known: %s)", name, strings.Join(names, ", "))
}

// DefaultCacheDir is $AGIQA_CACHE, else $XDG_CACHE_HOME/agiqa, else ~/.cache/agiqa.
func DefaultCacheDir() string {
	if d := os.Getenv("AGIQA_CACHE"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "agiqa")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".cache", "agiqa")
	}
	return filepath.Join(os.TempDir(), "agiqa-cache")
}

// ChecksumError reports a download whose sha256 is not the published one; the
// file has been deleted.
type ChecksumError struct {
	Asset, URL, Want, Got string
}

func (e *ChecksumError) Error() string {
	return fmt.Sprintf("%s: sha256 mismatch for %s: want %s, got %s (file deleted)", e.Asset, e.URL, e.Want, e.Got)
}

// Progress is told how many bytes of an asset are on disk so far.
type Progress func(asset string, done, total int64)

// DefaultStall is how long an attempt may go without receiving a byte (the
// connection, the response headers, or the body) before it is abandoned.
const DefaultStall = 30 * time.Second

// Fetcher downloads assets into Dir.
type Fetcher struct {
	Dir      string
	Client   *http.Client
	Progress Progress
	Retries  int // extra attempts after a dropped connection, each resuming; < 0 counts as 0
	// Stall abandons an attempt that receives nothing for this long (0:
	// DefaultStall). A stall in the body counts as a dropped connection (the
	// next attempt resumes); a server that never answers is not retried. A whole-request
	// timeout would cut off large files on slow links; this only catches
	// servers that accept and then say nothing.
	Stall time.Duration
}

// Result says where an asset is and whether this call downloaded it.
type Result struct {
	Asset      Asset
	Path       string
	Downloaded bool
	Resumed    int64 // bytes that were already on disk in a .part file
}

// BusyError: another fetch (this process or another) is downloading the same
// asset into the same cache.
type BusyError struct {
	Asset, Path string
	Holder      string // "pid N (command)" of the fetch holding the lock, "" when unknown
}

func (e *BusyError) Error() string {
	who := ""
	if e.Holder != "" {
		who = e.Holder + "; "
	}
	return fmt.Sprintf("%s: another fetch is writing %s (%sits lock %s is held); wait for it to finish, or stop it and run again to resume",
		e.Asset, e.Path, who, e.Path+".lock")
}

// lockAsset creates dest's folder and takes the asset's lock (dest + ".lock"), which every fetch and
// install of dest holds while it looks at or writes dest; one already held is a *BusyError.
func lockAsset(a Asset, dest string) (unlock func(), err error) {
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return nil, fmt.Errorf("%s: %w", a.Name, err)
	}
	unlock, err = filelock.Lock(dest + ".lock")
	var held *filelock.HeldError
	if errors.As(err, &held) {
		return nil, &BusyError{Asset: a.Name, Path: dest, Holder: held.Holder}
	}
	if err != nil {
		return nil, fmt.Errorf("%s: lock %s: %w", a.Name, dest+".lock", err)
	}
	return unlock, nil
}

// Fetch makes sure the asset is in the cache with the right checksum.
//
// A .part file left by an earlier run is resumed. Its bytes were not checked
// by this call, so when the result does not verify (or the leftover is longer
// than the asset) the asset is downloaded whole once more, and only a
// mismatch of a download made entirely by this call is reported.
func (f *Fetcher) Fetch(ctx context.Context, a Asset) (Result, error) {
	dest := filepath.Join(f.Dir, filepath.FromSlash(a.Path))
	res := Result{Asset: a, Path: dest}
	// Taken before looking at dest: the fetch holding it may be about to rename its .part there.
	unlock, err := lockAsset(a, dest)
	if err != nil {
		return res, err
	}
	defer unlock()
	want, err := wantSHA256(a, dest)
	if err != nil {
		return res, err
	}
	if sum, err := fileSHA256(dest); err == nil {
		if sum == want {
			return res, nil
		}
		// A wrong file in the cache is never trusted: replace it.
		if err := os.Remove(dest); err != nil {
			return res, fmt.Errorf("%s: remove %s with wrong checksum: %w", a.Name, dest, err)
		}
	}
	if a.URL == "" {
		return res, &ManualError{Asset: a.Name, About: a.About}
	}
	part := dest + ".part"
	// kept is how many bytes of the leftover .part file are still in it:
	// every attempt that rewrites from an earlier offset lowers it.
	var kept int64
	st, err := os.Lstat(part)
	if err == nil {
		if err := checkPart(a, part, st); err != nil {
			return res, err
		}
		kept = st.Size()
		if a.Size > 0 && kept > a.Size {
			kept = 0 // cannot be a prefix of the asset
			if err := os.Truncate(part, 0); err != nil {
				return res, fmt.Errorf("%s: %w", a.Name, err)
			}
		}
	}
	for {
		err := f.attempts(ctx, a, part, &kept)
		if err != nil {
			if st, serr := os.Stat(part); serr == nil && st.Size() == 0 {
				os.Remove(part) // nothing arrived: nothing to resume
			}
			return res, err
		}
		if st, err := os.Lstat(part); err == nil && a.Size > 0 && st.Size() != a.Size {
			// Only a server that answers a resume with 416 gets here short.
			if kept > 0 {
				os.Remove(part)
				kept = 0 // the leftover may be what is wrong: once more from scratch
				continue
			}
			return res, fmt.Errorf("%s: GET %s: short body: got %d of %d bytes (the published size)", a.Name, a.URL, st.Size(), a.Size)
		}
		sum, err := fileSHA256(part)
		if err != nil {
			return res, fmt.Errorf("%s: %w", a.Name, err)
		}
		if want != "" && sum != want {
			os.Remove(part)
			if kept > 0 {
				kept = 0 // the leftover was wrong, not the server: once more from scratch
				continue
			}
			return res, &ChecksumError{Asset: a.Name, URL: a.URL, Want: want, Got: sum}
		}
		want = sum // first use: this download is the one recorded
		break
	}
	if err := os.Rename(part, dest); err != nil {
		return res, fmt.Errorf("%s: %w", a.Name, err)
	}
	if a.SHA256 == "" {
		if err := recordSHA256(a, dest, want); err != nil {
			os.Remove(dest) // never a trust-on-first-use file without its record
			return res, err
		}
	}
	res.Downloaded = true
	res.Resumed = kept
	return res, nil
}

// attempts downloads into part, retrying dropped connections by resuming.
func (f *Fetcher) attempts(ctx context.Context, a Asset, part string, kept *int64) error {
	var err error
	for attempt := 0; attempt <= max(f.Retries, 0); attempt++ {
		var from int64
		from, err = f.download(ctx, a, part)
		*kept = min(*kept, from)
		if err == nil || ctx.Err() != nil {
			break
		}
		var perm *permanentError
		if errors.As(err, &perm) {
			break
		}
	}
	return err
}

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// download appends to part, asking the server for the bytes it lacks. from is
// the offset the file was kept up to: what it held before, or less when the
// server sent the file from an earlier offset (or whole).
func (f *Fetcher) download(ctx context.Context, a Asset, part string) (from int64, err error) {
	out, err := openPart(a, part)
	if err != nil {
		return 0, &permanentError{err}
	}
	defer out.Close()
	have, err := out.Seek(0, io.SeekEnd)
	if err != nil {
		return 0, &permanentError{fmt.Errorf("%s: %w", a.Name, err)}
	}
	from = have
	// The watchdog cancels the attempt when no byte has arrived for Stall;
	// every write to the .part file rearms it.
	stall := f.Stall
	if stall <= 0 {
		stall = DefaultStall
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	watchdog := time.AfterFunc(stall, func() { cancel(fmt.Errorf("%w: nothing received for %v", errStalled, stall)) })
	defer watchdog.Stop()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.URL, nil)
	if err != nil {
		return from, &permanentError{fmt.Errorf("%s: %w", a.Name, err)}
	}
	if have > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(have, 10)+"-")
	}
	client := f.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		err = fmt.Errorf("%s: GET %s: %w", a.Name, a.URL, f.cause(ctx, err))
		if errors.Is(err, errStalled) {
			// No answer at all: asking again would only wait as long again.
			return from, &permanentError{err}
		}
		return from, err
	}
	defer resp.Body.Close()
	sp, err := span(a, resp, have)
	if err != nil || sp.complete {
		return from, err
	}
	have, from = sp.start, sp.start
	if err := out.Truncate(have); err != nil {
		return from, &permanentError{fmt.Errorf("%s: %w", a.Name, err)}
	}
	if _, err := out.Seek(have, io.SeekStart); err != nil {
		return from, &permanentError{fmt.Errorf("%s: %w", a.Name, err)}
	}
	w := &progressWriter{w: out, done: have, total: sp.total, name: a.Name, report: f.Progress,
		kick: func() { watchdog.Reset(stall) }}
	var body io.Reader = resp.Body
	if sp.total > 0 {
		body = io.LimitReader(resp.Body, sp.total-have) // never a byte past the asset
	}
	if _, err := io.Copy(w, body); err != nil {
		return from, fmt.Errorf("%s: reading %s after %d bytes: %w", a.Name, a.URL, w.done, f.cause(ctx, err))
	}
	if sp.total > 0 && w.done < sp.total {
		// A body without Content-Length ends at a closed connection, which
		// looks like success: retry (resuming) rather than hash a short file.
		return from, fmt.Errorf("%s: reading %s: short body: connection closed after %d of %d bytes", a.Name, a.URL, w.done, sp.total)
	}
	if sp.total > 0 {
		// One byte more than the asset means a different file; a server that
		// just stalls after the last byte is not an error (the hash decides).
		var extra [1]byte
		if n, _ := io.ReadFull(resp.Body, extra[:]); n > 0 {
			out.Truncate(have) // what this attempt wrote is not the asset
			return from, &permanentError{fmt.Errorf("%s: GET %s: the body is longer than %s of %d bytes", a.Name, a.URL, sp.sizeFrom, sp.total)}
		}
	}
	return from, nil
}

// errStalled marks an attempt the watchdog abandoned.
var errStalled = errors.New("server stalled")

// cause explains a failed request: the watchdog's reason when it fired, and
// without net/http's `Get "URL":` prefix, since the caller names the URL.
func (f *Fetcher) cause(ctx context.Context, err error) error {
	if c := context.Cause(ctx); c != nil && errors.Is(c, errStalled) {
		return c
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
