package artifact

import (
	"fmt"

	"github.com/segdiscover/segdiscover/features"
	"github.com/segdiscover/segdiscover/features/vit"
	"github.com/segdiscover/segdiscover/segnet"
)

// The stage packages keep their parameters in their own types (they do not
// know about files); Tensor is the one type that crosses the safetensors
// boundary, and these are its only conversions to and from them.

// FromSegnet returns segnet's float32 parameters as F32 tensors (the
// network's own precision: a checkpoint read back equals the one written).
func FromSegnet(ts []segnet.Tensor) []Tensor {
	out := make([]Tensor, len(ts))
	for i, t := range ts {
		out[i] = NewF32Tensor(t.Name, t.Shape, t.Data)
	}
	return out
}

// ToSegnet returns F32 tensors as segnet's parameters; any other dtype is
// an error naming the tensor.
func ToSegnet(ts []Tensor) ([]segnet.Tensor, error) {
	out := make([]segnet.Tensor, len(ts))
	for i := range ts {
		v, err := ts[i].Float32s()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", ts[i].Name, err)
		}
		out[i] = segnet.Tensor{Name: ts[i].Name, Shape: ts[i].Shape, Data: v}
	}
	return out, nil
}

// FromParams returns features' float64 parameters (encoders, normaliser) as
// F64 tensors: the parameters read back must equal those fitted, so that a
// resumed run computes the same features bit for bit.
func FromParams(ps []features.Param) []Tensor {
	out := make([]Tensor, len(ps))
	for i, p := range ps {
		out[i] = NewF64Tensor(p.Name, p.Shape, p.Data)
	}
	return out
}

// ToParams returns F64 (or F32, widened) tensors as features' parameters.
func ToParams(ts []Tensor) ([]features.Param, error) {
	out := make([]features.Param, len(ts))
	for i := range ts {
		v, err := ts[i].Float64s()
		if err != nil {
			return nil, err
		}
		out[i] = features.Param{Name: ts[i].Name, Shape: ts[i].Shape, Data: v}
	}
	return out, nil
}

// ToViT returns a checkpoint's tensors for vit.Load, which converts F32,
// F16 and BF16 itself. The bytes are shared, not copied.
func ToViT(ts []Tensor) []vit.Tensor {
	out := make([]vit.Tensor, len(ts))
	for i, t := range ts {
		out[i] = vit.Tensor{Name: t.Name, DType: string(t.DType), Shape: t.Shape, Data: t.Data}
	}
	return out
}
