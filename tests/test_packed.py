"""codec/lfsc/packed.py: packed reduced-precision convolutions, oneDNN-blocked (x86 CPUs) and plain channels-last
(the CUDA kernels' layout, run here on the CPU), give bf16-accurate results for any input shape and keep
channels-last activations; the bf16 path of LFSCInference agrees with autocast bf16 and fp32."""

import pytest
import torch

from codec.lfsc import packed
from codec.lfsc.checkpoint import load_lfsc
from codec.lfsc.inference import LFSCInference
from codec.lfsc.model import decoder_full, encoder_full
from codec.lfsc.nn import Conv1dNorm, ConvTranspose1dNorm
from conftest import NEMO_FIXTURE

native_bf16 = pytest.mark.skipif(not packed._native_bf16_cpu(), reason="no native bf16 on this CPU")
BF16_REL_ERR = 2e-2  # bf16 keeps 8 significant bits; sums of a few thousand products stay well inside this
# oneDNN blocking for one input size (other sizes must work too), or None: plain channels-last convolutions.
KERNELS = [pytest.param("onednn", marks=native_bf16), "channels-last"]


def relative_error(got: torch.Tensor, want: torch.Tensor) -> float:
    return float((got.float() - want).abs().max() / want.abs().max())


@pytest.mark.parametrize("kernels", KERNELS)
@pytest.mark.parametrize("stride,dilation,kernel", [(1, 1, 7), (1, 5, 3), (4, 1, 8)])
def test_packed_conv_matches_fp32_for_shapes_it_was_not_packed_for(kernels, stride, dilation, kernel):
    torch.manual_seed(0)
    padding = (stride + 1) // 2 if stride > 1 else None
    wrapper = Conv1dNorm(24, 40, kernel, stride=stride, dilation=dilation, padding=padding)
    conv = packed.PackedConv1d(wrapper, torch.bfloat16, input_size=[1, 24, 1, 300] if kernels == "onednn" else None)
    for batch, steps in [(1, 300), (3, 57), (2, 1000)]:
        x = torch.randn(batch, 24, steps)
        # Time-contiguous in, as the decoder's first conv gets it, and channels-last, as every later conv gets it.
        for layout in (x.bfloat16(), x.bfloat16().transpose(1, 2).contiguous().transpose(1, 2)):
            with torch.inference_mode():
                want, got = wrapper(x, None), conv(layout, None)
            assert got.shape == want.shape and got.dtype == torch.bfloat16
            assert relative_error(got, want) < BF16_REL_ERR
            assert got.transpose(1, 2).is_contiguous()  # channels-last out, for the next layer


@pytest.mark.parametrize("kernels", KERNELS)
@pytest.mark.parametrize("kernel,stride", [(16, 8), (7, 2)])  # LFSC's kind, and one with an output padding
def test_packed_transposed_conv_matches_fp32(kernels, kernel, stride):
    torch.manual_seed(0)
    wrapper = ConvTranspose1dNorm(32, 16, kernel_size=kernel, stride=stride)
    conv = packed.PackedConvTranspose1d(wrapper, torch.bfloat16,
                                        input_size=[1, 32, 1, 50] if kernels == "onednn" else None)
    for batch, steps in [(1, 50), (4, 13)]:
        x = torch.randn(batch, 32, steps)
        with torch.inference_mode():
            want, got = wrapper(x, None), conv(x.bfloat16(), None)
        assert got.shape == want.shape == (batch, 16, steps * stride)
        assert relative_error(got, want) < BF16_REL_ERR
        assert got.transpose(1, 2).is_contiguous()


@pytest.fixture(scope="module")
def model():
    return load_lfsc(NEMO_FIXTURE / "lfsc_small.nemo", device="cpu")


def packed_snr_db(model, inference: LFSCInference, tokens: torch.Tensor) -> float:
    """SNR (dB) of the packed path's decoding of `tokens` against autocast bf16's."""
    latent = model.dequantize(tokens=tokens, tokens_len=torch.tensor([tokens.shape[-1]]))
    with torch.inference_mode(), torch.autocast("cpu", torch.bfloat16):
        autocast_audio = decoder_full(model, latent).float()
    noise = torch.sum((inference.decode_frames(tokens) - autocast_audio).double() ** 2)
    return float(10 * torch.log10(torch.sum(autocast_audio.double() ** 2) / noise))


