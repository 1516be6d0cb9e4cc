package bert

import "testing"

// BenchmarkEncode tokenizes a typical AGIQA-3k prompt with adjectives and style at ImageReward's length.
func BenchmarkEncode(b *testing.B) {
	tok := tokenizer(b)
	const text = "a beautiful fluffy baby giraffe in a sunlit meadow, hyper detail, baroque style, trending on artstation"
	b.ReportAllocs()
	for b.Loop() {
		tok.Encode(text, 35)
	}
}
