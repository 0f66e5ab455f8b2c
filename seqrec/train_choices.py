"""The values some train-config keys take, without importing torch (the command lines' ``choices``)."""

# train_config "compile_rng": whose random numbers a compiled loss's dropout draws (seqrec.train.TRAIN_DEFAULTS)
COMPILE_RNGS = ("inductor", "eager")
# train_config "amp" besides None (fp32); seqrec.train.AMP_DTYPES maps each to its dtype
AMP_NAMES = ("bf16", "fp16")
