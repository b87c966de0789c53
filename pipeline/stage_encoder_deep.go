package pipeline

import (
	"context"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"

	"github.com/segdiscover/segdiscover/features"
)

// The deep members of the autoencoder family: a stacked autoencoder of
// sparse (or, with --denoise, denoising) sigmoid layers, and a variational
// autoencoder. They train on the same patch sample as the one-layer
// encoders and are stored and reloaded through the same file.

// stackedSettings are the stacked autoencoder's settings: --stack-depth
// layers of the sparse sigmoid autoencoder of --hidden, --denoise and
// --encoder-epochs (for every greedy phase and for fine-tuning).
func (p encoderParams) stackedSettings() features.StackedSettings {
	return features.StackedSettings{Layer: p.settings(features.SparseSigmoid), Depth: p.Depth}
}

// vaeSettings: --hidden latent dimensions, --beta, --encoder-epochs.
func (p encoderParams) vaeSettings() features.VAESettings {
	return features.VAESettings{Latent: p.Hidden, Beta: p.Beta, Epochs: p.Epochs}
}

// trainDeepEncoder trains the stacked or variational autoencoder of spec
// on the rows of sample, stopping when ctx is cancelled.
func (r *runner) trainDeepEncoder(ctx context.Context, spec encoderSpec, ep encoderParams, sample *mat.Dense, src rand.Source) (features.PatchEncoder, error) {
	_, dim := sample.Dims()
	switch spec.deep {
	case features.KindStacked:
		st := features.NewStacked(dim, ep.stackedSettings(), src)
		_, err := st.Train(sample, src, func(phase, epoch int, l features.Loss) error {
			r.log.Debug("encoder: epoch", "phase", phase, "epoch", epoch, "loss", l.Total, "reconstruction", l.Reconstruction)
			return ctx.Err()
		})
		return st, err
	case features.KindVAE:
		v := features.NewVAE(dim, ep.vaeSettings(), src)
		_, err := v.Train(sample, src, func(epoch int, l features.VAELoss) error {
			r.log.Debug("encoder: epoch", "epoch", epoch, "elbo", l.ELBO, "kl", l.KL, "loss", l.Total)
			return ctx.Err()
		})
		return v, err
	}
	panic("pipeline: unknown deep encoder " + spec.deep)
}
