//go:build !noazure

package bucket

// The azblob:// driver; `go build -tags noazure` leaves it (and its SDK) out.
import _ "gocloud.dev/blob/azureblob"
