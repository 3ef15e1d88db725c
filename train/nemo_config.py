"""The NeMo model_config.yaml sections an exported .nemo needs so that NeMo's AudioCodecModel can rebuild the model."""

from __future__ import annotations

from train.config import TrainConfig

MODULES = "nemo.collections.tts.modules"
LOSSES = "nemo.collections.tts.losses.audio_codec_loss"


def nemo_model_config(config: TrainConfig, slm_shape: tuple[int, int] | None = None) -> dict:
    """NeMo's LFSC config besides the generator sections (save_nemo adds those); slm_shape = (hidden, layers)."""
    out = {
        "mel_loss_l1_scale": config.mel_loss_l1_scale,
        "mel_loss_l2_scale": 0.0,
        "stft_loss_scale": config.stft_loss_scale,
        "time_domain_loss_scale": 0.0,
        "codebook_loss_scale": 0.0,
        "commit_loss_scale": 0.0,
        "gen_loss_scale": config.gen_loss_scale,
        "feature_loss_scale": config.feature_loss_scale,
        "disc_updates_per_period": config.disc_updates_per_period,
        "disc_update_period": config.disc_update_period,
        "loss_resolutions": config.loss_resolutions,
        "mel_loss_dims": config.mel_loss_dims,
        "mel_loss_log_guard": config.mel_loss_log_guard,
        "stft_loss_log_guard": config.stft_loss_log_guard,
        "feature_loss_type": "absolute",
        "generator_loss": {"_target_": f"{LOSSES}.GeneratorSquaredLoss"},
        "discriminator_loss": {"_target_": f"{LOSSES}.DiscriminatorSquaredLoss"},
        "optim": {
            "_target_": "torch.optim.Adam",
            "lr": config.lr,
            "betas": list(config.betas),
            "sched": {"name": "ExponentialLR", "gamma": config.lr_decay},
        },
    }
    if config.use_discriminator:
        discriminators = [
            {"_target_": f"{MODULES}.encodec_modules.MultiResolutionDiscriminatorSTFT",
             "resolutions": config.stft_disc_resolutions},
            {"_target_": f"{MODULES}.audio_codec_modules.MultiPeriodDiscriminator", "periods": config.mpd_periods},
        ]
        # NeMo's SLM discriminator knows only transformers models; the Whisper backbone has no NeMo counterpart.
        if config.slm_backbone == "wavlm" and slm_shape:
            discriminators.append({
                "_target_": f"{MODULES}.audio_codec_modules.SLMDiscriminator",
                "slm_model_name": config.slm_model_dir,
                "slm_sr": 16000,
                "input_sr": config.generator.sample_rate,
                "slm_hidden": slm_shape[0],
                "slm_layers": slm_shape[1],
                "initial_channel": config.slm_initial_channel,
                "use_spectral_norm": False,
            })
        out["discriminator"] = {"_target_": f"{MODULES}.audio_codec_modules.Discriminator", "discriminators": discriminators}
    out["lfsc_workbench"] = {"trained_with": "lfsc-train", "slm_backbone": config.slm_backbone}
    return out
