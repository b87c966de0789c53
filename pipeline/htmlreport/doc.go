// Package htmlreport writes the report of a segdiscover run: one
// self-contained HTML page (inline CSS and a little JavaScript, nothing
// fetched from the network) whose images are files beside it, referenced
// by relative paths. The page's size is bounded whatever the run: the
// galleries hold a fixed number of pictures per concept, and with many
// concepts the page shows them a page of 24 at a time.
//
// Encode is a pure codec over an io.Writer; package pipeline computes the
// figures and writes the pictures.
package htmlreport
