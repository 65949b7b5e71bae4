"""Write the tiny TF1 ELECTRA checkpoint in tests/data/tf1/electra-tiny/ with real TensorFlow, and the values
TensorFlow itself reads back from it, for tests/test_tf_checkpoint.py.

Run once, outside the project's venv (TensorFlow is not a dependency of electra-cli):
    python3 -m venv /tmp/tfenv && /tmp/tfenv/bin/pip install tensorflow-cpu
    /tmp/tfenv/bin/python tests/data/tf1/make_checkpoint.py
The committed files were written by TensorFlow 2.21.0 (tensorflow-cpu, Python 3.11) through the TF1 API
(`tf.compat.v1.train.Saver`), as google-research/electra's run_pretraining.py saves its checkpoints.

The variable names are google-research/electra's (model/modeling.py, run_pretraining.py): the discriminator under
`electra/`, the generator under `generator/` sharing `electra/embeddings/` (untied_generator_embeddings = False),
`embeddings_project` where a model's hidden size differs from the embedding size, the heads under
`generator_predictions/` and `discriminator_predictions/`, Adam slots `<var>/adam_m`, `<var>/adam_v` and
`global_step` beside them. The folder also gets a BERT-style config JSON for the discriminator (the format of
google-research/bert's bert_config.json) and the vocab.txt the checkpoint was trained with. bert-tiny/ holds two
variables under google-research/bert's names (`bert/`, `cls/`), without a `checkpoint` file: not an ELECTRA, to be
refused.

reference.npz holds every tensor as tf.train.load_checkpoint reads it back, plus `input_ids`/`input_mask` and
the discriminator's and the generator's logits, computed here with TensorFlow ops that follow modeling.py
(erf GELU, LayerNorm epsilon 1e-12, additive mask -10000) from the same weights.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import tensorflow as tf

HERE = Path(__file__).resolve().parent
OUT = HERE / "electra-tiny"
STEP = 1200
VOCAB = ["[PAD]", "[unused0]", "[unused1]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".",
         # the words of tests/conftest.py's grammar corpus, so that pretraining tests can shard it with this vocab
         *"the a this that every".split(), *"big small red green old young quick lazy bright dark".split(),
         *"cat dog bird fish horse river city house tree car".split(),
         *"sees chases likes finds watches follows hears paints".split(), *"near behind under above beside".split()]
LAYERS, EMBEDDING, HIDDEN, HEADS, INTERMEDIATE = 2, 8, 16, 2, 32  # the discriminator
GEN_HIDDEN, GEN_HEADS, GEN_INTERMEDIATE = 12, 1, 48  # the generator: heads = max(1, hidden // 64), 4 x hidden
MAX_POSITION, TYPES = 40, 2


def shapes() -> dict[str, list[int]]:
    """Every model variable of the checkpoint and its shape."""
    out = {
        "electra/embeddings/word_embeddings": [len(VOCAB), EMBEDDING],
        "electra/embeddings/token_type_embeddings": [TYPES, EMBEDDING],
        "electra/embeddings/position_embeddings": [MAX_POSITION, EMBEDDING],
        "electra/embeddings/LayerNorm/beta": [EMBEDDING],
        "electra/embeddings/LayerNorm/gamma": [EMBEDDING],
    }
    for scope, hidden, inter in (("electra", HIDDEN, INTERMEDIATE), ("generator", GEN_HIDDEN, GEN_INTERMEDIATE)):
        out[f"{scope}/embeddings_project/kernel"] = [EMBEDDING, hidden]
        out[f"{scope}/embeddings_project/bias"] = [hidden]
        for i in range(LAYERS):
            layer = f"{scope}/encoder/layer_{i}"
            for name in ("query", "key", "value"):
                out[f"{layer}/attention/self/{name}/kernel"] = [hidden, hidden]
                out[f"{layer}/attention/self/{name}/bias"] = [hidden]
            out[f"{layer}/attention/output/dense/kernel"] = [hidden, hidden]
            out[f"{layer}/attention/output/dense/bias"] = [hidden]
            out[f"{layer}/attention/output/LayerNorm/beta"] = [hidden]
            out[f"{layer}/attention/output/LayerNorm/gamma"] = [hidden]
            out[f"{layer}/intermediate/dense/kernel"] = [hidden, inter]
            out[f"{layer}/intermediate/dense/bias"] = [inter]
            out[f"{layer}/output/dense/kernel"] = [inter, hidden]
            out[f"{layer}/output/dense/bias"] = [hidden]
            out[f"{layer}/output/LayerNorm/beta"] = [hidden]
            out[f"{layer}/output/LayerNorm/gamma"] = [hidden]
    out.update({
        "generator_predictions/dense/kernel": [GEN_HIDDEN, EMBEDDING],
        "generator_predictions/dense/bias": [EMBEDDING],
        "generator_predictions/LayerNorm/beta": [EMBEDDING],
        "generator_predictions/LayerNorm/gamma": [EMBEDDING],
        "generator_predictions/output_bias": [len(VOCAB)],
        "discriminator_predictions/dense/kernel": [HIDDEN, HIDDEN],
        "discriminator_predictions/dense/bias": [HIDDEN],
        "discriminator_predictions/dense_1/kernel": [HIDDEN, 1],
        "discriminator_predictions/dense_1/bias": [1],
    })
    return out


def random_values(rng: np.random.Generator) -> dict[str, np.ndarray]:
    values = {}
    for name, shape in shapes().items():
        value = rng.normal(0.0, 0.5, size=shape)
        if name.endswith("/gamma"):
            value = 1.0 + 0.1 * value
        values[name] = value.astype(np.float32)
    return values


# ---- the forward passes, in TensorFlow ops as modeling.py / run_pretraining.py compute them ----------------


def layer_norm(x, w, scope):
    mean, variance = tf.nn.moments(x, axes=[-1], keepdims=True)
    return tf.nn.batch_normalization(x, mean, variance, w[f"{scope}/beta"], w[f"{scope}/gamma"], 1e-12)


def dense(x, w, scope, activation=None):
    y = tf.matmul(x, w[f"{scope}/kernel"]) + w[f"{scope}/bias"]
    return tf.nn.gelu(y, approximate=False) if activation == "gelu" else y


def encoder(w, scope, input_ids, mask, hidden, heads):
    batch, seq = input_ids.shape
    e = tf.gather(w["electra/embeddings/word_embeddings"], input_ids)
    e += tf.gather(w["electra/embeddings/token_type_embeddings"], tf.zeros_like(input_ids))
    e += w["electra/embeddings/position_embeddings"][:seq][None]
    x = layer_norm(e, w, "electra/embeddings/LayerNorm")
    if f"{scope}/embeddings_project/kernel" in w:
        x = dense(x, w, f"{scope}/embeddings_project")
    adder = (1.0 - tf.cast(mask[:, None, None, :], tf.float32)) * -10000.0  # (B, 1, 1, T)
    size = hidden // heads
    for i in range(LAYERS):
        layer = f"{scope}/encoder/layer_{i}"

        def split(t):  # (B, T, H) -> (B, N, T, H/N)
            return tf.transpose(tf.reshape(t, [batch, seq, heads, size]), [0, 2, 1, 3])

        q, k, v = (split(dense(x, w, f"{layer}/attention/self/{n}")) for n in ("query", "key", "value"))
        scores = tf.matmul(q, k, transpose_b=True) / math.sqrt(size) + adder
        context = tf.reshape(tf.transpose(tf.matmul(tf.nn.softmax(scores), v), [0, 2, 1, 3]), [batch, seq, hidden])
        attention = layer_norm(dense(context, w, f"{layer}/attention/output/dense") + x, w,
                               f"{layer}/attention/output/LayerNorm")
        inter = dense(attention, w, f"{layer}/intermediate/dense", "gelu")
        x = layer_norm(dense(inter, w, f"{layer}/output/dense") + attention, w, f"{layer}/output/LayerNorm")
    return x


def logits(values, input_ids, mask):
    w = {k: tf.constant(v) for k, v in values.items()}
    disc = encoder(w, "electra", input_ids, mask, HIDDEN, HEADS)
    disc_logits = tf.squeeze(dense(dense(disc, w, "discriminator_predictions/dense", "gelu"), w,
                                   "discriminator_predictions/dense_1"), -1)  # (B, T)
    gen = encoder(w, "generator", input_ids, mask, GEN_HIDDEN, GEN_HEADS)
    h = layer_norm(dense(gen, w, "generator_predictions/dense", "gelu"), w, "generator_predictions/LayerNorm")
    gen_logits = tf.matmul(h, w["electra/embeddings/word_embeddings"], transpose_b=True)
    gen_logits += w["generator_predictions/output_bias"]  # (B, T, V)
    return disc_logits.numpy(), gen_logits.numpy()


# ---- writing -------------------------------------------------------------------------------------------------


def save_checkpoint(values: dict[str, np.ndarray], rng: np.random.Generator) -> Path:
    graph = tf.Graph()
    with graph.as_default():
        variables = [tf.compat.v1.get_variable(name, initializer=tf.constant(value)) for name, value in values.items()]
        for name, value in values.items():  # AdamWeightDecayOptimizer's slots
            for slot in ("adam_m", "adam_v"):
                slot_value = rng.normal(0.0, 0.01, size=value.shape).astype(np.float32)
                tf.compat.v1.get_variable(f"{name}/{slot}", initializer=tf.constant(slot_value), trainable=False)
        step = tf.compat.v1.train.get_or_create_global_step()
        saver = tf.compat.v1.train.Saver()
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.global_variables_initializer())
            session.run(step.assign(STEP))
            prefix = saver.save(session, str(OUT / "model.ckpt"), global_step=STEP, write_meta_graph=False)
        assert len(variables) == len(values)
    # the `checkpoint` state file names the prefix relative to the folder, as in the published zips
    name = Path(prefix).name
    (OUT / "checkpoint").write_text(f'model_checkpoint_path: "{name}"\nall_model_checkpoint_paths: "{name}"\n')
    return Path(prefix)


def save_bert_checkpoint(rng: np.random.Generator) -> None:
    """A BERT TF1 checkpoint's names (google-research/bert): not an ELECTRA, for the refusal test."""
    folder = HERE / "bert-tiny"
    folder.mkdir(exist_ok=True)
    graph = tf.Graph()
    with graph.as_default():
        for name, shape in (("bert/embeddings/word_embeddings", [len(VOCAB), EMBEDDING]),
                            ("cls/predictions/output_bias", [len(VOCAB)])):
            tf.compat.v1.get_variable(name, initializer=tf.constant(rng.normal(size=shape).astype(np.float32)))
        saver = tf.compat.v1.train.Saver()
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.global_variables_initializer())
            saver.save(session, str(folder / "bert_model.ckpt"), write_meta_graph=False, write_state=False)
    (folder / "vocab.txt").write_text("".join(f"{t}\n" for t in VOCAB), encoding="utf-8")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(24)
    values = random_values(rng)
    prefix = save_checkpoint(values, rng)
    (OUT / "vocab.txt").write_text("".join(f"{t}\n" for t in VOCAB), encoding="utf-8")
    config = {"attention_probs_dropout_prob": 0.1, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
              "embedding_size": EMBEDDING, "hidden_size": HIDDEN, "initializer_range": 0.02,
              "intermediate_size": INTERMEDIATE, "max_position_embeddings": MAX_POSITION,
              "num_attention_heads": HEADS, "num_hidden_layers": LAYERS, "type_vocab_size": TYPES,
              "vocab_size": len(VOCAB)}
    (OUT / "discriminator_config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")

    reader = tf.train.load_checkpoint(str(prefix))  # TensorFlow's own reading of what it wrote
    stored = {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}
    for name, value in values.items():
        assert np.array_equal(stored[name], value), name
    input_ids = np.array([[4, 8, 17, 26, 35, 8, 28, 5], [4, 9, 20, 30, 7, 5, 0, 0]], dtype=np.int32)
    input_mask = (input_ids != 0).astype(np.int32)
    disc_logits, gen_logits = logits(values, input_ids, input_mask)
    tensors = {f"tensor:{name}": value for name, value in stored.items()}
    np.savez_compressed(HERE / "reference.npz", input_ids=input_ids, input_mask=input_mask,
                        discriminator_logits=disc_logits, generator_logits=gen_logits, **tensors)
    save_bert_checkpoint(rng)
    print(f"wrote {prefix}.* ({len(stored)} tensors) and reference.npz with TensorFlow {tf.__version__}")


if __name__ == "__main__":
    main()
