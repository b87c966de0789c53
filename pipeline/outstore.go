package pipeline

import (
	"context"
	"strings"

	"github.com/segdiscover/segdiscover/pipeline/store"
	"github.com/segdiscover/segdiscover/pipeline/store/bucket"
)

// openOutput opens the output store at location: a local folder (made by
// the first write; a shared NFS/Lustre mount works) or a bucket URL
// (s3://, gs://, azblob://, file://, mem://; see package store/bucket). An
// unsupported scheme, a bucket that does not exist and refused or missing
// credentials fail here, with the URL and the cause, before anything is
// written. With create, the folder of a file:// URL is created if
// missing, as a local output folder is (a bucket has to exist).
func openOutput(ctx context.Context, location string, create bool) (store.Store, error) {
	if scheme, ok := store.URLScheme(location); ok && scheme == "file" && create && !strings.Contains(location, "create_dir=") {
		sep := "?"
		if strings.Contains(location, "?") {
			sep = "&"
		}
		location += sep + "create_dir=1"
	}
	return bucket.Open(ctx, "output folder", location)
}
