// Package vit runs pretrained self-supervised vision transformers — DINO
// (Caron et al., "Emerging Properties in Self-Supervised Vision
// Transformers", ICCV 2021) and DINOv2 (Oquab et al., "DINOv2: Learning
// Robust Visual Features without Supervision", TMLR 2024) — on the CPU in
// pure Go, from a user's checkpoint, and turns their patch tokens into
// superpixel features as STEGO (Hamilton et al., ICLR 2022) and SegDiscover
// (Huang, Chen and Rudin 2022) do.
//
// # Checkpoints
//
// Load takes the tensors of a safetensors file (pipeline/artifact decodes it)
// and, optionally, the config.json and preprocessor_config.json found
// beside it. Three key layouts are recognised (Layout), after stripping the
// prefixes "module.", "backbone.", "vit." and "dinov2.":
//
//   - LayoutHFViT, Hugging Face ViTModel (facebook/dino-vits8, dino-vits16,
//     dino-vitb8, dino-vitb16): embeddings.cls_token,
//     embeddings.position_embeddings, embeddings.patch_embeddings.projection,
//     encoder.layer.N.{layernorm_before, attention.attention.{query,key,value},
//     attention.output.dense, layernorm_after, intermediate.dense,
//     output.dense}, layernorm;
//   - LayoutHFDinov2, Hugging Face Dinov2Model (facebook/dinov2-small,
//     dinov2-base, ...): as above with norm1, norm2, mlp.fc1, mlp.fc2 and
//     the layer scales layer_scale1.lambda1, layer_scale2.lambda1;
//   - LayoutTimm, timm and the original DINO / DINOv2 repositories:
//     cls_token, pos_embed, patch_embed.proj, blocks.N.{norm1, attn.qkv,
//     attn.proj, norm2, mlp.fc1, mlp.fc2} (and ls1.gamma, ls2.gamma for
//     DINOv2), norm.
//
// Tensors may be float32, float16 or bfloat16; the forward pass runs in
// float32. The architecture comes from config.json when present, else it
// is inferred from the shapes (heads = hidden/64, as in every released
// DINO and DINOv2 model), and Arch.String describes it.
//
// # Forward pass
//
// Model.Forward follows the reference implementations step for step:
// patch embedding (a stride-p convolution, as a GEMM), the class token,
// position embeddings resized to the patch grid by bicubic interpolation
// (torch.nn.functional.interpolate, mode "bicubic", align_corners=False,
// A = -0.75, no antialiasing) exactly as each layout's own code calls it:
// the Hugging Face models pass size=(h/p, w/p), the original DINO and
// DINOv2 code passes scale_factor=((h/p+0.1)/M, (w/p+0.1)/M), which
// samples at slightly different positions; pre-norm blocks (LayerNorm,
// multi-head self-attention, residual, LayerNorm, MLP with the exact erf
// GELU, residual; each branch scaled by its layer scale when the
// checkpoint has one), and a final LayerNorm. Every GEMM goes through
// gonum's blas32 interface, so the openblas build (segnet's backend)
// speeds it up.
//
// Preprocess resizes an image so that its short side is Settings.Size
// pixels (224 by default) and both sides are multiples of the patch size,
// and normalises it by the ImageNet mean and standard deviation, or by the
// image_mean and image_std of preprocessor_config.json.
//
// # Superpixel features
//
// SuperpixelFeatures takes the patch tokens of the last block after the
// final norm (or, with Settings.Keys, the keys of the last attention, the
// "KK" features of STEGO), L2-normalises each token, resizes the token map
// bilinearly (align_corners=False) to the superpixel map and averages it
// over each superpixel.
package vit
