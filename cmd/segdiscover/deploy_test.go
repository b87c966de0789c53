package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// k8sObject is the part of a Kubernetes manifest the checks read.
type k8sObject struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Spec struct {
		AccessModes    []string `yaml:"accessModes"`
		CompletionMode string   `yaml:"completionMode"`
		Completions    *int     `yaml:"completions"`
		Parallelism    *int     `yaml:"parallelism"`
		Template       struct {
			Spec struct {
				RestartPolicy string `yaml:"restartPolicy"`
				Containers    []struct {
					Name         string   `yaml:"name"`
					Command      []string `yaml:"command"`
					Args         []string `yaml:"args"`
					VolumeMounts []struct {
						Name      string `yaml:"name"`
						MountPath string `yaml:"mountPath"`
					} `yaml:"volumeMounts"`
				} `yaml:"containers"`
				Volumes []struct {
					Name                  string `yaml:"name"`
					PersistentVolumeClaim struct {
						ClaimName string `yaml:"claimName"`
					} `yaml:"persistentVolumeClaim"`
				} `yaml:"volumes"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

// readManifests decodes every YAML document of the files in dir.
func readManifests(t *testing.T, dir string) map[string]k8sObject {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in %s: %v", dir, err)
	}
	objs := map[string]k8sObject{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(false)
		for {
			var o k8sObject
			err := dec.Decode(&o)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if o.Kind == "" || o.APIVersion == "" || o.Metadata.Name == "" {
				t.Fatalf("%s: a document without kind, apiVersion or name", f)
			}
			objs[o.Kind+"/"+o.Metadata.Name] = o
		}
	}
	return objs
}

// checkInvocation parses args with the command tree's flags, as the binary
// would, without running the command: the subcommand must exist, its flags
// parse, its positional arguments be what it takes, and the flag values be
// ones the command accepts.
func checkInvocation(t *testing.T, args []string) {
	t.Helper()
	var out bytes.Buffer
	root := newRootCommand(&out, &out)
	cmd, rest, err := root.Find(args)
	if err != nil || cmd == root {
		t.Fatalf("%q: no such command: %v", strings.Join(args, " "), err)
	}
	if err := cmd.ParseFlags(rest); err != nil {
		t.Fatalf("%q: flags: %v", strings.Join(args, " "), err)
	}
	if err := cmd.ValidateArgs(cmd.Flags().Args()); err != nil {
		t.Fatalf("%q: arguments: %v", strings.Join(args, " "), err)
	}
	if err := checkFlagValues(cmd.Flags()); err != nil {
		t.Fatalf("%q: %v", strings.Join(args, " "), err)
	}
	if f := cmd.Flags().Lookup("shard"); f != nil && f.Value.String() != "" && f.Value.String() != "env" {
		if _, err := resolveShard(f.Value.String(), 0, func(string) (string, bool) { return "", false }); err != nil {
			t.Fatalf("%q: %v", strings.Join(args, " "), err)
		}
	}
}

func TestKubernetesManifests(t *testing.T) {
	objs := readManifests(t, filepath.Join("..", "..", "deploy", "k8s"))
	pvc, ok := objs["PersistentVolumeClaim/segdiscover-data"]
	if !ok || !slices.Contains(pvc.Spec.AccessModes, "ReadWriteMany") {
		t.Fatalf("want a ReadWriteMany PersistentVolumeClaim segdiscover-data, have %v", pvc.Spec.AccessModes)
	}
	commands := map[string][]string{}
	for _, step := range []string{"images", "fit", "masks", "report"} {
		name := "Job/segdiscover-" + step
		job, ok := objs[name]
		if !ok {
			t.Fatalf("no %s", name)
		}
		ps := job.Spec.Template.Spec
		if len(ps.Containers) != 1 || ps.RestartPolicy != "Never" {
			t.Fatalf("%s: want one container and restartPolicy Never (podFailurePolicy needs it)", name)
		}
		c := ps.Containers[0]
		args := append(slices.Clone(c.Command), c.Args...)
		if len(args) < 2 || args[0] != "segdiscover" {
			t.Fatalf("%s: command %q is not segdiscover", name, args)
		}
		checkInvocation(t, args[1:])
		commands[step] = args
		// The volume: the claim, mounted where the command reads and writes.
		if len(ps.Volumes) != 1 || ps.Volumes[0].PersistentVolumeClaim.ClaimName != pvc.Metadata.Name ||
			len(c.VolumeMounts) != 1 || c.VolumeMounts[0].Name != ps.Volumes[0].Name {
			t.Fatalf("%s: want the claim %s mounted", name, pvc.Metadata.Name)
		}
		mount := c.VolumeMounts[0].MountPath
		for _, a := range args[2:] {
			if strings.HasPrefix(a, "/") && !strings.HasPrefix(a, mount+"/") {
				t.Errorf("%s: %s is outside the volume mounted at %s", name, a, mount)
			}
		}
		indexed := step == "images" || step == "masks"
		if indexed != (job.Spec.CompletionMode == "Indexed") {
			t.Errorf("%s: completionMode %q", name, job.Spec.CompletionMode)
		}
		if indexed {
			i := slices.Index(args, "--shard-count")
			if i < 0 || !slices.Contains(args, "env") || job.Spec.Completions == nil || args[i+1] != strconv.Itoa(*job.Spec.Completions) {
				t.Errorf("%s: want --shard env --shard-count equal to completions, have %q", name, args)
			}
		}
	}
	// One run: the masks phase is the images phase's command again.
	if !slices.Equal(commands["images"], commands["masks"]) {
		t.Errorf("the masks Job runs %q, the images Job %q: the phases must use the same settings", commands["masks"], commands["images"])
	}
	out := commands["images"][slices.Index(commands["images"], "-o")+1]
	for _, step := range []string{"fit", "report"} {
		if commands[step][2] != out {
			t.Errorf("%s works on %s, the shards write %s", step, commands[step][2], out)
		}
	}
}
