package artifact

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/segdiscover/segdiscover/cluster"
	"gonum.org/v1/gonum/mat"
)

func testModel(t testing.TB, typ cluster.CovarianceType) (*cluster.GMM, cluster.FitInfo, *mat.Dense) {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	x := mat.NewDense(300, 3, nil)
	for i := range 300 {
		for j := range 3 {
			x.Set(i, j, float64(i%3)*10+rng.NormFloat64()*float64(j+1)/3)
		}
	}
	g, info, ok := cluster.Fit(x, cluster.Settings{K: 3, Covariance: typ}, rand.NewPCG(3, 4))
	if !ok {
		t.Fatal("fit failed")
	}
	return g, info, x
}

func TestGMMFileRoundTrip(t *testing.T) {
	for _, typ := range []cluster.CovarianceType{cluster.Full, cluster.Diag, cluster.Spherical, cluster.Tied} {
		t.Run(typ.String(), func(t *testing.T) {
			g, info, x := testModel(t, typ)
			in := &GMMFile{Model: g, Info: info, Seed: 42,
				Normaliser: NormaliserRef{File: "normaliser.json", SHA256: strings.Repeat("ab", 32)},
				KCurve:     []cluster.KScore{{K: 2, BIC: 10.5, AIC: 9, LogLik: -3, Iterations: 4, Converged: true, OK: true}, {K: 3}}}
			var buf bytes.Buffer
			if err := EncodeGMM(&buf, in); err != nil {
				t.Fatal(err)
			}
			out, err := DecodeGMM(bytes.NewReader(buf.Bytes()))
			if err != nil {
				t.Fatal(err)
			}
			h := out.Model
			if h.CovarianceType() != typ || h.K() != g.K() || h.Dim() != g.Dim() {
				t.Fatalf("decoded %v K=%d D=%d", h.CovarianceType(), h.K(), h.Dim())
			}
			if !slices.Equal(h.Weights(), g.Weights()) || !mat.Equal(h.Means(), g.Means()) {
				t.Error("weights or means changed")
			}
			for c, cv := range g.Covariances() {
				if !mat.Equal(cv, h.Covariances()[c]) {
					t.Errorf("covariance %d changed", c)
				}
			}
			// Bit-identical parameters give bit-identical predictions.
			if !slices.Equal(h.ScoreSamples(x, 1), g.ScoreSamples(x, 1)) {
				t.Error("decoded model scores differently")
			}
			if out.Seed != 42 || out.Normaliser != in.Normaliser || !slices.Equal(out.Info.Curve, info.Curve) ||
				out.Info.Iterations != info.Iterations || !slices.Equal(out.KCurve, in.KCurve) {
				t.Errorf("metadata changed: %+v", out)
			}
		})
	}
}

func TestGMMFileFormat(t *testing.T) {
	// The file is a contract with other tools: pin the field names and
	// shapes of a small diag model.
	means := mat.NewDense(2, 2, []float64{0, 1, 2, 3})
	covs := []*mat.SymDense{mat.NewSymDense(2, []float64{1, 0, 0, 2}), mat.NewSymDense(2, []float64{0.5, 0, 0, 0.25})}
	g, ok := cluster.NewGMM(cluster.Diag, []float64{0.25, 0.75}, means, covs)
	if !ok {
		t.Fatal("NewGMM failed")
	}
	var buf bytes.Buffer
	if err := EncodeGMM(&buf, &GMMFile{Model: g, Seed: 7}); err != nil {
		t.Fatal(err)
	}
	compact := strings.Join(strings.Fields(buf.String()), "")
	for _, want := range []string{
		`"format":"segdiscover-gmm"`, `"version":1`, `"covariance_type":"diag"`, `"k":2`, `"dim":2`,
		`"weights":[0.25,0.75]`, `"means":[[0,1],[2,3]]`, `"covariances":[[1,2],[0.5,0.25]]`, `"seed":7`,
	} {
		if !strings.Contains(compact, want) {
			t.Errorf("missing %s in %s", want, compact)
		}
	}
	if strings.Contains(compact, "normaliser") || strings.Contains(compact, "k_curve") {
		t.Errorf("empty optional fields written: %s", compact)
	}
}

func TestDecodeGMMErrors(t *testing.T) {
	base := `{"format":"segdiscover-gmm","version":1,"covariance_type":"diag","k":1,"dim":2,` +
		`"weights":[1],"means":[[0,0]],"covariances":[[1,1]]}`
	if _, err := DecodeGMM(strings.NewReader(base)); err != nil {
		t.Fatalf("valid file: %v", err)
	}
	for name, tc := range map[string]struct{ old, new, want string }{
		"format":     {`"segdiscover-gmm"`, `"other"`, "format"},
		"version":    {`"version":1`, `"version":2`, "version"},
		"type":       {`"diag"`, `"round"`, "covariance type"},
		"k":          {`"k":1`, `"k":2`, "weights"},
		"dim":        {`"dim":2`, `"dim":3`, "mean 0"},
		"negative":   {`"covariances":[[1,1]]`, `"covariances":[[1,-1]]`, "positive definite"},
		"zeroweight": {`"weights":[1]`, `"weights":[0]`, "sum"},
		"wsum":       {`"weights":[1]`, `"weights":[1.5]`, "sum"},
		"shape":      {`"covariances":[[1,1]]`, `"covariances":[1,1]`, "covariances"},
		"huge":       {`"k":1`, `"k":100000000`, "size"},
		"syntax":     {`}`, ``, "gmm"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := DecodeGMM(strings.NewReader(strings.Replace(base, tc.old, tc.new, 1)))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
	full := `{"format":"segdiscover-gmm","version":1,"covariance_type":"full","k":1,"dim":2,` +
		`"weights":[1],"means":[[0,0]],"covariances":[[[1,0.5],[0.4,1]]]}`
	if _, err := DecodeGMM(strings.NewReader(full)); err == nil || !strings.Contains(err.Error(), "symmetric") {
		t.Errorf("asymmetric covariance: %v", err)
	}
}

// FuzzDecodeGMM checks that DecodeGMM never panics and that whatever it
// accepts encodes and decodes again to the same model.
func FuzzDecodeGMM(f *testing.F) {
	for _, typ := range []cluster.CovarianceType{cluster.Full, cluster.Diag, cluster.Spherical, cluster.Tied} {
		g, info, _ := testModel(f, typ)
		var buf bytes.Buffer
		if err := EncodeGMM(&buf, &GMMFile{Model: g, Info: info}); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
	}
	f.Add([]byte(`{"format":"segdiscover-gmm","version":1,"covariance_type":"spherical","k":1,"dim":1,"weights":[1],"means":[[0]],"covariances":[1]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := DecodeGMM(bytes.NewReader(data))
		if err != nil {
			return
		}
		var buf bytes.Buffer
		if err := EncodeGMM(&buf, m); err != nil {
			// Only non-finite fit metadata can fail to encode; JSON input
			// cannot hold any.
			t.Fatalf("re-encode: %v", err)
		}
		m2, err := DecodeGMM(&buf)
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if !slices.Equal(m.Model.Weights(), m2.Model.Weights()) || !mat.Equal(m.Model.Means(), m2.Model.Means()) {
			t.Fatal("round trip changed the model")
		}
	})
}
