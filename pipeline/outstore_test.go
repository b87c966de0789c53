package pipeline

import (
	"bytes"
	"context"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/segdiscover/segdiscover/pipeline/store"
	"github.com/segdiscover/segdiscover/pipeline/store/bucket"
)

// objects returns every object of st under prefix but those that differ
// between two runs of the same work (timings: run.json, report.html) or
// exist on local folders only (the locks).
func objects(t *testing.T, st store.Store, prefix string) map[string][]byte {
	t.Helper()
	ctx := context.Background()
	got := map[string][]byte{}
	for info, err := range st.List(ctx, prefix) {
		if err != nil {
			t.Fatal(err)
		}
		switch k := info.Key; {
		case k == "run.json", k == "report.html", k == ".lock", strings.HasPrefix(k, locksDir+"/"):
			continue
		}
		data, err := store.ReadAll(ctx, st, info.Key)
		if err != nil {
			t.Fatal(err)
		}
		got[info.Key] = data
	}
	return got
}

// sameObjects fails t unless got holds exactly want's keys with the same
// bytes.
func sameObjects(t *testing.T, what string, want, got map[string][]byte) {
	t.Helper()
	if len(want) == 0 {
		t.Fatalf("%s: the reference holds nothing", what)
	}
	for _, k := range slices.Sorted(maps.Keys(want)) {
		b, ok := got[k]
		switch {
		case !ok:
			t.Errorf("%s: %s missing", what, k)
		case !bytes.Equal(b, want[k]):
			t.Errorf("%s: %s differs (%d bytes, want %d)", what, k, len(b), len(want[k]))
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: %s is extra", what, k)
		}
	}
}

