package pipeline

// The cache keys of the stages that depend on the whole dataset, and of
// the per-image stages after them, computed in one place: by the stages
// themselves, and by a sharded run's masks phase and status, which
// recompute them from the shards' records to tell whether the global
// models in OUT_DIR are the ones a single-process run would use.

// encoderKeyOf is the key of the learned encoder trained on items.
func (r *runner) encoderKeyOf(items []*item) string {
	items = r.encoderImages(items)
	inputs := make([]string, len(items))
	for i, it := range items {
		inputs[i] = it.file.Rel + "\x00" + it.spKey
	}
	spec, _ := parseEncoder(r.cfg.Encoder)
	switch {
	case spec.swav:
		return key(swavVersion, r.cfg.swavParams(), inputs...)
	case spec.deepcluster:
		return key(deepClusterVersion, r.cfg.deepClusterParams(), inputs...)
	}
	return key(encoderVersion, r.cfg.encoderParams(), inputs...)
}

// learnedFeatKey is the key of it's features computed with the learned
// encoder r.encoderKey.
func (r *runner) learnedFeatKey(it *item) string {
	return key(featuresVersion, r.cfg.featureParams(), it.spKey, r.encoderKey)
}

// clusterKeyOf is the key of the mixture fitted on the features of items.
func (r *runner) clusterKeyOf(items []*item) string {
	inputs := make([]string, len(items))
	for i, it := range items {
		inputs[i] = it.file.Rel + "\x00" + it.featKey
	}
	return key(clusterVersion, r.cfg.clusterParams(), inputs...)
}

// plKeyOf is the key of it's pseudo-labels under the mixture r.clusterKey.
func (r *runner) plKeyOf(it *item) string {
	return key(pseudolabelsVersion, pseudolabelParams{MinConfidence: r.cfg.MinConfidence}, r.clusterKey, it.featKey)
}

// trainKeyOf is the key of the network trained on the pseudo-labels of
// items, with its training parameters (the default epochs filled in).
func (r *runner) trainKeyOf(items []*item) (string, trainParams) {
	tp := r.cfg.trainParamsFor(len(items))
	inputs := make([]string, len(items))
	for i, it := range items {
		inputs[i] = it.file.Rel + "\x00" + it.plKey
	}
	return key(trainVersion, tp, append(inputs, r.clusterKey)...), tp
}

// maskKeyOf is the key of it's refined mask from the network r.trainKey.
func (r *runner) maskKeyOf(it *item) string {
	return key(masksVersion, r.cfg.maskParams(), r.trainKey, it.spKey)
}
