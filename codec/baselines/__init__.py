"""Reference codecs beside LFSC: identity, MUSHRA low-pass anchors, Codec2, Opus and AMR-NB (codec.registry lists
them); pycodec2 and PyAV are imported only when a codec is built or run."""
