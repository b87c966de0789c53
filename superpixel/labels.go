package superpixel

// Labels is a label map: one segment id per pixel, stored row-major.
// Ids are contiguous, 0..N-1, so N is the number of segments.
type Labels struct {
	Width, Height int
	N             int     // number of segments
	Pix           []int32 // len Width*Height; Pix[y*Width+x] is the id of pixel (x, y)
}

// At returns the segment id of pixel (x, y).
func (l *Labels) At(x, y int) int32 { return l.Pix[y*l.Width+x] }