func openMem(t *testing.T) store.Store {
	t.Helper()
	st, err := bucket.Open(context.Background(), "output folder", "mem://")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// TestRunToBucket: a whole run into a file:// bucket and into a memblob
// writes what a run into a local folder writes, object for object and
// byte for byte (the same layout, manifests included), and a rerun there
// reuses everything.
func TestRunToBucket(t *testing.T) {
	in, out := t.TempDir(), t.TempDir()
	writeScenes(t, in, 0, 6)
	c := testConfig()
	if _, err := runTest(t, in, out, c); err != nil {
		t.Fatal(err)
	}
	want := objects(t, store.LocalFolder(out), "")

	fileDir := t.TempDir() + "/out" // missing: the run creates it
	fileURL := "file://" + fileDir
	mem := openMem(t)
	for _, tc := range []struct {
		name string
		o    Options
	}{
		{"file", Options{OutDir: fileURL}},
		{"mem", Options{OutDir: "mem://", out: mem}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.o
			o.InDir, o.Config, o.Progress = in, c, ProgressNone
			if _, err := Run(context.Background(), o); err != nil {
				t.Fatal(err)
			}
			st := o.out
			if st == nil {
				var err error
				if st, err = bucket.Open(context.Background(), "output folder", o.OutDir); err != nil {
					t.Fatal(err)
				}
				defer st.Close()
			}
			sameObjects(t, tc.name, want, objects(t, st, ""))
			sum, err := Run(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := stats(sum), "superpixels 0/6 features 0/6 cluster 0/1 pseudolabels 0/6 train 0/1 masks 0/6 overlays 0/6"; got != want {
				t.Errorf("rerun: %s, want %s", got, want)
			}
		})
	}
	if st, err := Status(fileURL, 0); err != nil || !st.Complete {
		t.Errorf("Status(%s) = %+v, %v; want complete", fileURL, st, err)
	}
}

// TestShardedRunToBucket: the shards, fit and the masks phase of a
// sharded run, as separate commands on one bucket (a memblob), end with
// the pseudo-labels and masks of a single-process local run.
func TestShardedRunToBucket(t *testing.T) {
	in, out := t.TempDir(), t.TempDir()
	writeScenes(t, in, 0, 7)
	c := testConfig()
	c.Until = StageMasks
	if _, err := runTest(t, in, out, c); err != nil {
		t.Fatal(err)
	}
	mem := openMem(t)
	ctx := context.Background()
	const n = 3
	shards := func() {
		for i := range n {
			o := Options{InDir: in, OutDir: "mem://", Config: c, Shard: Shard{Index: i, Count: n}, Progress: ProgressNone, out: mem}
			if _, err := Run(ctx, o); err != nil {
				t.Fatalf("shard %d/%d: %v", i, n, err)
			}
		}
	}
	shards()
	if _, err := Fit(ctx, FitOptions{OutDir: "mem://", Progress: ProgressNone, out: mem}); err != nil {
		t.Fatal(err)
	}
	shards()
	local := store.LocalFolder(out)
	for _, p := range []string{"pseudolabels/", "masks/"} {
		sameObjects(t, p, objects(t, local, p), objects(t, mem, p))
	}
}

// TestListBucketImagesAsFolder: the images of a bucket prefix are named
// and ordered as those of a folder with the same files (depth first, by
// name; hidden parts skipped; a shared stem keeps its extension; long
// names cut).
func TestListBucketImagesAsFolder(t *testing.T) {
	dir := t.TempDir()
	long := strings.Repeat("n", 230)
	for _, p := range []string{
		"a/x.png", "a-b/y.png", "a.png", "a.jpg", "b/c/d/e.JPG", "b/c.png", ".hidden/z.png", "b/.h.png",
		"notes.txt", "z/" + long + ".png", "A.png", "a b/ü.webp",
	} {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(p), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := ListImages(dir)
	if err != nil {
		t.Fatal(err)
	}
	got, st, err := listInputsAt(context.Background(), "file://"+dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rels := func(fs []ImageFile) (r []string) {
		for _, f := range fs {
			r = append(r, f.Rel)
			if f.Err != nil {
				r = append(r, "error")
			}
		}
		return r
	}
	if w, g := rels(want), rels(got); !slices.Equal(w, g) {
		t.Fatalf("bucket listing\n%q\nwant (as the folder)\n%q", g, w)
	}
	for _, f := range got {
		data, err := f.read()
		if err != nil || string(data) != f.key {
			t.Errorf("read %s: %q, %v", f.Path, data, err)
		}
	}
}

// TestRunFromBucket: a run whose IN_DIR is a bucket prefix (file://)
// writes what a run over the same folder writes.
func TestRunFromBucket(t *testing.T) {
	in, out := t.TempDir(), t.TempDir()
	writeScenes(t, in, 0, 6)
	c := testConfig()
	if _, err := runTest(t, in, out, c); err != nil {
		t.Fatal(err)
	}
	mem := openMem(t)
	o := Options{InDir: "file://" + in, OutDir: "mem://", Config: c, Progress: ProgressNone, out: mem}
	if _, err := Run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	sameObjects(t, "from a bucket", objects(t, store.LocalFolder(out), ""), objects(t, mem, ""))
	// Outputs inside the input prefix would be read as inputs next time.
	if _, err := Run(context.Background(), Options{InDir: "file://" + in, OutDir: "file://" + in + "/out", Config: c, Progress: ProgressNone}); err == nil || !strings.Contains(err.Error(), "inside the input folder") {
		t.Errorf("output inside the input prefix: %v", err)
	}
}

// TestExportFromBucket: an export of a run in a bucket (file://, from a
// bucket input prefix) writes the files an export of the same run in a
// folder writes.
func TestExportFromBucket(t *testing.T) {
	in, out := t.TempDir(), t.TempDir()
	writeScenes(t, in, 0, 5)
	c := testConfig()
	c.Until = StagePseudolabels
	if _, err := runTest(t, in, out, c); err != nil {
		t.Fatal(err)
	}
	bout := "file://" + t.TempDir() + "/out"
	if _, err := Run(context.Background(), Options{InDir: "file://" + in, OutDir: bout, Config: c, Progress: ProgressNone}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{ExportCOCO, ExportPNG} {
		t.Run(f, func(t *testing.T) {
			want, got := t.TempDir(), t.TempDir()
			if _, err := Export(context.Background(), ExportOptions{OutDir: out, Format: f, Dir: want}); err != nil {
				t.Fatal(err)
			}
			sum, err := Export(context.Background(), ExportOptions{OutDir: bout, Format: f, Dir: got})
			if err != nil {
				t.Fatal(err)
			}
			if sum.Images != 5 {
				t.Errorf("%d images exported, want 5", sum.Images)
			}
			sameObjects(t, f, objects(t, store.LocalFolder(want), ""), objects(t, store.LocalFolder(got), ""))
		})
	}
}

// TestPredictWithBuckets: predict with the model, the images and the
// outputs in buckets (file://) writes what it writes with folders.
func TestPredictWithBuckets(t *testing.T) {
	in, model, newIn := t.TempDir(), t.TempDir(), t.TempDir()
	writeScenes(t, in, 0, 5)
	writeScenes(t, newIn, 10, 4)
	c := testConfig()
	c.Until = StageTrain
	if _, err := runTest(t, in, model, c); err != nil {
		t.Fatal(err)
	}
	want, got := t.TempDir(), t.TempDir()+"/pred"
	o := PredictOptions{ModelDir: model, InDir: newIn, OutDir: want, Workers: 2, Overlays: true, Progress: ProgressNone}
	if _, err := Predict(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	o.ModelDir, o.InDir, o.OutDir = "file://"+model, "file://"+newIn, "file://"+got
	sum, err := Predict(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if st := sum.Stages[0]; st.Computed != 4 {
		t.Errorf("%d masks computed, want 4", st.Computed)
	}
	sameObjects(t, "predict", objects(t, store.LocalFolder(want), ""), objects(t, store.LocalFolder(got), ""))
}
