package pipeline

import (
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
)

// Shard is one of Count parts of a run's images (Options.Shard): the
// per-image stages of a sharded run process only the images whose
// ShardOf(rel, Count) is Index. The zero value (Count 0) is an unsharded
// run. Index is 0-based.
type Shard struct {
	Index, Count int
}

// maxShards bounds N: a shard record per shard is read by every command
// that checks completeness.
const maxShards = 100_000

// Sharded reports whether s selects a part of the images.
func (s Shard) Sharded() bool { return s.Count > 0 }

// String is "I/N" (as --shard reads it), "" when unsharded.
func (s Shard) String() string {
	if !s.Sharded() {
		return ""
	}
	return fmt.Sprintf("%d/%d", s.Index, s.Count)
}

// Check reports an index out of range or a count out of 1..maxShards.
func (s Shard) Check() error {
	if s.Count < 1 || s.Count > maxShards {
		return fmt.Errorf("shard count %d is not in 1..%d", s.Count, maxShards)
	}
	if s.Index < 0 || s.Index >= s.Count {
		return fmt.Errorf("shard index %d is out of range for %d shards (indexes are 0..%d)", s.Index, s.Count, s.Count-1)
	}
	return nil
}

// ShardOf returns the shard, in 0..n-1, of the image stored under rel: the
// FNV-1a 64-bit hash of rel modulo n. It depends on rel and n alone, so
// adding or removing images moves no other image between shards.
func ShardOf(rel string, n int) int {
	h := fnv.New64a()
	h.Write([]byte(rel))
	return int(h.Sum64() % uint64(n))
}

// ParseShard reads "I/N": shard I (0-based) of N.
func ParseShard(s string) (Shard, error) {
	a, b, ok := strings.Cut(s, "/")
	if !ok {
		return Shard{}, fmt.Errorf("want I/N (shard I of N, I from 0 to N-1), have %q", s)
	}
	i, err1 := strconv.Atoi(strings.TrimSpace(a))
	n, err2 := strconv.Atoi(strings.TrimSpace(b))
	if err1 != nil || err2 != nil {
		return Shard{}, fmt.Errorf("want I/N with whole numbers (shard I of N, I from 0 to N-1), have %q", s)
	}
	sh := Shard{Index: i, Count: n}
	return sh, sh.Check()
}

// ErrNoShardEnv is returned by ShardFromEnv when the environment holds no
// shard index.
var ErrNoShardEnv = errors.New("no shard index in the environment: SLURM_ARRAY_TASK_ID (a Slurm job array) or JOB_COMPLETION_INDEX (a Kubernetes Indexed Job) is not set")

// ShardFromEnv reads the shard of an array task from its environment
// (getenv as os.LookupEnv):
//
//   - Slurm job arrays: SLURM_ARRAY_TASK_ID, minus SLURM_ARRAY_TASK_MIN
//     (so that --array=1-4 and --array=0-3 both give shards 0..3), of
//     SLURM_ARRAY_TASK_COUNT shards, or SLURM_ARRAY_TASK_MAX-MIN+1 when
//     the count is not set. When count is given and the array is smaller
//     (some tasks resubmitted: --array=1,3), the ids are taken as the
//     0-based shard indexes. An array with a step (--array=0-15:4) is
//     refused: its ids do not number the shards.
//   - Kubernetes Indexed Jobs: JOB_COMPLETION_INDEX (0-based), of count
//     shards (the Job's completions, which Kubernetes does not put in
//     the environment: the --shard-count flag).
//
// count, when not 0, is the number of shards the caller was told; with
// Slurm it must agree with the array's. The string says where the shard
// came from, for the log.
func ShardFromEnv(getenv func(string) (string, bool), count int) (Shard, string, error) {
	num := func(name string) (int, bool, error) {
		v, ok := getenv(name)
		if !ok || strings.TrimSpace(v) == "" {
			return 0, false, nil
		}
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return 0, true, fmt.Errorf("%s=%q is not a whole number", name, v)
		}
		return n, true, nil
	}
	id, ok, err := num("SLURM_ARRAY_TASK_ID")
	if err != nil {
		return Shard{}, "", err
	}
	if ok {
		lo, haveMin, err := num("SLURM_ARRAY_TASK_MIN")
		if err != nil {
			return Shard{}, "", err
		}
		hi, haveMax, err := num("SLURM_ARRAY_TASK_MAX")
		if err != nil {
			return Shard{}, "", err
		}
		n, haveCount, err := num("SLURM_ARRAY_TASK_COUNT")
		if err != nil {
			return Shard{}, "", err
		}
		step, haveStep, err := num("SLURM_ARRAY_TASK_STEP")
		if err != nil {
			return Shard{}, "", err
		}
		if haveStep && step != 1 {
			return Shard{}, "", fmt.Errorf("SLURM_ARRAY_TASK_STEP=%d: an array with a step does not number its shards; submit --array=0-%d", step, max(n, 1)-1)
		}
		if !haveCount && haveMin && haveMax {
			n, haveCount = hi-lo+1, true
		}
		switch {
		case !haveCount && count == 0:
			return Shard{}, "", fmt.Errorf("SLURM_ARRAY_TASK_ID=%d but neither SLURM_ARRAY_TASK_COUNT nor SLURM_ARRAY_TASK_MIN/MAX is set: give --shard-count", id)
		case count == 0 || n == count:
			// The whole array: its ids, from MIN, number the shards.
		case !haveCount || n < count:
			// A part of the shards, e.g. one task resubmitted
			// (--array=2): the ids are the 0-based shard indexes.
			n, lo = count, 0
		default:
			return Shard{}, "", fmt.Errorf("--shard-count %d, but the Slurm array has %d tasks", count, n)
		}
		s := Shard{Index: id - lo, Count: n}
		if err := s.Check(); err != nil {
			return Shard{}, "", fmt.Errorf("SLURM_ARRAY_TASK_ID=%d (array %d-%d): %w", id, lo, lo+n-1, err)
		}
		return s, fmt.Sprintf("SLURM_ARRAY_TASK_ID=%d of %d-%d", id, lo, lo+n-1), nil
	}
	idx, ok, err := num("JOB_COMPLETION_INDEX")
	if err != nil {
		return Shard{}, "", err
	}
	if ok {
		if count == 0 {
			return Shard{}, "", fmt.Errorf("JOB_COMPLETION_INDEX=%d: give --shard-count, the Indexed Job's completions", idx)
		}
		s := Shard{Index: idx, Count: count}
		if err := s.Check(); err != nil {
			return Shard{}, "", fmt.Errorf("JOB_COMPLETION_INDEX=%d: %w", idx, err)
		}
		return s, fmt.Sprintf("JOB_COMPLETION_INDEX=%d of %d", idx, count), nil
	}
	return Shard{}, "", ErrNoShardEnv
}
