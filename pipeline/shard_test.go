package pipeline

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestShardOfKnownAnswer(t *testing.T) {
	// FNV-1a 64 test vectors (Fowler, Noll, Vo: "a" -> 0xaf63dc4c8601ec8c,
	// "foobar" -> 0x85944171f73967e8): the assignment is the hash mod N,
	// so it is the same in every build and for every tool that copies it.
	for _, c := range []struct {
		rel  string
		hash uint64
	}{{"a", 0xaf63dc4c8601ec8c}, {"foobar", 0x85944171f73967e8}} {
		for _, n := range []int{1, 2, 3, 4, 7, 1000} {
			if got, want := ShardOf(c.rel, n), int(c.hash%uint64(n)); got != want {
				t.Errorf("ShardOf(%q, %d) = %d, want %d", c.rel, n, got, want)
			}
		}
	}
}

func TestShardOfStableWhenImagesAreAdded(t *testing.T) {
	// The assignment of an image depends on its name alone: listing more
	// images (before, between and after the first ones) moves none.
	const n = 5
	before := map[string]int{}
	for i := range 2000 {
		rel := fmt.Sprintf("set/img%05d", 2*i)
		before[rel] = ShardOf(rel, n)
	}
	var all []string
	for i := range 6000 {
		all = append(all, fmt.Sprintf("set/img%05d", i))
	}
	moved := 0
	for _, rel := range all {
		if s, ok := before[rel]; ok && ShardOf(rel, n) != s {
			moved++
		}
	}
	if moved != 0 {
		t.Errorf("%d of %d images changed shard when 4000 were added", moved, len(before))
	}
}

func TestShardOfBalance(t *testing.T) {
	// Sequential names (the worst case for a weak hash): every shard's
	// count within 5 standard deviations of the binomial mean, and a
	// chi-square over the shards below its 99.9% quantile.
	for _, c := range []struct {
		images, n int
		pattern   string
		chi2Max   float64 // chi-square 0.999 quantile, n-1 degrees of freedom
	}{
		{10000, 4, "img%05d.jpg", 16.27},
		{10000, 16, "train/%d", 37.70},
		{50000, 100, "a/b/c/%08d", 148.2},
	} {
		t.Run(fmt.Sprintf("%d_of_%d", c.images, c.n), func(t *testing.T) {
			counts := make([]int, c.n)
			for i := range c.images {
				counts[ShardOf(fmt.Sprintf(c.pattern, i), c.n)]++
			}
			mean := float64(c.images) / float64(c.n)
			sd := math.Sqrt(mean * (1 - 1/float64(c.n)))
			chi2 := 0.0
			for s, k := range counts {
				if math.Abs(float64(k)-mean) > 5*sd {
					t.Errorf("shard %d has %d images, mean %.0f (sd %.1f)", s, k, mean, sd)
				}
				chi2 += (float64(k) - mean) * (float64(k) - mean) / mean
			}
			if chi2 > c.chi2Max {
				t.Errorf("chi-square %.1f over %d shards, above %.1f", chi2, c.n, c.chi2Max)
			}
		})
	}
}

func TestParseShard(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Shard
		err  string
	}{
		{"0/4", Shard{0, 4}, ""},
		{"3/4", Shard{3, 4}, ""},
		{" 1 / 2 ", Shard{1, 2}, ""},
		{"4/4", Shard{}, "out of range"},
		{"-1/4", Shard{}, "out of range"},
		{"0/0", Shard{}, "not in 1.."},
		{"1", Shard{}, "want I/N"},
		{"a/4", Shard{}, "whole numbers"},
		{"0/100001", Shard{}, "not in 1.."},
	} {
		t.Run(c.in, func(t *testing.T) {
			got, err := ParseShard(c.in)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("ParseShard(%q) = %v, %v; want an error containing %q", c.in, got, err, c.err)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("ParseShard(%q) = %v, %v; want %v", c.in, got, err, c.want)
			}
		})
	}
}

