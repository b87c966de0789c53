//go:build !nogcs

package bucket

// The gs:// driver; `go build -tags nogcs` leaves it (and its SDK) out.
import _ "gocloud.dev/blob/gcsblob"
