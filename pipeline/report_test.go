package pipeline

import (
	"bytes"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/segdiscover/segdiscover/pipeline/artifact"
)

// chromium returns the headless browser, or skips.
func chromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("chromium not installed (Debian: apt-get install chromium)")
	return ""
}

// headless runs chromium on url with flags that keep it off the network.
func headless(t *testing.T, browser string, args ...string) (stdout, stderr string) {
	t.Helper()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + t.TempDir(), "--enable-logging=stderr", "--v=0"}
	cmd := exec.Command(browser, append(base, args...)...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("chromium: %v\n%s", err, e.String())
		}
	case <-time.After(90 * time.Second):
		cmd.Process.Kill()
		t.Fatal("chromium did not finish in 90 s")
	}
	return o.String(), e.String()
}

// The report, opened in a headless browser: no console error, every
// picture loads. Names edited in concepts.json reach the report, the
// legend and the overlays, and a rerun keeps them.
func TestReportInBrowser(t *testing.T) {
	in, out := t.TempDir(), t.TempDir()
	writeScenes(t, in, 0, 6)
	c := testConfig()
	c.Until = StagePseudolabels
	if _, err := runTest(t, in, out, c); err != nil {
		t.Fatal(err)
	}
	legend0, _ := os.ReadFile(filepath.Join(out, legendFile))
	ov0, _ := os.ReadFile(filepath.Join(out, overlayPath("s000")))
	cf, err := readConceptsFile(out)
	if err != nil {
		t.Fatal(err)
	}
	cf.Concepts[0].Name, cf.Concepts[1].Colour = "blue sky", "#ff00ff"
	f, _ := os.Create(filepath.Join(out, conceptsFileName))
	artifact.EncodeConcepts(f, cf)
	f.Close()
	sum, err := runTest(t, in, out, c)
	if err != nil {
		t.Fatal(err)
	}
	if st := sum.stageStats(StageCluster); st.Cached != 1 {
		t.Errorf("cluster refitted on a rerun: %+v", st)
	}
	kept, err := readConceptsFile(out)
	if err != nil || kept.Concepts[0].Name != "blue sky" || kept.Concepts[1].Colour != "#ff00ff" {
		t.Fatalf("names not kept: %+v %v", kept, err)
	}
	legend1, _ := os.ReadFile(filepath.Join(out, legendFile))
	ov1, _ := os.ReadFile(filepath.Join(out, overlayPath("s000")))
	if bytes.Equal(legend0, legend1) || bytes.Equal(ov0, ov1) {
		t.Error("legend or overlays not redrawn with the new names")
	}
	if _, err := png.Decode(bytes.NewReader(legend1)); err != nil {
		t.Error(err)
	}
	page, err := os.ReadFile(filepath.Join(out, reportFile))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(page, []byte("blue sky")) || !bytes.Contains(page, []byte("#ff00ff")) {
		t.Error("report lacks the user's name or colour")
	}
	// Every picture the page refers to is a file under OUT_DIR.
	srcs := regexp.MustCompile(`(?:src|href)="([^"#]+)"`).FindAllSubmatch(page, -1)
	if len(srcs) < 10 {
		t.Errorf("%d pictures", len(srcs))
	}
	for _, m := range srcs {
		if _, err := os.Stat(filepath.Join(out, filepath.FromSlash(string(m[1])))); err != nil {
			t.Errorf("page refers to %s: %v", m[1], err)
		}
	}

	browser := chromium(t)
	dom, logs := headless(t, browser, "--virtual-time-budget=15000", "--dump-dom", "file://"+filepath.Join(out, reportFile)+"?check")
	m := regexp.MustCompile(`data-check="([^"]*)"`).FindStringSubmatch(dom)
	if m == nil || !strings.HasPrefix(m[1], "ok ") {
		t.Errorf("pictures: %v\n%s", m, logs)
	}
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, "CONSOLE") || strings.Contains(line, "Uncaught") {
			t.Errorf("console: %s", line)
		}
	}
}
