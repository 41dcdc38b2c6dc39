#!/usr/bin/env python3
"""Generates reference fixtures for the C++ BERT / DistilBERT implementations.

Hugging Face `transformers` is deliberately NOT used: the forward passes below
are independent re-implementations (plain torch / torch.nn.functional, eval
mode, i.e. no dropout) of transformers' published modeling code:

  * BertForQuestionAnswering, BertForPreTraining, BertForSequenceClassification
  * DistilBertForQuestionAnswering, DistilBertForSequenceClassification

For every case a folder models/testdata/<case>/ is written with

  config.json        Hugging Face config.json for the model type.
  model.safetensors  Weights under Hugging Face state_dict names, written by the
                     small safetensors writer below (tied / buffer tensors are
                     omitted the way save_pretrained omits them).
  expected.json      {"inputs", "outputs", "hidden_states", "attentions"}; every
                     float is printed with the fewest digits that parse back
                     to the exact float32 result (at most 9 significant).

All arithmetic is done in float32, like transformers does.  Weights are
synthetic and deterministic (seeded per case) and scaled so that every
parameter influences the outputs.  The script prints, for each case, the
(state_dict key, shape) list in file order, and nothing else.

Regenerate with:  python3 models/testdata/make_reference.py
(needs only torch; tested with Debian's python3-torch 1.13.1).
"""

import json
import math
import os
import struct

import torch
import torch.nn.functional as F

OUT_DIR = os.path.dirname(os.path.abspath(__file__))

# Model sizes shared by all cases.
VOCAB = 64
HIDDEN = 32
LAYERS = 2
HEADS = 4
INTERMEDIATE = 48
MAX_POS = 40
TYPE_VOCAB = 2
LN_EPS = 1e-12  # BERT layer_norm_eps; DistilBERT hard-codes 1e-12 as well.
SEED = 0

# Inputs: batch 2, seq 7.  Row 0 is all real tokens, row 1 has 2 pad tokens.
INPUT_IDS = [[2, 17, 33, 5, 48, 61, 9],
             [2, 40, 12, 55, 7, 0, 0]]
TOKEN_TYPE_IDS = [[0, 0, 0, 1, 1, 1, 1],
                  [0, 0, 0, 1, 1, 0, 0]]
ATTENTION_MASK = [[1, 1, 1, 1, 1, 1, 1],
                  [1, 1, 1, 1, 1, 0, 0]]

F32_MIN = torch.finfo(torch.float32).min


# ---------------------------------------------------------------------------
# safetensors writer / reader
# ---------------------------------------------------------------------------

