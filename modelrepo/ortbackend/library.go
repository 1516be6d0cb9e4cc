// Package ortbackend runs the repository's ONNX models (platform
// "onnxruntime_onnx", backend "onnxruntime") inside the embedded server
// through ONNX Runtime's C library, loaded at run time with dlopen by
// github.com/yalue/onnxruntime_go.
//
// The library is optional: when it cannot be found or loaded, ONNX models
// report not ready with the reason and the server's native models keep
// serving. LibraryPath says where it is looked for.
package ortbackend

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// EnvLibrary names the environment variable that points at the library (a
// file, or a folder holding it).
const EnvLibrary = "AGIQA_ORT_LIB"

// ErrLibraryNotFound is wrapped by LibraryPath when no candidate exists.
var ErrLibraryNotFound = errors.New("ONNX Runtime shared library not found")

// libraryNames are the file names the C library is published under here.
func libraryNames() []string {
	switch runtime.GOOS {
	case "windows":
		return []string{"onnxruntime.dll"}
	case "darwin":
		return []string{"libonnxruntime.dylib"}
	default:
		// The npm and release tarballs ship the soname; distributions add the dev link.
		return []string{"libonnxruntime.so.1", "libonnxruntime.so"}
	}
}

// LibraryPath finds ONNX Runtime's shared library: explicit when not empty,
// else $AGIQA_ORT_LIB, else the first of /usr/lib, /usr/lib/<multiarch>,
// /usr/local/lib, the folder of the running executable, and .tools/ort under
// the module root (the folder with go.mod above the working directory, where
// scripts/install-ort.sh puts it). An explicit path or the variable that does
// not name a library is an error rather than a reason to look elsewhere, so a
// typo is not papered over by another copy.
func LibraryPath(explicit string) (string, error) {
	return findLibrary(explicit, os.Getenv(EnvLibrary), searchDirs())
}

func findLibrary(explicit, env string, dirs []string) (string, error) {
	if explicit != "" {
		p, err := libraryAt(explicit)
		if err != nil {
			return "", fmt.Errorf("ONNX Runtime library %s: %w", explicit, err)
		}
		return p, nil
	}
	if env != "" {
		p, err := libraryAt(env)
		if err != nil {
			return "", fmt.Errorf("ONNX Runtime library from $%s=%s: %w", EnvLibrary, env, err)
		}
		return p, nil
	}
	var tried []string
	for _, d := range dirs {
		for _, n := range libraryNames() {
			p := filepath.Join(d, n)
			if isFile(p) {
				return p, nil
			}
			tried = append(tried, p)
		}
	}
	return "", fmt.Errorf("%w (set $%s or run scripts/install-ort.sh); looked for %s",
		ErrLibraryNotFound, EnvLibrary, strings.Join(tried, ", "))
}

// libraryAt accepts the library file itself or a folder that holds it.
func libraryAt(p string) (string, error) {
	st, err := os.Stat(p)
	if err != nil {
		return "", err
	}
	if !st.IsDir() {
		return p, nil
	}
	for _, n := range libraryNames() {
		if c := filepath.Join(p, n); isFile(c) {
			return c, nil
		}
	}
	return "", fmt.Errorf("%w in that folder (want one of %s)", ErrLibraryNotFound, strings.Join(libraryNames(), ", "))
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// searchDirs are the standard places, in order.
func searchDirs() []string {
	dirs := []string{"/usr/lib"}
	if ma := multiarch(); ma != "" {
		dirs = append(dirs, "/usr/lib/"+ma)
	}
	dirs = append(dirs, "/usr/local/lib")
	if exe, err := os.Executable(); err == nil {
		dirs = append(dirs, filepath.Dir(exe))
	}
	if root := moduleRoot(); root != "" {
		dirs = append(dirs, filepath.Join(root, ".tools", "ort"))
	}
	return dirs
}

// multiarch is Debian's library folder name for this architecture.
func multiarch() string {
	if runtime.GOOS != "linux" {
		return ""
	}
	switch runtime.GOARCH {
	case "amd64":
		return "x86_64-linux-gnu"
	case "arm64":
		return "aarch64-linux-gnu"
	}
	return ""
}

// moduleRoot walks up from the working directory to the folder holding go.mod
// (tests run in their package folder; the CLI usually in the checkout).
func moduleRoot() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if isFile(filepath.Join(dir, "go.mod")) {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}
