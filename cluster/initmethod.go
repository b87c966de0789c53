package cluster

import (
	"fmt"
	"strings"
)

// InitMethod is how Fit chooses the mixture EM starts from.
type InitMethod int

const (
	// InitKMeans starts from one k-means run per restart (k-means++
	// seeding, Lloyd iterations), as scikit-learn's init_params="kmeans";
	// with NInit > 1 the restart with the best final likelihood is kept.
	InitKMeans InitMethod = iota
	// InitConsensus fits several restarts on a sample and starts the full
	// EM from the most reproducible one, the medoid by adjusted Rand index
	// (see the package documentation).
	InitConsensus
)

var initNames = [...]string{InitKMeans: "kmeans", InitConsensus: "consensus"}

func (m InitMethod) String() string {
	if m < 0 || int(m) >= len(initNames) {
		return fmt.Sprintf("InitMethod(%d)", int(m))
	}
	return initNames[m]
}

// ParseInitMethod parses "kmeans" or "consensus" (any case).
func ParseInitMethod(s string) (InitMethod, error) {
	for i, n := range initNames {
		if strings.EqualFold(s, n) {
			return InitMethod(i), nil
		}
	}
	return 0, fmt.Errorf("unknown initialisation %q (want kmeans or consensus)", s)
}