def write_safetensors(path, tensors):
    """Writes [(name, float32 tensor)] in the given order.

    Layout: u64 little-endian header length N, N bytes of UTF-8 JSON header
    (space padded so that 8 + N is a multiple of 8), then the raw
    little-endian float32 data of each tensor, contiguous, in header order.
    """
    header = {"__metadata__": {"format": "pt"}}
    blobs = []
    offset = 0
    for name, t in tensors:
        values = t.detach().to(torch.float32).contiguous().flatten().tolist()
        data = struct.pack("<%df" % len(values), *values)
        header[name] = {"dtype": "F32", "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    raw = json.dumps(header, separators=(",", ":")).encode("utf-8")
    raw += b" " * (-(8 + len(raw)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for data in blobs:
            f.write(data)


def read_safetensors(path):
    """Reads an F32-only safetensors file back; checks the layout strictly."""
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    assert (8 + n) % 8 == 0, "header not padded to 8 bytes"
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    data = blob[8 + n:]
    assert header.pop("__metadata__") == {"format": "pt"}
    out, end = {}, 0
    for name, info in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"]):
        begin, stop = info["data_offsets"]
        assert info["dtype"] == "F32" and begin == end, name  # contiguous
        count = math.prod(info["shape"])
        assert stop - begin == 4 * count, name
        values = struct.unpack("<%df" % count, data[begin:stop])
        out[name] = torch.tensor(values, dtype=torch.float32).reshape(info["shape"])
        end = stop
    assert end == len(data), "offsets do not cover the data exactly"
    return out


# ---------------------------------------------------------------------------
# Parameter specs (Hugging Face state_dict names, module registration order)
# ---------------------------------------------------------------------------

def linear(name, n_in, n_out):
    return [(name + ".weight", (n_out, n_in), "w"), (name + ".bias", (n_out,), "b")]


def layer_norm(name, n):
    return [(name + ".weight", (n,), "ln_w"), (name + ".bias", (n,), "ln_b")]


def bert_specs(pooler):
    p = "bert."
    specs = [(p + "embeddings.word_embeddings.weight", (VOCAB, HIDDEN), "w"),
             (p + "embeddings.position_embeddings.weight", (MAX_POS, HIDDEN), "w"),
             (p + "embeddings.token_type_embeddings.weight", (TYPE_VOCAB, HIDDEN), "w")]
    specs += layer_norm(p + "embeddings.LayerNorm", HIDDEN)
    for i in range(LAYERS):
        l = "%sencoder.layer.%d." % (p, i)
        for n in ("query", "key", "value"):
            specs += linear(l + "attention.self." + n, HIDDEN, HIDDEN)
        specs += linear(l + "attention.output.dense", HIDDEN, HIDDEN)
        specs += layer_norm(l + "attention.output.LayerNorm", HIDDEN)
        specs += linear(l + "intermediate.dense", HIDDEN, INTERMEDIATE)
        specs += linear(l + "output.dense", INTERMEDIATE, HIDDEN)
        specs += layer_norm(l + "output.LayerNorm", HIDDEN)
    if pooler:
        specs += linear(p + "pooler.dense", HIDDEN, HIDDEN)
    return specs


def distilbert_specs():
    p = "distilbert."
    specs = [(p + "embeddings.word_embeddings.weight", (VOCAB, HIDDEN), "w"),
             (p + "embeddings.position_embeddings.weight", (MAX_POS, HIDDEN), "w")]
    specs += layer_norm(p + "embeddings.LayerNorm", HIDDEN)
    for i in range(LAYERS):
        l = "%stransformer.layer.%d." % (p, i)
        for n in ("q_lin", "k_lin", "v_lin", "out_lin"):
            specs += linear(l + "attention." + n, HIDDEN, HIDDEN)
        specs += layer_norm(l + "sa_layer_norm", HIDDEN)
        specs += linear(l + "ffn.lin1", HIDDEN, INTERMEDIATE)
        specs += linear(l + "ffn.lin2", INTERMEDIATE, HIDDEN)
        specs += layer_norm(l + "output_layer_norm", HIDDEN)
    return specs


def make_params(specs, seed):
    """Deterministic weights: matrices/embeddings randn*0.2, biases randn*0.1,
    LayerNorm weight 1+0.1*randn, LayerNorm bias 0.1*randn."""
    g = torch.Generator().manual_seed(seed)
    params = {}
    for name, shape, kind in specs:
        r = torch.randn(shape, generator=g, dtype=torch.float32)
        params[name] = {"w": 0.2 * r, "b": 0.1 * r,
                        "ln_w": 1.0 + 0.1 * r, "ln_b": 0.1 * r}[kind]
    return params


# ---------------------------------------------------------------------------
# Forward passes (eval mode)
# ---------------------------------------------------------------------------

def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


ACT = {"gelu": F.gelu,  # exact erf gelu
       "gelu_new": gelu_new,  # tanh approximation
       "relu": F.relu}


def lin(P, name, x):
    return F.linear(x, P[name + ".weight"], P[name + ".bias"])


def ln(P, name, x):
    return F.layer_norm(x, (x.shape[-1],), P[name + ".weight"], P[name + ".bias"], LN_EPS)


def split_heads(x):  # [B, S, H] -> [B, heads, S, head_dim]
    b, s, _ = x.shape
    return x.view(b, s, HEADS, HIDDEN // HEADS).permute(0, 2, 1, 3)


def merge_heads(x):  # [B, heads, S, head_dim] -> [B, S, H]
    b, _, s, _ = x.shape
    return x.permute(0, 2, 1, 3).reshape(b, s, HIDDEN)


def bert_model(P, act, ids, token_types, mask, pooler):
    """BertModel: returns (last_hidden_state, pooler_output|None, hidden_states, attentions)."""
    p = "bert."
    seq = ids.shape[1]
    x = P[p + "embeddings.word_embeddings.weight"][ids]
    x = x + P[p + "embeddings.token_type_embeddings.weight"][token_types]
    x = x + P[p + "embeddings.position_embeddings.weight"][torch.arange(seq)]
    h = ln(P, p + "embeddings.LayerNorm", x)
    ext_mask = (1.0 - mask[:, None, None, :].to(torch.float32)) * F32_MIN
    hidden_states, attentions = [h], []
    for i in range(LAYERS):
        l = "%sencoder.layer.%d." % (p, i)
        q = split_heads(lin(P, l + "attention.self.query", h))
        k = split_heads(lin(P, l + "attention.self.key", h))
        v = split_heads(lin(P, l + "attention.self.value", h))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(HIDDEN // HEADS)
        probs = F.softmax(scores + ext_mask, dim=-1)
        ctx = merge_heads(torch.matmul(probs, v))
        a = ln(P, l + "attention.output.LayerNorm", lin(P, l + "attention.output.dense", ctx) + h)
        inter = ACT[act](lin(P, l + "intermediate.dense", a))
        h = ln(P, l + "output.LayerNorm", lin(P, l + "output.dense", inter) + a)
        hidden_states.append(h)
        attentions.append(probs)
    pooled = torch.tanh(lin(P, p + "pooler.dense", h[:, 0])) if pooler else None
    return h, pooled, hidden_states, attentions


def distilbert_model(P, act, ids, mask):
    """DistilBertModel: returns (last_hidden_state, hidden_states, attentions)."""
    p = "distilbert."
    seq = ids.shape[1]
    x = P[p + "embeddings.word_embeddings.weight"][ids]
    x = x + P[p + "embeddings.position_embeddings.weight"][torch.arange(seq)]
    h = ln(P, p + "embeddings.LayerNorm", x)
    pad = (mask == 0).view(mask.shape[0], 1, 1, seq)
    hidden_states, attentions = [h], []
    for i in range(LAYERS):
        l = "%stransformer.layer.%d." % (p, i)
        q = split_heads(lin(P, l + "attention.q_lin", h)) / math.sqrt(HIDDEN // HEADS)
        k = split_heads(lin(P, l + "attention.k_lin", h))
        v = split_heads(lin(P, l + "attention.v_lin", h))
        scores = torch.matmul(q, k.transpose(2, 3))
        scores = scores.masked_fill(pad.expand_as(scores), F32_MIN)
        probs = F.softmax(scores, dim=-1)
        ctx = merge_heads(torch.matmul(probs, v))
        sa = ln(P, l + "sa_layer_norm", lin(P, l + "attention.out_lin", ctx) + h)
        ffn = lin(P, l + "ffn.lin2", ACT[act](lin(P, l + "ffn.lin1", sa)))
        h = ln(P, l + "output_layer_norm", ffn + sa)
        hidden_states.append(h)
        attentions.append(probs)
    return h, hidden_states, attentions


def qa_outputs(P, seq_out):
    logits = lin(P, "qa_outputs", seq_out)
    return {"start_logits": logits[..., 0], "end_logits": logits[..., 1]}


# ---------------------------------------------------------------------------
# Cases
# ---------------------------------------------------------------------------

def labels(n):
    return {"id2label": {str(i): "LABEL_%d" % i for i in range(n)},
            "label2id": {"LABEL_%d" % i: i for i in range(n)}}


def bert_config(arch, act, num_labels=None):
    cfg = {"architectures": [arch], "attention_probs_dropout_prob": 0.1,
           "classifier_dropout": None, "hidden_act": act, "hidden_dropout_prob": 0.1,
           "hidden_size": HIDDEN, "initializer_range": 0.02,
           "intermediate_size": INTERMEDIATE, "layer_norm_eps": LN_EPS,
           "max_position_embeddings": MAX_POS, "model_type": "bert",
           "num_attention_heads": HEADS, "num_hidden_layers": LAYERS,
           "pad_token_id": 0, "position_embedding_type": "absolute",
           "torch_dtype": "float32", "type_vocab_size": TYPE_VOCAB,
           "use_cache": True, "vocab_size": VOCAB}
    if num_labels:
        cfg.update(labels(num_labels))
    return cfg


def distilbert_config(arch, act, num_labels=None):
    cfg = {"activation": act, "architectures": [arch], "attention_dropout": 0.1,
           "dim": HIDDEN, "dropout": 0.1, "hidden_dim": INTERMEDIATE,
           "initializer_range": 0.02, "max_position_embeddings": MAX_POS,
           "model_type": "distilbert", "n_heads": HEADS, "n_layers": LAYERS,
           "pad_token_id": 0, "qa_dropout": 0.1, "seq_classif_dropout": 0.2,
           "sinusoidal_pos_embds": False, "tie_weights_": True,
           "torch_dtype": "float32", "vocab_size": VOCAB}
    if num_labels:
        cfg.update(labels(num_labels))
    return cfg


def bert_qa(ids, tt, mask):
    specs = bert_specs(pooler=False) + linear("qa_outputs", HIDDEN, 2)
    P = make_params(specs, SEED)
    h, _, hs, at = bert_model(P, "gelu", ids, tt, mask, pooler=False)
    out = {"last_hidden_state": h, **qa_outputs(P, h)}
    return bert_config("BertForQuestionAnswering", "gelu"), specs, P, out, hs, at


def bert_pretraining(ids, tt, mask):
    # BertPreTrainingHeads registration order: predictions (bias, transform,
    # decoder), seq_relationship.  decoder.weight is tied to the word
    # embeddings and decoder.bias to cls.predictions.bias, so neither is stored.
    specs = (bert_specs(pooler=True) + [("cls.predictions.bias", (VOCAB,), "b")]
             + linear("cls.predictions.transform.dense", HIDDEN, HIDDEN)
             + layer_norm("cls.predictions.transform.LayerNorm", HIDDEN)
             + linear("cls.seq_relationship", HIDDEN, 2))
    P = make_params(specs, SEED)
    h, pooled, hs, at = bert_model(P, "gelu_new", ids, tt, mask, pooler=True)
    t = gelu_new(lin(P, "cls.predictions.transform.dense", h))
    t = ln(P, "cls.predictions.transform.LayerNorm", t)
    out = {"last_hidden_state": h, "pooler_output": pooled,
           "prediction_logits": F.linear(t, P["bert.embeddings.word_embeddings.weight"],
                                         P["cls.predictions.bias"]),
           "seq_relationship_logits": lin(P, "cls.seq_relationship", pooled)}
    return bert_config("BertForPreTraining", "gelu_new"), specs, P, out, hs, at


def bert_cls(ids, tt, mask):
    specs = bert_specs(pooler=True) + linear("classifier", HIDDEN, 3)
    P = make_params(specs, SEED)
    h, pooled, hs, at = bert_model(P, "relu", ids, tt, mask, pooler=True)
    out = {"last_hidden_state": h, "pooler_output": pooled,
           "logits": lin(P, "classifier", pooled)}
    return bert_config("BertForSequenceClassification", "relu", 3), specs, P, out, hs, at


def distilbert_qa(ids, tt, mask):
    specs = distilbert_specs() + linear("qa_outputs", HIDDEN, 2)
    P = make_params(specs, SEED)
    h, hs, at = distilbert_model(P, "gelu", ids, mask)
    out = {"last_hidden_state": h, **qa_outputs(P, h)}
    return distilbert_config("DistilBertForQuestionAnswering", "gelu"), specs, P, out, hs, at


def distilbert_cls(ids, tt, mask):
    specs = (distilbert_specs() + linear("pre_classifier", HIDDEN, HIDDEN)
             + linear("classifier", HIDDEN, 2))
    P = make_params(specs, SEED)
    h, hs, at = distilbert_model(P, "gelu", ids, mask)
    pooled = F.relu(lin(P, "pre_classifier", h[:, 0]))
    out = {"last_hidden_state": h, "logits": lin(P, "classifier", pooled)}
    return distilbert_config("DistilBertForSequenceClassification", "gelu", 2), specs, P, out, hs, at


CASES = [("bert_qa", bert_qa, True), ("bert_pretraining", bert_pretraining, True),
         ("bert_cls", bert_cls, True), ("distilbert_qa", distilbert_qa, False),
         ("distilbert_cls", distilbert_cls, False)]


def shortest_f32(v):
    """Shortest decimal that parses back (as float32) to the same float32 v.

    json.dump then prints e.g. 0.12345679 instead of the 17-digit double
    expansion, keeping expected.json small while remaining bit-exact."""
    bits = struct.pack("<f", v)
    for digits in range(1, 10):
        s = float("%.*g" % (digits, v))
        if struct.pack("<f", s) == bits:
            return s
    raise AssertionError(v)


def as_list(t):
    """Nested list of the exact float32 values of t (see shortest_f32)."""
    def conv(x):
        return [conv(y) for y in x] if isinstance(x, list) else shortest_f32(x)
    return conv(t.detach().double().tolist())


def main():
    torch.set_num_threads(1)  # bit-reproducible CPU reductions
    ids = torch.tensor(INPUT_IDS, dtype=torch.long)
    tt = torch.tensor(TOKEN_TYPE_IDS, dtype=torch.long)
    mask = torch.tensor(ATTENTION_MASK, dtype=torch.long)
    with torch.no_grad():
        for case, build, is_bert in CASES:
            config, specs, P, outputs, hidden_states, attentions = build(ids, tt, mask)
            folder = os.path.join(OUT_DIR, case)
            os.makedirs(folder, exist_ok=True)
            with open(os.path.join(folder, "config.json"), "w") as f:
                f.write(json.dumps(config, indent=2, sort_keys=True) + "\n")

            # Like safetensors' serializer, lay tensors out sorted by name.
            tensors = sorted((name, P[name]) for name, _, _ in specs)
            path = os.path.join(folder, "model.safetensors")
            write_safetensors(path, tensors)
            back = read_safetensors(path)
            assert list(back) == [n for n, _ in tensors]
            assert all(torch.equal(back[n], t) for n, t in tensors)

            inputs = {"input_ids": INPUT_IDS}
            if is_bert:
                inputs["token_type_ids"] = TOKEN_TYPE_IDS
            inputs["attention_mask"] = ATTENTION_MASK
            expected = {"inputs": inputs,
                        "outputs": {k: as_list(v) for k, v in outputs.items()},
                        "hidden_states": [as_list(t) for t in hidden_states],
                        "attentions": [as_list(t) for t in attentions]}
            with open(os.path.join(folder, "expected.json"), "w") as f:
                json.dump(expected, f)
                f.write("\n")

            print("%s:" % case)
            for name, t in tensors:
                print("  %s %s" % (name, list(t.shape)))


if __name__ == "__main__":
    main()
