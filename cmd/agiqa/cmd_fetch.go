package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/agiqa-bench/agiqa/modelrepo/fetch"
	"golang.org/x/term"
)

func init() {
	register(command{name: "fetch", summary: "download published weights into the cache (sha256-verified, resumable)", run: runFetch})
}

func runFetch(ctx context.Context, io cmdIO, args []string) error {
	fs := newFlags(io, "fetch", `
Usage: agiqa fetch [--cache DIR] [--mirror URL] [--list] [NAME ...]
       agiqa fetch [--cache DIR] NAME --from FILE

Downloads the published weights and parameters the models use (OpenAI CLIP
RN50, torchvision ResNet50 ImageNet, the CLIP BPE vocabulary, NIQE's pristine
model, BRISQUE's LIVE model and ranges, CEIQ's model) into the cache, resuming
partial downloads. Each file is checked against its published sha256; a file
with another checksum is deleted and reported. With no NAME, fetches all.
A server that sends nothing for 30 s is given up on (no network: the error
names the URL at once).
--from installs a copy obtained elsewhere (an offline machine, a mirror, a
manual download) after checking its sha256; a mismatch installs nothing.
--list names every asset with its size, sha256 and source URL.
The cache defaults to $AGIQA_CACHE, $XDG_CACHE_HOME/agiqa or ~/.cache/agiqa.

Example:
  agiqa fetch clip-rn50 clip-vocab
  agiqa fetch niqe-params --from ~/Downloads/modelparameters.mat
  agiqa fetch --list`)
	cache := fs.String("cache", fetch.DefaultCacheDir(), "cache `dir`")
	mirror := fs.String("mirror", "", "fetch from this base `URL` instead (files at URL/<cache path>)")
	list := fs.Bool("list", false, "list the assets (name, size, sha256, source URL) and exit")
	from := fs.String("from", "", "install NAME from this local `file` instead of downloading it (sha256-checked)")
	retries := fs.Int("retries", 3, "resumed attempts after a dropped or stalled connection")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *retries < 0 {
		return usagef("--retries %d: want 0 or more", *retries)
	}
	if *mirror != "" {
		if u, err := url.Parse(*mirror); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return usagef("--mirror %q: want an http:// or https:// URL", *mirror)
		}
	}
	if *list {
		return listAssets(io)
	}
	if err := checkOutputDir("--cache", *cache); err != nil {
		return err
	}
	if *from != "" {
		if fs.NArg() != 1 || *mirror != "" {
			return usagef("--from %s: give exactly one asset NAME and no --mirror (agiqa fetch NAME --from FILE)", *from)
		}
		return installFrom(ctx, io, *cache, fs.Arg(0), *from)
	}
	assets := fetch.Catalog
	if fs.NArg() > 0 {
		assets = nil
		for _, n := range fs.Args() {
			a, err := fetch.Lookup(n)
			if err != nil {
				return usagef("%v", err)
			}
			assets = append(assets, a)
		}
	}
	progress := &fetchProgress{w: io.stderr}
	if fd, ok := io.stderr.(*os.File); ok {
		progress.tty = term.IsTerminal(int(fd.Fd()))
	}
	f := &fetch.Fetcher{
		Dir:      *cache,
		Client:   &http.Client{Timeout: 0},
		Retries:  *retries,
		Progress: progress.update,
	}
	var failed []string
	for i, a := range assets {
		if a.URL == "" && *mirror == "" && fs.NArg() == 0 {
			// Nothing to download (a file users obtain themselves, such as HPS v1's): not a failure of "fetch all".
			fmt.Fprintf(io.stderr, "%s: no download source; install a copy with: agiqa fetch %s --from FILE\n", a.Name, a.Name)
			continue
		}
		if *mirror != "" {
			a.URL = strings.TrimRight(*mirror, "/") + "/" + a.Path
		}
		start := time.Now()
		res, err := f.Fetch(ctx, a)
		progress.endLine()
		if err != nil && ctx.Err() != nil {
			// Interrupted: the other assets would each fail the same way.
			return interruptedFetch(a.Name, res.Path+".part", assets[i+1:])
		}
		if err != nil {
			fmt.Fprintf(io.stderr, "error: %v\n", err)
			failed = append(failed, a.Name)
			continue
		}
		state := "cached"
		if res.Downloaded {
			state = fmt.Sprintf("downloaded in %s", time.Since(start).Round(time.Millisecond))
			if res.Resumed > 0 {
				state += fmt.Sprintf(" (resumed at %d bytes)", res.Resumed)
			}
		}
		fmt.Fprintf(io.stdout, "%s\t%s\tsha256 ok\t%s\n", a.Name, res.Path, state)
	}
	if len(failed) > 0 {
		return fmt.Errorf("fetch failed for %s", strings.Join(failed, ", "))
	}
	return nil
}

// interruptedFetch says what an interrupt left behind and how to go on.
func interruptedFetch(name, part string, rest []fetch.Asset) error {
	msg := "interrupted while fetching " + name
	if st, err := os.Stat(part); err == nil && st.Size() > 0 {
		msg += fmt.Sprintf(" (%d bytes kept in %s)", st.Size(), part)
	}
	if len(rest) > 0 {
		names := make([]string, len(rest))
		for i, a := range rest {
			names[i] = a.Name
		}
		msg += "; not fetched: " + strings.Join(names, ", ")
	}
	return errors.New(msg + "; run the same command again to resume")
}

// listAssets prints every asset: name, size (where published), full
// sha256, source URL, and what it is for.
func listAssets(io cmdIO) error {
	tw := tabwriter.NewWriter(io.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSIZE\tSHA256\tSOURCE\tABOUT")
	for _, a := range fetch.Catalog {
		size := "unknown"
		if a.Size > 0 {
			size = strconv.FormatInt(a.Size, 10)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", a.Name, size, a.SHA256, a.URL, a.About)
	}
	return tw.Flush()
}

// installFrom puts a local copy of one asset into the cache.
func installFrom(ctx context.Context, io cmdIO, cache, name, file string) error {
	a, err := fetch.Lookup(name)
	if err != nil {
		return usagef("%v", err)
	}
	res, err := (&fetch.Fetcher{Dir: cache}).Install(ctx, a, file)
	if err != nil {
		return err
	}
	state := "cached (already installed)"
	if res.Downloaded {
		state = "installed from " + file
	}
	fmt.Fprintf(io.stdout, "%s\t%s\tsha256 ok\t%s\n", a.Name, res.Path, state)
	return nil
}
