// Package modelrepo loads and validates a Triton-layout model repository:
//
//	<repository>/<model>/config.pbtxt    protobuf text of inference.ModelConfig
//	<repository>/<model>/<version>/...   one folder per version (1, 2, ...), each holding the model files
//
// Each model is read on its own: a bad config.pbtxt, a missing config or an
// empty version folder puts that model into Repository.Errors (with file and
// line) and leaves the others usable. Like Triton, folders whose names are not
// positive integers without a leading zero are not versions; they are ignored
// with a warning. The embedded server (modelrepo/server) serves what Open
// returns; `agiqa repo check` reports Errors, Warnings and ContractCheck.
package modelrepo

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"

	pb "github.com/agiqa-bench/agiqa/client/inferencepb"
)

// ConfigFile is the name of a model's configuration inside its directory.
const ConfigFile = "config.pbtxt"

// Version is one version folder of a model.
type Version struct {
	Number int64
	// Dir is the folder's slash-separated path inside the repository FS ("m/1").
	Dir string
	// Files lists the entries directly inside the folder, sorted; folders end in "/".
	Files []string
}

// Model is a model whose config parsed and validated and which has at least
// one version folder to serve.
type Model struct {
	Name string
	// Dir and ConfigFile are display paths: the repository label joined with
	// the path inside it, as error messages show them.
	Dir        string
	ConfigFile string
	// Config has Triton's defaults filled in (name, version policy, instances).
	Config *pb.ModelConfig
	// Versions lists every version folder on disk, ascending.
	Versions []Version
	// Selected are the versions version_policy picks, ascending: what a server loads.
	Selected []int64
	// Warnings name entries that were ignored (a folder "v2" is not a version).
	Warnings []string

	repo *Repository
}

// ModelError is why one model directory could not be used.
type ModelError struct {
	Name string
	Dir  string
	// Config is the parsed config when only the directory layout is wrong
	// (no or empty version folders); nil when config.pbtxt itself failed.
	Config *pb.ModelConfig
	// Err is an ErrorList of *ConfigError values naming file and line.
	Err error
}

func (e *ModelError) Error() string { return fmt.Sprintf("model %q: %v", e.Name, e.Err) }
func (e *ModelError) Unwrap() error { return e.Err }

// Repository is a snapshot of a repository directory taken by Open; ReadModel
// reads one model again (what a server's model load does).
type Repository struct {
	// Label prefixes every path in messages: the directory given to Open, or
	// OpenFS's label.
	Label  string
	Models []*Model      // sorted by name
	Errors []*ModelError // sorted by name

	fsys  fs.FS
	osDir string
}

// Open reads the repository in an OS directory. The error is only about the
// directory itself; problems with single models are in Repository.Errors.
func Open(dir string) (*Repository, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("model repository: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("model repository %s: not a directory", dir)
	}
	r, err := OpenFS(os.DirFS(dir), dir)
	if err != nil {
		return nil, err
	}
	r.osDir = dir
	return r, nil
}

// OpenFS reads a repository rooted at fsys (an embedded one, a test's
// fstest.MapFS); label names it in messages.
func OpenFS(fsys fs.FS, label string) (*Repository, error) {
	r := &Repository{Label: label, fsys: fsys}
	names, err := r.ScanNames()
	if err != nil {
		return nil, err
	}
	for _, name := range names {
		m, err := r.ReadModel(name)
		if err != nil {
			var me *ModelError
			if !errors.As(err, &me) {
				me = &ModelError{Name: name, Dir: r.display(name), Err: err}
			}
			r.Errors = append(r.Errors, me)
			continue
		}
		r.Models = append(r.Models, m)
	}
	return r, nil
}

// FS is the repository's file system.
func (r *Repository) FS() fs.FS { return r.fsys }

// LocalDir is the OS directory given to Open; "" for OpenFS.
func (r *Repository) LocalDir() string { return r.osDir }

// Model returns a model read by Open, or nil.
func (r *Repository) Model(name string) *Model {
	for _, m := range r.Models {
		if m.Name == name {
			return m
		}
	}
	return nil
}

