// Package bucket is a store.Store on a bucket of an object store, through
// gocloud.dev/blob: S3 (and S3-compatible servers), Google Cloud Storage,
// Azure Blob Storage, and gocloud's file and in-memory buckets for tests.
// It links those SDKs (about 70 MB of binary with all three), which is why
// it is not part of package store; the build tags nos3, nogcs and noazure
// leave a cloud's driver out (cmd/segdiscover: 84.2 MB with all, 39.3 MB
// with S3 alone, 25.2 MB with none), and a URL of a driver left out fails
// naming its tag. What is and is not atomic on an object store is in
// package store's comment.
//
// # Locations
//
// Open takes a local path (opened with store.OpenLocal), or a URL:
//
//	/data/out, ./out, /mnt/lustre/out    a local folder (Local)
//	s3://BUCKET[/PREFIX][?region=R&endpoint=URL&use_path_style=true]
//	gs://BUCKET[/PREFIX]
//	azblob://CONTAINER[/PREFIX]
//	file:///ABS/FOLDER                   gocloud's fileblob (for tests)
//	mem://                               an in-memory bucket (for tests)
//
// The URL's path is a key prefix under which the layout lives (gocloud's
// prefix= parameter does the same; one or the other). Other query
// parameters are gocloud's: for s3:// notably region, endpoint,
// use_path_style (S3-compatible servers such as SeaweedFS or Ceph want
// use_path_style=true), disable_https, profile; see gocloud.dev/aws's
// V2ConfigFromURLParams. Credentials come from each cloud's standard
// environment (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_PROFILE or the
// instance role; GOOGLE_APPLICATION_CREDENTIALS; AZURE_STORAGE_ACCOUNT with
// AZURE_STORAGE_KEY or a SAS token), never from the URL. Open checks the
// bucket is there and readable (one listing of one key), so a missing
// bucket or refused credentials fail at once, naming the URL.
//
// file:// URLs are opened without fileblob's ".attrs" sidecar files
// (metadata=skip) so the folder holds only the layout; fileblob renames a
// temporary file from os.TempDir into place and does not fsync, so a plain
// path (Local) is the durable choice for a local folder, and TMPDIR must be
// on the same file system as the folder.
package bucket
