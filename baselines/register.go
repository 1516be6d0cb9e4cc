package baselines

// The handcrafted models that live in their own packages register their
// native functions and feature extractors in init; importing them here puts
// them in every program that serves baselines (cmd/agiqa, the C library).
import (
	_ "github.com/agiqa-bench/agiqa/baselines/brisque"
	_ "github.com/agiqa-bench/agiqa/baselines/ceiq"
	_ "github.com/agiqa-bench/agiqa/baselines/gmlf"
	_ "github.com/agiqa-bench/agiqa/baselines/higrade"
	_ "github.com/agiqa-bench/agiqa/baselines/niqe"
)