func TestShardFromEnv(t *testing.T) {
	for _, c := range []struct {
		name  string
		env   map[string]string
		count int
		want  Shard
		err   string
	}{
		{"slurm 0-based", map[string]string{"SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_MIN": "0", "SLURM_ARRAY_TASK_MAX": "3", "SLURM_ARRAY_TASK_COUNT": "4"}, 0, Shard{2, 4}, ""},
		{"slurm 1-based", map[string]string{"SLURM_ARRAY_TASK_ID": "1", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_MAX": "4", "SLURM_ARRAY_TASK_COUNT": "4"}, 0, Shard{0, 4}, ""},
		{"slurm last 1-based", map[string]string{"SLURM_ARRAY_TASK_ID": "4", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_MAX": "4"}, 0, Shard{3, 4}, ""},
		{"slurm min/max only", map[string]string{"SLURM_ARRAY_TASK_ID": "7", "SLURM_ARRAY_TASK_MIN": "5", "SLURM_ARRAY_TASK_MAX": "8"}, 0, Shard{2, 4}, ""},
		{"slurm count agrees", map[string]string{"SLURM_ARRAY_TASK_ID": "0", "SLURM_ARRAY_TASK_COUNT": "3"}, 3, Shard{0, 3}, ""},
		{"slurm array larger than the count", map[string]string{"SLURM_ARRAY_TASK_ID": "0", "SLURM_ARRAY_TASK_COUNT": "5"}, 4, Shard{}, "has 5 tasks"},
		{"slurm 1-based, count given", map[string]string{"SLURM_ARRAY_TASK_ID": "4", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_MAX": "4", "SLURM_ARRAY_TASK_COUNT": "4"}, 4, Shard{3, 4}, ""},
		{"slurm one task resubmitted", map[string]string{"SLURM_ARRAY_TASK_ID": "1", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_MAX": "1", "SLURM_ARRAY_TASK_COUNT": "1"}, 3, Shard{1, 3}, ""},
		{"slurm two tasks resubmitted", map[string]string{"SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_MAX": "3", "SLURM_ARRAY_TASK_COUNT": "2"}, 4, Shard{3, 4}, ""},
		{"slurm resubmitted beyond the count", map[string]string{"SLURM_ARRAY_TASK_ID": "4", "SLURM_ARRAY_TASK_COUNT": "1", "SLURM_ARRAY_TASK_MIN": "4", "SLURM_ARRAY_TASK_MAX": "4"}, 4, Shard{}, "out of range"},
		{"slurm id only, count given", map[string]string{"SLURM_ARRAY_TASK_ID": "1"}, 2, Shard{1, 2}, ""},
		{"slurm id only", map[string]string{"SLURM_ARRAY_TASK_ID": "1"}, 0, Shard{}, "give --shard-count"},
		{"slurm step", map[string]string{"SLURM_ARRAY_TASK_ID": "4", "SLURM_ARRAY_TASK_MIN": "0", "SLURM_ARRAY_TASK_MAX": "12", "SLURM_ARRAY_TASK_COUNT": "4", "SLURM_ARRAY_TASK_STEP": "4"}, 0, Shard{}, "step"},
		{"slurm id beyond", map[string]string{"SLURM_ARRAY_TASK_ID": "9", "SLURM_ARRAY_TASK_MIN": "0", "SLURM_ARRAY_TASK_COUNT": "4"}, 0, Shard{}, "out of range"},
		{"slurm not a number", map[string]string{"SLURM_ARRAY_TASK_ID": "x"}, 0, Shard{}, "not a whole number"},
		{"slurm wins over k8s", map[string]string{"SLURM_ARRAY_TASK_ID": "1", "SLURM_ARRAY_TASK_COUNT": "2", "JOB_COMPLETION_INDEX": "0"}, 0, Shard{1, 2}, ""},
		{"k8s", map[string]string{"JOB_COMPLETION_INDEX": "3"}, 4, Shard{3, 4}, ""},
		{"k8s without count", map[string]string{"JOB_COMPLETION_INDEX": "3"}, 0, Shard{}, "give --shard-count"},
		{"k8s out of range", map[string]string{"JOB_COMPLETION_INDEX": "4"}, 4, Shard{}, "out of range"},
		{"nothing", map[string]string{}, 4, Shard{}, "no shard index"},
	} {
		t.Run(c.name, func(t *testing.T) {
			getenv := func(k string) (string, bool) { v, ok := c.env[k]; return v, ok }
			got, _, err := ShardFromEnv(getenv, c.count)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("= %v, %v; want an error containing %q", got, err, c.err)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("= %v, %v; want %v", got, err, c.want)
			}
		})
	}
}

func runShardTest(t testing.TB, in, out string, c Config, s Shard) (*Summary, error) {
	t.Helper()
	return Run(context.Background(), Options{InDir: in, OutDir: out, Config: c, Shard: s, Progress: ProgressNone})
}

func fitTest(t testing.TB, out string, count int) (*Summary, error) {
	t.Helper()
	return Fit(context.Background(), FitOptions{OutDir: out, Count: count, Workers: 2, Progress: ProgressNone})
}

func TestFitRefusesMissingShards(t *testing.T) {
	in, out := t.TempDir(), t.TempDir()
	writeScenes(t, in, 0, 12)
	c := testConfig()
	for _, i := range []int{0, 2} {
		sum, err := runShardTest(t, in, out, c, Shard{i, 3})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(sum.Next, "segdiscover fit") {
			t.Errorf("shard %d: next step %q does not name fit", i, sum.Next)
		}
	}
	_, err := fitTest(t, out, 0)
	var inc *IncompleteError
	if !errors.As(err, &inc) || !errors.Is(err, ErrIncomplete) {
		t.Fatalf("fit with shard 1 missing: %v, want an IncompleteError", err)
	}
	if fmt.Sprint(inc.MissingShards) != "[1]" || !strings.Contains(err.Error(), "shards 1 of 3") {
		t.Errorf("missing shards %v, error %q: want shard 1 named", inc.MissingShards, err)
	}
	for _, p := range []string{"model", "run.json", "pseudolabels", "errors.json"} {
		if _, err := os.Stat(filepath.Join(out, p)); err == nil {
			t.Errorf("fit refused but wrote %s", p)
		}
	}

	// Shard 1 done: fit goes on. An image added since the shards ran is
	// named, with its shard, and fit refuses again.
	if _, err := runShardTest(t, in, out, c, Shard{1, 3}); err != nil {
		t.Fatal(err)
	}
	added := writeScenes(t, in, 40, 1)[0]
	_, err = fitTest(t, out, 3)
	if !errors.As(err, &inc) || len(inc.MissingShards) != 0 {
		t.Fatalf("fit with an added image: %v, want the image named", err)
	}
	s := ShardOf(added, 3)
	if got := inc.MissingImages[s]; len(got) != 1 || got[0] != added || !strings.Contains(err.Error(), fmt.Sprintf("%s (shard %d)", added, s)) {
		t.Errorf("missing images %v, error %q: want %s of shard %d", inc.MissingImages, err, added, s)
	}
	if _, err := os.Stat(filepath.Join(out, "model")); err == nil {
		t.Error("fit refused but wrote model/")
	}
	rep, err := Status(out, 0)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Complete || rep.Shards[s].Done != rep.Shards[s].Images-1 || len(rep.Shards[s].Missing) != 1 {
		t.Errorf("status: complete %v, shard %d %+v; want the added image missing", rep.Complete, s, rep.Shards[s])
	}
}

func TestShardRunErrors(t *testing.T) {
	in, out := t.TempDir(), t.TempDir()
	writeScenes(t, in, 0, 6)
	c := testConfig()
	c.Until = StageFeatures
	if _, err := runShardTest(t, in, out, c, Shard{3, 3}); err == nil || !strings.Contains(err.Error(), "out of range") {
		t.Errorf("shard 3/3: %v, want out of range", err)
	}
	if _, err := fitTest(t, out, 0); !errors.Is(err, ErrIncomplete) || !strings.Contains(err.Error(), "no shard") {
		t.Errorf("fit before any shard: %v, want ErrIncomplete saying no shard ran", err)
	}
	// Shards with different settings do not make one run.
	if _, err := runShardTest(t, in, out, c, Shard{0, 2}); err != nil {
		t.Fatal(err)
	}
	c2 := c
	c2.Segments = 30
	if _, err := runShardTest(t, in, out, c2, Shard{1, 2}); err != nil {
		t.Fatal(err)
	}
	if _, err := fitTest(t, out, 2); err == nil || !strings.Contains(err.Error(), "--segments 40 vs 30") {
		t.Errorf("fit over shards of different settings: %v, want the setting named", err)
	}
	// Records of two shard counts: fit asks which.
	if _, err := runShardTest(t, in, out, c, Shard{0, 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := fitTest(t, out, 0); err == nil || !strings.Contains(err.Error(), "--shard-count") {
		t.Errorf("fit over records of 1 and 2 shards: %v, want --shard-count asked for", err)
	}
	// A single-process run cannot start while a shard holds the folder.
	l, err := lockFile(filepath.Join(out, ".lock"), false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := runTest(t, in, out, c); !errors.Is(err, ErrLocked) {
		t.Errorf("run under a shard's shared lock: %v, want ErrLocked", err)
	}
	// ... while another shard can.
	if _, err := runShardTest(t, in, out, c, Shard{0, 1}); err != nil {
		t.Errorf("shard beside another: %v", err)
	}
	l.unlock()
	// The same shard twice at once: the second is refused.
	l, err = lockFile(filepath.Join(out, locksDir, "shard-0-of-1"), true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := runShardTest(t, in, out, c, Shard{0, 1}); !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), fmt.Sprint(os.Getpid())) {
		t.Errorf("shard 0/1 twice: %v, want ErrLocked naming process %d", err, os.Getpid())
	}
	l.unlock()
}

// TestShardedRunEqualsSingleProcess runs testdata/images as 3 shards, fit,
// the 3 shards again and the report, and compares every output with a
// single-process run's: byte-identical. Then it changes the number of
// shards in the masks phase, which is refused.
func TestShardedRunEqualsSingleProcess(t *testing.T) {
	in := filepath.Join("..", "testdata", "images")
	whole, out := t.TempDir(), t.TempDir()
	c := testConfig()
	if _, err := runTest(t, in, whole, c); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		sum, err := runShardTest(t, in, out, c, Shard{i, 3})
		if err != nil {
			t.Fatal(err)
		}
		if st := sum.stageStats(StageCluster); st.Ran || st.Computed+st.Cached != 0 {
			t.Errorf("shard %d ran the cluster stage: %+v", i, st)
		}
	}
	fsum, err := fitTest(t, out, 3)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := stats(fsum), "superpixels 0/11 features 0/11 cluster 1/0 pseudolabels 11/0 train 1/0"; got != want {
		t.Errorf("fit: %s, want %s", got, want)
	}
	if rep, err := Status(out, 0); err != nil || rep.Complete {
		t.Errorf("status after fit: %v, %v; want incomplete (masks)", rep, err)
	}
	if _, err := runShardTest(t, in, out, c, Shard{0, 2}); err == nil || !strings.Contains(err.Error(), "same number of shards") {
		t.Errorf("masks phase with 2 shards after fitting 3: %v, want refused", err)
	}
	masks := 0
	for i := range 3 {
		sum, err := runShardTest(t, in, out, c, Shard{i, 3})
		if err != nil {
			t.Fatal(err)
		}
		st := sum.stageStats(StageMasks)
		if st.Computed != sum.Images || sum.stageStats(StageSuperpixels).Cached != sum.Images {
			t.Errorf("masks phase of shard %d: %s", i, stats(sum))
		}
		masks += st.Computed
	}
	if masks != 11 {
		t.Errorf("%d masks made by the shards, want 11", masks)
	}
	rep, err := Status(out, 0)
	if err != nil || !rep.Complete {
		t.Fatalf("status after the masks phase: %+v, %v; want complete", rep, err)
	}
	// The report run finds everything done.
	_, cfg, err := ReadRunConfig(out)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Workers = 2
	sum, err := runTest(t, in, out, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := stats(sum), "superpixels 0/11 features 0/11 cluster 0/1 pseudolabels 0/11 train 0/1 masks 0/11 overlays 0/11"; got != want {
		t.Errorf("report after the shards: %s, want %s", got, want)
	}
	sameFiles(t, snapshot(t, out), snapshot(t, whole))
}

// TestShardedRunLearnedEncoder: with a learned encoder the features are made
// by fit, after the encoder; the sharded run still equals a single-process
// one.
func TestShardedRunLearnedEncoder(t *testing.T) {
	sae := testConfig()
	sae.Encoder, sae.EncoderEpochs, sae.PatchSample, sae.Hidden = "sae-sigmoid", 2, 300, 8
	dc := deepClusterTestConfig()
	dc.Until = ""
	for _, c := range []Config{sae, dc} {
		t.Run(c.Encoder, func(t *testing.T) {
			in, whole, out := t.TempDir(), t.TempDir(), t.TempDir()
			writeScenes(t, in, 0, 8)
			if _, err := runTest(t, in, whole, c); err != nil {
				t.Fatal(err)
			}
			for phase := range 2 {
				for i := range 2 {
					sum, err := runShardTest(t, in, out, c, Shard{i, 2})
					if err != nil {
						t.Fatal(err)
					}
					if st := sum.stageStats(StageFeatures); phase == 0 && (st.Ran || st.Computed != 0) {
						t.Errorf("shard %d computed learned features before the encoder: %+v", i, st)
					}
				}
				if phase == 0 {
					sum, err := Fit(context.Background(), FitOptions{OutDir: out, Workers: 2, Progress: ProgressNone,
						tune: func(f *Config) { f.swav, f.deepcluster = c.swav, c.deepcluster }})
					if err != nil {
						t.Fatal(err)
					}
					if st := sum.stageStats(StageFeatures); st.Computed != 8 {
						t.Errorf("fit computed %d learned features, want 8", st.Computed)
					}
				}
			}
			// Status recomputes the keys from the records, without the
			// private settings, so it can judge only the sae run.
			if c.deepcluster == nil {
				rep, err := Status(out, 0)
				if err != nil || !rep.Complete {
					t.Fatalf("status: %+v, %v; want complete", rep, err)
				}
			}
			got, want := snapshot(t, out), snapshot(t, whole)
			for _, files := range []map[string][]byte{got, want} {
				for name := range files {
					if strings.HasPrefix(name, "report/") || name == "errors.json" {
						delete(files, name)
					}
				}
			}
			if _, ok := want[encoderFile]; !ok {
				t.Fatalf("the single-process run wrote no %s", encoderFile)
			}
			sameFiles(t, got, want)
		})
	}
}

// TestStatusSingleProcess: a folder without shard records is reported from
// its run.json, per-image stages with their counts, global ones without.
func TestStatusSingleProcess(t *testing.T) {
	in, out := t.TempDir(), t.TempDir()
	writeScenes(t, in, 0, 5)
	if _, err := runTest(t, in, out, testConfig()); err != nil {
		t.Fatal(err)
	}
	rep, err := Status(out, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Complete || rep.Count != 0 || rep.Images != 5 {
		t.Fatalf("status %+v: want a complete single-process run of 5 images", rep)
	}
	for _, st := range rep.Stages {
		want := 5
		if st.Name == StageCluster || st.Name == StageTrain || st.Name == StageReport || st.Name == StageEncoder {
			want = 0
		}
		if st.State == "current" && (st.Of != want || st.Done != want) {
			t.Errorf("%s: %d of %d, want %d of %d", st.Name, st.Done, st.Of, want, want)
		}
	}
}

// TestShardRecordNamesFailedImages checks that a shard's record names each
// image that failed by its rel (the run keeps rels only for failures).
func TestShardRecordNamesFailedImages(t *testing.T) {
	in, out := t.TempDir(), t.TempDir()
	writeScenes(t, in, 0, 6)
	bad := "sub/broken"
	if err := os.WriteFile(filepath.Join(in, "sub", "broken.jpg"), []byte("not a jpeg"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := Shard{ShardOf(bad, 2), 2}
	c := testConfig()
	var pe *PartialError
	if _, err := runShardTest(t, in, out, c, s); !errors.As(err, &pe) {
		t.Fatalf("run: %v, want the broken image's failure", err)
	}
	rec, err := readShardRecordIn(newCache(out), shardRecordKey(PhaseImages, s))
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Failed) != 1 || rec.Failed[0].Rel != bad || rec.Failed[0].Error == "" {
		t.Fatalf("failed %+v, want %s named", rec.Failed, bad)
	}
	for _, im := range rec.Images {
		if im.Rel == bad {
			t.Errorf("%s among the done images", bad)
		}
	}
}
