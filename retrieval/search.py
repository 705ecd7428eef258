"""Ranking passages for a question: per-encoder dense and sentence signals plus BM25 over words and
word pairs, fused by z-score, then the first passages reranked by late interaction."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .config import INTERACTION_DEPTH, PAIR_WEIGHT, SearchSettings
from .embedding import Encoder, token_encoder
from .index import Index
from .interaction import possessive, question_pieces
from .lexical import terms, tokenize

# Words that carry no topic of their own in a patient's question (with scikit-learn's stop words).
_QUESTION_WORDS = {
    "ketamine", "does", "did", "doing", "really", "exactly", "actually", "lately", "people", "someone",
    "anyone", "thing", "things", "stuff", "know", "tell", "want", "need", "like", "just", "ok", "okay",
    "safe", "good", "bad", "help", "use", "used", "using", "get", "got", "im", "whats", "cant", "dont",
}  # contractions typed with an apostrophe ("don't") are never topic words (key_words, interaction.question_pieces)


# Up to this many passages, each sentence's stemmed words are made when the index loads.
SENTENCE_TERMS_UP_TO = 2_000


@dataclass
class Query:
    """A message as the encoders read it: one vector per encoder, and the primary encoder's token vectors
    of its content words (for late interaction)."""

    text: str
    vectors: dict[str, np.ndarray]
    tokens: np.ndarray | None = None


@dataclass
class Ranking:
    """Per-passage signals and their fusion for one question (arrays indexed by chunk position)."""

    dense: dict[str, np.ndarray]  # per encoder: cosine of question and (heading + passage)
    sentence_scores: np.ndarray  # mean cosine of each sentence over encoders (for the highlight)
    bm25: np.ndarray
    fused: np.ndarray
    order: np.ndarray  # chunk positions, best first (on a large index, the candidates only)
    terms: list[str]  # the question's stemmed content words, as BM25 scores them
    # How well the worst-matched wordpiece of the question's content words is matched by some token
    # of the first passages (its best cosine; late interaction): low when the sources do not speak
    # of it; 1.0 when late interaction is off.
    word_match: float = 1.0


@lru_cache(maxsize=1)
def _function_words() -> frozenset[str]:
    return frozenset(_english_stop_words() | _QUESTION_WORDS)


def _english_stop_words() -> frozenset[str]:
    """scikit-learn's English stop words (the Glasgow IR list), read from its one data module.

    Importing the list the usual way imports all of scikit-learn, which the serving process does without.
    """
    import importlib.util

    spec = importlib.util.find_spec("sklearn")  # locates the package without running it
    path = next(iter(spec.submodule_search_locations or []), None) if spec else None
    words = importlib.util.spec_from_file_location("_glasgow_stop_words", f"{path}/feature_extraction/_stop_words.py")
    try:
        if words is None or words.loader is None:
            raise AttributeError("no stop words module")
        module = importlib.util.module_from_spec(words)
        words.loader.exec_module(module)
        return frozenset(module.ENGLISH_STOP_WORDS)
    except (OSError, AttributeError):  # another layout of scikit-learn
        from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

        return frozenset(ENGLISH_STOP_WORDS)


_WORD = re.compile(r"[a-z][a-z'’-]*[a-z]")


def key_words(question: str) -> list[str]:
    """Topic words of a question: alphabetic, three letters or more, not function words; of a word
    with an apostrophe, a possessive's noun ("brain's" -> "brain"), never a contraction ("aren't")."""
    out = []
    for w in _WORD.findall(question.lower().replace("’", "'")):
        head, apostrophe, tail = w.partition("'")
        if apostrophe:
            w = head if possessive(head, tail, _function_words()) else ""
        if len(w) > 2 and w not in _function_words():
            out.append(w)
    return out


def question_tokens(per_text: list[tuple[np.ndarray, list[str]]]) -> list[np.ndarray]:
    """The token vectors of each question's content words, which late interaction matches."""
    return [t[question_pieces(pieces, _function_words())] for t, pieces in per_text]


def fuse(signals: list[np.ndarray], weights: list[float], ref: np.ndarray | slice = slice(None)) -> np.ndarray:
    """The weighted sum of the signals, each standardised by the mean and spread of its values at `ref`
    (all by default; a signal without spread adds nothing): one product for all of them.
    Sums and a dot product rather than mean() and std(), which cost their Python layer."""
    x = np.stack(signals)
    r = x[:, ref]
    m = np.add.reduce(r, axis=1) / max(r.shape[1], 1)
    d = r - m[:, None]
    sd = np.sqrt(np.add.reduce(d * d, axis=1) / max(r.shape[1], 1))
    coef = np.divide(np.asarray(weights, dtype=np.float32), sd, out=np.zeros(len(signals), dtype=np.float32), where=sd > 1e-9)
    return coef @ x - float(coef @ m)


