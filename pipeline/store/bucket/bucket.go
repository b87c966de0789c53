package bucket

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/url"
	"slices"
	"strings"

	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"

	"github.com/segdiscover/segdiscover/pipeline/store"

	// file:// and mem:// are always there; the clouds' drivers are in
	// driver_*.go, each left out by a build tag.
	_ "gocloud.dev/blob/fileblob"
	_ "gocloud.dev/blob/memblob"
)

// Schemes are the URL schemes Open takes for buckets, in a build with
// every driver.
var Schemes = []string{"s3", "gs", "azblob", "file", "mem"}

// buildTags are the build tags that leave a cloud's driver out of the
// binary (its SDK is most of a binary's size: cmd/segdiscover is 25 MB
// with none of them, 39 with s3 alone, 84 with all three).
var buildTags = map[string]string{"s3": "nos3", "gs": "nogcs", "azblob": "noazure"}

// linked reports whether this binary has the driver of scheme.
func linked(scheme string) bool { return blob.DefaultURLMux().ValidBucketScheme(scheme) }

// Open opens the store at location: a local folder path (store.OpenLocal)
// or a bucket URL with one of the Schemes (see the package comment for
// their form). what names the store in errors ("output folder", "input
// folder").
func Open(ctx context.Context, what, location string) (store.Store, error) {
	if scheme, ok := store.URLScheme(location); ok {
		return openBucket(ctx, what, scheme, location)
	}
	return store.OpenLocal(what, location)
}

// Bucket is a store.Store on a gocloud.dev/blob bucket, optionally under a key
// prefix (the URL's path).
type Bucket struct {
	b    *blob.Bucket
	base string // the URL without its query, ending in "/": prefix of Location
}

// credentialsHint names, per scheme, where credentials come from, for the
// errors of a refused request.
var credentialsHint = map[string]string{
	"s3":     "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE, or the instance's role)",
	"gs":     "GOOGLE_APPLICATION_CREDENTIALS (or gcloud auth application-default login)",
	"azblob": "AZURE_STORAGE_ACCOUNT with AZURE_STORAGE_KEY or AZURE_STORAGE_SAS_TOKEN (or an Azure identity)",
}

func openBucket(ctx context.Context, what, scheme, location string) (*Bucket, error) {
	if !slices.Contains(Schemes, scheme) {
		var have []string
		for _, sc := range Schemes {
			if linked(sc) {
				have = append(have, sc)
			}
		}
		return nil, fmt.Errorf("%s %q: unsupported URL scheme %q; use a local path or a URL starting with %s://",
			what, location, scheme, strings.Join(have, "://, "))
	}
	if !linked(scheme) {
		return nil, fmt.Errorf("%s %q: this binary was built without the %s:// driver (build tag %s); build it without that tag",
			what, location, scheme, buildTags[scheme])
	}
	u, err := url.Parse(location)
	if err != nil {
		return nil, fmt.Errorf("%s %q: not a valid URL: %w", what, location, err)
	}
	u.Scheme = scheme
	q := u.Query()
	base := *u
	base.RawQuery = ""
	base.Fragment = ""
	switch scheme {
	case "file":
		// file:///abs/folder: the path is the folder.
		if u.Host != "" && u.Host != "localhost" {
			return nil, fmt.Errorf("%s %q: a file URL needs an absolute path, file:///folder (three slashes)", what, location)
		}
		// No ".attrs" sidecar per object, so the folder holds the layout
		// README.md documents and nothing else; say metadata= to differ.
		if !q.Has("metadata") {
			q.Set("metadata", "skip")
		}
	default:
		// scheme://bucket/some/prefix: the host is the bucket, the path a
		// key prefix (gocloud's own "prefix" parameter does the same).
		if u.Host == "" && scheme != "mem" {
			return nil, fmt.Errorf("%s %q: no bucket name; want %s://BUCKET[/PREFIX]", what, location, scheme)
		}
		if p := strings.Trim(u.Path, "/"); p != "" {
			if q.Has("prefix") {
				return nil, fmt.Errorf("%s %q: give the key prefix either as the URL's path or as prefix=, not both", what, location)
			}
			q.Set("prefix", p+"/")
		} else if p := q.Get("prefix"); p != "" {
			base.Path = "/" + strings.TrimSuffix(p, "/")
		}
	}
	u.RawQuery = q.Encode()
	s := &Bucket{base: strings.TrimSuffix(base.String(), "/") + "/"}
	b, err := blob.OpenBucket(ctx, u.String())
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", what, s.base, err)
	}
	s.b = b
	ok, err := b.IsAccessible(ctx)
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("%s %s: %w", what, s.base, s.explain(scheme, err))
	}
	if !ok {
		b.Close()
		return nil, fmt.Errorf("%s %s: the bucket %q does not exist (create it first)", what, s.base, u.Host)
	}
	return s, nil
}