// ScanNames lists the model directories now present (hidden ones skipped),
// including names that are not plain and so cannot load.
func (r *Repository) ScanNames() ([]string, error) {
	entries, err := fs.ReadDir(r.fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("model repository %s: %w", r.Label, err)
	}
	var names []string
	for _, e := range entries {
		if e.Name()[0] == '.' {
			continue
		}
		if r.isDir(e.Name(), e) {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

func (r *Repository) isDir(p string, e fs.DirEntry) bool {
	if e.Type()&fs.ModeSymlink != 0 {
		st, err := fs.Stat(r.fsys, p)
		return err == nil && st.IsDir()
	}
	return e.IsDir()
}

func (r *Repository) display(rel string) string {
	if r.Label == "" {
		return filepath.FromSlash(rel)
	}
	return filepath.Join(r.Label, filepath.FromSlash(rel))
}

var plainName = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`)

// IsPlainName reports whether s can name a model: letters, digits, '_', '.'
// and '-', not starting with '.' or '-', so it is one path element and a
// safe file name everywhere.
func IsPlainName(s string) bool { return plainName.MatchString(s) && len(s) <= 255 }

var versionName = regexp.MustCompile(`^[1-9][0-9]{0,17}$`)

// ReadModel reads one model directory again. A missing directory gives an
// error that matches fs.ErrNotExist; any other problem is a *ModelError.
func (r *Repository) ReadModel(name string) (*Model, error) {
	dir := r.display(name)
	if !IsPlainName(name) {
		return nil, &ModelError{Name: name, Dir: dir, Err: ErrorList{{File: dir,
			Msg: fmt.Sprintf("model directory name %q is not a plain name (letters, digits, '_', '.', '-'; not starting with '.' or '-')", name)}}}
	}
	entries, err := fs.ReadDir(r.fsys, name)
	if err != nil {
		return nil, fmt.Errorf("model %q in %s: %w", name, r.Label, err)
	}
	m := &Model{Name: name, Dir: dir, ConfigFile: r.display(path.Join(name, ConfigFile)), repo: r}
	var errs ErrorList
	data, err := fs.ReadFile(r.fsys, path.Join(name, ConfigFile))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		errs = append(errs, &ConfigError{File: m.ConfigFile, Msg: "missing: every model directory needs a config.pbtxt"})
	case err != nil:
		errs = append(errs, &ConfigError{File: m.ConfigFile, Msg: err.Error()})
	default:
		cfg, warnings, err := ParseConfigWarnings(m.ConfigFile, data, name)
		m.Warnings = append(m.Warnings, warnings...)
		var list ErrorList
		if errors.As(err, &list) {
			errs = append(errs, list...)
		} else if err != nil {
			errs = append(errs, &ConfigError{File: m.ConfigFile, Msg: err.Error()})
		}
		m.Config = cfg
	}
	for _, e := range entries {
		rel := path.Join(name, e.Name())
		if !r.isDir(rel, e) && versionName.MatchString(e.Name()) {
			errs = append(errs, &ConfigError{File: r.display(rel), Msg: "a file, but a version is a folder holding the model files, such as " +
				r.display(path.Join(rel, "model.onnx"))})
			continue
		}
		if !r.isDir(rel, e) || e.Name()[0] == '.' {
			continue
		}
		if !versionName.MatchString(e.Name()) {
			m.Warnings = append(m.Warnings, fmt.Sprintf("%s: ignored: a version folder is named by a positive integer without leading zeros", r.display(rel)))
			continue
		}
		n, _ := strconv.ParseInt(e.Name(), 10, 64)
		files, err := fs.ReadDir(r.fsys, rel)
		if err != nil {
			errs = append(errs, &ConfigError{File: r.display(rel), Msg: err.Error()})
			continue
		}
		v := Version{Number: n, Dir: rel}
		for _, f := range files {
			fn := f.Name()
			if r.isDir(path.Join(rel, fn), f) {
				fn += "/"
			}
			v.Files = append(v.Files, fn)
		}
		if len(v.Files) == 0 {
			errs = append(errs, &ConfigError{File: r.display(rel), Msg: "version folder is empty: it must hold the model files"})
			continue
		}
		m.Versions = append(m.Versions, v)
	}
	slices.SortFunc(m.Versions, func(a, b Version) int { return cmpInt64(a.Number, b.Number) })
	if m.Config != nil && len(errs) == 0 {
		if len(m.Versions) == 0 {
			errs = append(errs, &ConfigError{File: dir, Msg: "no version folder: put the model files in a numbered folder such as " + r.display(path.Join(name, "1"))})
		} else {
			m.Selected, errs = m.selectVersions(data, errs)
		}
	}
	if m.Config != nil && len(errs) == 0 {
		errs = append(errs, m.externalDataErrors()...)
	}
	if len(errs) > 0 {
		return nil, &ModelError{Name: name, Dir: dir, Config: m.Config, Err: errs}
	}
	return m, nil
}

// externalDataErrors checks the external data of the ONNX file of every
// selected version (models over 2 GB keep their weights in model.onnx.data
// beside model.onnx): a missing or short data file is named here, with the
// tensor, rather than failing later inside ONNX Runtime or Triton.
func (m *Model) externalDataErrors() ErrorList {
	if BackendName(m.Config) != "onnxruntime" {
		return nil
	}
	file := m.Config.GetDefaultModelFilename()
	if file == "" {
		file = "model.onnx"
	}
	var errs ErrorList
	for _, n := range m.Selected {
		v, _ := m.Version(n)
		if !slices.Contains(v.Files, file) {
			continue // the backend's check reports the missing model file
		}
		rel := path.Join(v.Dir, file)
		for _, p := range externalDataProblems(m.repo.fsys, rel, m.repo.display(rel)) {
			errs = append(errs, &ConfigError{File: m.repo.display(rel), Msg: p})
		}
	}
	return errs
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// selectVersions applies version_policy to the folders found.
func (m *Model) selectVersions(configText []byte, errs ErrorList) ([]int64, ErrorList) {
	var have []int64
	for _, v := range m.Versions {
		have = append(have, v.Number)
	}
	switch c := m.Config.GetVersionPolicy().GetPolicyChoice().(type) {
	case *pb.ModelVersionPolicy_All_:
		return have, errs
	case *pb.ModelVersionPolicy_Specific_:
		root, _ := parseTextPositions(configText)
		spec := root.field("version_policy", 0).field("specific", 0)
		var out []int64
		for j, want := range c.Specific.Versions {
			if !slices.Contains(have, want) {
				at := or(spec.field("versions", j), spec)
				e := &ConfigError{File: m.ConfigFile, Msg: fmt.Sprintf("version_policy specific version %d has no folder %s", want, m.repo.display(path.Join(m.Name, strconv.FormatInt(want, 10))))}
				if at != nil {
					e.Line, e.Col = at.line, at.col
				}
				errs = append(errs, e)
				continue
			}
			if !slices.Contains(out, want) {
				out = append(out, want)
			}
		}
		slices.Sort(out)
		return out, errs
	default: // latest; ParseConfig filled num_versions >= 1
		n := int(m.Config.GetVersionPolicy().GetLatest().GetNumVersions())
		if n < 1 {
			n = 1
		}
		if n > len(have) {
			n = len(have)
		}
		return have[len(have)-n:], errs
	}
}

// Version returns version folder n if it exists.
func (m *Model) Version(n int64) (Version, bool) {
	for _, v := range m.Versions {
		if v.Number == n {
			return v, true
		}
	}
	return Version{}, false
}

// ReadFile reads a file from a version folder.
func (m *Model) ReadFile(version int64, name string) ([]byte, error) {
	v, ok := m.Version(version)
	if !ok {
		return nil, fmt.Errorf("model %q has no version %d", m.Name, version)
	}
	data, err := fs.ReadFile(m.repo.fsys, path.Join(v.Dir, name))
	if err != nil {
		return nil, fmt.Errorf("model %q version %d: %w", m.Name, version, err)
	}
	return data, nil
}

// LocalPath is the OS path of a file in a version folder, when the repository
// was opened from a directory (backends that need a path, not bytes).
func (m *Model) LocalPath(version int64, name string) (string, bool) {
	v, ok := m.Version(version)
	if !ok || m.repo.osDir == "" {
		return "", false
	}
	return filepath.Join(m.repo.osDir, filepath.FromSlash(v.Dir), filepath.FromSlash(name)), true
}

// Parameter returns the model's config parameter key.
func (m *Model) Parameter(key string) (string, bool) { return Parameter(m.Config, key) }
