//go:build !nos3

package bucket

// The s3:// driver; `go build -tags nos3` leaves it (and its SDK) out.
import _ "gocloud.dev/blob/s3blob"