class Searcher:
    """Scores every passage of an index for a question: one encoding per encoder."""

    def __init__(self, index: Index, encoders: dict[str, Encoder], settings: SearchSettings) -> None:
        self.index, self.encoders, self.settings = index, encoders, settings
        self.primary = next(iter(encoders))
        self.depth = settings.interaction_depth or INTERACTION_DEPTH.get(tuple(encoders), 30)  # passages late interaction reranks
        self.w_pairs = PAIR_WEIGHT.get(tuple(encoders), 0.0) if settings.w_pairs is None else settings.w_pairs
        self._n = len(index.chunks)
        self.exhaustive = self._n <= settings.exhaustive_up_to
        # A small index's vectors are kept as one matrix (one product scores all); a large one's
        # are read from FAISS for the candidates only, not copied.
        self._matrix = {k: index.passages[k].reconstruct_n(0, self._n) for k in encoders} if self.exhaustive else {}
        # likewise the sentence vectors: a small index's in memory (indexing a memory map costs time each question)
        self._sentences = {k: np.asarray(v) if self.exhaustive else v for k, v in index.sentence_vectors.items()}
        self._owner = index.sentence_owner
        counts = np.bincount(self._owner, minlength=self._n)
        if counts.min(initial=1) < 1 or np.any(np.diff(self._owner) < 0):
            raise ValueError("index sentences must come in passage order, at least one per passage")
        self._counts, self._counts_f = counts, counts.astype(np.float32)
        self._first = np.concatenate([[0], np.cumsum(counts)])  # sentences are stored in chunk order
        size = min(self._n, settings.scale_sample)
        self._sample = np.sort(np.random.default_rng(0).choice(self._n, size, replace=False))
        # The sample is scored for every question: its vectors are kept rather than read from FAISS each time.
        self._sample_vectors = {} if self.exhaustive else {
            k: index.passages[k].reconstruct_batch(self._sample.astype(np.int64)) for k in encoders}
        _function_words()  # pay the import while loading, not on the first question
        # each sentence's stemmed words (for the highlight): a small index's made once, here; a larger one's
        # on demand, not held in memory
        small = self._n <= SENTENCE_TERMS_UP_TO
        self._sentence_terms = [self._terms_of(pos) for pos in range(self._n)] if small else None

    def vectors(self, key: str, positions) -> np.ndarray:
        """Passage vectors of one encoder at the given chunk positions."""
        if self.exhaustive:
            return self._matrix[key][positions]
        return self.index.passages[key].reconstruct_batch(np.asarray(positions, dtype=np.int64))

    def _dense(self, key: str, q: np.ndarray, cand: np.ndarray | None, in_sample) -> np.ndarray:
        """Cosine of the question and each scored passage (all, or the candidates in order)."""
        if cand is None:
            return self._matrix[key] @ q
        d = np.empty(len(cand), dtype=np.float32)
        d[in_sample] = self._sample_vectors[key] @ q  # the candidates include the whole sample, in order
        d[~in_sample] = self.vectors(key, cand[~in_sample]) @ q
        return d

    def candidates(self, query_vectors: dict[str, np.ndarray], bm25: np.ndarray) -> np.ndarray | None:
        """Chunk positions worth scoring: None (all of them) on a small index, else the union of each
        encoder's FAISS top-k, BM25's top-k and a fixed random sample (whose scores stand in for all
        passages' when signals are put on a common scale)."""
        if self.exhaustive:
            return None
        k = min(self.settings.candidates, self._n)
        found = [np.argpartition(-bm25, k - 1)[:k], self._sample]
        for key, q in query_vectors.items():
            _, ids = self.index.passages[key].search(q[None, :], k)
            found.append(ids[0][ids[0] >= 0])
        return np.unique(np.concatenate(found))

    @property
    def late(self) -> bool:
        """Whether late interaction reranks (the index has token vectors and it has a weight)."""
        return self.index.tokens is not None and self.settings.w_interaction > 0 and self.depth > 1

    def encode(self, texts: list[str]) -> list[Query]:
        """Each text as the encoders read a question: one batch per encoder; the primary's pass also gives
        the token vectors of its content words when late interaction is on."""
        vectors: dict[str, np.ndarray] = {}
        tokens: list[np.ndarray | None] = [None] * len(texts)
        for key, enc in self.encoders.items():
            if key == self.primary and self.late:  # one forward pass gives the sentence and the token vectors
                vectors[key], per_text = token_encoder(enc).encode_tokens(list(texts))
                tokens = list(question_tokens(per_text))
            else:
                vectors[key] = enc.encode(list(texts), query=True)
        return [Query(text, {k: v[i] for k, v in vectors.items()}, tokens[i]) for i, text in enumerate(texts)]

    def rank(self, query: Query, bank: np.ndarray | None = None, w_bank: float = 0.0, english: bool = True) -> Ranking:
        """Every passage scored for a question. `bank`: a per-passage signal (the message's similarity to the
        question bank's questions each passage answers), fused with weight `w_bank`. A message not in English
        is ranked by the multilingual encoder (and the bank) alone: MiniLM, BM25 and its tokens read English."""
        st = self.settings
        readers = [k for k in query.vectors if english or k != self.primary] or [self.primary]
        question_terms = terms(query.text) if english else []
        bm25 = self.index.lexical.scores(question_terms)
        cand = self.candidates({k: query.vectors[k] for k in readers}, bm25)
        rows: np.ndarray | slice
        sent_rows: np.ndarray | slice
        ref: np.ndarray | slice
        if cand is None:
            rows, sent_rows, starts, counts = slice(None), slice(None), self._first[:-1], self._counts_f
            ref = slice(None)
        else:
            ref = np.isin(cand, self._sample, assume_unique=True)
            rows, per = cand, self._counts[cand]
            starts = np.cumsum(per) - per  # where each candidate's sentences begin among the gathered ones
            sent_rows = np.arange(int(per.sum())) + np.repeat(self._first[cand] - starts, per)
            counts = per.astype(np.float32)
        sentence_scores = np.zeros(len(self._owner), dtype=np.float32)
        signals, weights = [], []
        if english:
            signals, weights = [bm25[rows]], [st.w_bm25]
            if self.w_pairs:
                signals.append(self.index.lexical.pair_scores(question_terms)[rows])
                weights.append(self.w_pairs)
        if bank is not None and w_bank:
            signals.append(bank[rows])
            weights.append(w_bank)
        dense = {}
        for key in readers:
            q = query.vectors[key]
            d = self._dense(key, q, cand, ref)
            sent = self._sentences[key][sent_rows] @ q
            sentence_scores[sent_rows] += sent
            signals += [d, np.maximum.reduceat(sent, starts), np.add.reduceat(sent, starts) / counts]
            weights += [st.w_dense, st.w_sentence_max, st.w_sentence_mean]
            dense[key] = d if cand is None else _spread(d, cand, self._n, -1.0)
        fused = fuse(signals, weights, ref)
        order = np.argsort(-fused, kind="stable")
        if cand is not None:
            fused, order = _spread(fused, cand, self._n, -np.inf), cand[order]
        word_match = 1.0
        if english and self.late and self.index.tokens is not None and query.tokens is not None and len(query.tokens):
            top = order[: self.depth]
            maxsim, best_per_piece = self.index.tokens.match(query.tokens, top)
            fused[top] += fuse([maxsim], [st.w_interaction])
            order = np.concatenate([top[np.argsort(-fused[top], kind="stable")], order[len(top) :]])
            word_match = float(best_per_piece.min())
        return Ranking(dense=dense, sentence_scores=sentence_scores / len(readers), bm25=bm25, fused=fused,
                       order=order, terms=question_terms, word_match=word_match)

    def sentence_positions(self, chunk_pos: int) -> np.ndarray:
        return np.arange(self._first[chunk_pos], self._first[chunk_pos + 1])

    def sentence_terms(self, chunk_pos: int) -> list[frozenset[str]]:
        """The stemmed content words of each sentence of a passage, as BM25 takes them."""
        return self._sentence_terms[chunk_pos] if self._sentence_terms is not None else self._terms_of(chunk_pos)

    def _terms_of(self, chunk_pos: int) -> list[frozenset[str]]:
        c = self.index.chunks[chunk_pos]
        return [frozenset(t) for t in tokenize([c.text[a - c.start : b - c.start] for a, b in c.sentences])]


def _spread(values: np.ndarray, positions: np.ndarray, n: int, fill: float) -> np.ndarray:
    """A full-length array holding `values` at `positions` and `fill` elsewhere."""
    out = np.full(n, fill, dtype=np.float32)
    out[positions] = values
    return out
