package brisque

import (
	"fmt"
	"io"
	"math"
	"strconv"

	"github.com/agiqa-bench/agiqa/baselines/matlab"
	"github.com/agiqa-bench/agiqa/baselines/svr"
)

// Model is the release's predictor: svm-scale's ranges (allrange) and the
// epsilon-SVR trained on LIVE (allmodel).
type Model struct {
	Scale *svr.Scaler
	SVR   *svr.Model
}

// NewModel checks that the ranges and the support vectors are for
// NumFeatures features: a range file or model made for another extractor is
// refused, naming both lengths.
func NewModel(scale *svr.Scaler, m *svr.Model) (*Model, error) {
	if scale == nil || m == nil {
		return nil, fmt.Errorf("brisque: model needs both the svm-scale ranges and the SVR")
	}
	if n := len(scale.Min); n != NumFeatures {
		return nil, fmt.Errorf("brisque: range file has %d features, the extractor makes %d", n, NumFeatures)
	}
	for i, sv := range m.SV {
		// A model file leaves out zero values, so a vector may be shorter, never longer.
		if len(sv) > NumFeatures {
			return nil, fmt.Errorf("brisque: SVR support vector %d has feature %d, the extractor makes %d", i+1, len(sv), NumFeatures)
		}
	}
	if len(m.SV) == 0 {
		return nil, fmt.Errorf("brisque: SVR has no support vectors")
	}
	return &Model{Scale: scale, SVR: m}, nil
}

// ReadModel reads the release's allmodel (libsvm text) and allrange
// (svm-scale -s output). Errors name which file failed.
func ReadModel(model, ranges io.Reader) (*Model, error) {
	m, err := svr.ReadModel(model)
	if err != nil {
		return nil, fmt.Errorf("brisque: allmodel: %w", err)
	}
	s, err := svr.ReadRange(ranges)
	if err != nil {
		return nil, fmt.Errorf("brisque: allrange: %w", err)
	}
	return NewModel(s, m)
}

// Text rounds each feature as brisquescore.m writes it for svm-scale
// ("%f": six decimals, correctly rounded as glibc's printf and strtod do).
func Text(feat []float64) []float64 {
	out := make([]float64, len(feat))
	for i, v := range feat {
		out[i], _ = strconv.ParseFloat(strconv.FormatFloat(v, 'f', 6, 64), 64)
	}
	return out
}

// ScoreFeatures predicts the score of a feature vector as brisquescore.m
// does through files: the features with %f, `svm-scale -r allrange` (whose
// output is %g, six significant digits), `svm-predict -b 1 allmodel` (for
// an epsilon-SVR -b 1 prints the plain regression value).
func (m *Model) ScoreFeatures(feat []float64) (float64, error) {
	if len(feat) != NumFeatures {
		return math.NaN(), fmt.Errorf("brisque: %d features, the model takes %d", len(feat), NumFeatures)
	}
	for i, v := range feat {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return math.NaN(), fmt.Errorf("brisque: feature %d is %v", i+1, v)
		}
	}
	return m.SVR.Predict(m.Scale.ApplyText(Text(feat))), nil
}

// Score is the BRISQUE of an 8-bit RGB image (MATLAB's rgb2gray, features at
// the image's own size). A constant image gives NaN and a
// *ZeroVarianceError.
func (m *Model) Score(im *matlab.RGB8) (float64, error) {
	feat, err := Features(im)
	if err != nil {
		return math.NaN(), err
	}
	return m.ScoreFeatures(feat)
}

// ScoreGray is Score on a gray image on the 0..255 scale.
func (m *Model) ScoreGray(g *matlab.Gray) (float64, error) {
	feat, err := FeaturesGray(g)
	if err != nil {
		return math.NaN(), err
	}
	return m.ScoreFeatures(feat)
}