@native_bf16
def test_packed_twin_decodes_like_autocast_bf16(model, reference):
    """The packed path and autocast do the same bf16 arithmetic (with other kernels at large widths)."""
    tokens = torch.from_numpy(reference["single_tokens"])
    inference = LFSCInference(model, precision="bf16")
    assert isinstance(inference.generator.audio_decoder.pre_conv, packed.PackedConv1d)
    assert packed_snr_db(model, inference, tokens) > 25.0


@native_bf16
def test_packed_twin_holds_only_packed_bf16_weights_and_leaves_the_model_alone(model):
    before = {k: v.clone() for k, v in model.state_dict().items()}
    twin = packed.packed_generator(model, torch.bfloat16, packed.window_sizes(model, 20, 30))
    convs = [m for m in twin.modules() if isinstance(m, (packed.PackedConv1d, packed.PackedConvTranspose1d))]
    assert len(convs) == sum(isinstance(m, (Conv1dNorm, ConvTranspose1dNorm)) for m in model.modules())
    assert all(c.weight.is_mkldnn and c.weight.dtype == c.bias.dtype == torch.bfloat16 for c in convs)
    assert not list(twin.parameters()) and not list(twin.buffers()) and not twin.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert next(model.parameters()).dtype == torch.float32


@native_bf16
def test_a_half_snake_decoder_runs_packed_with_its_checkpoints_alphas():
    """The Audio Codec's half-snake activations have learned alphas, which the packed twin must carry over (they
    stayed on the meta device, and nemo:PATH in bf16 failed)."""
    audio_codec = load_lfsc(NEMO_FIXTURE / "audio_codec_22khz.nemo", device="cpu")
    inference = LFSCInference(audio_codec, precision="bf16")
    assert inference.packed
    alphas = {k: v for k, v in inference.generator.state_dict().items() if k.endswith("alpha")}
    assert alphas and all(torch.equal(v, audio_codec.state_dict()[k].to(torch.bfloat16)) for k, v in alphas.items())
    tokens = inference.encode_frames(torch.sin(torch.arange(8 * 256) / 9.0)[None] * 0.3)
    assert packed_snr_db(audio_codec, inference, tokens) > 20.0


def test_models_the_packing_does_not_cover_fall_back_to_autocast():
    from codec.lfsc.model import DecoderConfig, EncoderConfig, LFSCConfig, LFSCModel

    zeros = LFSCConfig(encoder=EncoderConfig(base_channels=4, pad_mode="zeros"), decoder=DecoderConfig(base_channels=32))
    inference = LFSCInference(LFSCModel(zeros).eval(), precision="bf16")
    assert not inference.packed and inference.generator is inference.model
    assert inference.encode_frames(torch.randn(1, 8 * 1024) * 0.1).shape == (1, 8, 8)


def test_the_channels_last_twin_cuda_runs_decodes_like_autocast_bf16_here_too(model, reference):
    """The twin CUDA gets (no oneDNN blocking: plain channels-last convolutions) run whole on the CPU."""
    twin = packed.packed_generator(model, torch.bfloat16, {})  # what the CPU-less path hands it
    convs = [m for m in twin.modules() if isinstance(m, (packed.PackedConv1d, packed.PackedConvTranspose1d))]
    assert convs and not any(c.onednn for c in convs)
    assert all(c.weight.is_contiguous(memory_format=torch.channels_last) for c in convs)
    tokens = torch.from_numpy(reference["single_tokens"])
    latent = model.dequantize(tokens=tokens, tokens_len=torch.tensor([tokens.shape[-1]]))
    with torch.inference_mode():
        twin_audio = decoder_full(twin, latent.bfloat16()).float()
        with torch.autocast("cpu", torch.bfloat16):
            autocast_audio = decoder_full(model, latent).float()
        latent_back = encoder_full(twin, twin_audio.bfloat16()).float()
        want_back = encoder_full(model, twin_audio)
    noise = torch.sum((twin_audio - autocast_audio).double() ** 2)
    assert 10 * torch.log10(torch.sum(autocast_audio.double() ** 2) / noise) > 25.0
    assert relative_error(latent_back, want_back) < 0.05


@native_bf16
def test_pack_false_keeps_autocast_where_the_twin_would_run(model):
    assert LFSCInference(model, precision="bf16").packed
    inference = LFSCInference(model, precision="bf16", pack=False)
    assert not inference.packed and inference.generator is inference.model
