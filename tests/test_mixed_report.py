"""Issue #19's acceptance run: `lfsc-eval run` with a NeMo-family codec ('nemo:' a NanoCodec fixture), a Hugging
Face codec ('hf:' a random-weight Mimi folder) and identity writes one report with all three: their rows, nominal
bitrates, per-language tables and the bitrate-vs-quality plot, and kept audio under names without ':' or '/'."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from codec.bundled_speech import default_manifest
from eval import report
from eval.cli import main

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

NANOCODEC = Path(__file__).resolve().parent / "fixtures" / "nemo" / "nanocodec_21fps.nemo"
LANGUAGES = ("en", "ru")
# Random weights give audio nothing can align with the input (SI-SDR and mel distance are refused, with reasons);
# DistillMOS needs no alignment, so every codec has a value to plot.
METRICS = ("si_sdr", "mel_distance", "distill_mos")


def _mimi_folder(folder: Path) -> Path:
    """A tiny random-weight Mimi at 8 kHz (16 samples a frame, 4 codebooks of 64: 12 kbit/s), saved."""
    torch.manual_seed(0)
    config = transformers.MimiConfig(
        sampling_rate=8000, hidden_size=16, num_filters=4, upsampling_ratios=[4, 2], codebook_size=64,
        codebook_dim=16, num_quantizers=4, vector_quantization_hidden_dimension=16, upsample_groups=16,
        num_hidden_layers=1, intermediate_size=32, num_attention_heads=2, num_key_value_heads=2, head_dim=8,
        sliding_window=16, max_position_embeddings=512)
    model = transformers.MimiModel(config)
    for name, buffer in model.named_buffers():
        if name.endswith((".embed", ".embed_sum")):  # all-zero codebooks would code everything as one code
            buffer.normal_(std=0.1)
    model.save_pretrained(folder)
    return folder


def _manifest(folder: Path) -> Path:
    """The bundled set's shortest utterance of each language, then one more English one for --limit to drop."""
    bundled = default_manifest()
    entries = [json.loads(line) for line in bundled.read_text(encoding="utf-8").splitlines() if line.strip()]
    entries.sort(key=lambda entry: entry["duration"])
    chosen = [next(e for e in entries if e["lang"] == lang) for lang in LANGUAGES]
    chosen.append(next(e for e in entries if e["lang"] == "en" and e not in chosen))
    for lang in LANGUAGES:  # the audio stays where it is; the manifest's relative paths reach it through links
        (folder / lang).symlink_to(bundled.parent / lang)
    path = folder / "manifest.jsonl"
    path.write_text("".join(json.dumps(entry) + "\n" for entry in chosen), encoding="utf-8")
    return path


@pytest.mark.slow  # about 40 to 60 s on two busy cores: the NanoCodec fixture codes slowly on the CPU
def test_one_report_holds_nemo_hf_and_classical_codecs(tmp_path, monkeypatch):
    mimi = _mimi_folder(tmp_path / "mimi")
    codecs = [f"nemo:{NANOCODEC}", f"hf:{mimi}", "identity"]
    plotted = []
    bitrate_plot = report._bitrate_plot
    monkeypatch.setattr(report, "_bitrate_plot",
                        lambda run, shown, coded: plotted.append((shown, coded)) or bitrate_plot(run, shown, coded))
    out = tmp_path / "run"
    assert main(["run", "--manifest", str(_manifest(tmp_path)), "--limit", str(len(LANGUAGES)),
                 *(arg for codec in codecs for arg in ("--codec", codec)), "--metrics", *METRICS, "--no-cache",
                 "--keep-audio", "--out", str(out)]) == 0

    summary = json.loads((out / "summary.json").read_text())
    assert list(summary["codecs"]) == codecs
    nominal = {codec: summary["codecs"][codec]["nominal_bitrate"] for codec in codecs}
    assert nominal == pytest.approx({codecs[0]: 1891.0, codecs[1]: 12000.0, "identity": 0.0}, abs=0.1)
    for codec in codecs:
        assert summary["codecs"][codec]["n"] == len(LANGUAGES)
        assert set(summary["by_language"][codec]) == set(LANGUAGES)
        assert summary["codecs"][codec]["metrics"]["distill_mos"]["n"] == len(LANGUAGES)
    for codec in codecs[:2]:  # refused with its reason, never computed on unaligned audio
        assert summary["codecs"][codec]["metrics"]["si_sdr"]["missing"] == len(LANGUAGES)

    markdown = (out / "summary.md").read_text()
    results, per_language = markdown.split("## Per language")
    bitrates = {line.split(" | ")[0][2:]: line.split(" | ")[2] for line in results.splitlines()
                if line.startswith("| ") and line.count(" | ") > 2}
    assert bitrates[codecs[0]].endswith(" (1.89)") and bitrates[codecs[1]].endswith(" (12)")
    assert "| codec | en | ru |" in per_language
    assert all(f"| {codec} |" in per_language for codec in codecs)

    assert plotted == [(list(METRICS), codecs[:2])]  # the neural codecs, identity left out
    page = (out / "report.html").read_text()
    assert "Bitrate vs quality" in page and "Per language, mean with bootstrap 95% CI" in page

    kept = sorted(path.relative_to(out / "audio") for path in (out / "audio").rglob("*.wav"))
    assert len(kept) == len(codecs) * len(LANGUAGES)
    assert not [path for path in kept if ":" in str(path) or len(path.parts) != 2]
