"""The probe's prompt: the audio a probe call plays once it is answered.

The bundled ``prompt.wav`` is a tone, not speech: two 0.4 s beeps at 440 Hz then 480 Hz
(8 kHz, 8-bit mono, 1.2 s), written by :func:`write_tone_prompt` (``python -m
callwatch.probe.prompt OUT.wav``). No speech synthesiser is installed where it was made; a
site that wants the spoken "안녕하세요, 시험 전화입니다" records it and names the file in
``[probes] prompt``. :func:`load_prompt` reads any 8 kHz mono WAV (8- or 16-bit) into the
8-bit unsigned samples pyVoIP's RTP client sends.
"""

from __future__ import annotations

import math
import sys
import wave
from pathlib import Path

BUNDLED = Path(__file__).with_name("prompt.wav")
RATE = 8000


class PromptError(ValueError):
    """A prompt file that is not an 8 kHz mono WAV."""


def load_prompt(path: Path = BUNDLED) -> bytes:
    """The samples of ``path`` as 8-bit unsigned PCM at 8 kHz."""
    try:
        with wave.open(str(path), "rb") as wav:
            if wav.getframerate() != RATE or wav.getnchannels() != 1:
                raise PromptError(f"{path}: need 8000 Hz mono, not {wav.getframerate()} Hz "
                                  f"× {wav.getnchannels()} channels")  # fmt: skip
            width = wav.getsampwidth()
            frames = wav.readframes(wav.getnframes())
    except (OSError, EOFError, wave.Error) as exc:
        raise PromptError(f"{path}: not a readable WAV file ({exc})") from exc
    if width == 1:
        return frames
    if width == 2:  # signed 16-bit little-endian → unsigned 8-bit
        return bytes(
            (int.from_bytes(frames[i : i + 2], "little", signed=True) >> 8) + 128
            for i in range(0, len(frames) - 1, 2)
        )
    raise PromptError(f"{path}: need 8- or 16-bit samples, not {8 * width}-bit")


def write_tone_prompt(path: Path) -> None:
    """Write the tone prompt: 0.4 s at 440 Hz, 0.2 s silence, 0.4 s at 480 Hz, 0.2 s silence."""
    samples = bytearray()
    for freq, seconds in ((440.0, 0.4), (0.0, 0.2), (480.0, 0.4), (0.0, 0.2)):
        for n in range(int(RATE * seconds)):
            value = 0.4 * math.sin(2 * math.pi * freq * n / RATE) if freq else 0.0
            samples.append(128 + round(127 * value))
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(1)
        wav.setframerate(RATE)
        wav.writeframes(bytes(samples))


if __name__ == "__main__":
    write_tone_prompt(Path(sys.argv[1]) if len(sys.argv) > 1 else BUNDLED)
