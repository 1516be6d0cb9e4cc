package baselines

import (
	"embed"
	"io/fs"
)

// builtinFS is the repository `agiqa serve` uses without --repo: Go-native
// models only, so it serves with no files on disk and no GPU. Each model's
// version folder holds a model.native file naming its registered function.
//
//go:embed builtin
var builtinFS embed.FS

// BuiltinRepository is the built-in model repository (Triton layout, rooted
// at the model directories); open it with modelrepo.OpenFS(BuiltinRepository(), "builtin").
func BuiltinRepository() fs.FS {
	sub, err := fs.Sub(builtinFS, "builtin")
	if err != nil {
		panic(err) // the embed directive guarantees the directory
	}
	return sub
}