// explain adds what the user can do about a refused request.
func (s *Bucket) explain(scheme string, err error) error {
	hint := credentialsHint[scheme]
	switch {
	case hint == "":
	case gcerrors.Code(err) == gcerrors.PermissionDenied || httpStatus(err) == 401 || httpStatus(err) == 403:
		return fmt.Errorf("access denied; check the credentials, read from %s: %w", hint, err)
	case strings.Contains(strings.ToLower(err.Error()), "credential"):
		return fmt.Errorf("no usable credentials; set %s: %w", hint, err)
	}
	return err
}

// httpStatus returns the HTTP status of a refused request, 0 if err has
// none. gocloud leaves some refusals as code Unknown: S3's
// SignatureDoesNotMatch (a wrong secret) and InvalidAccessKeyId are 403s
// that the AWS SDK's ResponseError carries with their status.
func httpStatus(err error) int {
	var withStatus interface{ HTTPStatusCode() int }
	if errors.As(err, &withStatus) {
		return withStatus.HTTPStatusCode()
	}
	return 0
}

// Location implements store.Store: the URL of key.
func (s *Bucket) Location(key string) string { return s.base + key }

// fail names the object in err, and turns gocloud's NotFound into an
// error that wraps store.ErrNotExist.
func (s *Bucket) fail(op, key string, err error) error {
	if gcerrors.Code(err) == gcerrors.NotFound {
		return fmt.Errorf("%s %s: %w", op, s.Location(key), store.ErrNotExist)
	}
	scheme, _ := store.URLScheme(s.base)
	return fmt.Errorf("%s %s: %w", op, s.Location(key), s.explain(scheme, err))
}

// WriteAtomic implements store.Store. The object is uploaded whole (in parts for
// large ones) and appears only when the upload completes; a failed write
// cancels the upload, so nothing appears.
func (s *Bucket) WriteAtomic(ctx context.Context, key string, write func(io.Writer) error) error {
	if err := store.CheckKey(s, key); err != nil {
		return err
	}
	// Cancelling the writer's context before Close aborts the upload.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := s.b.NewWriter(wctx, key, nil)
	if err != nil {
		return s.fail("write", key, err)
	}
	if err := write(w); err != nil {
		cancel()
		w.Close()
		return fmt.Errorf("write %s: %w", s.Location(key), err)
	}
	if err := w.Close(); err != nil {
		return s.fail("write", key, err)
	}
	return nil
}

// WriteAtomicNoSync implements store.Store: an object is durable once written.
func (s *Bucket) WriteAtomicNoSync(ctx context.Context, key string, write func(io.Writer) error) error {
	return s.WriteAtomic(ctx, key, write)
}

// Sync implements store.Store; there is nothing to flush.
func (s *Bucket) Sync(ctx context.Context) error { return nil }

// NewReader implements store.Store.
func (s *Bucket) NewReader(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := store.CheckKey(s, key); err != nil {
		return nil, err
	}
	r, err := s.b.NewReader(ctx, key, nil)
	if err != nil {
		return nil, s.fail("read", key, err)
	}
	return r, nil
}

// Stat implements store.Store.
func (s *Bucket) Stat(ctx context.Context, key string) (store.Info, error) {
	if err := store.CheckKey(s, key); err != nil {
		return store.Info{}, err
	}
	a, err := s.b.Attributes(ctx, key)
	if err != nil {
		return store.Info{}, s.fail("stat", key, err)
	}
	return store.Info{Key: key, Size: a.Size, ModTime: a.ModTime}, nil
}

// List implements store.Store, in the order the service lists (lexical by key
// on S3, GCS and Azure).
func (s *Bucket) List(ctx context.Context, prefix string) iter.Seq2[store.Info, error] {
	return func(yield func(store.Info, error) bool) {
		it := s.b.List(&blob.ListOptions{Prefix: prefix})
		for {
			o, err := it.Next(ctx)
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				yield(store.Info{}, s.fail("list", prefix, err))
				return
			}
			if o.IsDir {
				continue
			}
			if !yield(store.Info{Key: o.Key, Size: o.Size, ModTime: o.ModTime}, nil) {
				return
			}
		}
	}
}

// Delete implements store.Store.
func (s *Bucket) Delete(ctx context.Context, key string) error {
	if err := store.CheckKey(s, key); err != nil {
		return err
	}
	if err := s.b.Delete(ctx, key); err != nil && gcerrors.Code(err) != gcerrors.NotFound {
		return s.fail("delete", key, err)
	}
	return nil
}

// Close implements store.Store.
func (s *Bucket) Close() error { return s.b.Close() }

var _ store.Store = (*Bucket)(nil)
