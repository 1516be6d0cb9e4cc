package ceiq

import "github.com/agiqa-bench/agiqa/baselines/extractor"

// The extractor registry entry: what `agiqa train svr --feature ceiq` extracts and a served SVR on these
// features computes (row ceiq_svr; the published model, native function "ceiq", fills the paper row). Bump Version whenever the features change, so cached vectors are not reused.
func init() {
	extractor.Register(extractor.Extractor{Name: "ceiq", Version: "1", Len: NumFeatures, Catalog: "ceiq_svr", Features: Features})
}
