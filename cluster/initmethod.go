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
	// InitEntropy fits the same restarts on a sample as InitConsensus and
	// starts the full EM from the crispest one, the least mean posterior
	// entropy (see the package documentation).
	InitEntropy
	// InitSplit grows the mixture by binary splitting along principal
	// axes, with no random choice (see the package documentation).
	InitSplit
)

var initNames = [...]string{InitKMeans: "kmeans", InitConsensus: "consensus", InitEntropy: "entropy", InitSplit: "split"}

func (m InitMethod) String() string {
	if m < 0 || int(m) >= len(initNames) {
		return fmt.Sprintf("InitMethod(%d)", int(m))
	}
	return initNames[m]
}

// ParseInitMethod parses "kmeans", "consensus", "entropy" or "split" (any case).
func ParseInitMethod(s string) (InitMethod, error) {
	for i, n := range initNames {
		if strings.EqualFold(s, n) {
			return InitMethod(i), nil
		}
	}
	return 0, fmt.Errorf("unknown initialisation %q (want kmeans, consensus, entropy or split)", s)
}
