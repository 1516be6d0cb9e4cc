package higrade

import "github.com/agiqa-bench/agiqa/baselines/extractor"

// The extractor registry entry: what `agiqa train svr --feature higrade` extracts and a served SVR on these
// features computes. Bump Version whenever the features change, so cached vectors are not reused.
func init() {
	extractor.Register(extractor.Extractor{Name: "higrade", Version: "2", Len: NumFeatures, Catalog: "higrade", Features: Features})
}
